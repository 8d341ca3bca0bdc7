"""Markdown building blocks of the review comment: escaping, code spans and fences, folded
blocks, tables, and diffs cut to a size budget.

Rule files come from the pull request: ``visible`` writes every character that would not show
as itself (controls but tab and line feed, zero-width and bidirectional controls, lone
surrogates) as a visible ``\\uXXXX``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "BUDGETS",
    "Budget",
    "cell",
    "code",
    "cut",
    "details",
    "diff_block",
    "fence",
    "plural",
    "summary",
    "table",
    "visible",
]


@dataclass(frozen=True)
class Budget:
    """How much of each diff (lines, characters) and of each fixture table (rows) is shown."""

    diff_lines: int
    diff_chars: int
    fixture_rows: int


#: Budgets tried in turn until the report fits. Failing and new cases are always listed.
BUDGETS = (
    Budget(400, 20_000, 200),
    Budget(120, 6_000, 40),
    Budget(40, 2_000, 10),
    Budget(12, 700, 0),
)
#: Table rows listed before "and N more".
_MAX_ROWS = 60


# --------------------------------------------------------------------------- helpers


_HIDDEN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)


def visible(text: str) -> str:
    """``text`` with every character that does not show as itself written as ``\\uXXXX``."""
    return _HIDDEN.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def cell(text: object) -> str:
    """Text safe inside a Markdown table cell (no HTML, no pipes, one line)."""
    out = html.escape(str(text), quote=False).replace("|", "\\|")
    return out.replace("\r", "").replace("\n", "<br>")


def code(text: str) -> str:
    """An inline code span for a name or path (backticks in it are replaced)."""
    return "`" + text.replace("`", "'") + "`"


def summary(text: str) -> str:
    return html.escape(text, quote=False)


def fence(body: str, lang: str = "") -> str:
    """A fenced block longer than any backtick run in ``body``."""
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{body.rstrip(chr(10))}\n{fence}\n"


def details(summary: str, body: str, open_: bool = False) -> str:
    tag = "<details open>" if open_ else "<details>"
    return f"{tag}<summary>{summary}</summary>\n\n{body.rstrip()}\n\n</details>\n"


def cut(diff: str, budget: Budget) -> tuple[str, str]:
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


def diff_block(summary: str, diff: str, budget: Budget, open_: bool = False) -> str:
    body, note = cut(diff, budget)
    return details(summary, fence(body, "diff") + ("\n" + note if note else ""), open_)


def plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    rows = list(rows)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows[:_MAX_ROWS]:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    text = "\n".join(lines) + "\n"
    if len(rows) > _MAX_ROWS:
        text += f"\n*… and {len(rows) - _MAX_ROWS} more rows.*\n"
    return text
