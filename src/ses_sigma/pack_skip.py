"""Load what loads: the pack without the rule files that fail (``--skip-unsupported``).

``load_pack`` is all or nothing: one bad file and the run stops, naming it. With
``--skip-unsupported``, ``scan`` and ``convert`` instead leave out every rule file that does not
load (YAML or Sigma errors, an unknown correlation reference, a duplicate name) and, for
``convert``, every rule whose name cannot be a file name, each with its reason, and go on with
the rest. A correlation over a left-out rule is left out in turn (its reference no longer
resolves). Built on ``load_pack``'s public errors only: whatever loader ``load_pack`` uses, a
problem it names by file leaves that file out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from ses_sigma.pack import Pack, PackLoadError, load_pack, rule_files

__all__ = ["PackCheck", "load_pack_skipping"]

#: An extra check of a loaded pack: (file, reason) for each file to leave out.
PackCheck = Callable[[Pack], list[tuple[str, str]]]


def load_pack_skipping(
    paths: Iterable[str | Path], check: PackCheck | None = None
) -> tuple[Pack, list[str]]:
    """The pack of the rule files under ``paths`` that load (and pass ``check``), and one
    ``"<file>: <reason>"`` per problem of each file left out.

    Raises ``PackLoadError`` when a problem names no file of the pack (a missing path, or an
    error the loader cannot attribute to a file).
    """
    files = rule_files(paths)
    left_out: set[Path] = set()
    skipped: list[str] = []
    while True:
        remaining = [f for f in files if f not in left_out]
        try:
            pack = load_pack(remaining)
            problems = check(pack) if check else []
        except PackLoadError as exc:
            problems = list(exc.problems)
            if not _attributable(problems, remaining):
                raise
        if not problems:
            return pack, skipped
        if not _attributable(problems, remaining):
            raise PackLoadError(problems)
        for path, message in problems:
            skipped.append(f"{path}: {message}")
            left_out.add(Path(path))


def _attributable(problems: list[tuple[str, str]], files: list[Path]) -> bool:
    known = {str(f) for f in files}
    return bool(problems) and all(path in known for path, _ in problems)
