"""Run the library on one snapshot: conversions per target, fixture verdicts, lint findings.

Every result comes from the library the other commands use (``convert.build.convert_rules``,
``harness``, ``lint.check_pack``); this module only picks out what a review shows. Anything
that cannot be computed is kept as an error message next to the result it replaces, never
dropped.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import orjson

from ses_sigma.convert.base import all_targets
from ses_sigma.convert.build import convert_rules
from ses_sigma.harness import (
    BASE_FILE,
    Case,
    ExpectedAlert,
    FixtureProblem,
    GotAlert,
    Verdict,
    collect_fixture_dirs,
    run_cases,
)
from ses_sigma.lint import PackPaths, PathsError, check_pack
from ses_sigma.lint.findings import Finding
from ses_sigma.match.engine import Engine
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.review.snapshot import Snapshot

__all__ = [
    "CaseRow",
    "FixtureReport",
    "LintSummary",
    "Rendering",
    "convert_rule",
    "lint_snapshot",
    "query_formats",
    "run_fixtures",
]

#: The per-rule format a review shows for each target: the first of these a target has
#: (Splunk's ``spl``, the Elastic query languages' ``query``, Kibana's ``ndjson``), else the
#: target's default. Whole-pack formats (savedsearches.conf, the Splunk app) are not per rule.
PREFERRED_FORMATS = ("spl", "query", "ndjson")


@dataclass(frozen=True)
class Rendering:
    """One target's output for one rule on one side: text, or why there is none."""

    target: str
    fmt: str
    text: str | None = None
    refusal: str | None = None
    error: str | None = None


def query_formats() -> list[tuple[str, str]]:
    """(target, format) for every registered target, in target name order."""
    out = []
    for tgt in all_targets():
        fmt = next((f for f in PREFERRED_FORMATS if f in tgt.formats), tgt.formats[0])
        out.append((tgt.name, fmt))
    return out


def _pretty_ndjson(content: str) -> str:
    """Each JSON line indented with sorted keys, so that a diff shows the field that changed."""
    parts = []
    for line in content.splitlines():
        if not line.strip():
            continue
        try:
            parts.append(
                orjson.dumps(
                    orjson.loads(line), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
                ).decode("utf-8")
            )
        except orjson.JSONDecodeError:
            parts.append(line)  # shown as emitted: the target's own tests catch invalid JSON
    return "\n".join(parts) + "\n"


def _as_text(files: Mapping[str, str | bytes]) -> str:
    parts = []
    for path, content in sorted(files.items()):
        if isinstance(content, bytes):
            body = f"<binary file, {len(content)} bytes>\n"
        elif path.endswith(".ndjson"):
            body = _pretty_ndjson(content)
        else:
            body = content if content.endswith("\n") else content + "\n"
        parts.append(body if len(files) == 1 else f"==> {path} <==\n{body}")
    return "".join(parts)


def convert_rule(snapshot: Snapshot, key: str) -> dict[str, Rendering]:
    """The rule ``key`` of ``snapshot`` converted by every target (by target name).

    ``convert_rules`` converts from a fresh copy of the pack each time (pySigma backends
    mutate the rules they convert), so the snapshot's pack is never altered.
    """
    out: dict[str, Rendering] = {}
    for target, fmt in query_formats():
        if snapshot.pack is None:
            out[target] = Rendering(target, fmt, error="the pack does not load")
            continue
        try:
            result = convert_rules(snapshot.pack, target, fmt, [key])
        except Exception as exc:  # a target's bug: shown in the report, never swallowed
            out[target] = Rendering(target, fmt, error=f"{type(exc).__name__}: {exc}")
            continue
        refusal = None
        if result.refusals:
            refusal = "; ".join(
                r.reason if r.rule == key else f"{r.rule}: {r.reason}" for r in result.refusals
            )
        text = _as_text(result.files) if result.files else None
        out[target] = Rendering(target, fmt, text=text, refusal=refusal)
    return out


# --------------------------------------------------------------------------- fixtures


@dataclass(frozen=True)
class CaseRow:
    """One fixture case's verdict, as a review table row."""

    name: str
    expected: str
    got: str
    passed: bool
    detail: str = ""
    new: bool = False


