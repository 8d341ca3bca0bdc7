"""Small Markdown builders: tables, code blocks, links, the generated-file marker."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from ses_sigma.docs import MARKER

__all__ = ["cell", "code_block", "header", "link", "table"]


def header() -> str:
    """The first line of every generated Markdown file."""
    return f"<!-- {MARKER} -->\n"


def cell(text: str) -> str:
    """Text made safe for one table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A GitHub Markdown table (cells escaped with :func:`cell` by the caller when needed)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines) + "\n"


def code_block(text: str, info: str = "") -> str:
    """A fenced code block holding ``text`` exactly (plus a final newline if it lacks one).

    The fence is one backtick longer than the longest backtick run in the text, so any text
    fits.
    """
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") else text + "\n"
    return f"{fence}{info}\n{body}{fence}\n"


def link(text: str, target: str) -> str:
    """``[text](target)``, brackets in the text escaped."""
    return "[" + text.replace("[", "\\[").replace("]", "\\]") + f"]({target})"
