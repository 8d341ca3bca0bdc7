"""The fixture harness: fixture files -> cases -> verdicts.

A fixture file ``fixtures/<rule name>.yml`` holds the cases of one rule; ``fixtures/_base.yml``
holds named principals and named complete CloudTrail records that case events start from
(the format is documented in ``fixtures/README.md``). Each case runs the whole pack through the
matcher (one fresh ``Engine.run`` per case) and compares the alerts *of the fixture's rule*
with the case's ``expect`` exactly: same number of alerts, same event ids in order, same group
where the case gives one. Every case is replayed with its events as written, reversed and
shuffled (a fixed seed per case), since CloudTrail does not deliver records in time order;
every order must give the expected alerts.

Malformed fixtures are never skipped: every problem (bad YAML, duplicate keys, unknown base,
principal or rule, missing keys, duplicate case names or event ids, an ``expect`` naming an
event the case does not have) is collected into a FixtureError naming the file, the line and
the case. This module never prints.
"""

from __future__ import annotations

import copy
import random
import weakref
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ses_sigma.alerts import Alert
from ses_sigma.bundled import bundled_dir
from ses_sigma.match.engine import Engine
from ses_sigma.pack import load_pack
from ses_sigma.records import Record, RecordError
from ses_sigma.yamlfile import load_single, read_text

__all__ = [
    "BASE_FILE",
    "DEFAULT_FIXTURES_DIR",
    "ORDERS",
    "Bases",
    "Case",
    "CoverageProblem",
    "ExpectedAlert",
    "FixtureError",
    "FixtureProblem",
    "GotAlert",
    "OrderResult",
    "Verdict",
    "check_coverage",
    "collect_fixture_dirs",
    "collect_fixtures",
    "expand_event",
    "filtered_engine",
    "fixture_files",
    "load_bases",
    "load_fixture_file",
    "load_fixtures",
    "load_yaml",
    "order_events",
    "run_case",
    "run_cases",
]

#: The bundled pack's fixtures (package data; the repository's fixtures/ in a checkout).
#: Commands choose their pack with ``ses_sigma.workspace.resolve_pack``.
DEFAULT_FIXTURES_DIR: Path = bundled_dir("fixtures")  # type: ignore[assignment]

#: Shared principals and base records; not a rule's fixture file.
BASE_FILE = "_base.yml"

#: The input orders every case is replayed in.
ORDERS = ("given", "reversed", "shuffled")

#: Seed of the shuffled order (combined with the case id, so each case gets its own order).
SHUFFLE_SEED = 20261125

_CASE_KEYS = ("name", "why", "events", "expect")
#: Optional case keys: ``filters`` (Sigma filter files, relative to the fixture file, applied
#: on top of the pack's) and ``suppress`` (run with the rules' suppression, as scan --suppress).
_OPTIONAL_CASE_KEYS = ("filters", "suppress")
_EXPECT_KEYS = ("event_ids", "group")
_EVENT_DIRECTIVES = ("base", "principal", "_remove")
_BASE_SECTIONS = ("principals", "records")


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class FixtureProblem:
    """One defect in a fixture file: where it is and what is wrong."""

    file: str
    message: str
    line: int | None = None
    case: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.case is not None:
            where += f": case {self.case!r}"
        return f"{where}: {self.message}"


