"""``ses-sigma check``: lint the rule pack (pySigma and SigmaHQ validators, the pack's
conventions, duplicate YAML keys, fixture coverage), offline.

Prints one line per finding, ``file:line: code: message`` (``--format github``: GitHub Actions
annotations), excused findings too (marked), and a summary on stderr. ``--junit FILE`` also
writes JUnit XML. Exit codes: 0 when every finding is excused, 1 otherwise, 2 for usage errors.
"""

from __future__ import annotations

from pathlib import Path

import click

from ses_sigma.cli.output import terminal_text
from ses_sigma.cli.packs import announce, resolve
from ses_sigma.lint import PackPaths, PathsError, check_pack
from ses_sigma.lint.report import FORMATS, github_lines, summary, text_lines, write_junit

__all__ = ["command"]

EXIT_FINDINGS = 1
EXIT_USAGE = 2


@click.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text: file:line: code: message. github: GitHub Actions annotations.",
)
@click.option(
    "--junit",
    "junit",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the findings as JUnit XML to this file.",
)
@click.pass_context
def command(ctx: click.Context, paths: tuple[Path, ...], fmt: str, junit: Path | None) -> None:
    """Lint the rule pack (ses-sigma.toml here or above, else the bundled pack), or PATH...
    (rule files or directories, fixture directories holding _base.yml, a directory with
    rules/ and fixtures/, or one with a ses-sigma.toml). Rules without fixtures are linted
    too: the missing cases are one finding."""
    source = resolve(paths)
    try:
        result = check_pack(PackPaths.of(source))
    except PathsError as exc:
        raise click.UsageError(str(exc)) from None
    announce(source, len(result.rule_files))
    lines = github_lines(result) if fmt == "github" else text_lines(result)
    for line in lines:
        click.echo(terminal_text(line))  # rule text may hold control characters
    if junit is not None:
        try:
            write_junit(result, junit)
        except OSError as exc:
            raise click.UsageError(f"cannot write {junit}: {exc}") from None
    click.echo(summary(result), err=True)
    if not result.passed:
        ctx.exit(EXIT_FINDINGS)
