"""Scan work units: the files (and byte ranges of large JSON Lines files) a scan is split into,
and what one worker does with one of them.

A task reads its records (pre-filtered or not), matches them with the compiled engine and
returns, per matched record, its single-event alerts and the stateful rules it feeds; the
parent (``scan``) merges the results in task order, so the outcome does not depend on the
number of workers.
"""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ses_sigma.alerts import Alert
from ses_sigma.logs import RECORD, ReadStats, iter_log_files, read_file, read_range, read_stream
from ses_sigma.logs.decode import is_lines
from ses_sigma.logs.streams import GZIP_MAGIC, open_log
from ses_sigma.match.engine import Engine
from ses_sigma.prefilter import Prefilter
from ses_sigma.records import Record

__all__ = ["RANGE_BYTES", "STDIN", "Match", "Task", "TaskResult", "plan_tasks", "run_task"]

#: The path that means standard input, and its name in messages.
STDIN = "-"
STDIN_NAME = "<stdin>"

#: Plain JSON Lines files larger than this are split into ranges of this size.
RANGE_BYTES = 64 << 20


@dataclass(frozen=True, slots=True)
class Task:
    """One unit of work: a whole file, or the lines starting in ``[start, end)`` of one."""

    index: int
    path: str
    size: int
    start: int = 0
    end: int | None = None  # None: the whole file, any shape

    @property
    def is_range(self) -> bool:
        """True for a byte range of a JSON Lines file (line numbers counted from it)."""
        return self.end is not None


@dataclass(slots=True)
class Match:
    """A matched record: its single-event alerts and the stateful rules it feeds (with the
    record's JSON for them)."""

    event_id: str
    time: float
    alerts: list[Alert]
    stateful: list[str]
    data: bytes | None = None
    #: The alerts with their suppression groups (only when suppressing).
    groups: list[tuple[Alert, Any]] = field(default_factory=list)


@dataclass
class TaskResult:
    """What one task found: matched records in read order, read statistics, lines read."""

    task: Task
    matches: list[Match] = field(default_factory=list)
    stats: ReadStats = field(default_factory=ReadStats)
    lines: int = 0


def _is_jsonl_file(path: Path) -> bool:
    """True when a plain (not gzipped) file reads as JSON Lines, judged on its first lines."""
    try:
        with open_log(path) as fh:
            head = fh.read(1 << 20)
    except OSError:
        return False
    if head.startswith(GZIP_MAGIC):
        return False
    lines = [line for line in head.split(b"\n")[:-1] if line.strip()][:2]
    if len(lines) < 2:
        return False
    return is_lines(lines, path.name.lower().endswith((".jsonl", ".ndjson")))


def plan_tasks(
    paths: Iterable[str | Path], stats: ReadStats, range_bytes: int = RANGE_BYTES
) -> list[Task]:
    """The tasks of a scan, in read order (problems with paths go to ``stats``); a path ``-``
    is standard input, read where it stands in the order."""
    tasks: list[Task] = []
    pending: list[str | Path] = []
    for path in [*paths, None]:
        if path is not None and str(path) != STDIN:
            pending.append(path)
            continue
        _plan_files(pending, stats, range_bytes, tasks)
        pending = []
        if path is not None:
            tasks.append(Task(len(tasks), STDIN, 0))
    return tasks


def _plan_files(
    paths: list[str | Path], stats: ReadStats, range_bytes: int, tasks: list[Task]
) -> None:
    for path in iter_log_files(paths, stats):
        try:
            size = os.stat(path).st_size
        except OSError:
            size = 0
        if size > range_bytes and _is_jsonl_file(path):
            for start in range(0, size, range_bytes):
                end = min(start + range_bytes, size)
                tasks.append(Task(len(tasks), str(path), end - start, start, end))
        else:
            tasks.append(Task(len(tasks), str(path), size))


def _records(
    task: Task, stats: ReadStats, pf: Prefilter | None, stdin: BinaryIO | None
) -> Iterator[Record]:
    if task.path == STDIN:
        return read_stream(stdin if stdin is not None else sys.stdin.buffer, STDIN_NAME, stats, pf)
    if task.end is None:
        return read_file(task.path, stats, pf)
    return read_range(task.path, task.start, task.end, stats, pf)


def run_task(
    engine: Engine,
    task: Task,
    pf: Prefilter | None,
    stdin: BinaryIO | None = None,
    suppress: bool = False,
) -> TaskResult:
    """Read and match one task (in a worker process, or in the parent with one worker;
    standard input, ``stdin`` or ``sys.stdin.buffer``, always in the parent)."""
    result = TaskResult(task)
    stats = result.stats
    if task.is_range and task.start == 0:
        stats.files += 1  # a split file is counted once, by its first range
    records = _records(task, stats, pf, stdin)
    matches = result.matches
    while True:
        try:
            rec = next(records)
        except StopIteration as stop:
            result.lines = stop.value or 0
            break
        alerts: list[Alert] = []
        groups: list[tuple[Alert, Any]] | None = [] if suppress else None
        try:
            stateful = engine.match_record(rec, alerts, groups)
        except RecursionError:
            stats.records -= 1
            stats.reject(rec.origin, "nested too deeply for the matcher: not matched", RECORD)
            continue
        if alerts or stateful:
            data = pickle.dumps(rec.data, pickle.HIGHEST_PROTOCOL) if stateful else None
            matches.append(Match(rec.event_id, rec.time, alerts, stateful, data, groups or []))
    return result