class FixtureError(Exception):
    """One or more malformed fixtures; each problem names its file, line and case."""

    def __init__(self, problems: Sequence[FixtureProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


# --------------------------------------------------------------------------- YAML loading


def load_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """Parse one fixture YAML document: (data, node tree for line numbers).

    Read with ``ses_sigma.yamlfile``: timestamps stay strings; duplicate keys, anchors and
    aliases, oversized files and deep nesting raise ``yaml.YAMLError`` with the line.
    """
    return load_single(read_text(path), timestamps=False)


def _yaml_problem(path: Path, exc: Exception) -> FixtureProblem:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    return FixtureProblem(str(path), f"invalid YAML: {exc}", line=line)


def _mapping_value_node(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value_node
    return None


def _item_lines(node: yaml.Node | None) -> list[int]:
    """1-based line of each item of a sequence node ([] if not a sequence)."""
    if not isinstance(node, yaml.SequenceNode):
        return []
    return [item.start_mark.line + 1 for item in node.value]


# --------------------------------------------------------------------------- bases


@dataclass(frozen=True)
class Bases:
    """The shared principals and base records of ``_base.yml``.

    A principal is a fragment of top-level record keys (``userIdentity`` and usually
    ``sourceIPAddress``, ``userAgent``) that replaces those keys of a base record wholesale.
    A record is a complete CloudTrail record as AWS writes it.
    """

    principals: Mapping[str, Mapping[str, Any]]
    records: Mapping[str, Mapping[str, Any]]
    file: str = ""


def load_bases(path: str | Path) -> Bases:
    """Load ``_base.yml``; FixtureError on any malformed part."""
    path = Path(path)
    problems: list[FixtureProblem] = []
    try:
        data, _ = load_yaml(path)
    except OSError as exc:
        raise FixtureError([FixtureProblem(str(path), f"cannot read: {exc}")]) from None
    except yaml.YAMLError as exc:
        raise FixtureError([_yaml_problem(path, exc)]) from None
    if not isinstance(data, dict):
        raise FixtureError(
            [FixtureProblem(str(path), "must be a mapping with keys principals and records")]
        )
    unknown = sorted(str(k) for k in data if k not in _BASE_SECTIONS)
    if unknown:
        problems.append(
            FixtureProblem(
                str(path),
                f"unknown top-level key(s) {', '.join(unknown)} "
                f"(allowed: {', '.join(_BASE_SECTIONS)})",
            )
        )
    sections: dict[str, dict[str, dict[str, Any]]] = {}
    for section in _BASE_SECTIONS:
        value = data.get(section)
        if not isinstance(value, dict) or not value:
            problems.append(
                FixtureProblem(str(path), f"{section} must be a non-empty mapping of names")
            )
            sections[section] = {}
            continue
        checked: dict[str, dict[str, Any]] = {}
        for name, item in value.items():
            if not isinstance(name, str) or not name:
                problems.append(FixtureProblem(str(path), f"{section}: bad name {name!r}"))
            elif not isinstance(item, dict):
                problems.append(FixtureProblem(str(path), f"{section}.{name}: must be a mapping"))
            elif section == "principals" and "userIdentity" not in item:
                problems.append(
                    FixtureProblem(str(path), f"principals.{name}: has no userIdentity")
                )
            elif section == "records" and set(item) & set(_EVENT_DIRECTIVES):
                problems.append(
                    FixtureProblem(
                        str(path),
                        f"records.{name}: base records are complete records; "
                        f"{', '.join(sorted(set(item) & set(_EVENT_DIRECTIVES)))} "
                        "are only allowed in case events",
                    )
                )
            else:
                checked[name] = item
        sections[section] = checked
    if problems:
        raise FixtureError(problems)
    return Bases(principals=sections["principals"], records=sections["records"], file=str(path))


# --------------------------------------------------------------------------- expansion


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` merged into a copy of ``base``: mappings merge, anything else replaces."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _remove_path(record: dict[str, Any], path: str) -> None:
    """Delete the dotted ``path`` from ``record``; KeyError naming the path if absent."""
    parts = path.split(".")
    node: Any = record
    for part in parts[:-1]:
        if not isinstance(node, dict) or part not in node:
            raise KeyError(path)
        node = node[part]
    if not isinstance(node, dict) or parts[-1] not in node:
        raise KeyError(path)
    del node[parts[-1]]


def expand_event(spec: Mapping[str, Any], bases: Bases) -> dict[str, Any]:
    """Expand one case event into a complete CloudTrail record.

    Steps, in order: a deep copy of the base record named by ``base`` (none: start empty);
    the principal named by ``principal`` replaces its top-level keys wholesale; every dotted
    path in ``_remove`` is deleted (it must exist); the remaining keys are deep-merged
    (mappings merge key by key; scalars, lists and null replace). ``eventID`` and
    ``eventTime`` must be given explicitly in the event. Raises ValueError with the reason.
    """
    if not isinstance(spec, Mapping):
        raise ValueError(f"an event must be a mapping, not {type(spec).__name__}")
    overrides = dict(spec)
    base_name = overrides.pop("base", None)
    principal_name = overrides.pop("principal", None)
    remove = overrides.pop("_remove", [])
    directives = sorted(k for k in overrides if isinstance(k, str) and k.startswith("_"))
    if directives:
        raise ValueError(
            f"unknown directive(s) {', '.join(directives)} "
            f"(allowed: {', '.join(_EVENT_DIRECTIVES)})"
        )
    missing = [k for k in ("eventID", "eventTime") if k not in overrides]
    if missing:
        raise ValueError(f"every event must set {' and '.join(missing)} explicitly")
    if base_name is None:
        record: dict[str, Any] = {}
    elif not isinstance(base_name, str) or base_name not in bases.records:
        known = ", ".join(sorted(bases.records))
        raise ValueError(f"unknown base {base_name!r} (known: {known})")
    else:
        record = copy.deepcopy(dict(bases.records[base_name]))
    if principal_name is not None:
        if not isinstance(principal_name, str) or principal_name not in bases.principals:
            known = ", ".join(sorted(bases.principals))
            raise ValueError(f"unknown principal {principal_name!r} (known: {known})")
        record.update(copy.deepcopy(dict(bases.principals[principal_name])))
    if not isinstance(remove, list) or not all(isinstance(p, str) and p for p in remove):
        raise ValueError(f"_remove must be a list of dotted field paths, not {remove!r}")
    for path in remove:
        try:
            _remove_path(record, path)
        except KeyError:
            raise ValueError(f"_remove: {path!r} is not in the record") from None
    return _deep_merge(record, overrides)


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class ExpectedAlert:
    """One alert a case expects: its event ids in time order, and optionally its group."""

    event_ids: tuple[str, ...]
    group: tuple[tuple[str, Any], ...] | None = None

    def matches(self, got: GotAlert) -> bool:
        """Same event ids in the same order, and the same group when one is expected."""
        if self.event_ids != got.event_ids:
            return False
        return self.group is None or dict(self.group) == dict(got.group)

    def __str__(self) -> str:
        text = "[" + ", ".join(self.event_ids) + "]"
        if self.group is not None:
            text += " " + ", ".join(f"{k}={v}" for k, v in self.group)
        return text


@dataclass(frozen=True)
class GotAlert:
    """The part of an Alert a case compares: event ids and group."""

    event_ids: tuple[str, ...]
    group: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def from_alert(cls, alert: Alert) -> GotAlert:
        """The comparable part of a matcher alert."""
        return cls(event_ids=tuple(alert.event_ids), group=tuple(alert.group))

    def __str__(self) -> str:
        text = "[" + ", ".join(self.event_ids) + "]"
        if self.group:
            text += " " + ", ".join(f"{k}={v}" for k, v in self.group)
        return text


@dataclass(frozen=True)
class Case:
    """One fixture case of one rule, with its events already expanded to full records."""

    rule: str
    name: str
    why: str
    events: tuple[dict[str, Any], ...]
    expect: tuple[ExpectedAlert, ...]
    file: str
    line: int | None = None
    filters: tuple[Path, ...] = ()
    suppress: bool = False

    @property
    def id(self) -> str:
        """``<rule>::<case name>``: the case's id in test reports and pytest."""
        return f"{self.rule}::{self.name}"

    @property
    def fires(self) -> bool:
        """True if the case expects at least one alert (a positive case)."""
        return bool(self.expect)


def fixture_files(fixtures_dir: str | Path) -> list[Path]:
    """The rule fixture files in a directory (``*.yml``/``*.yaml`` except ``_base.yml``)."""
    root = Path(fixtures_dir)
    files = [
        p
        for p in root.iterdir()
        if p.is_file() and p.suffix in (".yml", ".yaml") and not p.name.startswith("_")
    ]
    return sorted(files)


def _parse_expect(raw: Any, event_ids: Collection[str]) -> tuple[ExpectedAlert, ...]:
    if not isinstance(raw, list):
        raise ValueError("expect must be a list of alerts ([] means the rule must not fire)")
    out: list[ExpectedAlert] = []
    for i, item in enumerate(raw, 1):
        if not isinstance(item, dict):
            raise ValueError(f"expect #{i}: must be a mapping with event_ids (and group)")
        unknown = sorted(str(k) for k in item if k not in _EXPECT_KEYS)
        if unknown:
            raise ValueError(
                f"expect #{i}: unknown key(s) {', '.join(unknown)} "
                f"(allowed: {', '.join(_EXPECT_KEYS)})"
            )
        ids = item.get("event_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(x, str) for x in ids):
            raise ValueError(f"expect #{i}: event_ids must be a non-empty list of eventIDs")
        strangers = [x for x in ids if x not in event_ids]
        if strangers:
            raise ValueError(
                f"expect #{i}: event id(s) {', '.join(strangers)} are not events of this case"
            )
        group = item.get("group")
        if group is not None and (not isinstance(group, dict) or not group):
            raise ValueError(f"expect #{i}: group must be a non-empty mapping field -> value")
        out.append(
            ExpectedAlert(
                event_ids=tuple(ids),
                group=tuple(group.items()) if group is not None else None,
            )
        )
    return tuple(out)


def _parse_case(raw: Any, rule: str, bases: Bases, file: str, line: int | None, index: int) -> Case:
    """One case mapping -> Case; ValueError with the reason (the caller adds file/case)."""
    if not isinstance(raw, dict):
        raise ValueError(f"case #{index} must be a mapping with keys {', '.join(_CASE_KEYS)}")
    allowed = (*_CASE_KEYS, *_OPTIONAL_CASE_KEYS)
    unknown = sorted(str(k) for k in raw if k not in allowed)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(allowed)})")
    filters = raw.get("filters", [])
    if not isinstance(filters, list) or not all(isinstance(f, str) and f for f in filters):
        raise ValueError("filters must be a list of filter file paths (relative to this file)")
    filter_paths = tuple((Path(file).parent / f) for f in filters)
    for path in filter_paths:
        if not path.is_file():
            raise ValueError(f"filters: {path} is not a file")
    suppress = raw.get("suppress", False)
    if not isinstance(suppress, bool):
        raise ValueError("suppress must be true or false")
    missing = [k for k in _CASE_KEYS if k not in raw]
    if missing:
        raise ValueError(f"missing key(s) {', '.join(missing)}")
    name, why = raw["name"], raw["why"]
    if not isinstance(name, str) or not name.strip():
        raise ValueError("name must be a non-empty string")
    if "::" in name or name != name.strip():
        raise ValueError("name must not contain '::' nor leading/trailing spaces")
    if not isinstance(why, str) or not why.strip():
        raise ValueError("why must be a non-empty string (one line: what the case proves)")
    specs = raw["events"]
    if not isinstance(specs, list) or not specs:
        raise ValueError("events must be a non-empty list")
    events: list[dict[str, Any]] = []
    for i, spec in enumerate(specs, 1):
        try:
            record = expand_event(spec, bases)
            Record.from_dict(record)  # eventTime and eventID usable by the matcher
        except (ValueError, RecordError) as exc:
            raise ValueError(f"event #{i}: {exc}") from None
        events.append(record)
    ids = [e["eventID"] for e in events]
    dups = sorted({x for x in ids if ids.count(x) > 1})
    if dups:
        raise ValueError(f"duplicate eventID(s) in the case: {', '.join(dups)}")
    expect = _parse_expect(raw["expect"], set(ids))
    return Case(
        rule=rule,
        name=name,
        why=why.strip(),
        events=tuple(events),
        expect=expect,
        file=file,
        line=line,
        filters=filter_paths,
        suppress=suppress,
    )


def load_fixture_file(
    path: str | Path, bases: Bases, rule_names: Collection[str]
) -> tuple[list[Case], list[FixtureProblem]]:
    """The cases of one fixture file, and the problems found in it.

    The rule is the file's stem and must be in ``rule_names``. A problem in one case does not
    hide the problems of the others; the caller decides (``load_fixtures`` raises).
    """
    path = Path(path)
    file = str(path)
    rule = path.stem
    problems: list[FixtureProblem] = []
    if rule not in rule_names:
        return [], [FixtureProblem(file, f"no rule named {rule!r} in the pack")]
    try:
        data, node = load_yaml(path)
    except OSError as exc:
        return [], [FixtureProblem(file, f"cannot read: {exc}")]
    except yaml.YAMLError as exc:
        return [], [_yaml_problem(path, exc)]
    if not isinstance(data, dict) or set(data) != {"cases"}:
        keys = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        return [], [FixtureProblem(file, f"must be a mapping with one key, cases (got {keys})")]
    raw_cases = data["cases"]
    if not isinstance(raw_cases, list) or not raw_cases:
        return [], [FixtureProblem(file, "cases must be a non-empty list")]
    lines = _item_lines(_mapping_value_node(node, "cases"))
    cases: list[Case] = []
    names: dict[str, int | None] = {}
    for index, raw in enumerate(raw_cases, 1):
        line = lines[index - 1] if index - 1 < len(lines) else None
        label = raw.get("name") if isinstance(raw, dict) else None
        label = label if isinstance(label, str) and label else f"#{index}"
        try:
            case = _parse_case(raw, rule, bases, file, line, index)
        except ValueError as exc:
            problems.append(FixtureProblem(file, str(exc), line=line, case=label))
            continue
        if case.name in names:
            problems.append(
                FixtureProblem(
                    file,
                    f"duplicate case name (first at line {names[case.name]})",
                    line=line,
                    case=case.name,
                )
            )
            continue
        names[case.name] = line
        cases.append(case)
    return cases, problems


def collect_fixtures(
    fixtures_dir: str | Path = DEFAULT_FIXTURES_DIR,
    rule_names: Collection[str] = (),
    ignore: Collection[Path] = (),
) -> tuple[list[Case], list[FixtureProblem]]:
    """Every well-formed case in ``fixtures_dir`` and every problem found, without raising.

    A broken ``_base.yml`` (or a missing directory) leaves no cases, only problems; a broken
    case or file only loses itself. ``load_fixtures`` is the raising form. Fixture files in
    ``ignore`` (those of bundled rules a pack leaves out) are not read.
    """
    root = Path(fixtures_dir)
    if not root.is_dir():
        return [], [FixtureProblem(str(root), "fixtures directory not found")]
    try:
        bases = load_bases(root / BASE_FILE)
    except FixtureError as exc:
        return [], list(exc.problems)
    cases: list[Case] = []
    problems: list[FixtureProblem] = []
    skipped = {Path(p).resolve() for p in ignore}
    for path in fixture_files(root):
        if path.resolve() in skipped:
            continue
        found, bad = load_fixture_file(path, bases, rule_names)
        cases.extend(found)
        problems.extend(bad)
    return cases, problems


def collect_fixture_dirs(
    fixtures_dirs: Iterable[str | Path],
    rule_names: Collection[str] = (),
    ignore: Collection[Path] = (),
) -> tuple[list[Case], list[FixtureProblem]]:
    """``collect_fixtures`` over several directories (each with its own ``_base.yml``), in
    order: a pack's own fixtures and the bundled pack's."""
    cases: list[Case] = []
    problems: list[FixtureProblem] = []
    for directory in fixtures_dirs:
        found, bad = collect_fixtures(directory, rule_names, ignore)
        cases.extend(found)
        problems.extend(bad)
    return cases, problems


def load_fixtures(
    fixtures_dir: str | Path = DEFAULT_FIXTURES_DIR,
    rule_names: Collection[str] = (),
) -> list[Case]:
    """Every case of every fixture file in ``fixtures_dir``, in file then case order.

    ``rule_names`` are the rules of the pack; a fixture file for another rule is an error.
    Raises FixtureError listing every problem of every file.
    """
    cases, problems = collect_fixtures(fixtures_dir, rule_names)
    if problems:
        raise FixtureError(problems)
    return cases


# --------------------------------------------------------------------------- coverage


@dataclass(frozen=True)
class CoverageProblem:
    """A rule whose fixtures do not prove both that it fires and that it stays quiet."""

    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


def check_coverage(rule_names: Iterable[str], cases: Iterable[Case]) -> list[CoverageProblem]:
    """Every rule needs at least one case that fires and one that must not fire."""
    by_rule: dict[str, list[Case]] = {}
    for case in cases:
        by_rule.setdefault(case.rule, []).append(case)
    problems: list[CoverageProblem] = []
    for rule in rule_names:
        mine = by_rule.get(rule, [])
        if not mine:
            problems.append(CoverageProblem(rule, "no fixture cases"))
            continue
        if not any(c.fires for c in mine):
            problems.append(CoverageProblem(rule, "no case where the rule fires"))
        if all(c.fires for c in mine):
            problems.append(CoverageProblem(rule, "no case where the rule must not fire"))
    return problems


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class OrderResult:
    """The rule's alerts for one input order of a case."""

    order: str
    got: tuple[GotAlert, ...]
    passed: bool


@dataclass(frozen=True)
class Verdict:
    """The outcome of one case: expected alerts, what each input order gave, pass/fail.

    ``error`` is set when the case could not be run at all (the matcher raised).
    """

    case: Case
    results: tuple[OrderResult, ...] = field(default=())
    error: str | None = None

    @property
    def rule(self) -> str:
        """The fixture's rule."""
        return self.case.rule

    @property
    def expected(self) -> tuple[ExpectedAlert, ...]:
        """The alerts the case expects."""
        return self.case.expect

    @property
    def got(self) -> tuple[GotAlert, ...]:
        """The rule's alerts with the events in the order written (the reference order)."""
        return self.results[0].got if self.results else ()

    @property
    def passed(self) -> bool:
        """True when every order gave exactly the expected alerts."""
        return self.error is None and bool(self.results) and all(r.passed for r in self.results)

    @property
    def failed_orders(self) -> tuple[str, ...]:
        """The input orders that gave other alerts than expected."""
        return tuple(r.order for r in self.results if not r.passed)

    def explain(self) -> str:
        """A multi-line description of the verdict, for test failures and reports."""
        lines = [f"{self.case.id} ({self.case.file}:{self.case.line}): {self.case.why}"]
        lines.append(f"  expected: {_fmt_alerts(self.expected)}")
        if self.error is not None:
            lines.append(f"  error: {self.error}")
        for r in self.results:
            mark = "ok" if r.passed else "MISMATCH"
            lines.append(f"  {r.order:>8}: {_fmt_alerts(r.got)}  {mark}")
        return "\n".join(lines)


def _fmt_alerts(alerts: Sequence[ExpectedAlert | GotAlert]) -> str:
    return "none" if not alerts else "; ".join(str(a) for a in alerts)


def order_events(case: Case, order: str) -> list[dict[str, Any]]:
    """The case's events in one of ORDERS (shuffled: seeded by SHUFFLE_SEED and the case id)."""
    events = list(case.events)
    if order == "given":
        return events
    if order == "reversed":
        return events[::-1]
    if order == "shuffled":
        random.Random(f"{SHUFFLE_SEED}:{case.id}").shuffle(events)
        return events
    raise ValueError(f"unknown order {order!r} (known: {', '.join(ORDERS)})")


def _matches(expected: Sequence[ExpectedAlert], got: Sequence[GotAlert]) -> bool:
    if len(expected) != len(got):
        return False
    return all(e.matches(g) for e, g in zip(expected, got, strict=True))


def run_case(engine: Engine, case: Case) -> Verdict:
    """Run one case in every order through a fresh ``engine.run``; the matcher's own errors
    propagate (use ``run_cases`` to turn them into failed verdicts)."""
    results: list[OrderResult] = []
    if case.filters:
        engine = filtered_engine(engine, case.filters)
    for order in ORDERS:
        records = [
            Record.from_dict(copy.deepcopy(data), origin=f"{case.file}: {case.id} [{i}]")
            for i, data in enumerate(order_events(case, order))
        ]
        alerts = (
            engine.run(records, suppress=case.suppress) if case.suppress else engine.run(records)
        )
        got = tuple(GotAlert.from_alert(a) for a in alerts if a.rule_name == case.rule)
        results.append(OrderResult(order=order, got=got, passed=_matches(case.expect, got)))
    return Verdict(case=case, results=tuple(results))


# Per engine (weakly: an engine's id can be reused once it is collected, and a cache keyed on
# ids would then hand out another pack's engine), the engines with a case's filters on top.
_FILTERED: weakref.WeakKeyDictionary[Engine, dict[tuple[Path, ...], Engine]] = (
    weakref.WeakKeyDictionary()
)


def filtered_engine(engine: Engine, filters: tuple[Path, ...]) -> Engine:
    """``engine``'s pack loaded again with ``filters`` on top of its own (cached per engine,
    for as long as ``engine`` lives)."""
    cache = _FILTERED.setdefault(engine, {})
    found = cache.get(filters)
    if found is None:
        pack = engine.pack
        paths = sorted(set(pack.files.values()))
        found = Engine(load_pack(paths, filters=[*pack.filter_files, *filters]))
        cache[filters] = found
    return found


def run_cases(engine: Engine, cases: Iterable[Case]) -> list[Verdict]:
    """Run every case; a case on which the matcher raises becomes a failed verdict."""
    verdicts: list[Verdict] = []
    for case in cases:
        try:
            verdicts.append(run_case(engine, case))
        except Exception as exc:  # reported as a failed case, never skipped
            verdicts.append(Verdict(case=case, error=f"{type(exc).__name__}: {exc}"))
    return verdicts
