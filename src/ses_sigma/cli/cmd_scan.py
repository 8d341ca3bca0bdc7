"""``ses-sigma scan``: match CloudTrail logs against the rule pack and print the alerts.

Exit codes: 0 when every input was read, 1 when some input was rejected (the alerts of the
rest are still printed), 2 for usage errors, for a rule pack that does not load or compile and
for a ``--state`` file that is not a valid baseline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ses_sigma.alerts import Alert
from ses_sigma.cli.output import (
    echo_err,
    filters_option,
    json_line,
    no_filters_option,
    print_table,
    rules_option,
    terminal_text,
    with_filters,
    write_json_lines,
)
from ses_sigma.cli.packs import announce, resolve
from ses_sigma.cli.progress import ScanProgress
from ses_sigma.logs import Rejection
from ses_sigma.match.baseline import BaselineError
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.pack import PackLoadError
from ses_sigma.prefilter import KERNEL
from ses_sigma.records import format_time
from ses_sigma.scan import ScanResult, default_workers, scan
from ses_sigma.scan_stream import DEFAULT_REORDER_WINDOW
from ses_sigma.verify.spark_session import SparkUnavailable

__all__ = ["command"]

EXIT_REJECTED = 1
EXIT_RULES = 2

ALERT_COLUMNS = ("time", "level", "rule", "group", "events")


def _alert_row(alert: Alert) -> tuple[str, ...]:
    # One line per value, each escaped: a value cannot fake another line of the cell.
    group = "\n".join(terminal_text(f"{k}={v}") for k, v in alert.group)
    return (
        format_time(alert.time),
        terminal_text(alert.level),
        terminal_text(alert.rule_name),
        group,
        "\n".join(terminal_text(e) for e in alert.event_ids),
    )


class _AlertLines:
    """JSON alert lines, written a batch at a time (as each file or range is done, and at the
    end) rather than one ``click.echo`` each: the parent process writes every alert."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def add(self, alert: Alert) -> None:
        self._lines.append(json_line(alert.to_dict()))

    def flush(self) -> None:
        if self._lines:
            click.echo("\n".join(self._lines))
            self._lines = []


def _report_rejection(rejection: Rejection) -> None:
    echo_err(f"rejected: {rejection}", newlines=False)


def _summary(result: ScanResult, left_out: list[str]) -> str:
    read = result.read
    text = (
        f"scanned {read.files} file(s), {read.records} record(s): "
        f"{result.alert_count} alert(s), {read.rejected} rejected"
        f" (files: {read.files} read, {read.files_rejected} rejected; records: "
        f"{read.records_read} read, {result.matched} matched, {read.records_rejected} rejected"
    )
    if result.duplicates:
        text += f", {result.duplicates} duplicate(s) of a matched eventID dropped"
    text += ")"
    if read.skipped:
        text += f", {len(read.skipped)} file(s) skipped (not CloudTrail logs; -v lists them)"
    parts = []
    if result.skipped_rules:
        parts.append(f"{len(result.skipped_rules)} rule(s)")
    if left_out:
        parts.append(f"{len({reason.partition(': ')[0] for reason in left_out})} rule file(s)")
    if parts:
        text += f"; {' and '.join(parts)} left out (--skip-unsupported)"
    return text


_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
#: Withdrawn streamed alerts listed one by one on stderr (the rest are counted).
_WITHDRAWN_SHOWN = 20


class _Duration(click.ParamType):
    """A duration: a count and a unit (``s``, ``m``, ``h``, ``d``; none: seconds)."""

    name = "duration"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, float):
            return value
        text = str(value).strip()
        digits = text.rstrip("smhd")
        unit = text[len(digits) :]
        if not digits.isdigit() or unit not in _UNITS:
            self.fail(f"{value!r} is not a duration such as 15m, 900s, 1h or 0", param, ctx)
        return float(int(digits) * _UNITS[unit])


def _span(seconds: float) -> str:
    """Seconds as a short human duration (``1d 2h 3m 4s``)."""
    rest = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    if rest or not parts:
        parts.append(f"{rest}s")
    return " ".join(parts)


def _report_late(result: ScanResult, window: float, streamed: bool) -> None:
    """The warning when stateful candidates came behind the reorder window (scan_stream)."""
    late = result.late
    if not late.records:
        return
    text = (
        f"warning: {late.records} record(s) feeding correlation or first-seen rules came "
        f"after records up to {_span(late.max_behind)} newer had been evaluated "
        f"(--reorder-window {_span(window)}): those rules were evaluated again over every "
        "record in event-time order, and the alerts are that run's"
    )
    if late.batch_from is not None:
        text += (
            f" (the input looked unordered: after {late.batch_from} such record(s), "
            f"streaming stopped and the {late.deferred} after waited for that run)"
        )
    if streamed:
        text += (
            f"; {late.added} alert(s) it found were written at the end, and "
            f"{len(late.withdrawn)} alert(s) written earlier are not among its alerts"
        )
    echo_err(text)
    if not streamed:
        return
    for alert in late.withdrawn[:_WITHDRAWN_SHOWN]:
        echo_err(
            f"warning: withdrawn: {terminal_text(alert.rule_name)} at {format_time(alert.time)}, "
            f"events {', '.join(terminal_text(e) for e in alert.event_ids)}"
        )
    if len(late.withdrawn) > _WITHDRAWN_SHOWN:
        echo_err(f"warning: ... and {len(late.withdrawn) - _WITHDRAWN_SHOWN} more withdrawn")


