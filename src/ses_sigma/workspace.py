"""Which pack a command works on: one rule for check, test, convert, scan, docs and report.

1. Paths given on the command line always win (``resolve_pack(explicit_paths=...)``).
2. Else the pack of the current directory: the nearest directory, from the current one up,
   holding a ``ses-sigma.toml`` (the way git and ruff find their root).
3. Else the pack bundled with ses-sigma (``ses_sigma.bundled``, package data).

``ses-sigma.toml`` (every key optional; paths relative to the file's directory)::

    rules = ["rules"]            # rule files or directories (default: rules/)
    fixtures = ["fixtures"]      # fixture directories, each with _base.yml (default: fixtures/
                                 #   when it exists)
    filters = ["filters"]        # Sigma filter documents, loaded with the rules (default:
                                 #   filters/ when it exists)
    include_bundled = false      # true: these rules together with the bundled pack
    disable = []                 # bundled rules left out, by name (with include_bundled)

With ``include_bundled``, a rule of the repository whose ``name`` is the name of a bundled rule
replaces it (override); the bundled rule's fixture file is then left out too.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ses_sigma import __version__
from ses_sigma.bundled import bundled_dir
from ses_sigma.pack import RULE_SUFFIXES, Pack, load_pack, rule_files
from ses_sigma.pack_skip import PackCheck, load_pack_skipping
from ses_sigma.yamlfile import load_documents, read_text

__all__ = [
    "CONFIG_FILE",
    "FIXTURE_BASE",
    "ConfigError",
    "PackSource",
    "bundled_pack",
    "find_config",
    "pack_from_config",
    "pack_from_paths",
    "read_config",
    "resolve_pack",
]

CONFIG_FILE = "ses-sigma.toml"
FIXTURE_BASE = "_base.yml"  # harness.BASE_FILE (not imported: harness imports the matcher)

_KEYS = {
    "rules": list,
    "fixtures": list,
    "filters": list,
    "include_bundled": bool,
    "disable": list,
}


class ConfigError(ValueError):
    """A ``ses-sigma.toml`` that is malformed or names paths or rules that do not exist."""


@dataclass(frozen=True)
class PackSource:
    """Where a pack comes from: what a command loads, and how it says so."""

    #: The pack's root directory (of its ``ses-sigma.toml``, or the bundled pack's), if any.
    root: Path | None
    #: Said in every command's summary: which pack this is.
    origin: str
    #: Rule files and directories (with ``include_bundled``: the repository's and the bundled).
    rules: tuple[Path, ...]
    #: Fixture directories (each holding ``_base.yml``).
    fixtures: tuple[Path, ...] = ()
    #: Files and directories of Sigma filter documents, loaded together with the rules.
    filters: tuple[Path, ...] = ()
    #: Bundled rules left out (disabled or overridden), by name.
    disabled: tuple[str, ...] = ()
    #: Fixture files of the rules left out, not to be run or checked.
    ignored_fixtures: tuple[Path, ...] = ()
    #: Rule *files* were picked on the command line: a selection of a pack, not a whole one.
    selection: bool = False
    bundled: bool = field(default=False)

    def load(self) -> Pack:
        """The rules and the filters, loaded by pySigma (``pack.load_pack``; PackLoadError)."""
        return load_pack([*self.rules, *self.filters])

    def load_skipping(self, check: PackCheck | None = None) -> tuple[Pack, list[str]]:
        """Like ``load``, leaving out (with the reason) every rule file that does not load or
        fails ``check`` (``--skip-unsupported``; ``pack_skip.load_pack_skipping``)."""
        return load_pack_skipping([*self.rules, *self.filters], check)

    def describe(self, rules: int) -> str:
        """``pack: <origin>, <n> rule(s)``: the line every command prints on stderr."""
        text = f"pack: {self.origin}, {rules} rule(s)"
        if self.filters:
            text += f", filters from {', '.join(map(str, self.filters))}"
        if self.disabled:
            text += f"; bundled rule(s) left out: {', '.join(self.disabled)}"
        return text


def find_config(start: Path | None = None) -> Path | None:
    """The ``ses-sigma.toml`` of ``start`` (default: the current directory) or its nearest
    parent, or None."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / CONFIG_FILE
        if candidate.is_file():
            return candidate
    return None


def bundled_pack() -> PackSource:
    """The pack shipped with ses-sigma."""
    rules = bundled_dir("rules")
    fixtures = bundled_dir("fixtures")
    filters = bundled_dir("filters")
    assert rules is not None and fixtures is not None  # bundled_dir raises otherwise
    return PackSource(
        root=rules.parent,
        origin=f"the bundled pack of ses-sigma {__version__} ({rules.parent})",
        rules=(rules,),
        fixtures=(fixtures,),
        filters=_existing_filters(filters),
        bundled=True,
    )


def _existing_filters(directory: Path | None) -> tuple[Path, ...]:
    if directory is None or not any(
        p.suffix in RULE_SUFFIXES for p in directory.rglob("*") if p.is_file()
    ):
        return ()
    return (directory,)


