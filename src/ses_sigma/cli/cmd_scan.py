"""``ses-sigma scan``: match CloudTrail logs against the rule pack and print the alerts.

Exit codes: 0 when every input was read, 1 when some input was rejected (the alerts of the
rest are still printed), 2 for usage errors and for a rule pack that does not load or compile.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ses_sigma.alerts import Alert
from ses_sigma.cli.output import print_table, rules_option, write_json_lines
from ses_sigma.logs import Rejection
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.pack import DEFAULT_RULES_DIR, PackLoadError
from ses_sigma.records import format_time
from ses_sigma.scan import ScanResult, scan
from ses_sigma.verify.spark_session import SparkUnavailable

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


class _LogPath(click.ParamType):
    """An existing local path, or a URI (``s3://...``) for ``--engine spark``."""

    name = "path"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if "://" in str(value):
            return str(value)
        return click.Path(exists=True, path_type=Path).convert(value, param, ctx)


@click.command("scan")
@click.argument("paths", nargs=-1, required=True, type=_LogPath())
@rules_option
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
@click.option("-v", "--verbose", is_flag=True, help="Also list the files that were skipped.")
@click.option(
    "--engine",
    type=click.Choice(["embedded", "spark"]),
    default="embedded",
    show_default=True,
    help="embedded: this process; spark: Apache Spark reads and matches (local[*], or the "
    "cluster of --spark-master / MASTER / spark-submit); PATHs may then be s3:// URIs.",
)
@click.option("--spark-master", default=None, help="Spark master URL (overrides MASTER).")
@click.pass_context
def command(
    ctx: click.Context,
    paths: tuple[Path | str, ...],
    rules: tuple[Path, ...],
    fmt: str,
    skip_unsupported: bool,
    verbose: bool,
    engine: str,
    spark_master: str | None,
) -> None:
    """Scan CloudTrail logs (files or directories; S3 objects, JSON Lines, arrays, .gz)."""
    if engine == "embedded" and any(isinstance(p, str) for p in paths):
        raise click.BadParameter("URIs (s3://...) are read with --engine spark", param_hint="PATH")
    run = scan
    extra: dict[str, Any] = {}
    if engine == "spark":
        from ses_sigma.scan_spark import scan_spark

        run, extra = scan_spark, {"master": spark_master}
    try:
        result = run(
            paths,
            rules or (DEFAULT_RULES_DIR,),
            on_rejection=_report_rejection,
            skip_unsupported=skip_unsupported,
            **extra,
        )
    except PackLoadError as exc:
        click.echo(f"error: the rule pack does not load:\n{exc}", err=True)
        ctx.exit(EXIT_RULES)
    except RuleCompileError as exc:
        click.echo(f"error: a rule cannot be evaluated faithfully:\n{exc}", err=True)
        ctx.exit(EXIT_RULES)
    except SparkUnavailable as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(EXIT_RULES)
    for reason in result.skipped_rules:
        click.echo(f"warning: rule left out: {reason}", err=True)
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
