"""``ses-sigma init DIR``: start a team's own detection repository (``ses_sigma.init``).

Exit codes: 0 written, 2 when a file would be overwritten or DIR cannot be written.
"""

from __future__ import annotations

from pathlib import Path

import click

from ses_sigma.init import InitError, init_repository

__all__ = ["command"]


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def command(directory: Path) -> None:
    """Start a detection repository in DIRECTORY: ses-sigma.toml, an example rule with its
    fixtures, a GitHub Actions workflow and a pre-commit configuration."""
    try:
        written = init_repository(directory)
    except InitError as exc:
        raise click.UsageError(str(exc)) from None
    for path in written:
        click.echo(f"wrote {path}", err=True)
    click.echo(
        f"next: cd {directory} && ses-sigma check && ses-sigma test (then git init, commit, push)",
        err=True,
    )
