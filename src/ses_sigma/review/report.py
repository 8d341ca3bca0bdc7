"""A :class:`~ses_sigma.review.build.Review` as Markdown for a pull-request comment.

Deterministic (same review, same bytes) and bounded: GitHub refuses comments longer than
65,536 characters, so long diffs are cut with a note, and when the whole is still too long the
per-diff budget shrinks, then the last rule sections are left out (listed by name), then the
last diffs of changed filter files (``markdown.BUDGETS``). Long parts
are folded in ``<details>``; a part with a failure is unfolded. Rule files come from the pull
request: every character that would not show as itself (controls but tab and line feed,
zero-width and bidirectional controls, lone surrogates) is written as a visible ``\\uXXXX``.
"""

from __future__ import annotations

from collections.abc import Sequence

from ses_sigma.review.build import QueryDiff, Review, RuleSection, Status
from ses_sigma.review.diff import Kind, diff_counts
from ses_sigma.review.evaluate import FixtureReport
from ses_sigma.review.markdown import (
    BUDGETS,
    Budget,
    cell,
    code,
    details,
    diff_block,
    fence,
    plural,
    summary,
    table,
    visible,
)
from ses_sigma.review.report_checks import attack_section, lint_section
from ses_sigma.workspace import CONFIG_FILE

__all__ = ["DEFAULT_MAX_CHARS", "GITHUB_COMMENT_LIMIT", "MARKER", "render"]

#: Changed filter files listed (and diffs shown) before "and N more".
_MAX_FILTERS = 60

#: GitHub's limit on the body of an issue or pull-request comment, in characters.
GITHUB_COMMENT_LIMIT = 65_536
#: Default size bound, with room for what a workflow may wrap around the report.
DEFAULT_MAX_CHARS = 65_000
#: First line of every report: a workflow finds its previous comment by it and updates it.
MARKER = "<!-- ses-sigma-report -->"


# --------------------------------------------------------------------------- summary


def _counts(review: Review) -> str:
    by_kind = {k: sum(c.kind is k for c in review.changes) for k in Kind}
    parts = [
        plural(by_kind[Kind.CHANGED], "rule") + " changed",
        f"{by_kind[Kind.ADDED]} added",
        f"{by_kind[Kind.REMOVED]} removed",
    ]
    if by_kind[Kind.AFFECTED]:
        parts.append(f"{by_kind[Kind.AFFECTED]} affected through the rules they correlate")
    if by_kind[Kind.FIXTURES]:
        parts.append(f"fixtures changed for {plural(by_kind[Kind.FIXTURES], 'more rule')}")
    if review.filters:
        parts.append(plural(len(review.filters), "filter file") + " changed")
    if review.config_diff:
        parts.append("configuration changed")
    return ", ".join(parts)


def _fixture_totals(review: Review) -> str:
    reports = [s.fixtures for s in review.sections if s.fixtures is not None]
    if review.fixtures_error is not None:
        return "fixtures: **not run**"
    if not reports:
        return "fixtures: none to run"
    total = sum(len(r.rows) for r in reports)
    passed = sum(r.passed for r in reports)
    problems = sum(len(r.problems) for r in reports)
    text = f"fixtures: {passed} of {plural(total, 'case')} pass"
    if passed != total:
        text = f"fixtures: **{total - passed} of {plural(total, 'case')} fail**"
    if problems:
        text += f", **{plural(problems, 'fixture problem')}**"
    return text


def _lint_totals(review: Review) -> str:
    lint = review.lint
    if lint.error is not None:
        return "lint: **not run**"
    failing = sum(f.excused is None for f in lint.touched)
    text = f"lint: {plural(failing, 'finding')} on these rules, {lint.other_failing} elsewhere"
    return f"**{text}**" if failing or lint.other_failing else text


def _attack_totals(review: Review) -> str:
    if review.coverage_before is None or review.coverage_after is None:
        return "ATT&CK: **not compared**"
    gained = review.coverage_after.keys() - review.coverage_before.keys()
    lost = review.coverage_before.keys() - review.coverage_after.keys()
    return f"ATT&CK: {len(gained)} technique(s) gained, {len(lost)} lost"


def _packs(review: Review) -> list[str]:
    """Which pack each side uses (one line when they are alike)."""
    lines = [text or f"no `{CONFIG_FILE}`" for _, text in review.packs]
    if not any(text for _, text in review.packs):
        return []
    if len(set(lines)) == 1:
        return [f"Pack (both sides): {lines[0]}.", ""]
    return [f"Pack at the base: {lines[0]}; at the head: {lines[-1]}.", ""]


def _header(review: Review) -> str:
    lines = [
        MARKER,
        "## ses-sigma review",
        "",
        f"Base {review.base_label} → head {review.head_label}.",
        "",
        *_packs(review),
        f"**{_counts(review)}** · {_fixture_totals(review)} · {_lint_totals(review)} · "
        f"{_attack_totals(review)}",
        "",
    ]
    if review.errors:
        lines.append("> [!WARNING]")
        lines.append("> Parts of this review could not be computed:")
        lines.extend(f"> - {cell(err.partition(chr(10))[0])}" for err in review.errors)
        lines.append("")
        if any("\n" in err for err in review.errors):
            lines.append(details("Error details", fence("\n\n".join(review.errors))))
    for note in review.notes:
        lines.append(f"*Note: {cell(note)}*")
        lines.append("")
    return "\n".join(lines) + "\n"


