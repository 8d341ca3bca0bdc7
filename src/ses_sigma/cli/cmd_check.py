"""``ses-sigma check``: lint the rule pack (pySigma and SigmaHQ validators, the pack's
conventions, duplicate YAML keys, fixture coverage), offline.

Prints one line per finding, ``file:line: code: message`` (``--format github``: GitHub Actions
annotations), excused findings too (marked), and a summary on stderr. ``--junit FILE`` also
writes JUnit XML. Exit codes: 0 when every finding is excused, 1 otherwise, 2 for usage errors.
"""

from __future__ import annotations

from pathlib import Path

import click

from ses_sigma.bundled import bundled_dir
from ses_sigma.cli.output import terminal_text
from ses_sigma.cli.packs import announce, resolve
from ses_sigma.lint import PackPaths, PathsError, check_pack
from ses_sigma.lint.findings import Finding, LintResult
from ses_sigma.lint.report import FORMATS, github_lines, summary, text_lines, write_junit
from ses_sigma.workspace import PackSource

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
    shown = _without_bundled_excuses(result, source)
    lines = github_lines(shown) if fmt == "github" else text_lines(shown)
    for line in lines:
        click.echo(terminal_text(line))  # rule text may hold control characters
    if junit is not None:
        try:
            write_junit(result, junit)
        except OSError as exc:
            raise click.UsageError(f"cannot write {junit}: {exc}") from None
    hidden = len(result.findings) - len(shown.findings)
    note = f" ({hidden} excused in the bundled rules, not listed)" if hidden else ""
    click.echo(summary(result) + note, err=True)
    if not result.passed:
        ctx.exit(EXIT_FINDINGS)


def _without_bundled_excuses(result: LintResult, source: PackSource) -> LintResult:
    """``result`` without the excused findings of the bundled rules when they are used beside
    a repository's own (``include_bundled``): they are ses-sigma's, already reviewed, and would
    bury the repository's own lines. In ses-sigma's own checkout every finding is listed."""
    bundled = [d.resolve() for d in (bundled_dir("rules"), bundled_dir("fixtures")) if d]
    root = source.root.resolve() if source.root is not None else None
    if root is None or any(d.is_relative_to(root) for d in bundled):
        return result

    def hidden(finding: Finding) -> bool:
        path = Path(finding.file).resolve()
        return finding.excused is not None and any(path.is_relative_to(d) for d in bundled)

    return LintResult(tuple(f for f in result.findings if not hidden(f)), result.rule_files)
