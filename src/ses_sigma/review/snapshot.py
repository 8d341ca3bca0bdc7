"""One side of a review: the pack its ``ses-sigma.toml`` names (``sides``), read and loaded.

A snapshot is read from a directory: the user's own pack directory (the working tree side) or
a temporary copy of a commit's files (``refs``). Rules and filters are loaded only by pySigma
through the side's ``PackSource.load`` (``pack.load_pack``); a pack that does not load is kept
as an error message, and its rules are then known by their file names only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from sigma.correlations import SigmaCorrelationRule

from ses_sigma.harness import Case, FixtureProblem, collect_fixture_dirs
from ses_sigma.pack import RULE_SUFFIXES, Pack, PackLoadError, rule_files, rule_key
from ses_sigma.review.sides import BUNDLED, SidePack, side_pack
from ses_sigma.workspace import FIXTURE_BASE as BASE_FILE
from ses_sigma.workspace import PackSource

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

    ``file`` is named as ``SidePack.name`` names it (``rules/x.yml``, ``<bundled>/rules/x.yml``).
    ``references`` are the rules a correlation refers to (names or ids as written), empty for
    single-event rules. ``techniques`` are the ATT&CK technique ids of its tags, upper case
    (``T1526``). ``bundled``: the rule comes from the bundled pack of the installed ses-sigma.
    """

    key: str
    file: str
    id: str | None = None
    title: str = ""
    references: tuple[str, ...] = ()
    techniques: tuple[str, ...] = ()
    bundled: bool = False


@dataclass
class Snapshot:
    """The pack of one side: raw file contents (config, rules, filters, fixtures), the loaded
    pack (or why it does not load), and which filter files apply to which rule."""

    label: str
    root: Path
    files: dict[str, bytes] = field(default_factory=dict)
    pack: Pack | None = None
    load_error: str | None = None
    rules: dict[str, RuleInfo] = field(default_factory=dict)
    #: The pack as the side's config chose it (None for a snapshot made by hand in tests).
    side: SidePack | None = None
    #: Names of the files holding the side's Sigma filter documents.
    filters: tuple[str, ...] = ()
    #: Rule name -> the filter files applied to it (when the pack loads).
    applied: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Rule name -> its fixture file, where the side has one.
    fixture_paths: dict[str, str] = field(default_factory=dict)
    #: Rule name -> the filter files its fixture cases apply (a case's ``filters``).
    case_filters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: The fixture cases and problems of the side (for its rules), collected once.
    fixtures: tuple[list[Case], list[FixtureProblem]] | None = None

    def text(self, relative: str) -> str | None:
        """A file's content as text (undecodable bytes replaced), None if absent."""
        data = self.files.get(relative)
        return None if data is None else data.decode("utf-8", "replace")

    def fixture_file(self, key: str) -> str:
        """The name of a rule's fixture file (which may not exist)."""
        return self.fixture_paths.get(key, f"{FIXTURES_DIR}/{key}.yml")

    def fixture_base(self, key: str) -> str:
        """The name of the ``_base.yml`` the rule's fixture cases are built on."""
        return str(PurePosixPath(self.fixture_file(key)).parent / BASE_FILE)

    @property
    def source(self) -> PackSource:
        """What the side loads (``rules/``, ``fixtures/`` and ``filters/`` of ``root`` for a
        snapshot made by hand)."""
        if self.side is not None and self.side.source is not None:
            return self.side.source
        return PackSource(
            root=self.root,
            origin=str(self.root),
            rules=(self.root / RULES_DIR,),
            fixtures=(self.root / FIXTURES_DIR,),
        )

    def name(self, path: Path) -> str:
        """How the review names a file of this side."""
        if self.side is not None:
            return self.side.name(path)
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return path.as_posix()


