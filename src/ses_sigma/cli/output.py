"""Rendering helpers shared by the CLI commands: JSON Lines and rich tables.

Data is printed as plain text: rich markup is never interpreted in values (a CloudTrail origin
such as ``file.json[3]`` would otherwise be read as a markup tag).
"""

from __future__ import annotations

import dataclasses
import os
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
    "filters_option",
    "json_line",
    "make_table",
    "no_filters_option",
    "print_table",
    "rules_option",
    "with_filters",
    "write_json_lines",
]


def json_line(obj: Any) -> str:
    """One compact JSON document on one line (orjson; keys kept in insertion order)."""
    return orjson.dumps(obj).decode("utf-8")


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
        table.add_row(*(Text("" if cell is None else str(cell)) for cell in row))
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