@dataclass
class FixtureReport:
    """The fixture verdicts of one rule on the head side, and its fixture problems."""

    rule: str
    rows: list[CaseRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    removed_cases: list[str] = field(default_factory=list)

    @property
    def passed(self) -> int:
        """Number of passing cases."""
        return sum(r.passed for r in self.rows)


def _alerts(alerts: tuple[ExpectedAlert, ...] | tuple[GotAlert, ...]) -> str:
    return "none" if not alerts else "; ".join(str(a) for a in alerts)


def _row(verdict: Verdict, new: bool) -> CaseRow:
    expected = _alerts(verdict.expected)
    if verdict.error is not None:
        return CaseRow(verdict.case.name, expected, "", False, f"error: {verdict.error}", new)
    detail = ""
    if not verdict.passed:  # what each failing input order gave
        detail = "; ".join(
            f"got ({r.order} order): {_alerts(r.got)}" for r in verdict.results if not r.passed
        )
    return CaseRow(verdict.case.name, expected, _alerts(verdict.got), verdict.passed, detail, new)


def _collect(snapshot: Snapshot, names: Collection[str]) -> tuple[list[Case], list[FixtureProblem]]:
    """The cases of the side's fixture directories (the bundled ones too), less the fixture
    files of the bundled rules the side leaves out (collected by ``load_snapshot`` once)."""
    if snapshot.fixtures is not None and list(names) == list(snapshot.rules):
        return snapshot.fixtures
    source = snapshot.source
    return collect_fixture_dirs(source.fixtures, names, source.ignored_fixtures)


def _case_names(snapshot: Snapshot) -> dict[str, set[str]]:
    """Rule name -> its case names, as the fixture files of ``snapshot`` hold them."""
    cases, _ = _collect(snapshot, list(snapshot.rules))
    names: dict[str, set[str]] = {}
    for case in cases:
        names.setdefault(case.rule, set()).add(case.name)
    return names


def run_fixtures(
    head: Snapshot, keys: Collection[str], base: Snapshot, base_keys: Mapping[str, str]
) -> tuple[dict[str, FixtureReport], str | None]:
    """Run the fixture cases of the rules ``keys`` of ``head`` through the matcher.

    ``base_keys`` maps a head rule name to its name on the base side (for new/removed cases).
    Returns the reports by rule and an error message when nothing could run (the pack does
    not load or does not compile).
    """
    if head.pack is None:
        return {}, "the pack does not load on this side"
    try:
        engine = Engine(head.pack)
    except RuleCompileError as exc:
        return {}, f"a rule cannot be evaluated faithfully: {exc}"
    names = list(head.rules)
    cases, problems = _collect(head, names)
    before = _case_names(base) if base.rules else {}
    reports = {k: FixtureReport(k) for k in sorted(keys)}
    wanted = [c for c in cases if c.rule in reports]
    for verdict in run_cases(engine, wanted):
        # A case is new when the rule existed on the base side without it (every case of an
        # added rule is new, so none is marked).
        base_key = base_keys.get(verdict.rule)
        new = base_key is not None and verdict.case.name not in before.get(base_key, set())
        reports[verdict.rule].rows.append(_row(verdict, new=new))
    for problem in problems:
        stem = Path(problem.file).stem
        if stem in reports:
            reports[stem].problems.append(str(problem))
        elif Path(problem.file).name == BASE_FILE or Path(problem.file).suffix == "":
            for report in reports.values():
                report.problems.append(str(problem))
    for key, report in reports.items():
        old = before.get(base_keys.get(key, ""), set())
        now = {r.name for r in report.rows}
        report.removed_cases = sorted(old - now)
    return reports, None


# --------------------------------------------------------------------------- lint


@dataclass
class LintSummary:
    """``ses-sigma check`` on one side: the findings on the files a review is about, and
    how many there are elsewhere."""

    touched: list[Finding] = field(default_factory=list)
    other_failing: int = 0
    other_excused: int = 0
    passed: bool = True
    error: str | None = None


def _relative_finding(finding: Finding, snapshot: Snapshot) -> Finding:
    path = Path(finding.file)
    if not path.is_absolute():
        path = Path.cwd() / path
    return replace(finding, file=snapshot.name(path))


def lint_snapshot(snapshot: Snapshot, files: Collection[str]) -> LintSummary:
    """Lint the whole pack of ``snapshot`` (``ses-sigma check`` on the side's pack: its rules,
    filters and fixtures, and the bundled rules it uses); findings on ``files`` (names as the
    snapshot gives them) are listed, the others counted."""
    try:
        result = check_pack(PackPaths.of(snapshot.source))
    except PathsError as exc:
        return LintSummary(error=str(exc), passed=False)
    summary = LintSummary(passed=result.passed)
    for finding in result.findings:
        finding = _relative_finding(finding, snapshot)
        if finding.file in files:
            summary.touched.append(finding)
        elif finding.excused is None:
            summary.other_failing += 1
        else:
            summary.other_excused += 1
    return summary