def _walk(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    return [path] if path.is_file() else []


def _read_files(side: SidePack) -> dict[str, bytes]:
    """Every file the side's pack reads: config, rules, filters, fixture directories."""
    found: set[Path] = set()
    if side.config is not None:
        found.add(side.root / side.config)
    source = side.source
    if source is not None:
        for path in (*source.rules, *source.filters, *source.fixtures):
            found.update(_walk(path))
        ignored = {p.resolve() for p in source.ignored_fixtures}
        found = {p for p in found if p.resolve() not in ignored}
    return {side.name(p): p.read_bytes() for p in sorted(found)}


def _fixture_paths(snap: Snapshot, source: PackSource) -> dict[str, str]:
    """Rule name -> its fixture file: the first fixture directory holding ``<name>.yml``."""
    ignored = {p.resolve() for p in source.ignored_fixtures}
    out: dict[str, str] = {}
    for directory in source.fixtures:
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            if (
                path.is_file()
                and path.suffix in RULE_SUFFIXES
                and not path.name.startswith("_")
                and path.resolve() not in ignored
            ):
                out.setdefault(path.stem, snap.name(path))
    return out


def _case_filters(snap: Snapshot, source: PackSource) -> dict[str, tuple[str, ...]]:
    """Rule name -> the names of the filter files its fixture cases apply."""
    snap.fixtures = collect_fixture_dirs(source.fixtures, list(snap.rules), source.ignored_fixtures)
    cases = snap.fixtures[0]
    found: dict[str, set[str]] = {}
    for case in cases:
        found.setdefault(case.rule, set()).update(snap.name(p) for p in case.filters)
    return {k: tuple(sorted(v)) for k, v in found.items() if v}


def _techniques(rule: object) -> tuple[str, ...]:
    found = {
        tag.name.upper()
        for tag in getattr(rule, "tags", None) or []
        if tag.namespace == "attack" and _TECHNIQUE.match(tag.name.lower())
    }
    return tuple(sorted(found))


def load_snapshot(root: str | Path, label: str, refused: str | None = None) -> Snapshot:
    """Read and load the pack of the side in ``root`` (``sides.side_pack``: its
    ``ses-sigma.toml``, else its ``rules/``, ``fixtures/`` and ``filters/``); with ``refused``,
    nothing but the config is read and the side does not load, for that reason."""
    side = side_pack(Path(root), refused)
    snap = Snapshot(label=label, root=side.root, files=_read_files(side), side=side)
    if side.source is None:
        snap.load_error = side.error
        return snap
    source = side.source
    snap.fixture_paths = _fixture_paths(snap, source)
    try:
        rule_paths = rule_files(source.rules)
        filter_paths = rule_files(source.filters)
    except PackLoadError as exc:
        snap.load_error = str(exc)
        return snap
    snap.filters = tuple(sorted({snap.name(p) for p in filter_paths}))
    if not rule_paths:
        return snap
    try:
        snap.pack = source.load()
    except PackLoadError as exc:
        snap.load_error = str(exc)
        # Without pySigma's view of the files, a rule is known by its file name.
        for path in rule_paths:
            name = snap.name(path)
            snap.rules.setdefault(
                path.stem, RuleInfo(key=path.stem, file=name, bundled=name.startswith(BUNDLED))
            )
        snap.case_filters = _case_filters(snap, source)
        return snap
    snap.filters = tuple(sorted({*snap.filters, *(snap.name(p) for p in snap.pack.filter_files)}))
    snap.applied = {
        key: tuple(sorted(snap.name(p) for p in paths))
        for key, paths in snap.pack.applied_filters.items()
    }
    for rule in snap.pack:
        key = rule_key(rule)
        path = snap.pack.files.get(key)
        refs: tuple[str, ...] = ()
        if isinstance(rule, SigmaCorrelationRule):
            refs = tuple(ref.reference for ref in rule.rules or [])
        name = snap.name(path) if path is not None else ""
        snap.rules[key] = RuleInfo(
            key=key,
            file=name,
            id=str(rule.id) if rule.id else None,
            title=rule.title or "",
            references=refs,
            techniques=_techniques(rule),
            bundled=name.startswith(f"{BUNDLED}/"),
        )
    snap.case_filters = _case_filters(snap, source)
    return snap
