"""``ses-sigma report``: a Markdown review of what the working tree (or ``--head REF``) changes
in the pack compared with ``--base REF``, meant to be posted as a pull-request comment.

Exit codes: 0 when the report is written; 1 when it is written but some part could not be
computed (a side's pack does not load, a target crashed; the report says what); 2 for usage
errors: not in a git work tree, or a ref that names no commit.
"""

from __future__ import annotations

from pathlib import Path

import click

from ses_sigma.cli.output import echo_err
from ses_sigma.pack import PackLoadError, rule_files
from ses_sigma.review import GitError, review_refs
from ses_sigma.review.report import GITHUB_COMMENT_LIMIT
from ses_sigma.review.sides import side_pack
from ses_sigma.workspace import CONFIG_FILE, find_config

__all__ = ["command"]

EXIT_INCOMPLETE = 1
EXIT_USAGE = 2


def _describe(pack_dir: Path) -> str:
    """The ``pack:`` line: the working tree's pack, as its ``ses-sigma.toml`` names it."""
    side = side_pack(pack_dir)
    if side.source is None:
        return f"pack: {side.root / CONFIG_FILE} (does not resolve; see the report)"
    try:
        count = len(rule_files(side.source.rules))
    except PackLoadError:
        count = 0
    if side.config is None:
        origin = f"{side.root} (no {CONFIG_FILE}: rules/, fixtures/ and filters/)"
        return f"pack: {origin}, {count} rule file(s) in the working tree"
    described = side.source.describe(count).removeprefix("pack: ")
    return f"pack (working tree; the base is read with its own config): {described}"


@click.command("report")
@click.option("--base", "base", required=True, metavar="REF", help="Git ref to compare with.")
@click.option(
    "--head",
    "head",
    metavar="REF",
    default=None,
    help="Git ref of the changed pack (default: the working tree as it is).",
)
@click.option(
    "--merge-base",
    "use_merge_base",
    is_flag=True,
    help="Compare with the merge base of --base and the head (what a pull request shows), "
    "not with --base itself.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the Markdown to this file instead of stdout.",
)
@click.option(
    "--pack",
    "pack_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    show_default="the directory of ses-sigma.toml here or above, else the current directory",
    help="Directory of the pack's ses-sigma.toml (or holding rules/ and fixtures/), inside a "
    "git work tree.",
)
@click.option(
    "--max-chars",
    type=click.IntRange(2_000, GITHUB_COMMENT_LIMIT),
    default=None,
    help="Size bound of the report (default: under GitHub's comment limit).",
)
@click.pass_context
def command(
    ctx: click.Context,
    base: str,
    head: str | None,
    use_merge_base: bool,
    output: Path | None,
    pack_dir: Path | None,
    max_chars: int | None,
) -> None:
    """Markdown summary of the rule changes between --base REF and the working tree (or
    --head REF): rules added, changed and removed, Sigma and query diffs per target, fixture
    results, lint findings, ATT&CK coverage before and after. Each side is the pack its own
    ses-sigma.toml names: its rules, fixtures and filters, and the bundled rules it uses."""
    if pack_dir is None:
        config = find_config()
        pack_dir = config.parent if config is not None else Path(".")
    click.echo(_describe(pack_dir), err=True)
    try:
        result = review_refs(pack_dir, base, head, max_chars, use_merge_base)
    except GitError as exc:
        echo_err(f"error: {exc}")
        ctx.exit(EXIT_USAGE)
    if output is not None:
        try:
            output.write_text(result.markdown, encoding="utf-8", newline="\n")
        except OSError as exc:
            raise click.UsageError(f"cannot write {output}: {exc}") from None
        click.echo(f"wrote {output} ({len(result.markdown)} characters)", err=True)
    else:
        click.echo(result.markdown, nl=False)
    for error in result.review.errors:
        echo_err(f"error: {error}")
    if not result.review.complete:
        ctx.exit(EXIT_INCOMPLETE)
