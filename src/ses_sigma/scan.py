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

import multiprocessing
import os
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ses_sigma.alerts import Alert
from ses_sigma.logs import ReadStats, Rejection
from ses_sigma.match.baseline import Baseline
from ses_sigma.match.engine import Engine, RunStats
from ses_sigma.match.suppression import GroupValues
from ses_sigma.pack import DEFAULT_RULES_DIR, Pack, load_pack
from ses_sigma.prefilter import Prefilter
from ses_sigma.scan_exact import PartResult, Source, part_alerts_from_files
from ses_sigma.scan_gc import scan_gc
from ses_sigma.scan_runs import RunSpec, plan_parts
from ses_sigma.scan_stream import (
    DEFAULT_REORDER_WINDOW,
    LateReport,
    PartRunner,
    SeenKeys,
    StatefulStream,
)
from ses_sigma.scan_tasks import (
    RANGE_BYTES,
    STDIN,
    Task,
    TaskResult,
    collector_paused,
    plan_tasks,
    run_task,
)
from ses_sigma.scan_wire import alerts_of, to_wire

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


#: Batch mode's exact run split by parts of the stateful rules over the workers (else one
#: worker runs it whole). On: on the 1 M-record bench file (2 workers), the last run's two
#: parts take 0.13-0.16 s instead of 0.19-0.22 s whole, for ~0.14 s more CPU (docs/DESIGN.md).
SPLIT_RULES = True

# Set in the parent before the worker pool forks, inherited by the workers.
_WORKER: tuple[Engine, Prefilter | None, bool, RunSpec | None] | None = None


def _other_threads() -> bool:
    """True when this process runs threads a forked child could deadlock on: Python threads
    besides this one, or a JVM started in-process by JPype (its threads are native, which
    ``threading`` does not see). pytest-xdist's own I/O thread is native too and harmless."""
    if threading.active_count() > 1:
        return True
    jpype = sys.modules.get("jpype")
    return bool(jpype is not None and jpype.isJVMStarted())


def _worker_task(task: Task) -> TaskResult:
    assert _WORKER is not None
    engine, pf, suppress, runs = _WORKER
    return to_wire(run_task(engine, task, pf, None, suppress, runs))


def _worker_part(job: tuple[tuple[str, ...], list[Source]]) -> PartResult:
    assert _WORKER is not None
    with collector_paused():  # no cycles; a collection would walk the inherited heap
        return part_alerts_from_files(_WORKER[0], *job)


class _Flag:
    """A flag for tasks run in this process (the pool's is a shared byte)."""

    value = 0


class _Work:
    """The scan's worker processes (none with one worker): task results in task order
    (``results``), then, before they end, the parts of a batch-mode exact run (``run_parts``).
    ``spec`` says where the workers write their tasks' sorted runs, in how many parts."""

    def __init__(
        self,
        engine: Engine,
        tasks: list[Task],
        pf: Prefilter | None,
        workers: int,
        stdin: BinaryIO | None,
        suppress: bool,
        directory: str,
        one_part: bool,
    ):
        """``one_part``: the exact run must stay in one runner (a baseline, suppression)."""
        self._engine = engine
        self._tasks = tasks
        self._pf = pf
        self._stdin = stdin
        self._suppress = suppress
        files = [t for t in tasks if t.path != STDIN]
        # Forking a process that runs other threads can deadlock the child on a lock one of
        # them held (seen under pytest-xdist, with a JVM started in-process by JPype for the
        # Lucene proofs: its native threads are not Python threads): then the tasks run here.
        self._size = 0 if workers <= 1 or len(files) <= 1 or _other_threads() else workers
        self._size = min(self._size, len(files))
        self._pool: Any = None
        flag: Any = _Flag()
        if self._size:
            self._ctx = multiprocessing.get_context("fork")
            flag = self._ctx.RawValue("b", 1)  # workers run ahead: runs until told otherwise
        parts = plan_parts(engine, 1 if one_part or not SPLIT_RULES else max(1, self._size))
        self.spec = RunSpec(directory, parts, flag)

    def __enter__(self) -> _Work:
        if self._size:
            global _WORKER
            _WORKER = (self._engine, self._pf, self._suppress, self.spec)
            self._pool = self._ctx.Pool(self._size)
        return self

    def __exit__(self, *exc: object) -> None:
        global _WORKER
        if self._pool is not None:
            self._pool.__exit__(*exc)
            self._pool = None
        _WORKER = None

    def results(self) -> Iterator[TaskResult]:
        """Task results in task order (standard input always read by this process, where it
        stands in the order); a worker's result holds its matches in wire form
        (``scan_wire.to_wire``)."""
        engine, pf, stdin, suppress, spec = (
            self._engine,
            self._pf,
            self._stdin,
            self._suppress,
            self.spec,
        )
        if self._pool is None:
            for task in self._tasks:
                yield run_task(engine, task, pf, stdin, suppress, spec)
            return
        files = [t for t in self._tasks if t.path != STDIN]
        done = self._pool.imap(_worker_task, files, chunksize=1)
        for task in self._tasks:
            if task.path == STDIN:
                yield run_task(engine, task, pf, stdin, suppress, spec)
            else:
                yield next(done)  # in wire form (to_wire): alerts rebuilt where used

    @property
    def run_parts(self) -> PartRunner | None:
        """Runs exact-run parts on the workers (None without workers)."""
        pool = self._pool
        if pool is None:
            return None
        return lambda jobs: pool.map(_worker_part, jobs, chunksize=1)


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
        _Work(engine, tasks, pf, workers, stdin, suppress, directory, one_part) as work,
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
            times, event_ids, payloads, sups = part.columns()
            fresh = add_seen(part.keys)  # per match: 1 new, 0 a copy of a record already matched
            if len(fresh) != len(times):
                raise RuntimeError(
                    f"task {task.index}: {len(fresh)} digests for {len(times)} matches"
                )
            # Batch mode: the task's candidates are taken as the sorted runs its worker wrote
            # (scan_runs), but for the rows dropped here as duplicates.
            runs = part.runs if stream.batch else None
            if part.runs is not None and runs is None:
                os.unlink(part.runs.path)  # streaming: taken from the rows
            if runs is not None:
                dropped = []
                if _NONE_SEEN in fresh:
                    dropped = [
                        row
                        for row, (new, payload) in enumerate(zip(fresh, payloads, strict=True))
                        if not new and payload is not None
                    ]
                stream.add_run(runs, dropped)
            if not consumed and _NONE_SEEN not in fresh:  # the usual case: counts per task
                result.matched += len(times)
                result.alert_count += part.alerts
                if runs is None:
                    for ts, event_id, payload in zip(times, event_ids, payloads, strict=True):
                        if payload is not None:
                            add_stateful(ts, event_id, payload)
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
                for new, ts, event_id, found, payload, sup in rows:
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
                    if payload is not None and runs is None:
                        add_stateful(ts, event_id, payload)
            flag.value = stream.batch  # runs from the workers while in batch mode
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
