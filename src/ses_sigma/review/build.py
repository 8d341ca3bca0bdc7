"""``ses-sigma report``: compare the pack at a git ref with the working tree (or another ref).

Data flows one way: two snapshots -> what changed (``diff.compare``) -> conversions, fixture
verdicts and lint findings of the rules that changed (``evaluate``) -> a :class:`Review`, which
``report`` renders. Only the rules that changed (and the correlations over them) are converted,
and only their fixture cases run. ``refs`` makes the snapshots from git refs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from ses_sigma.review.diff import Kind, RuleChange, compare, coverage, unified_diff
from ses_sigma.review.evaluate import (
    FixtureReport,
    LintSummary,
    Rendering,
    convert_rule,
    lint_snapshot,
    run_fixtures,
)
from ses_sigma.review.snapshot import RULES_DIR, Snapshot

__all__ = [
    "QueryDiff",
    "Review",
    "RuleSection",
    "Status",
    "build_review",
]


class Status(StrEnum):
    """How a target's output for a rule differs between the sides."""

    UNCHANGED = "unchanged"
    CHANGED = "changed"
    NEW = "converted"  # an added rule that converts
    REFUSED = "refused"  # refused on the head side (and before, if the rule existed)
    NOW_REFUSED = "now refused"
    NO_LONGER_REFUSED = "no longer refused"
    REFUSAL_CHANGED = "refusal changed"
    ERROR = "error"


@dataclass(frozen=True)
class QueryDiff:
    """One target's output for one rule, before and after, and its diff."""

    target: str
    fmt: str
    status: Status
    diff: str
    before: Rendering | None
    after: Rendering


@dataclass
class RuleSection:
    """Everything the report shows for one added, changed or affected rule (or one whose
    fixtures changed)."""

    change: RuleChange
    sigma_diff: str = ""
    queries: list[QueryDiff] = field(default_factory=list)
    fixtures: FixtureReport | None = None


@dataclass
class Review:
    """The comparison of two snapshots, ready to render."""

    base_label: str
    head_label: str
    changes: list[RuleChange]
    sections: list[RuleSection]
    lint: LintSummary
    coverage_before: dict[str, tuple[str, ...]] | None
    coverage_after: dict[str, tuple[str, ...]] | None
    fixtures_error: str | None = None
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when every part of the review could be computed."""
        return not self.errors


def _query_diff(
    key_before: str | None, key_after: str, before: Rendering | None, after: Rendering
) -> QueryDiff:
    b_text = before.text if before is not None else None
    diff = unified_diff(
        b_text,
        after.text,
        f"a/{after.target}/{key_before}.{after.fmt}" if key_before else "/dev/null",
        f"b/{after.target}/{key_after}.{after.fmt}",
    )
    if after.error is not None or (before is not None and before.error is not None):
        status = Status.ERROR
    elif before is None:
        status = Status.REFUSED if after.refusal else Status.NEW
    elif b_text == after.text and before.refusal == after.refusal:
        status = Status.REFUSED if after.refusal and after.text is None else Status.UNCHANGED
    elif before.refusal is None and after.refusal is not None:
        status = Status.NOW_REFUSED
    elif before.refusal is not None and after.refusal is None:
        status = Status.NO_LONGER_REFUSED
    elif b_text != after.text:
        status = Status.CHANGED
    else:
        status = Status.REFUSAL_CHANGED
    return QueryDiff(after.target, after.fmt, status, diff, before, after)


def _section(change: RuleChange, base: Snapshot, head: Snapshot) -> RuleSection:
    section = RuleSection(change)
    b, h = change.base, change.head
    assert h is not None
    if change.kind in (Kind.CHANGED, Kind.ADDED):
        section.sigma_diff = unified_diff(
            base.text(b.file) if b is not None else None,
            head.text(h.file),
            f"a/{b.file}" if b is not None else "/dev/null",
            f"b/{h.file}",
        )
    if change.kind in (Kind.CHANGED, Kind.ADDED, Kind.AFFECTED):
        after = convert_rule(head, h.key)
        before = convert_rule(base, b.key) if b is not None else {}
        section.queries = [
            _query_diff(b.key if b is not None else None, h.key, before.get(t), r)
            for t, r in after.items()
        ]
    return section


def build_review(base: Snapshot, head: Snapshot, notes: list[str] | None = None) -> Review:
    """Compare two loaded snapshots: every part of the review, computed once."""
    changes = compare(base, head)
    sections = [_section(c, base, head) for c in changes if c.kind is not Kind.REMOVED]
    errors: list[str] = []
    for snap in (base, head):
        if snap.load_error is not None:
            errors.append(f"the pack does not load at {snap.label}:\n{snap.load_error}")
    for section in sections:
        for q in section.queries:
            for side, r in (("base", q.before), ("head", q.after)):
                if r is not None and r.error is not None and r.error != "the pack does not load":
                    errors.append(f"{section.change.key}: {q.target} ({side}): {r.error}")
    fixture_keys = {s.change.key for s in sections}
    base_keys = {s.change.key: s.change.base.key for s in sections if s.change.base is not None}
    fixtures_error = None
    if fixture_keys:
        reports, fixtures_error = run_fixtures(head, fixture_keys, base, base_keys)
        for section in sections:
            section.fixtures = reports.get(section.change.key)
        if fixtures_error is not None:
            errors.append(f"fixture cases did not run: {fixtures_error}")
    touched: set[str] = set()
    for section in sections:
        info = section.change.head
        assert info is not None
        touched.update({info.file, head.fixture_file(info.key)})
    lint = (
        lint_snapshot(head, touched)
        if any(p.startswith(f"{RULES_DIR}/") for p in head.files)
        else LintSummary(error=f"no rule files in {RULES_DIR}/ at {head.label}", passed=False)
    )
    if lint.error is not None:
        errors.append(f"lint: {lint.error}")
    return Review(
        base_label=base.label,
        head_label=head.label,
        changes=changes,
        sections=sections,
        lint=lint,
        coverage_before=None if base.load_error else coverage(base.rules.values()),
        coverage_after=None if head.load_error else coverage(head.rules.values()),
        fixtures_error=fixtures_error,
        notes=list(notes or []),
        errors=errors,
    )