def _prefilter_line(result: ScanResult) -> str:
    """Which raw-bytes pre-filter kernel ran, and how many records it ruled out."""
    where = "C kernel" if KERNEL == "c" else "pure-Python reference (the C kernel is not built)"
    return (
        f"pre-filter: {where}; {result.read.prefiltered} of {result.read.records} record(s) "
        "ruled out without decoding"
    )


class _LogPath(click.ParamType):
    """An existing local path, or a URI (``s3://...``) for ``--engine spark``."""

    name = "path"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if "://" in str(value):
            return str(value)
        return click.Path(exists=True, allow_dash=True, path_type=Path).convert(value, param, ctx)


@click.command("scan")
@click.argument("paths", nargs=-1, required=True, type=_LogPath())
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
    help="Leave out (with a warning) rule files that do not load and rules the matcher cannot "
    "evaluate, instead of stopping.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Worker processes sharing files and large files; 0: every core.",
)
@click.option(
    "--no-prefilter",
    is_flag=True,
    help="Decode and check every record instead of only those the raw-bytes pre-filter "
    "cannot rule out (same alerts; slower; reports malformed records no rule could match).",
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
    "every event id (without it: one alert per match; alerts then print at the end).",
)
@click.option(
    "--reorder-window",
    type=_Duration(),
    default=f"{int(DEFAULT_REORDER_WINDOW) // 60}m",
    show_default=True,
    help="How far (event time) a record may arrive behind newer ones and still be evaluated "
    "by correlation and first-seen rules as it streams; a later record is warned about and "
    "those rules are evaluated again at the end (the alerts stay exact).",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Also list the files that were skipped, and say which pre-filter kernel ran.",
)
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
    filters: tuple[Path, ...],
    no_filters: bool,
    fmt: str,
    skip_unsupported: bool,
    workers: int,
    no_prefilter: bool,
    state: Path | None,
    suppress: bool,
    reorder_window: float,
    verbose: bool,
    engine: str,
    spark_master: str | None,
) -> None:
    """Scan CloudTrail logs (files or directories; S3 objects, JSON Lines, arrays, .gz;
    - for standard input)."""
    if engine == "embedded" and any(isinstance(p, str) for p in paths):
        raise click.BadParameter("URIs (s3://...) are read with --engine spark", param_hint="PATH")
    if engine == "spark" and any(str(p) == "-" for p in paths):
        raise click.BadParameter("standard input is read by the embedded engine", param_hint="PATH")
    if engine == "spark" and (state is not None or suppress):
        raise click.BadParameter("--state and --suppress are for the embedded engine")
    # The embedded engine streams JSON alerts as they are found; Spark returns them at the end.
    stream = fmt == "json" and engine == "embedded"
    source = with_filters(resolve(rules), filters, no_filters)
    left_out: list[str] = []
    try:
        if skip_unsupported:  # rule files that do not load are left out too, with the reason
            pack, left_out = source.load_skipping()
        else:
            pack = source.load()
        announce(source, len(pack))
        for reason in left_out:
            echo_err(f"warning: rule file left out: {reason}")
        if engine == "spark":
            from ses_sigma.scan_spark import scan_spark

            result = scan_spark(
                paths,
                pack,
                on_rejection=_report_rejection,
                skip_unsupported=skip_unsupported,
                master=spark_master,
            )
        else:
            lines = _AlertLines()

            def on_progress(done: int, total: int) -> None:
                lines.flush()
                progress.update(done, total)

            with ScanProgress() as progress:
                result = scan(
                    paths,
                    pack,
                    on_rejection=_report_rejection,
                    skip_unsupported=skip_unsupported,
                    workers=workers or default_workers(),
                    prefilter=not no_prefilter,
                    on_alert=lines.add if stream else None,
                    keep_alerts=not stream,
                    on_progress=on_progress,
                    state=state,
                    suppress=suppress,
                    reorder_window=reorder_window,
                )
            lines.flush()
    except BaselineError as exc:
        echo_err(f"error: --state: {exc}")
        ctx.exit(EXIT_RULES)
    except PackLoadError as exc:
        echo_err(f"error: the rule pack does not load:\n{exc}")
        ctx.exit(EXIT_RULES)
    except RuleCompileError as exc:
        echo_err(f"error: a rule cannot be evaluated faithfully:\n{exc}")
        ctx.exit(EXIT_RULES)
    except SparkUnavailable as exc:
        echo_err(f"error: {exc}")
        ctx.exit(EXIT_RULES)
    for reason in result.skipped_rules:
        echo_err(f"warning: rule left out: {reason}")
    for reason in result.state_warnings:
        echo_err(f"warning: --state: {reason}")
    _report_late(result, reorder_window, stream and not suppress)
    if stream and not suppress and result.late.withdrawn:
        # The JSON stream stays true as a log: each alert written earlier that the exact run
        # does not hold is retracted by a line of its own, marked "withdrawn": true.
        write_json_lines({"withdrawn": True, **a.to_dict()} for a in result.late.withdrawn)
    for rule, origin, when in result.run.implausible:
        echo_err(
            f"warning: {origin}: eventTime {when} is implausible (before CloudTrail or in the "
            f"future): it takes no part in the first-seen rule {rule}"
        )
    if fmt == "json" and not stream:
        write_json_lines(alert.to_dict() for alert in result.alerts)
    elif not stream:
        print_table(
            ALERT_COLUMNS, (_alert_row(a) for a in result.alerts), no_wrap=("time", "level", "rule")
        )
    if verbose:
        for skipped in result.read.skipped:
            echo_err(f"skipped: {skipped}", newlines=False)
        if engine == "embedded" and not no_prefilter:
            echo_err(_prefilter_line(result))
    click.echo(_summary(result, left_out), err=True)
    if not result.ok:
        ctx.exit(EXIT_REJECTED)
