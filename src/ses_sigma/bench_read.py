"""Benchmark of the scan's read floor: pre-filter and candidate decode, no matching.

``python -m ses_sigma.bench_read PATH... [--repeat N]``: the paths are cut into the tasks of a
one-worker scan (``scan_tasks.plan_tasks``: byte ranges of large JSON Lines files, whole files
otherwise) and each task is read as a worker reads it, with the pack's pre-filter (ranges
through the memory mapping, ``logs.read_range``; whole files, gzip included, through
``logs.read_file``); the records are counted, not matched. Prints the candidate records, the
records read and the CPU time of the best of ``--repeat`` runs (user and system), as measured
on the machine it runs on. Before timing, every range is also read through the buffered path
(``mapped=False``, the reference the mapping is tested against) and the two must give the same
records (origin, eventID, time) and statistics, or the benchmark stops. A benchmark, not a
test: nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
from collections.abc import Iterator
from pathlib import Path

from ses_sigma.logs import read_file, read_range
from ses_sigma.logs.stats import ReadStats
from ses_sigma.match.engine import Engine
from ses_sigma.pack import load_pack
from ses_sigma.prefilter import Prefilter
from ses_sigma.records import Record
from ses_sigma.scan_tasks import Task, plan_tasks

__all__ = ["main", "read_tasks"]


def _records(task: Task, stats: ReadStats, pf: Prefilter, mapped: bool = True) -> Iterator[Record]:
    if task.end is None:
        return read_file(task.path, stats, pf)
    return read_range(task.path, task.start, task.end, stats, pf, mapped=mapped)


def read_tasks(tasks: list[Task], pf: Prefilter) -> tuple[int, ReadStats]:
    """Read every task as a one-worker scan does, without matching: (candidate records,
    statistics)."""
    stats = ReadStats()
    count = 0
    for task in tasks:
        for _ in _records(task, stats, pf):
            count += 1
    return count, stats


def _check_ranges(tasks: list[Task], pf: Prefilter) -> None:
    """The mapped ranges read as the buffered reference reads them, or SystemExit."""
    for task in tasks:
        if task.end is None:
            continue
        got, want = ReadStats(), ReadStats()
        fast = [(r.origin, r.event_id, r.time) for r in _records(task, got, pf)]
        ref = [(r.origin, r.event_id, r.time) for r in _records(task, want, pf, mapped=False)]
        same_stats = (got.records, got.prefiltered, got.first_time, got.rejections) == (
            want.records,
            want.prefiltered,
            want.first_time,
            want.rejections,
        )
        if fast != ref or not same_stats:
            raise SystemExit(f"{task.path} [{task.start}, {task.end}): mapped != buffered read")


def _cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m ses_sigma.bench_read")
    parser.add_argument("paths", type=Path, nargs="+", help="CloudTrail log files or folders")
    parser.add_argument("--repeat", type=int, default=5, help="runs; the best is printed")
    args = parser.parse_args(argv)
    pf = Engine(load_pack()).prefilter()
    if pf is None:
        raise SystemExit("the pack has no pre-filter: nothing to measure")
    planned = ReadStats()
    tasks = plan_tasks(args.paths, planned)
    _check_ranges(tasks, pf)
    best: tuple[float, float] | None = None
    gc.disable()  # as run_task does while it reads a range
    try:
        for _ in range(max(1, args.repeat)):
            user, system = _cpu()
            count, stats = read_tasks(tasks, pf)
            after = _cpu()
            run = (after[0] - user, after[1] - system)
            if best is None or sum(run) < sum(best):
                best = run
    finally:
        gc.enable()
    assert best is not None
    print(
        f"{', '.join(map(str, args.paths))}: {len(tasks)} task(s), {stats.records} records, "
        f"{count} candidates decoded, {stats.rejected} problem(s); best CPU "
        f"{sum(best):.3f} s (user {best[0]:.3f}, system {best[1]:.3f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
