"""Rendering helpers shared by the CLI commands: JSON Lines, rich tables, terminal text.

Log fields and rule files are attacker input, and so is every message that quotes them. Data
is printed as plain text: rich markup is never interpreted in values (a CloudTrail origin such
as ``file.json[3]``, or a ``userAgent`` of ``[link=...]``, would otherwise be read as a markup
tag), and control characters (ANSI escape sequences, carriage returns, backspaces, C1 controls,
bidirectional overrides) are shown as escapes (``\\x1b``) instead of reaching the terminal:
table cells, warnings, rejections and errors all go through :func:`terminal_text` or
:func:`echo_err`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click
import orjson
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from ses_sigma.workspace import PackSource

__all__ = [
    "console",
    "echo_err",
    "filters_option",
    "json_line",
    "make_table",
    "no_filters_option",
    "print_table",
    "rules_option",
    "terminal_text",
    "with_filters",
    "write_json_lines",
]

#: Characters never written raw to a terminal: C0 controls (tab and newline are decided by the
#: caller), DEL, C1 controls, and the Unicode format characters that reorder or hide text.
_CONTROL = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_text(text: object, newlines: bool = False) -> str:
    """``text`` safe for a terminal: control characters as ``\\xNN`` / ``\\uNNNN`` escapes.

    ``newlines``: keep line feeds (a message of several lines of our own); by default they are
    escaped too, so a value cannot fake a line of output.
    """
    out = _CONTROL.sub(lambda m: "\n" if newlines and m.group() == "\n" else _escape(m), str(text))
    return out


def echo_err(message: object, newlines: bool = True) -> None:
    """Print a message on stderr through :func:`terminal_text`."""
    click.echo(terminal_text(message, newlines=newlines), err=True)


def json_line(obj: Any) -> str:
    """One compact JSON document on one line (orjson; keys kept in insertion order).

    Text that is not valid Unicode (a lone surrogate, from a ``\\ud800`` escape in a log or
    rule) is written as a JSON ``\\uXXXX`` escape, where orjson would raise.
    """
    try:
        return orjson.dumps(obj).decode("utf-8")
    except TypeError:
        return json.dumps(obj, ensure_ascii=True, separators=(",", ":"))


def write_json_lines(items: Iterable[Mapping[str, Any]], err: bool = False) -> int:
    """Print each item as one JSON line on stdout (or stderr); return how many were printed."""
    count = 0
    for item in items:
        click.echo(json_line(item), err=err)
        count += 1
    return count


def console(stderr: bool = False) -> Console:
    """A rich console on the current stdout/stderr, with no markup or syntax highlighting.

    Its width is the terminal's, or ``COLUMNS``, or 80 when the output is not a terminal.
    """
    return Console(stderr=stderr, highlight=False, markup=False, emoji=False)


def make_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    title: str | None = None,
    no_wrap: Collection[str] = (),
) -> Table:
    """A rich table; cells are shown as plain text and long values fold instead of being cut.

    Columns named in ``no_wrap`` keep their width; the others give way when space is short.
    """
    table = Table(title=title, show_lines=False)
    for name in columns:
        table.add_column(name, overflow="fold", no_wrap=name in no_wrap)
    for row in rows:
        table.add_row(
            *(Text("" if cell is None else terminal_text(cell, newlines=True)) for cell in row)
        )
    return table


def print_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    title: str | None = None,
    stderr: bool = False,
    no_wrap: Collection[str] = (),
) -> None:
    """Print ``make_table(...)`` on stdout (or stderr).

    On a terminal (or with ``COLUMNS`` set) the table fits the width; written to a file or a
    pipe it takes its natural width, so no value is folded.
    """
    out = console(stderr=stderr)
    table = make_table(columns, rows, title, no_wrap)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        natural = Measurement.get(out, out.options.update(width=10_000), table).maximum
        out.width = max(out.width, natural)
    out.print(table)


#: ``--rules PATH`` (repeatable): other rule files or directories instead of the pack's rules/.
rules_option = click.option(
    "--rules",
    "rules",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Rule file or directory (repeatable); replaces the pack's own rules/.",
)


#: ``--filters PATH`` (repeatable): Sigma filter documents applied to the rules (site tuning).
filters_option = click.option(
    "--filters",
    "filters",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Sigma filter file or directory (repeatable); replaces the pack's filters.",
)
#: ``--no-filters``: apply no filter at all.
no_filters_option = click.option(
    "--no-filters", is_flag=True, help="Apply no Sigma filter (not even the pack's)."
)


def with_filters(source: PackSource, filters: tuple[Path, ...], no_filters: bool) -> PackSource:
    """The pack source with ``--filters`` (replacing its filters) or ``--no-filters`` applied."""
    if no_filters:
        if filters:
            raise click.UsageError("--filters and --no-filters exclude each other")
        return dataclasses.replace(source, filters=())
    if filters:
        return dataclasses.replace(source, filters=tuple(filters))
    return source
