"""``ses-sigma report``: compare the pack at a git ref with the working tree (or another ref).

Data flows one way: two snapshots -> what changed (``diff.compare``) -> conversions, fixture
verdicts and lint findings of the rules that changed (``evaluate``) -> a :class:`Review`, which
``report`` renders. Only the rules that changed (and the correlations over them) are converted,
and only their fixture cases run. ``refs`` makes the snapshots from git refs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from ses_sigma.review.diff import (
    FilterChange,
    Kind,
    RuleChange,
    compare,
    coverage,
    filter_changes,
    unified_diff,
)
from ses_sigma.review.evaluate import (
    FixtureReport,
    LintSummary,
    Rendering,
    convert_rule,
    lint_snapshot,
    run_fixtures,
)
from ses_sigma.review.snapshot import Snapshot
from ses_sigma.workspace import CONFIG_FILE

__all__ = [
    "FilterSection",
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


@dataclass(frozen=True)
class FilterSection:
    """A site filter file that changed: its diff and the rules it applies to on each side."""

    change: FilterChange
    diff: str


@dataclass
class Review:
    """The comparison of two snapshots, ready to render.

    ``config_diff`` is the diff of ``ses-sigma.toml`` between the sides (``""`` when equal);
    ``packs`` says which pack each side uses (its config, the bundled rules left out).
    """

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
    config_diff: str = ""
    filters: list[FilterSection] = field(default_factory=list)
    packs: list[tuple[str, str]] = field(default_factory=list)

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


def _pack_line(snap: Snapshot) -> str:
    """Which pack a side uses, in one line; ``""`` for a side without a config (its
    ``rules/``, ``fixtures/`` and ``filters/``, as the report always read them)."""
    side = snap.side
    if side is None or side.config is None:
        return ""
    if side.source is None:
        return f"`{CONFIG_FILE}` does not resolve"
    text = f"`{CONFIG_FILE}`: {len(snap.rules)} rule(s)"
    if side.include_bundled:
        bundled = sum(r.bundled for r in snap.rules.values())
        text += f", {bundled} of them bundled"
        if side.disabled:
            text += "; bundled disabled: " + ", ".join(f"`{n}`" for n in side.disabled)
        if side.overridden:
            text += "; bundled overridden: " + ", ".join(f"`{n}`" for n in side.overridden)
    if snap.filters:
        text += f"; {len(snap.filters)} filter file(s)"
    return text


def build_review(base: Snapshot, head: Snapshot, notes: list[str] | None = None) -> Review:
    """Compare two loaded snapshots: every part of the review, computed once."""
    changes = compare(base, head)
    filters = [
        FilterSection(
            f,
            unified_diff(
                f.before,
                f.after,
                f"a/{f.file}" if f.before is not None else "/dev/null",
                f"b/{f.file}",
            ),
        )
        for f in filter_changes(base, head)
    ]
    config_diff = unified_diff(
        base.text(CONFIG_FILE), head.text(CONFIG_FILE), f"a/{CONFIG_FILE}", f"b/{CONFIG_FILE}"
    )
    sections = [_section(c, base, head) for c in changes if c.kind is not Kind.REMOVED]
    errors: list[str] = []
    for snap in (base, head):
        if snap.side is not None and snap.side.error is not None:
            errors.append(f"{CONFIG_FILE} does not resolve at {snap.label}:\n{snap.side.error}")
        elif snap.load_error is not None:
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
    touched: set[str] = {CONFIG_FILE} if config_diff else set()
    touched.update(f.change.file for f in filters)
    for section in sections:
        info = section.change.head
        assert info is not None
        touched.update({info.file, head.fixture_file(info.key)})
    if head.side is not None and head.side.source is None:
        lint = LintSummary(error=f"{CONFIG_FILE} does not resolve at {head.label}", passed=False)
    elif not head.rules and not head.load_error:
        lint = LintSummary(error=f"no rule files at {head.label}", passed=False)
    else:
        lint = lint_snapshot(head, touched)
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
        config_diff=config_diff,
        filters=filters,
        packs=[(base.label, _pack_line(base)), (head.label, _pack_line(head))],
    )
