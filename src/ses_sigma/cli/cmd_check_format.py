"""``ses-sigma check-format``: the layout of rule and fixture files (fast; ``make format-rules``).

UTF-8 without BOM, LF line ends, a final newline, no tabs or trailing spaces, 2-space
indentation. ``ses-sigma check`` runs the same check with everything else.
"""

from __future__ import annotations

from pathlib import Path

import click

from ses_sigma.cli.output import terminal_text
from ses_sigma.lint.fileformat import check_paths

__all__ = ["command"]


@click.command("check-format")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def command(paths: tuple[Path, ...]) -> None:
    """Check the layout of rule and fixture files (default: rules/ and fixtures/)."""
    chosen = list(paths) or [p for p in (Path("rules"), Path("fixtures")) if p.is_dir()]
    if not chosen:
        raise click.UsageError("no PATH given and no rules/ or fixtures/ here")
    findings, count = check_paths(chosen)
    for finding in findings:
        click.echo(terminal_text(finding))
    click.echo(f"format: {len(findings)} finding(s) in {count} file(s)", err=True)
    if findings:
        raise SystemExit(1)
