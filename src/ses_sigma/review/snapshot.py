"""One side of a review: the pack's ``rules/`` and ``fixtures/`` in one directory, loaded.

A snapshot is read from a directory: the user's own pack directory (the working tree side) or
a temporary copy of a commit's files (``gitrefs.export_tree``). Rules are loaded only by
pySigma through :func:`ses_sigma.pack.load_pack`; a pack that does not load is kept as an error
message, and its rules are then known by their file names only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from sigma.correlations import SigmaCorrelationRule

from ses_sigma.pack import RULE_SUFFIXES, Pack, PackLoadError, load_pack, rule_key

__all__ = [
    "FIXTURES_DIR",
    "RULES_DIR",
    "RuleInfo",
    "Snapshot",
    "load_snapshot",
]

RULES_DIR = "rules"
FIXTURES_DIR = "fixtures"

_TECHNIQUE = re.compile(r"^t\d{4}(\.\d{3})?$")


@dataclass(frozen=True)
class RuleInfo:
    """What a review needs to know about one rule of a snapshot.

    ``file`` is relative to the pack directory (``rules/x.yml``). ``references`` are the
    rules a correlation refers to (names or ids as written), empty for single-event rules.
    ``techniques`` are the ATT&CK technique ids of its tags, upper case (``T1526``).
    """

    key: str
    file: str
    id: str | None = None
    title: str = ""
    references: tuple[str, ...] = ()
    techniques: tuple[str, ...] = ()


@dataclass
class Snapshot:
    """The pack in ``root``: raw file contents, the loaded pack (or why it does not load)."""

    label: str
    root: Path
    files: dict[str, bytes] = field(default_factory=dict)
    pack: Pack | None = None
    load_error: str | None = None
    rules: dict[str, RuleInfo] = field(default_factory=dict)

    def text(self, relative: str) -> str | None:
        """A file's content as text (undecodable bytes replaced), None if absent."""
        data = self.files.get(relative)
        return None if data is None else data.decode("utf-8", "replace")

    def fixture_file(self, key: str) -> str:
        """The relative path of a rule's fixture file (which may not exist)."""
        return f"{FIXTURES_DIR}/{key}.yml"


def _read_files(root: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for sub in (RULES_DIR, FIXTURES_DIR):
        base = root / sub
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path.is_file():
                files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _techniques(rule: object) -> tuple[str, ...]:
    found = {
        tag.name.upper()
        for tag in getattr(rule, "tags", None) or []
        if tag.namespace == "attack" and _TECHNIQUE.match(tag.name.lower())
    }
    return tuple(sorted(found))


def load_snapshot(root: str | Path, label: str) -> Snapshot:
    """Read and load the pack in ``root`` (its ``rules/`` and ``fixtures/``)."""
    root = Path(root)
    snap = Snapshot(label=label, root=root, files=_read_files(root))
    rule_paths = sorted(
        p for p in snap.files if p.startswith(f"{RULES_DIR}/") and p.endswith(RULE_SUFFIXES)
    )
    if not rule_paths:
        return snap
    try:
        snap.pack = load_pack([root / RULES_DIR])
    except PackLoadError as exc:
        snap.load_error = str(exc)
        # Without pySigma's view of the files, a rule is known by its file name.
        for rel in rule_paths:
            key = Path(rel).stem
            snap.rules.setdefault(key, RuleInfo(key=key, file=rel))
        return snap
    for rule in snap.pack:
        key = rule_key(rule)
        path = snap.pack.files.get(key)
        refs: tuple[str, ...] = ()
        if isinstance(rule, SigmaCorrelationRule):
            refs = tuple(ref.reference for ref in rule.rules or [])
        snap.rules[key] = RuleInfo(
            key=key,
            file=_relative(path, root) if path is not None else "",
            id=str(rule.id) if rule.id else None,
            title=rule.title or "",
            references=refs,
            techniques=_techniques(rule),
        )
    return snap
