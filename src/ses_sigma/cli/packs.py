"""The pack a command works on (``ses_sigma.workspace.resolve_pack``), for every command.

Commands resolve the pack the same way, fail the same way (exit 2 naming the file for a bad
``ses-sigma.toml``), and say on stderr which pack and how many rules they used.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import click

from ses_sigma.workspace import ConfigError, PackSource, resolve_pack

__all__ = ["EXIT_CONFIG", "announce", "resolve"]

EXIT_CONFIG = 2


def resolve(paths: Iterable[Path] = ()) -> PackSource:
    """``resolve_pack(paths)``; a bad ``ses-sigma.toml`` is an error (exit 2), not a traceback."""
    try:
        return resolve_pack(tuple(paths))
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        raise click.exceptions.Exit(EXIT_CONFIG) from None


def announce(source: PackSource, rules: int) -> None:
    """``pack: <origin>, <n> rule(s)`` on stderr."""
    click.echo(source.describe(rules), err=True)
