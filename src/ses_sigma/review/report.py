"""A :class:`~ses_sigma.review.build.Review` as Markdown for a pull-request comment.

Deterministic (same review, same bytes) and bounded: GitHub refuses comments longer than
65,536 characters, so long diffs are cut with a note, and when the whole is still too long the
per-diff budget shrinks, then the last rule sections are left out (listed by name). Long parts
are folded in ``<details>``; a part with a failure is unfolded. Rule files come from the pull
request: every character that would not show as itself (controls but tab and line feed,
zero-width and bidirectional controls, lone surrogates) is written as a visible ``\\uXXXX``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ses_sigma.attack import attack_version, technique
from ses_sigma.review.build import QueryDiff, Review, RuleSection, Status
from ses_sigma.review.diff import Kind, diff_counts
from ses_sigma.review.evaluate import FixtureReport

__all__ = ["DEFAULT_MAX_CHARS", "GITHUB_COMMENT_LIMIT", "MARKER", "render"]

#: GitHub's limit on the body of an issue or pull-request comment, in characters.
GITHUB_COMMENT_LIMIT = 65_536
#: Default size bound, with room for what a workflow may wrap around the report.
DEFAULT_MAX_CHARS = 65_000
#: First line of every report: a workflow finds its previous comment by it and updates it.
MARKER = "<!-- ses-sigma-report -->"


@dataclass(frozen=True)
class _Budget:
    """How much of each diff (lines, characters) and of each fixture table (rows) is shown."""

    diff_lines: int
    diff_chars: int
    fixture_rows: int


#: Budgets tried in turn until the report fits. Failing and new cases are always listed.
_BUDGETS = (
    _Budget(400, 20_000, 200),
    _Budget(120, 6_000, 40),
    _Budget(40, 2_000, 10),
    _Budget(12, 700, 0),
)
#: Table rows listed before "and N more".
_MAX_ROWS = 60


# --------------------------------------------------------------------------- helpers


_HIDDEN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)


def _visible(text: str) -> str:
    """``text`` with every character that does not show as itself written as ``\\uXXXX``."""
    return _HIDDEN.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _cell(text: object) -> str:
    """Text safe inside a Markdown table cell (no HTML, no pipes, one line)."""
    out = html.escape(str(text), quote=False).replace("|", "\\|")
    return out.replace("\r", "").replace("\n", "<br>")


def _code(text: str) -> str:
    """An inline code span for a name or path (backticks in it are replaced)."""
    return "`" + text.replace("`", "'") + "`"


def _summary(text: str) -> str:
    return html.escape(text, quote=False)


def _fence(body: str, lang: str = "") -> str:
    """A fenced block longer than any backtick run in ``body``."""
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{body.rstrip(chr(10))}\n{fence}\n"


def _details(summary: str, body: str, open_: bool = False) -> str:
    tag = "<details open>" if open_ else "<details>"
    return f"{tag}<summary>{summary}</summary>\n\n{body.rstrip()}\n\n</details>\n"


def _cut(diff: str, budget: _Budget) -> tuple[str, str]:
    """(the diff within ``budget`` lines and characters, a note when it was cut)."""
    max_lines, max_chars = budget.diff_lines, budget.diff_chars
    lines = diff.rstrip("\n").split("\n")
    kept: list[str] = []
    size = 0
    for line in lines:
        if len(kept) >= max_lines or size + len(line) + 1 > max_chars:
            break
        kept.append(line)
        size += len(line) + 1
    if len(kept) == len(lines):
        return diff, ""
    if not kept:  # a single huge line: keep its beginning
        kept = [lines[0][: max(80, max_chars - 20)] + " …"]
    note = (
        f"*Diff cut to {len(kept)} of {len(lines)} lines to fit a comment; run "
        "`ses-sigma report` locally for all of it.*\n"
    )
    return "\n".join(kept) + "\n", note


def _diff_block(summary: str, diff: str, budget: _Budget, open_: bool = False) -> str:
    body, note = _cut(diff, budget)
    return _details(summary, _fence(body, "diff") + ("\n" + note if note else ""), open_)


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    rows = list(rows)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows[:_MAX_ROWS]:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    text = "\n".join(lines) + "\n"
    if len(rows) > _MAX_ROWS:
        text += f"\n*… and {len(rows) - _MAX_ROWS} more rows.*\n"
    return text


# --------------------------------------------------------------------------- summary


def _counts(review: Review) -> str:
    by_kind = {k: sum(c.kind is k for c in review.changes) for k in Kind}
    parts = [
        _plural(by_kind[Kind.CHANGED], "rule") + " changed",
        f"{by_kind[Kind.ADDED]} added",
        f"{by_kind[Kind.REMOVED]} removed",
    ]
    if by_kind[Kind.AFFECTED]:
        parts.append(f"{by_kind[Kind.AFFECTED]} affected through the rules they correlate")
    if by_kind[Kind.FIXTURES]:
        parts.append(f"fixtures changed for {_plural(by_kind[Kind.FIXTURES], 'more rule')}")
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
    text = f"fixtures: {passed} of {_plural(total, 'case')} pass"
    if passed != total:
        text = f"fixtures: **{total - passed} of {_plural(total, 'case')} fail**"
    if problems:
        text += f", **{_plural(problems, 'fixture problem')}**"
    return text


def _lint_totals(review: Review) -> str:
    lint = review.lint
    if lint.error is not None:
        return "lint: **not run**"
    failing = sum(f.excused is None for f in lint.touched)
    text = f"lint: {_plural(failing, 'finding')} on these rules, {lint.other_failing} elsewhere"
    return f"**{text}**" if failing or lint.other_failing else text


def _attack_totals(review: Review) -> str:
    if review.coverage_before is None or review.coverage_after is None:
        return "ATT&CK: **not compared**"
    gained = review.coverage_after.keys() - review.coverage_before.keys()
    lost = review.coverage_before.keys() - review.coverage_after.keys()
    return f"ATT&CK: {len(gained)} technique(s) gained, {len(lost)} lost"


def _header(review: Review) -> str:
    lines = [
        MARKER,
        "## ses-sigma review",
        "",
        f"Base {review.base_label} → head {review.head_label}.",
        "",
        f"**{_counts(review)}** · {_fixture_totals(review)} · {_lint_totals(review)} · "
        f"{_attack_totals(review)}",
        "",
    ]
    if review.errors:
        lines.append("> [!WARNING]")
        lines.append("> Parts of this review could not be computed:")
        lines.extend(f"> - {_cell(err.partition(chr(10))[0])}" for err in review.errors)
        lines.append("")
        if any("\n" in err for err in review.errors):
            lines.append(_details("Error details", _fence("\n\n".join(review.errors))))
    for note in review.notes:
        lines.append(f"*Note: {_cell(note)}*")
        lines.append("")
    return "\n".join(lines) + "\n"


def _rules_table(review: Review) -> str:
    if not review.changes:
        return "### Rules\n\nNo rule or fixture changes.\n\n"
    rows = []
    for c in review.changes:
        name = _code(c.key)
        if c.renamed and c.base is not None and c.base.key != c.key:
            name = f"{_code(c.base.key)} → {name}"
        files = (c.head or c.base).file  # type: ignore[union-attr]
        if c.renamed and c.base is not None and c.head is not None and c.base.file != c.head.file:
            files = f"{c.base.file} → {c.head.file}"
        kind = str(c.kind)
        if c.via:
            kind += " (through " + ", ".join(_code(v) for v in c.via) + ")"
        rows.append((name, kind, _cell(files)))
    return "### Rules\n\n" + _table(("rule", "change", "file"), rows) + "\n"


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
    return _cell(text)


def _queries(section: RuleSection, budget: _Budget) -> str:
    if not section.queries:
        return ""
    rows = [(_code(q.target), q.fmt, _status_text(q)) for q in section.queries]
    out = ["**Converted queries**", _table(("target", "format", "before → after"), rows)]
    for q in section.queries:
        # A query that is gone (now refused) is not shown again as a diff of removed lines.
        if q.diff and q.status != Status.UNCHANGED and q.after.text is not None:
            added, removed = diff_counts(q.diff)
            summary = f"{q.target} {q.fmt}: +{added} −{removed}"
            out.append(_diff_block(_summary(summary), q.diff, budget))
    return "\n\n".join(p.strip("\n") for p in out) + "\n"


def _fixtures(report: FixtureReport | None, error: str | None, budget: _Budget) -> str:
    if error is not None:
        return f"**Fixtures**: not run ({_cell(error)})\n"
    if report is None:
        return ""
    new = sum(r.new for r in report.rows)
    failed = len(report.rows) - report.passed
    summary = f"Fixtures (head): {_plural(len(report.rows), 'case')}, {report.passed} pass"
    if failed:
        summary += f", {failed} FAIL"
    if new:
        summary += f", {new} new"
    if report.removed_cases:
        summary += f", {len(report.removed_cases)} removed"
    if report.problems:
        summary += f", {_plural(len(report.problems), 'problem')}"
    if not report.rows and not report.problems:
        return "**Fixtures**: no cases.\n"
    shown = [
        r for i, r in enumerate(report.rows) if not r.passed or r.new or i < budget.fixture_rows
    ]
    rows = []
    for r in shown:
        name = _cell(r.name) + (" *(new)*" if r.new else "")
        result = "pass" if r.passed else "**FAIL**<br>" + _cell(r.detail)
        rows.append((name, _cell(r.expected), result))
    body = _table(("case", "expected alerts (event ids)", "result"), rows)
    if len(shown) < len(report.rows):
        body += (
            f"\n*{len(report.rows) - len(shown)} more passing case(s) not listed, to fit a "
            "comment.*\n"
        )
    if report.removed_cases:
        body += "\nRemoved cases: " + ", ".join(_cell(n) for n in report.removed_cases) + "\n"
    if report.problems:
        body += "\nProblems:\n" + "\n".join(f"- {_cell(p)}" for p in report.problems) + "\n"
    return _details(_summary(summary), body, open_=bool(failed or report.problems))


def _section(section: RuleSection, review: Review, budget: _Budget) -> str:
    c = section.change
    out = [f"### {_code(c.key)} ({c.kind})\n"]
    if c.head is not None and c.head.title:
        out.append(f"{_cell(c.head.title)}\n")
    if c.kind is Kind.AFFECTED:
        out.append(
            "The rule file is unchanged; it refers to "
            + ", ".join(_code(v) for v in c.via)
            + ", which changed.\n"
        )
    if c.base is not None and c.head is not None and c.base.key != c.head.key:
        out.append(f"Renamed from {_code(c.base.key)} (same id).")
    if c.base is not None and c.head is not None and c.base.file != c.head.file:
        moved = f"File moved: {_code(c.base.file)} → {_code(c.head.file)}"
        out.append(moved + ("." if section.sigma_diff else "; its content is unchanged."))
    if section.sigma_diff:
        added, removed = diff_counts(section.sigma_diff)
        out.append(
            _diff_block(
                _summary(f"Sigma rule {c.head.file if c.head else ''}: +{added} −{removed}"),
                section.sigma_diff,
                budget,
                open_=c.kind is Kind.CHANGED,
            )
        )
    out.append(_queries(section, budget))
    out.append(_fixtures(section.fixtures, review.fixtures_error, budget))
    return "\n\n".join(p.strip("\n") for p in out if p) + "\n\n"


# --------------------------------------------------------------------------- lint, ATT&CK


def _lint(review: Review) -> str:
    lint = review.lint
    out = ["### Lint (`ses-sigma check` on the head)\n"]
    if lint.error is not None:
        out.append(f"Not run: {_cell(lint.error)}\n")
        return "\n".join(out) + "\n"
    failing = [f for f in lint.touched if f.excused is None]
    excused = [f for f in lint.touched if f.excused is not None]
    out.append(
        f"{_plural(len(failing), 'finding')} on the files of the rules above"
        f" ({len(excused)} excused); in the rest of the pack {lint.other_failing} finding(s)"
        f" ({lint.other_excused} excused). The check "
        + ("passes." if lint.passed else "**fails**.")
        + "\n"
    )
    if failing:
        rows = [
            (_cell(f.location), _code(f.code), str(f.severity), _cell(f.message)) for f in failing
        ]
        out.append(_table(("where", "code", "severity", "message"), rows))
    if excused:
        rows = [(_cell(f.location), _code(f.code), _cell(f.excused or "")) for f in excused]
        out.append(
            _details(
                f"{_plural(len(excused), 'excused finding')}",
                _table(("where", "code", "reason"), rows),
            )
        )
    return "\n".join(out) + "\n"


def _technique_name(tech: str) -> str:
    try:
        return technique(tech).name
    except KeyError:
        return "(not in the vendored ATT&CK)"


def _rules_list(names: Sequence[str]) -> str:
    return ", ".join(_code(n) for n in names) if names else "—"


def _attack(review: Review) -> str:
    out = [f"### ATT&CK coverage (vendored ATT&CK {attack_version()})\n"]
    before, after = review.coverage_before, review.coverage_after
    if before is None or after is None:
        side = "base" if before is None else "head"
        out.append(f"Not compared: the pack does not load on the {side} side.\n")
        return "\n".join(out) + "\n"
    gained = sorted(after.keys() - before.keys())
    lost = sorted(before.keys() - after.keys())
    moved = sorted(t for t in before.keys() & after.keys() if before[t] != after[t])

    def line(t: str) -> str:
        return f"{_code(t)} {_cell(_technique_name(t))}"

    out.append(
        "- Gained: " + ("; ".join(f"{line(t)} ({_rules_list(after[t])})" for t in gained) or "none")
    )
    out.append(
        "- Lost: "
        + ("; ".join(f"{line(t)} (was {_rules_list(before[t])})" for t in lost) or "none")
    )
    out.append(
        "- Rules changed: "
        + (
            "; ".join(
                f"{line(t)}: {_rules_list(before[t])} → {_rules_list(after[t])}" for t in moved
            )
            or "none"
        )
        + "\n"
    )
    rows = [
        (
            _code(t),
            _cell(_technique_name(t)),
            _rules_list(before.get(t, ())),
            _rules_list(after.get(t, ())),
        )
        for t in sorted(before.keys() | after.keys())
    ]
    summary = f"Techniques → rules: {len(before)} technique(s) before, {len(after)} after"
    out.append(_details(_summary(summary), _table(("technique", "name", "before", "after"), rows)))
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- assembly


def _assemble(review: Review, budget: _Budget, keep: int) -> str:
    parts = [_header(review), _rules_table(review)]
    for section in review.sections[:keep]:
        parts.append(_section(section, review, budget))
    left_out = review.sections[keep:]
    if left_out:
        parts.append(
            f"*{_plural(len(left_out), 'rule section')} left out to fit a comment: "
            + ", ".join(_code(s.change.key) for s in left_out)
            + ". Run `ses-sigma report` locally for the whole review.*\n\n"
        )
    parts.append(_lint(review))
    parts.append(_attack(review))
    return _visible("".join(parts).rstrip("\n") + "\n")


def render(review: Review, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """The review as Markdown of at most ``max_chars`` characters (see the module docstring)."""
    total = len(review.sections)
    for budget in _BUDGETS:
        text = _assemble(review, budget, total)
        if len(text) <= max_chars:
            return text
    budget = _BUDGETS[-1]
    for keep in range(total - 1, -1, -1):
        text = _assemble(review, budget, keep)
        if len(text) <= max_chars:
            return text
    # Even the summary parts are too long (a huge lint table): cut at a line, say so.
    note = "\n\n*Report cut to fit a comment; run `ses-sigma report` locally.*\n"
    cut = text[: max(0, max_chars - len(note))]
    cut = cut[: cut.rfind("\n") + 1] if "\n" in cut else cut
    return cut + note