def _rules_table(review: Review) -> str:
    if not review.changes:
        return "### Rules\n\nNo rule or fixture changes.\n\n"
    rows = []
    for c in review.changes:
        name = code(c.key)
        if c.renamed and c.base is not None and c.base.key != c.key:
            name = f"{code(c.base.key)} → {name}"
        files = (c.head or c.base).file  # type: ignore[union-attr]
        if c.renamed and c.base is not None and c.head is not None and c.base.file != c.head.file:
            files = f"{c.base.file} → {c.head.file}"
        kind = str(c.kind)
        why = []
        if c.via:
            why.append("through " + ", ".join(code(v) for v in c.via))
        if c.filters:
            why.append(plural(len(c.filters), "filter") + " " + ", ".join(map(code, c.filters)))
        if c.note:
            why.append(cell(c.note))
        if why:
            kind += " (" + "; ".join(why) + ")"
        rows.append((name, kind, cell(files)))
    return "### Rules\n\n" + table(("rule", "change", "file"), rows) + "\n"


# --------------------------------------------------------------------------- per rule


def _status_text(q: QueryDiff) -> str:
    text = str(q.status)
    if q.status in (Status.CHANGED, Status.NOW_REFUSED, Status.NO_LONGER_REFUSED) and q.diff:
        added, removed = diff_counts(q.diff)
        text += f" (+{added} −{removed})"
    reasons = []
    # A refusal the same on both sides is said once (status "refused").
    if q.before is not None and (q.before.refusal or q.before.error) and q.status != Status.REFUSED:
        reasons.append("before: " + (q.before.error or q.before.refusal or ""))
    if q.after.refusal or q.after.error:
        label = "" if q.status == Status.REFUSED else "after: "
        reasons.append(label + (q.after.error or q.after.refusal or ""))
    if reasons:
        text += " — " + "; ".join(reasons)
    return cell(text)


def _queries(section: RuleSection, budget: Budget) -> str:
    if not section.queries:
        return ""
    rows = [(code(q.target), q.fmt, _status_text(q)) for q in section.queries]
    out = ["**Converted queries**", table(("target", "format", "before → after"), rows)]
    for q in section.queries:
        # A query that is gone (now refused) is not shown again as a diff of removed lines.
        if q.diff and q.status != Status.UNCHANGED and q.after.text is not None:
            added, removed = diff_counts(q.diff)
            title = f"{q.target} {q.fmt}: +{added} −{removed}"
            out.append(diff_block(summary(title), q.diff, budget))
    return "\n\n".join(p.strip("\n") for p in out) + "\n"


def _fixtures(report: FixtureReport | None, error: str | None, budget: Budget) -> str:
    if error is not None:
        return f"**Fixtures**: not run ({cell(error)})\n"
    if report is None:
        return ""
    new = sum(r.new for r in report.rows)
    failed = len(report.rows) - report.passed
    title = f"Fixtures (head): {plural(len(report.rows), 'case')}, {report.passed} pass"
    if failed:
        title += f", {failed} FAIL"
    if new:
        title += f", {new} new"
    if report.removed_cases:
        title += f", {len(report.removed_cases)} removed"
    if report.problems:
        title += f", {plural(len(report.problems), 'problem')}"
    if not report.rows and not report.problems:
        return "**Fixtures**: no cases.\n"
    shown = [
        r for i, r in enumerate(report.rows) if not r.passed or r.new or i < budget.fixture_rows
    ]
    rows = []
    for r in shown:
        name = cell(r.name) + (" *(new)*" if r.new else "")
        result = "pass" if r.passed else "**FAIL**<br>" + cell(r.detail)
        rows.append((name, cell(r.expected), result))
    body = table(("case", "expected alerts (event ids)", "result"), rows)
    if len(shown) < len(report.rows):
        body += (
            f"\n*{len(report.rows) - len(shown)} more passing case(s) not listed, to fit a "
            "comment.*\n"
        )
    if report.removed_cases:
        body += "\nRemoved cases: " + ", ".join(cell(n) for n in report.removed_cases) + "\n"
    if report.problems:
        body += "\nProblems:\n" + "\n".join(f"- {cell(p)}" for p in report.problems) + "\n"
    return details(summary(title), body, open_=bool(failed or report.problems))


