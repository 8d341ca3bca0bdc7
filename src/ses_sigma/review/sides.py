"""Which pack one side of a review uses: its ``ses-sigma.toml`` as it is on that side.

A side is a directory: the pack directory of the working tree, or a temporary copy of a
commit's files (``refs``). Its ``ses-sigma.toml`` is read with the library's own rules
(``workspace.pack_from_config``): the repository's rules, fixtures and filters, and with
``include_bundled`` the rules bundled with the installed ses-sigma, less those disabled or
overridden. A side without a config is read as a config without keys would be, less the
required ``rules/``: its ``rules/``, ``fixtures/`` and ``filters/`` where they exist.

Files are named relative to the side's directory (``rules/x.yml``; ``../shared/y.yml`` for
a configured path beside it), and the bundled pack's as ``<bundled>/rules/x.yml``, so that the
two sides name the same file alike wherever each was read from.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ses_sigma.bundled import bundled_dir
from ses_sigma.workspace import (
    CONFIG_FILE,
    ConfigError,
    PackSource,
    pack_from_config,
    read_config,
)

__all__ = [
    "BUNDLED",
    "DEFAULT_PATHS",
    "SidePack",
    "configured_paths",
    "side_pack",
]

#: How the report names the directory of the bundled pack.
BUNDLED = "<bundled>"
#: The directories a side without ``ses-sigma.toml`` (or a config without the key) uses.
DEFAULT_PATHS = {"rules": "rules", "fixtures": "fixtures", "filters": "filters"}


@dataclass(frozen=True)
class SidePack:
    """The pack one side uses, and how its config chose it.

    ``source`` is None when the config does not resolve (``error`` says why). ``disabled``
    are the bundled rules the config's ``disable`` leaves out, ``overridden`` those a rule of
    the repository replaces by name.
    """

    root: Path
    source: PackSource | None
    config: str | None = None
    include_bundled: bool = False
    disabled: tuple[str, ...] = ()
    overridden: tuple[str, ...] = ()
    error: str | None = None

    def name(self, path: Path) -> str:
        """How the review names ``path``: relative to the side's directory, or under
        ``<bundled>/`` for a file of the bundled pack."""
        path = path.resolve()
        if path.is_relative_to(self.root):
            return path.relative_to(self.root).as_posix()
        for part, directory in _bundled_parts():
            if path.is_relative_to(directory):
                return f"{BUNDLED}/{part}/{path.relative_to(directory).as_posix()}"
        return Path(os.path.relpath(path, self.root)).as_posix()


def _bundled_parts() -> list[tuple[str, Path]]:
    parts = []
    for part in ("rules", "fixtures", "filters"):
        directory = bundled_dir(part)
        if directory is not None:
            parts.append((part, directory.resolve()))
    return parts


def configured_paths(config_text: bytes | None) -> list[str]:
    """The paths (relative to the config's directory) a side's pack reads: the config's
    ``rules``, ``fixtures`` and ``filters``, each key's default when absent. A config that is
    not valid TOML names the defaults (its error is reported when the side is loaded)."""
    data: dict[str, object] = {}
    if config_text is not None:
        try:
            data = tomllib.loads(config_text.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError):
            data = {}
    out: list[str] = []
    for key, default in DEFAULT_PATHS.items():
        value = data.get(key, [default])
        if isinstance(value, list):
            out.extend(v for v in value if isinstance(v, str))
    return sorted(set(out))


def side_pack(root: Path, refused: str | None = None) -> SidePack:
    """The pack of the side in ``root`` (see the module docstring); with ``refused`` (why the
    side's pack must not be read), none: only its config is read, and ``error`` says why."""
    root = root.resolve()
    config = root / CONFIG_FILE
    if refused is not None:
        return SidePack(
            root=root, source=None, config=CONFIG_FILE if config.is_file() else None, error=refused
        )
    if not config.is_file():
        existing = {k: root / v for k, v in DEFAULT_PATHS.items() if (root / v).exists()}
        source = PackSource(
            root=root,
            origin=f"{root} (no {CONFIG_FILE}: rules/, fixtures/ and filters/)",
            rules=(existing["rules"],) if "rules" in existing else (),
            fixtures=(existing["fixtures"],) if "fixtures" in existing else (),
            filters=(existing["filters"],) if "filters" in existing else (),
        )
        return SidePack(root=root, source=source)
    try:
        data = read_config(config)
        source = pack_from_config(config)
    except ConfigError as exc:
        return SidePack(root=root, source=None, config=CONFIG_FILE, error=str(exc))
    disabled = tuple(sorted({str(n) for n in data.get("disable", [])}))  # type: ignore[attr-defined]
    return SidePack(
        root=root,
        source=source,
        config=CONFIG_FILE,
        include_bundled=bool(data.get("include_bundled", False)),
        disabled=disabled,
        overridden=tuple(sorted(set(source.disabled) - set(disabled))),
    )