def read_config(path: Path) -> dict[str, object]:
    """The keys of a ``ses-sigma.toml``, checked (ConfigError naming the file otherwise)."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) {', '.join(unknown)} (known: {', '.join(_KEYS)})"
        )
    for key, kind in _KEYS.items():
        if key in data and not isinstance(data[key], kind):
            raise ConfigError(f"{path}: {key} must be a {kind.__name__}")
        if kind is list and key in data and not all(isinstance(v, str) for v in data[key]):
            raise ConfigError(f"{path}: {key} must be a list of strings")
    return data


def _paths(config: Path, data: dict[str, object], key: str, default: str) -> tuple[Path, ...]:
    """The configured paths of ``key`` (each must exist), or ``default`` if it exists."""
    root = config.parent
    if key not in data:
        return (root / default,) if (root / default).exists() else ()
    found = []
    for entry in data[key]:  # type: ignore[attr-defined]
        path = root / entry
        if not path.exists():
            raise ConfigError(f"{config}: {key}: {entry!r} does not exist ({path})")
        found.append(path)
    return tuple(found)


def _names(path: Path) -> list[str]:
    """The ``name`` of every rule in a rule file (its stem when it does not read: the load
    reports the file itself)."""
    try:
        documents = load_documents(read_text(path))
    except Exception:
        return [path.stem]
    names = [d["name"] for d in documents if isinstance(d, dict) and isinstance(d.get("name"), str)]
    return names or [path.stem]


def pack_from_config(config: Path) -> PackSource:
    """The pack a ``ses-sigma.toml`` describes; ConfigError if it is malformed."""
    config = config.resolve()
    data = read_config(config)
    own_rules = _paths(config, data, "rules", "rules")
    if not own_rules and "rules" not in data:
        raise ConfigError(f"{config}: no rules/ directory next to it and no rules key")
    fixtures = _paths(config, data, "fixtures", "fixtures")
    filters = _paths(config, data, "filters", "filters")
    disable = [str(n) for n in data.get("disable", [])]  # type: ignore[attr-defined]
    include = bool(data.get("include_bundled", False))
    origin = str(config)
    if not include:
        if disable:
            raise ConfigError(f"{config}: disable names bundled rules; it needs include_bundled")
        return PackSource(config.parent, origin, own_rules, fixtures, filters)
    bundled = bundled_pack()
    bundled_files = {f: _names(f) for f in rule_files(bundled.rules)}
    known = {n for names in bundled_files.values() for n in names}
    unknown = sorted(set(disable) - known)
    if unknown:
        raise ConfigError(
            f"{config}: disable: no bundled rule named {', '.join(map(repr, unknown))}"
        )
    overridden = {n for f in rule_files(own_rules) for n in _names(f)} & known
    left_out = set(disable) | overridden
    kept = tuple(f for f, names in bundled_files.items() if not set(names) & left_out)
    ignored = tuple(
        d / f"{name}{suffix}"
        for d in bundled.fixtures
        for name in sorted(left_out)
        for suffix in RULE_SUFFIXES
        if (d / f"{name}{suffix}").is_file()
    )
    return PackSource(
        root=config.parent,
        origin=f"{origin} with the bundled pack of ses-sigma {__version__}",
        rules=own_rules + kept,
        fixtures=fixtures + bundled.fixtures,
        filters=filters + bundled.filters,
        disabled=tuple(sorted(left_out)),
        ignored_fixtures=ignored,
        bundled=True,
    )


def pack_from_paths(paths: Sequence[Path]) -> PackSource:
    """The pack named by command-line paths.

    A directory holding ``ses-sigma.toml`` is that pack (alone); a directory holding
    ``_base.yml`` is a fixture directory; a directory with a ``rules/`` subdirectory is a pack
    root (its ``rules/``, its ``fixtures/`` if that holds ``_base.yml``, its ``filters/``);
    anything else is a rule (or filter) file or directory.
    """
    paths = [Path(p) for p in paths]
    if len(paths) == 1 and (paths[0] / CONFIG_FILE).is_file():
        return pack_from_config(paths[0] / CONFIG_FILE)
    rules: list[Path] = []
    fixtures: list[Path] = []
    filters: list[Path] = []
    for path in paths:
        if path.is_dir() and (path / FIXTURE_BASE).is_file():
            fixtures.append(path)
        elif path.is_dir() and (path / "rules").is_dir():
            rules.append(path / "rules")
            if (path / "fixtures" / FIXTURE_BASE).is_file():
                fixtures.append(path / "fixtures")
            if (path / "filters").is_dir():
                filters.append(path / "filters")
        else:
            rules.append(path)
    root = paths[0] if len(paths) == 1 and paths[0].is_dir() else None
    return PackSource(
        root=root,
        origin=f"the paths given ({', '.join(map(str, paths))})",
        rules=tuple(rules),
        fixtures=tuple(dict.fromkeys(fixtures)),
        filters=tuple(filters),
        selection=any(p.is_file() for p in rules),
    )


def resolve_pack(explicit_paths: Iterable[str | Path] = (), cwd: Path | None = None) -> PackSource:
    """The pack a command works on (see the module docstring); ConfigError for a bad config."""
    explicit = [Path(p) for p in explicit_paths]
    if explicit:
        return pack_from_paths(explicit)
    config = find_config(cwd)
    if config is not None:
        return pack_from_config(config)
    return bundled_pack()
