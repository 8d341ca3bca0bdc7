"""``ses-sigma convert``: the pack (or some rules) as Splunk / Elastic artefacts.

Exit codes: 0 when every rule converted (or, with ``--skip-unsupported``, was refused or left
out with a warning), 1 when a target refused a rule, 2 for usage errors, for rules that do not
load and for rule names that cannot be file names, 3 when ``--all --check`` finds the output
directory out of date.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from ses_sigma.cli.output import (
    echo_err,
    filters_option,
    no_filters_option,
    rules_option,
    with_filters,
)
from ses_sigma.cli.packs import announce, resolve
from ses_sigma.convert.base import Refusal, all_targets
from ses_sigma.convert.build import (
    build_dist,
    convert_rules,
    stale_files,
    unsafe_names,
    write_output,
)
from ses_sigma.pack import Pack, PackLoadError
from ses_sigma.workspace import PackSource

__all__ = ["command"]

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_STALE = 3


def _target_help() -> str:
    return "; ".join(f"{t.name}: {', '.join(t.formats)}" for t in all_targets())


def _report(refusals: list[Refusal], skip: bool) -> None:
    for refusal in refusals:
        label = "warning: skipped" if skip else "error"
        echo_err(f"{label}: {refusal}", newlines=False)


def _load(source: PackSource, skip: bool) -> Pack:
    """The pack to convert. A rule file that does not load, or a rule whose name cannot be a
    file name, stops the run (exit 2) naming it; with ``skip`` it is left out with a warning."""
    try:
        if skip:
            pack, left_out = source.load_skipping(check=unsafe_names)
            for reason in left_out:
                echo_err(f"warning: skipped rule file: {reason}")
            return pack
        pack = source.load()
    except PackLoadError as exc:
        raise click.exceptions.Exit(_fail(f"rules do not load:\n{exc}")) from None
    problems = unsafe_names(pack)
    if problems:
        text = "\n".join(f"{path}: {message}" for path, message in problems)
        raise click.exceptions.Exit(_fail(f"rules cannot be converted:\n{text}"))
    return pack


@click.command("convert")
@click.argument("names", nargs=-1, metavar="[RULE]...")
@click.option("-t", "--target", help="Target (see --list).")
@click.option("-f", "--format", "fmt", help="Output format of the target (default: its first).")
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write files to this directory instead of printing them.",
)
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Every target in every format into --output (as <target>/<format>/...), plus MATRIX.md.",
)
@click.option(
    "--check",
    is_flag=True,
    help="With --all: compare with --output instead of writing; exit 3 if it is out of date.",
)
@click.option(
    "--skip-unsupported",
    is_flag=True,
    help="A rule a target cannot express, a rule file that does not load, or a rule whose name "
    "cannot be a file name is skipped with a warning instead of failing.",
)
@rules_option
@filters_option
@no_filters_option
@click.option("--list", "list_targets", is_flag=True, help="List targets and formats, then exit.")
def command(
    names: tuple[str, ...],
    target: str | None,
    fmt: str | None,
    output: Path | None,
    everything: bool,
    check: bool,
    skip_unsupported: bool,
    rules: tuple[Path, ...],
    filters: tuple[Path, ...],
    no_filters: bool,
    list_targets: bool,
) -> None:
    """Convert rules to a target's queries or files; print them, or write them to --output.

    Every rule converts with the matcher's meaning or is refused, naming rule, target and reason.
    """
    if list_targets:
        for tgt in all_targets():
            click.echo(f"{tgt.name}\t{', '.join(tgt.formats)}\t{tgt.description}")
        return
    source = with_filters(resolve(rules), filters, no_filters)
    pack = _load(source, skip_unsupported)
    announce(source, len(pack))

    if everything:
        if target or fmt or names or output is None:
            raise click.UsageError("--all takes --output DIR and no --target, --format or RULE")
        dist = build_dist(pack)
        _report(dist.refusals, skip=True)
        if check:
            problems = stale_files(dist.files, output)
            for problem in problems:
                click.echo(f"stale: {output}/{problem}", err=True)
            if problems:
                click.echo("run `make convert` and commit the result", err=True)
                raise click.exceptions.Exit(EXIT_STALE)
            click.echo(f"{output}: up to date ({len(dist.files)} files)", err=True)
            return
        if output.exists():
            shutil.rmtree(output)
        written = write_output(dist.files, output)
        click.echo(
            f"wrote {len(written)} files to {output} ({len(dist.refusals)} refusals, "
            "listed in MATRIX.md)",
            err=True,
        )
        return
    if check:
        raise click.UsageError("--check goes with --all")
    if not target:
        raise click.UsageError(f"--target is required; targets: {_target_help()}")
    try:
        result = convert_rules(pack, target, fmt, names)
    except (KeyError, ValueError) as exc:
        raise click.UsageError(str(exc.args[0] if exc.args else exc)) from None
    _report(result.refusals, skip=skip_unsupported)
    if output is not None:
        written = write_output(result.files, output)
        click.echo(f"wrote {len(written)} files to {output}", err=True)
    else:
        _print(result.files)
    if result.refusals and not skip_unsupported:
        raise click.exceptions.Exit(EXIT_REFUSED)


def _print(files: dict[str, str | bytes]) -> None:
    binary = [path for path, content in files.items() if isinstance(content, bytes)]
    if binary:
        raise click.UsageError(f"{', '.join(sorted(binary))}: binary output needs --output DIR")
    several = len(files) > 1
    for path, content in sorted(files.items()):
        if several:
            click.echo(f"==> {path} <==")
        text = str(content)
        click.echo(text, nl=not text.endswith("\n"))


def _fail(message: str) -> int:
    echo_err(f"error: {message}")
    return EXIT_USAGE
