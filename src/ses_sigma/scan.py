"""Scan CloudTrail logs with a rule pack: paths + pack -> ScanResult (alerts and what was read).

The orchestration behind ``ses-sigma scan``, kept out of the CLI so tests and other commands
can call it. The input is split into tasks (files, and 64 MiB ranges of large JSON Lines files;
``scan_tasks``) run by ``workers`` processes, each reading its records (through the raw-bytes
pre-filter unless ``prefilter=False``) and matching them with the compiled engine. The parent
takes the results in task order, whatever the number of workers:

* each matched record is taken once per (eventID, eventTime): CloudTrail delivers at least
  once and exports overlap, so a copy met again is counted as a duplicate and dropped
  (``scan_stream.SeenKeys``: keyed 64-bit digests computed by the workers, added a task at a
  time to a C hash set);
* single-event alerts go to ``on_alert`` as their task completes (streaming);
* matches that feed stateful rules go, as small payloads, through a reorder buffer to the
  correlation and first-seen engines in (eventTime, eventID) order, whose alerts stream out as
  they become final; records that arrive too late for it make an exact run at the end
  (``scan_stream``). In batch mode (unordered input) the workers write each task's candidates
  as sorted runs (``scan_runs``), the parent keeps only which rows it dropped, and one of the
  workers makes the exact run before the pool closes (``scan_exact``). The alerts are the same
  for any workers and input order.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ses_sigma.alerts import Alert
from ses_sigma.logs import ReadStats, Rejection
from ses_sigma.match.baseline import Baseline
from ses_sigma.match.engine import Engine, RunStats
from ses_sigma.match.suppression import GroupValues
from ses_sigma.pack import DEFAULT_RULES_DIR, Pack, load_pack
from ses_sigma.scan_gc import scan_gc
from ses_sigma.scan_pool import BATCH_FLAG, Work
from ses_sigma.scan_stream import (
    DEFAULT_REORDER_WINDOW,
    LateReport,
    SeenKeys,
    StatefulStream,
)
from ses_sigma.scan_tasks import (
    RANGE_BYTES,
    STDIN,
    TaskResult,
    plan_tasks,
)
from ses_sigma.scan_wire import alerts_of

__all__ = ["STDIN", "ScanResult", "default_workers", "scan", "scan_with_engine"]


@dataclass
class ScanResult:
    """The alerts of one scan, what was read (``read``) and what the matcher saw (``run``)."""

    alerts: list[Alert]
    read: ReadStats
    run: RunStats
    #: Rules left out because the matcher cannot evaluate them (``skip_unsupported``), and why.
    skipped_rules: list[str] = field(default_factory=list)
    #: Records that matched a rule (each (eventID, eventTime) once).
    matched: int = 0
    #: Matched records dropped as copies of one already matched (same eventID and eventTime).
    duplicates: int = 0
    #: Alerts produced (also when ``alerts`` is not kept).
    alert_count: int = 0
    #: Baseline (``state``) rules whose saved state could not be used, and why.
    state_warnings: list[str] = field(default_factory=list)
    #: Stateful candidates that arrived behind the reorder window, and what the exact run at
    #: the end changed (``scan_stream``); ``late.records`` is 0 when the streamed run was exact.
    late: LateReport = field(default_factory=LateReport)

    @property
    def ok(self) -> bool:
        """True when every input was read without a rejection."""
        return not self.read.rejections


def default_workers() -> int:
    """Worker processes used by default: every core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


#: A duplicate's flag in ``KeySet.add_many``'s answer.
_NONE_SEEN = b"\x00"


def _shift(origin: str, path: str, offset: int) -> str:
    """``path:N...`` -> ``path:N+offset...`` (line numbers of a range made file-absolute)."""
    prefix = path + ":"
    if not origin.startswith(prefix) or offset == 0:
        return origin
    rest = origin[len(prefix) :]
    digits = len(rest) - len(rest.lstrip("0123456789"))
    if digits == 0:
        return origin
    return f"{prefix}{int(rest[:digits]) + offset}{rest[digits:]}"


