"""Scan CloudTrail logs with a rule pack: paths + pack -> ScanResult (alerts and what was read).

The orchestration behind ``ses-sigma scan``, kept out of the CLI so tests and other commands
can call it. The input is split into tasks (files, and 64 MiB ranges of large JSON Lines files;
``scan_tasks``) run by ``workers`` processes, each reading its records (through the raw-bytes
pre-filter unless ``prefilter=False``) and matching them with the compiled engine. The parent
takes the results in task order, whatever the number of workers:

* each matched record is taken once per (eventID, eventTime): CloudTrail delivers at least
  once and exports overlap, so a copy met again is counted as a duplicate and dropped;
* single-event alerts go to ``on_alert`` as their task completes (streaming);
* matches that feed stateful rules are spilled in sorted runs (``scan_spill``, bounded
  memory) and, once every record is read, merged in (eventTime, eventID) order into the
  correlation and first-seen engines. Their alerts come at the end: input order is arbitrary
  (files and records out of time order), so no window is final before the last record is read,
  and first-seen learning starts at the earliest eventTime of the whole input.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ses_sigma.alerts import Alert
from ses_sigma.logs import ReadStats, Rejection
from ses_sigma.match.baseline import Baseline
from ses_sigma.match.engine import Engine, RunStats
from ses_sigma.match.suppression import GroupValues
from ses_sigma.pack import DEFAULT_RULES_DIR, Pack, load_pack
from ses_sigma.prefilter import Prefilter
from ses_sigma.scan_spill import CandidateSpill
from ses_sigma.scan_tasks import (
    RANGE_BYTES,
    STDIN,
    Task,
    TaskResult,
    plan_tasks,
    run_task,
)

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


# Set in the parent before the worker pool forks, inherited by the workers.
_WORKER: tuple[Engine, Prefilter | None, bool] | None = None


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
    engine, pf, suppress = _WORKER
    return run_task(engine, task, pf, None, suppress)


def _results(
    engine: Engine,
    tasks: list[Task],
    pf: Prefilter | None,
    workers: int,
    stdin: BinaryIO | None,
    suppress: bool,
) -> Iterator[TaskResult]:
    """Task results in task order, computed by ``workers`` processes (standard input is
    always read by this process, where it stands in the order)."""
    files = [t for t in tasks if t.path != STDIN]
    # Forking a process that runs other threads can deadlock the child on a lock one of them
    # held (seen under pytest-xdist, with a JVM started in-process by JPype for the Lucene
    # proofs: its native threads are not Python threads): then the tasks run here, one by one.
    if workers <= 1 or len(files) <= 1 or _other_threads():
        for task in tasks:
            yield run_task(engine, task, pf, stdin, suppress)
        return
    global _WORKER
    _WORKER = (engine, pf, suppress)
    ctx = multiprocessing.get_context("fork")
    try:
        with ctx.Pool(min(workers, len(files))) as pool:
            done = pool.imap(_worker_task, files, chunksize=1)
            for task in tasks:
                if task.path == STDIN:
                    yield run_task(engine, task, pf, stdin, suppress)
                else:
                    yield next(done)
    finally:
        _WORKER = None


def _record_key(event_id: str, ts: float) -> int:
    """A 64-bit digest of (eventID, eventTime): the set of matched records stays small (about
    60 bytes a record). Two different records share one with odds of about n²/2⁶⁵ (1e-9 for
    200,000 matched records)."""
    key = f"{ts!r}\0{event_id}".encode("utf-8", "surrogatepass")  # lone surrogates too
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "little")


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
    JSON Lines files larger than ``range_bytes`` are split into ranges of that size. A path
    ``-`` is standard input (``stdin``, default ``sys.stdin.buffer``), gzipped or not.
    The alerts are the same for any ``workers`` and with or without the pre-filter.
    """
    baseline = Baseline.load_or_new(state) if state is not None else None
    groups: list[tuple[Alert, GroupValues | None]] | None = [] if suppress else None
    stats = ReadStats(on_rejection=on_rejection)
    tasks = plan_tasks(paths, stats, range_bytes)
    pf = engine.prefilter() if prefilter else None
    total = sum(t.size for t in tasks)
    done = 0
    alerts: list[Alert] = []
    result = ScanResult(alerts=alerts, read=stats, run=RunStats())
    seen: set[int] = set()
    spill = CandidateSpill(run_size=5000)
    line_offsets: dict[str, int] = {}

    def emit(alert: Alert) -> None:
        if groups is not None:
            return  # suppression: every alert is decided at the end
        result.alert_count += 1
        if keep_alerts:
            alerts.append(alert)
        if on_alert is not None:
            on_alert(alert)

    for part in _results(engine, tasks, pf, workers, stdin, suppress):
        task = part.task
        offset = line_offsets.get(task.path, 0) if task.is_range else 0
        if task.is_range:
            line_offsets[task.path] = offset + part.lines
            part.stats.rejections = [
                Rejection(_shift(r.origin, task.path, offset), r.message, r.kind)
                for r in part.stats.rejections
            ]
        stats.merge(part.stats)
        for match in part.matches:
            counted = not match.alerts
            if match.alerts:
                # Records with alerts are deduplicated here, before their alerts stream out;
                # records feeding only stateful rules, in the sorted merge (no set to keep).
                key = _record_key(match.event_id, match.time)
                if key in seen:
                    result.duplicates += 1
                    continue
                seen.add(key)
                result.matched += 1
                for alert in match.alerts:
                    emit(alert)
                if groups is not None:
                    groups.extend(match.groups)
            for rule in match.stateful:
                assert match.data is not None
                spill.add(match.time, match.event_id, rule, match.data, counted)
        done += task.size
        if on_progress is not None:
            on_progress(done, total)
    del seen
    run = RunStats(records=stats.records_read, candidates=spill.count)
    run.first_time = stats.first_time
    if spill.count:
        for alert in engine.run_stateful(spill.sorted(), run, baseline, groups):
            emit(alert)
        result.matched += spill.matched
        result.duplicates += spill.duplicates
    elif baseline is not None:
        engine.touch_baseline(baseline)
    if groups is not None:
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
    range_bytes, stdin: a path ``-`` is standard input; state, suppress).
    """
    pack = rules if isinstance(rules, Pack) else load_pack(rules, filters=filters)
    engine = Engine(pack, skip_unsupported=skip_unsupported)
    return scan_with_engine(engine, paths, on_rejection, **options)  # type: ignore[arg-type]
