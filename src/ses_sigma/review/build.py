"""``ses-sigma report``: compare the pack at a git ref with the working tree (or another ref).

Data flows one way: git refs -> snapshots (``gitrefs``, ``snapshot``) -> what changed
(``diff.compare``) -> conversions, fixture verdicts and lint findings of the rules that changed
(``evaluate``) -> a :class:`Review` -> Markdown (``report``). Only the rules that changed (and
the correlations over them) are converted, and only their fixture cases run.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from ses_sigma.review.diff import Kind, RuleChange, compare, coverage, unified_diff
from ses_sigma.review.evaluate import (
    FixtureReport,
    LintSummary,
    Rendering,
    convert_rule,
    lint_snapshot,
    run_fixtures,
)
from ses_sigma.review.gitrefs import export_tree, locate, merge_base, resolve_commit
from ses_sigma.review.snapshot import FIXTURES_DIR, RULES_DIR, Snapshot, load_snapshot

__all__ = [
    "QueryDiff",
    "RefsResult",
    "Review",
    "RuleSection",
    "Status",
    "build_review",
    "review_refs",
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


def _scrub(text: str, roots: list[Path]) -> str:
    """Replace the snapshot directories in ``text`` with paths relative to the pack directory,
    so the report does not depend on where it ran (temporary directories, the checkout)."""
    variants: set[str] = set()
    for root in roots:
        for form in {str(root), str(root.resolve()), str(root.absolute())}:
            variants.add(form)
    for form in sorted(variants, key=len, reverse=True):
        if form in ("", "."):
            continue
        text = text.replace(form + os.sep, "")
        text = re.sub(re.escape(form) + r"(?![\w.-])", ".", text)
    return text


@dataclass(frozen=True)
class RefsResult:
    """A rendered review: the Markdown, and whether every part could be computed."""

    markdown: str
    review: Review


def review_refs(
    pack_dir: str | Path,
    base_ref: str,
    head_ref: str | None = None,
    max_chars: int | None = None,
    use_merge_base: bool = False,
) -> RefsResult:
    """Review the pack in ``pack_dir`` (a directory holding ``rules/`` and ``fixtures/`` in a
    git work tree) between ``base_ref`` and ``head_ref`` (default: the working tree as it is).
    With ``use_merge_base`` the base is the merge base of ``base_ref`` and the head commit
    (``HEAD`` for the working tree), as a pull request's diff is.

    Raises ``gitrefs.NotARepository`` / ``gitrefs.UnknownRef`` before doing any work.
    """
    from ses_sigma.review.report import DEFAULT_MAX_CHARS, render

    pack_dir = Path(pack_dir)
    checkout = locate(pack_dir)
    base_sha = resolve_commit(checkout, base_ref)
    head_sha = resolve_commit(checkout, head_ref) if head_ref is not None else None
    base_label = f"`{base_ref}` ({base_sha[:12]})"
    if use_merge_base:
        base_sha = merge_base(checkout, base_sha, head_sha or resolve_commit(checkout, "HEAD"))
        base_label = f"the merge base of `{base_ref}` ({base_sha[:12]})"
    with tempfile.TemporaryDirectory(prefix="ses-sigma-review-") as tmp:
        notes: list[str] = []
        base_root = Path(tmp) / "base"
        base_root.mkdir()
        notes += export_tree(checkout, base_sha, (RULES_DIR, FIXTURES_DIR), base_root)
        base = load_snapshot(base_root, base_label)
        if head_sha is not None:
            head_root = Path(tmp) / "head"
            head_root.mkdir()
            notes += export_tree(checkout, head_sha, (RULES_DIR, FIXTURES_DIR), head_root)
            head = load_snapshot(head_root, f"`{head_ref}` ({head_sha[:12]})")
        else:
            head_root = pack_dir
            head = load_snapshot(head_root, "the working tree")
        review = build_review(base, head, notes)
        markdown = render(review, max_chars if max_chars is not None else DEFAULT_MAX_CHARS)
        markdown = _scrub(markdown, [base_root, head_root])
        review.errors = [_scrub(e, [base_root, head_root]) for e in review.errors]
    return RefsResult(markdown=markdown, review=review)
