"""``ses-sigma docs``: the rule reference, coverage page and ATT&CK Navigator layer.

Writes ``rules/<name>.md``, ``rules/README.md``, ``coverage.md`` and
``attack-navigator-layer.json`` under ``--output`` (default: the repository's ``docs/``), or with
``--check`` compares them with what is there. Exit codes: 0 written / up to date, 1 when a page
cannot be generated faithfully (the message names the rule or target), 2 for rules that do not
load, 3 when ``--check`` finds the docs out of date.
"""

from __future__ import annotations

from pathlib import Path

import click

from ses_sigma.bundled import bundled_dir
from ses_sigma.cli.output import echo_err
from ses_sigma.cli.packs import announce, resolve
from ses_sigma.convert.names import UnsafeRuleName
from ses_sigma.docs import DocsError
from ses_sigma.docs.build import build_docs, stale_docs, write_docs
from ses_sigma.pack import PackLoadError
from ses_sigma.workspace import find_config

__all__ = ["command"]

EXIT_DOCS = 1
EXIT_RULES = 2
EXIT_STALE = 3


@click.command("docs")
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    show_default="docs/ next to the pack's ses-sigma.toml",
    help="Docs directory to write (rules/ in it is replaced).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Compare with --output instead of writing; exit 3 listing the stale files.",
)
def command(output: Path | None, check: bool) -> None:
    """Generate the rule pages, the coverage page and the ATT&CK Navigator layer of the pack
    (ses-sigma.toml here or above, else the bundled pack)."""
    source = resolve()
    if output is None:
        if find_config() is None or source.root is None:
            raise click.UsageError("no ses-sigma.toml here or above: give --output DIR")
        output = source.root / "docs"
    try:
        pack = source.load()
    except PackLoadError as exc:
        echo_err(f"error: rules do not load:\n{exc}")
        raise click.exceptions.Exit(EXIT_RULES) from None
    announce(source, len(pack))
    root = source.root if source.root is not None else Path.cwd()
    try:
        bundled = bundled_dir("rules").parent if source.bundled else None  # type: ignore[union-attr]
        files = build_docs(pack, source.fixtures, root, source.ignored_fixtures, bundled)
    except DocsError as exc:
        echo_err(f"error: {exc}")
        raise click.exceptions.Exit(EXIT_DOCS) from None
    except UnsafeRuleName as exc:  # a name no file can carry, or text no page can (surrogates)
        echo_err(f"error: rules cannot be documented:\n{exc}")
        raise click.exceptions.Exit(EXIT_DOCS) from None
    if check:
        problems = stale_docs(files, output)
        for problem in problems:
            click.echo(f"stale: {output}/{problem}", err=True)
        if problems:
            click.echo("run `make docs` and commit the result", err=True)
            raise click.exceptions.Exit(EXIT_STALE)
        click.echo(f"{output}: up to date ({len(files)} files)", err=True)
        return
    written = write_docs(files, output)
    click.echo(f"wrote {len(written)} files to {output}", err=True)