@scan_gc()  # the pack frozen, young collections rare (scan_gc)
def scan_with_engine(
    engine: Engine,
    paths: Iterable[str | Path],
    on_rejection: Callable[[Rejection], None] | None = None,
    *,
    on_alert: Callable[[Alert], None] | None = None,
    keep_alerts: bool = True,
    workers: int = 1,
    prefilter: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
    range_bytes: int = RANGE_BYTES,
    stdin: BinaryIO | None = None,
    state: str | Path | None = None,
    suppress: bool = False,
    reorder_window: float = DEFAULT_REORDER_WINDOW,
) -> ScanResult:
    """Run a compiled ``engine`` over the CloudTrail records under ``paths``.

    ``on_rejection`` sees each problem as it is met (in task order), ``on_alert`` each alert as
    soon as it is final; all of them are also in the result (alerts sorted, unless
    ``keep_alerts`` is False). ``workers`` processes share the work; ``prefilter`` (default)
    decodes only the records that could match. ``on_progress(done, total)`` gets input bytes;
    ``state`` (a first-seen baseline file, ``match/baseline.py``) is loaded before reading any
    log (``BaselineError`` if it is not a valid baseline) and written back after the scan;
    ``suppress`` applies the rules' suppression attributes (``match/suppression.py``), which
    needs every alert: ``on_alert`` then sees them at the end.
    JSON Lines files larger than ``range_bytes`` are split into ranges of at most that size. A
    path ``-`` is standard input (``stdin``, default ``sys.stdin.buffer``), gzipped or not.
    ``reorder_window`` (seconds of event time) is how far behind the newest record a stateful
    candidate may arrive and still be streamed (``scan_stream``; later ones are exact too, at
    the end, and counted in ``ScanResult.late``).
    The alerts are the same for any ``workers``, input order and with or without the
    pre-filter.
    """

    def load_baseline() -> Baseline | None:
        return Baseline.load_or_new(state) if state is not None else None

    groups: list[tuple[Alert, GroupValues | None]] | None = [] if suppress else None
    stats = ReadStats(on_rejection=on_rejection)
    pf = engine.prefilter() if prefilter else None
    done = 0
    alerts: list[Alert] = []
    stateful_alerts: list[Alert] = []
    result = ScanResult(alerts=alerts, read=stats, run=RunStats())
    seen = SeenKeys()
    line_offsets: dict[str, int] = {}
    total = 0

    def emit(alert: Alert) -> None:
        if groups is not None:
            return  # suppression: every alert is decided at the end
        result.alert_count += 1
        if keep_alerts:
            alerts.append(alert)
        if on_alert is not None:
            on_alert(alert)

    def emit_stateful(alert: Alert) -> None:
        if groups is not None:
            return
        result.alert_count += 1
        if keep_alerts:
            stateful_alerts.append(alert)
        if on_alert is not None:
            on_alert(alert)

    def take_rows(part: TaskResult, fresh: bytes) -> None:
        """A task's match rows read (duplicates dropped): alerts, counts, stateful input.

        The stateful candidates go to the stream one by one, until it is in batch mode: from
        then on (from the start, or from the row that made it switch) they are taken as the
        sorted runs the worker wrote, without the rows already given and the duplicates."""
        times, event_ids, payloads, sups = part.columns()
        if len(fresh) != len(times):
            raise RuntimeError(
                f"task {part.task.index}: {len(fresh)} digests for {len(times)} matches"
            )
        runs = part.runs
        cut = 0 if runs is not None and stream.batch else None  # rows from here: the runs
        if part.payloads_left_out and cut != 0:
            raise RuntimeError(f"task {part.task.index}: payloads left out of a streamed task")
        if not consumed and _NONE_SEEN not in fresh:  # the usual case: counts per task
            result.matched += len(times)
            result.alert_count += part.alerts
            if cut is None:
                for row, (ts, event_id, payload) in enumerate(
                    zip(times, event_ids, payloads, strict=True)
                ):
                    if payload is not None:
                        add_stateful(ts, event_id, payload)
                        if runs is not None and stream.batch:
                            cut = row + 1
                            break
        else:
            rows = zip(
                fresh,
                times,
                event_ids,
                part.found_lists(),
                payloads,
                sups if sups is not None else [None] * len(times),
                strict=True,
            )
            for row, (new, ts, event_id, found, payload, sup) in enumerate(rows):
                if not new:
                    result.duplicates += 1
                    continue
                result.matched += 1
                if found:
                    if consumed:
                        made = alerts_of(found, ts, event_id, alert_rules)
                        for alert in made:
                            emit(alert)
                        if sup is not None and groups is not None:
                            groups.extend(zip(made, sup, strict=True))
                    else:
                        result.alert_count += len(found)
                if payload is not None and cut is None:
                    add_stateful(ts, event_id, payload)
                    if runs is not None and stream.batch:
                        cut = row + 1
        if runs is None:
            return
        if cut is None:
            os.unlink(runs.path)  # streaming: taken from the rows
            return
        dropped = [
            row
            for row, (new, payload) in enumerate(zip(fresh, payloads, strict=True))
            if payload is not None and (row < cut or not new)
        ]
        stream.add_run(runs, dropped)

    # A bad state file stops the scan here, before any log is read.
    stream = StatefulStream(
        engine, emit_stateful, reorder_window, load_baseline, groups, engine._clock
    )
    tasks = plan_tasks(paths, stats, range_bytes, workers)
    total = sum(t.size for t in tasks)
    add_seen = seen.add_many
    add_stateful = stream.add
    # Alerts are built (from rule indexes) only when something takes them.
    consumed = keep_alerts or on_alert is not None or groups is not None
    alert_rules = engine.alert_rules
    one_part = state is not None or suppress
    with (
        tempfile.TemporaryDirectory(prefix="ses-sigma-scan-") as directory,
        Work(engine, tasks, pf, workers, stdin, suppress, directory, one_part) as work,
    ):
        flag = work.spec.flag
        for part in work.results():
            task = part.task
            offset = line_offsets.get(task.path, 0) if task.is_range else 0
            if task.is_range:
                line_offsets[task.path] = offset + part.lines
                part.stats.rejections = [
                    Rejection(_shift(r.origin, task.path, offset), r.message, r.kind)
                    for r in part.stats.rejections
                ]
            stats.merge(part.stats)
            fresh = add_seen(part.keys)  # per match: 1 new, 0 a copy of a record already matched
            # Batch mode: the task's candidates are taken as the sorted runs its worker wrote
            # (scan_runs), but for the rows dropped here as duplicates.
            if part.runs is not None and stream.batch and not consumed and _NONE_SEEN not in fresh:
                # The usual batch case: counts only, the rows are not read (scan_wire).
                result.matched += len(fresh)
                result.alert_count += part.alerts
                stream.add_run(part.runs, [])
                part.release()
            else:
                take_rows(part, fresh)
            flag.value = BATCH_FLAG if stream.batch else 0  # runs from the workers in batch mode
            done += task.size
            if on_progress is not None:
                on_progress(done, total)
        del seen
        run = RunStats(records=stats.records_read, candidates=stream.candidates)
        run.first_time = stats.first_time
        stream.use_workers(work.spec, work.run_parts)
        run.implausible.extend(stream.finish())
    result.late = stream.late
    if stream.late.withdrawn:
        result.alert_count -= len(stream.late.withdrawn)
        if keep_alerts:
            gone = Counter(stream.late.withdrawn)
            kept = []
            for alert in stateful_alerts:
                if gone[alert]:
                    gone[alert] -= 1
                else:
                    kept.append(alert)
            stateful_alerts = kept
    alerts.extend(stateful_alerts)
    baseline = stream.baseline
    if baseline is not None and not stream.candidates:
        engine.touch_baseline(baseline)
    if groups is not None:
        assert stream.groups is not None
        groups.extend(stream.groups)
        suppressed = engine.suppress(groups)
        groups = None
        for alert in suppressed:
            emit(alert)
    if baseline is not None and state is not None:
        baseline.save(state)
        result.state_warnings = list(baseline.warnings)
    engine.stats = run
    result.run = run
    result.skipped_rules = list(engine.skipped)
    alerts.sort(key=lambda a: a.sort_key)
    return result


def scan(
    paths: Iterable[str | Path],
    rules: Iterable[str | Path] | Pack = (DEFAULT_RULES_DIR,),
    on_rejection: Callable[[Rejection], None] | None = None,
    skip_unsupported: bool = False,
    filters: Iterable[str | Path] = (),
    **options: object,
) -> ScanResult:
    """Load the pack (rule paths and ``filters``, or an already loaded Pack), compile it and
    scan ``paths``.

    Raises ``PackLoadError`` (a rule file does not load) or ``RuleCompileError`` (a rule the
    matcher cannot evaluate faithfully) before reading any log; with ``skip_unsupported`` the
    latter are left out instead and listed in ``ScanResult.skipped_rules``. ``options`` are
    passed to ``scan_with_engine`` (workers, prefilter, on_alert, keep_alerts, on_progress,
    range_bytes, stdin: a path ``-`` is standard input; state, suppress, reorder_window).
    """
    pack = rules if isinstance(rules, Pack) else load_pack(rules, filters=filters)
    engine = Engine(pack, skip_unsupported=skip_unsupported)
    return scan_with_engine(engine, paths, on_rejection, **options)  # type: ignore[arg-type]
