"""``ses-sigma scan``: match CloudTrail logs against the rule pack and print the alerts.

Exit codes: 0 when every input was read, 1 when some input was rejected (the alerts of the
rest are still printed), 2 for usage errors, for a rule pack that does not load or compile and
for a ``--state`` file that is not a valid baseline.
"""

from __future__ import annotations

from pathlib import Path

import click

from ses_sigma.alerts import Alert
from ses_sigma.cli.output import (
    filters_option,
    no_filters_option,
    print_table,
    rules_option,
    with_filters,
    write_json_lines,
)
from ses_sigma.cli.packs import announce, resolve
from ses_sigma.logs import Rejection
from ses_sigma.match.baseline import BaselineError
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.pack import PackLoadError
from ses_sigma.records import format_time
from ses_sigma.scan import ScanResult, scan

__all__ = ["command"]

EXIT_REJECTED = 1
EXIT_RULES = 2

ALERT_COLUMNS = ("time", "level", "rule", "group", "events")


def _alert_row(alert: Alert) -> tuple[str, ...]:
    group = "\n".join(f"{k}={v}" for k, v in alert.group)
    return (
        format_time(alert.time),
        alert.level,
        alert.rule_name,
        group,
        "\n".join(alert.event_ids),
    )


def _report_rejection(rejection: Rejection) -> None:
    click.echo(f"rejected: {rejection}", err=True)


def _summary(result: ScanResult) -> str:
    read = result.read
    text = (
        f"scanned {read.files} file(s), {read.records} record(s): "
        f"{len(result.alerts)} alert(s), {read.rejected} rejected"
    )
    if read.skipped:
        text += f", {len(read.skipped)} file(s) skipped (not CloudTrail logs; -v lists them)"
    if result.skipped_rules:
        text += f"; {len(result.skipped_rules)} rule(s) left out (--skip-unsupported)"
    return text


@click.command("scan")
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, allow_dash=True, path_type=Path)
)
@rules_option
@filters_option
@no_filters_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "table"]),
    default="json",
    show_default=True,
    help="json: one alert per line on stdout; table: a table.",
)
@click.option(
    "--skip-unsupported",
    is_flag=True,
    help="Leave out (with a warning) rules the matcher cannot evaluate, instead of stopping.",
)
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    help="First-seen baseline: loaded before the scan if the file exists, saved after it "
    "(versioned JSON), so that a scan of a short export still knows earlier principals.",
)
@click.option(
    "--suppress",
    is_flag=True,
    help="Apply the rules' suppression attribute: one alert per group and period, carrying "
    "every event id (without it: one alert per match).",
)
@click.option("-v", "--verbose", is_flag=True, help="Also list the files that were skipped.")
@click.pass_context
def command(
    ctx: click.Context,
    paths: tuple[Path, ...],
    rules: tuple[Path, ...],
    filters: tuple[Path, ...],
    no_filters: bool,
    fmt: str,
    skip_unsupported: bool,
    state: Path | None,
    suppress: bool,
    verbose: bool,
) -> None:
    """Scan CloudTrail logs (files or directories; S3 objects, JSON Lines, arrays, .gz;
    - for standard input)."""
    source = with_filters(resolve(rules), filters, no_filters)
    try:
        pack = source.load()
        announce(source, len(pack))
        result = scan(
            paths,
            pack,
            on_rejection=_report_rejection,
            skip_unsupported=skip_unsupported,
            state=state,
            suppress=suppress,
        )
    except BaselineError as exc:
        click.echo(f"error: --state: {exc}", err=True)
        ctx.exit(EXIT_RULES)
    except PackLoadError as exc:
        click.echo(f"error: the rule pack does not load:\n{exc}", err=True)
        ctx.exit(EXIT_RULES)
    except RuleCompileError as exc:
        click.echo(f"error: a rule cannot be evaluated faithfully:\n{exc}", err=True)
        ctx.exit(EXIT_RULES)
    for reason in result.skipped_rules:
        click.echo(f"warning: rule left out: {reason}", err=True)
    for reason in result.state_warnings:
        click.echo(f"warning: --state: {reason}", err=True)
    for rule, origin, when in result.run.implausible:
        click.echo(
            f"warning: {origin}: eventTime {when} is implausible (before CloudTrail or in the "
            f"future): it takes no part in the first-seen rule {rule}",
            err=True,
        )
    if fmt == "json":
        write_json_lines(alert.to_dict() for alert in result.alerts)
    else:
        print_table(
            ALERT_COLUMNS, (_alert_row(a) for a in result.alerts), no_wrap=("time", "level", "rule")
        )
    if verbose:
        for skipped in result.read.skipped:
            click.echo(f"skipped: {skipped}", err=True)
    click.echo(_summary(result), err=True)
    if not result.ok:
        ctx.exit(EXIT_REJECTED)