def _section(section: RuleSection, review: Review, budget: Budget) -> str:
    c = section.change
    out = [f"### {code(c.key)} ({c.kind})\n"]
    if c.head is not None and c.head.title:
        out.append(f"{cell(c.head.title)}\n")
    if c.kind is Kind.AFFECTED:
        out.append(
            "The rule file is unchanged; it refers to "
            + ", ".join(code(v) for v in c.via)
            + ", which changed.\n"
        )
    if c.note:
        out.append(f"*{cell(c.note[0].upper() + c.note[1:])}.*")
    if c.filters:
        unchanged = "" if section.sigma_diff else " (the rule file is unchanged)"
        out.append(
            f"Site filter(s) applied to this rule changed{unchanged}: "
            + ", ".join(map(code, c.filters))
            + " (diffs under Filters above); the queries and fixture results below are the "
            "filtered rule's."
        )
    if c.base is not None and c.head is not None and c.base.key != c.head.key:
        out.append(f"Renamed from {code(c.base.key)} (same id).")
    if (
        c.base is not None
        and c.head is not None
        and c.base.file != c.head.file
        and c.base.bundled == c.head.bundled
    ):
        moved = f"File moved: {code(c.base.file)} → {code(c.head.file)}"
        out.append(moved + ("." if section.sigma_diff else "; its content is unchanged."))
    if section.sigma_diff:
        added, removed = diff_counts(section.sigma_diff)
        out.append(
            diff_block(
                summary(f"Sigma rule {c.head.file if c.head else ''}: +{added} −{removed}"),
                section.sigma_diff,
                budget,
                open_=c.kind is Kind.CHANGED,
            )
        )
    out.append(_queries(section, budget))
    out.append(_fixtures(section.fixtures, review.fixtures_error, budget))
    return "\n\n".join(p.strip("\n") for p in out if p) + "\n\n"


# --------------------------------------------------------------------------- assembly


def _config(review: Review, budget: Budget) -> str:
    if not review.config_diff:
        return ""
    added, removed = diff_counts(review.config_diff)
    out = [
        f"### Configuration ({code(CONFIG_FILE)})\n",
        "Each side uses the pack its own config names; the rules this change adds, removes or "
        "overrides are in the table below.\n",
        diff_block(
            summary(f"{CONFIG_FILE}: +{added} −{removed}"), review.config_diff, budget, True
        ),
    ]
    return "\n".join(out) + "\n"


def _rules_list_or_none(names: Sequence[str]) -> str:
    return ", ".join(code(n) for n in names) if names else "none"


def _filters(review: Review, budget: Budget, diffs: int) -> str:
    """The changed filter files (at most ``_MAX_FILTERS`` listed) and the first ``diffs`` of
    their diffs."""
    if not review.filters:
        return ""
    out = [
        "### Filters (site tuning)\n",
        "Sigma filter documents are loaded with the rules: every rule a changed filter applies "
        "to, on either side, is reviewed below as changed.\n",
    ]
    for f in review.filters[:_MAX_FILTERS]:
        c = f.change
        state = "added" if c.before is None else "removed" if c.after is None else "changed"
        out.append(
            f"- {code(c.file)} ({state}): applies to {_rules_list_or_none(c.rules_before)} "
            f"→ {_rules_list_or_none(c.rules_after)}"
        )
    if len(review.filters) > _MAX_FILTERS:
        out.append(f"- … and {len(review.filters) - _MAX_FILTERS} more filter files.")
    out.append("")
    for f in review.filters[:diffs]:
        added, removed = diff_counts(f.diff)
        out.append(
            diff_block(summary(f"{f.change.file}: +{added} −{removed}"), f.diff, budget, True)
        )
    if diffs < len(review.filters):
        out.append(
            f"*{plural(len(review.filters) - diffs, 'filter diff')} left out to fit a comment. "
            "Run `ses-sigma report` locally for the whole review.*\n"
        )
    return "\n".join(out) + "\n"


def _assemble(review: Review, budget: Budget, keep: int, diffs: int | None = None) -> str:
    filter_diffs = min(len(review.filters), _MAX_FILTERS) if diffs is None else diffs
    parts = [_header(review), _config(review, budget), _filters(review, budget, filter_diffs)]
    parts.append(_rules_table(review))
    for section in review.sections[:keep]:
        parts.append(_section(section, review, budget))
    left_out = review.sections[keep:]
    if left_out:
        parts.append(
            f"*{plural(len(left_out), 'rule section')} left out to fit a comment: "
            + ", ".join(code(s.change.key) for s in left_out)
            + ". Run `ses-sigma report` locally for the whole review.*\n\n"
        )
    parts.append(lint_section(review))
    parts.append(attack_section(review))
    return visible("".join(parts).rstrip("\n") + "\n")


def render(review: Review, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """The review as Markdown of at most ``max_chars`` characters (see the module docstring)."""
    total = len(review.sections)
    for budget in BUDGETS:
        text = _assemble(review, budget, total)
        if len(text) <= max_chars:
            return text
    budget = BUDGETS[-1]
    for keep in range(total - 1, -1, -1):
        text = _assemble(review, budget, keep)
        if len(text) <= max_chars:
            return text
    for diffs in range(min(len(review.filters), _MAX_FILTERS) - 1, -1, -1):
        text = _assemble(review, budget, 0, diffs)
        if len(text) <= max_chars:
            return text
    # Even the summary parts are too long (a huge lint table): cut at a line, say so.
    note = "\n\n*Report cut to fit a comment; run `ses-sigma report` locally.*\n"
    cut = text[: max(0, max_chars - len(note))]
    cut = cut[: cut.rfind("\n") + 1] if "\n" in cut else cut
    return cut + note
