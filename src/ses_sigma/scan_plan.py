"""A scan's work units (``plan_tasks``): the files, and byte ranges of large JSON Lines files,
a scan is split into, in read order. What a worker does with one is ``scan_tasks``.

Tasks are planned in event-time order where the file names say it (CloudTrail's
``<account>_CloudTrail_<region>_YYYYMMDDTHHMMZ_<id>.json.gz``: S3's layout walks region by
region, which would put every other region behind), and large JSON Lines files are cut into
equal ranges, as many as a multiple of the workers, so that workers end together; the last
round of ranges of the scan is cut in halves, so that workers that drifted apart (a busy
machine) end at most about half a range apart, not a whole one: on the 1 M-record bench
file, 16 tasks (12 of 61 MiB, 4 of 31 MiB) instead of 14, for no measurable CPU; the median
spread of the two workers' last task ends was 20 -> 9 ms in one set of 10 loaded 2-worker
scans, unchanged (21 -> 22 ms) in another: on a quiet machine the spread is mostly noise.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ses_sigma.logs import ReadStats, iter_log_files
from ses_sigma.logs.decode import is_lines
from ses_sigma.logs.streams import GZIP_MAGIC, open_log

__all__ = ["RANGE_BYTES", "STDIN", "STDIN_NAME", "TAIL_MIN_BYTES", "Task", "plan_tasks"]

#: The path that means standard input, and its name in messages.
STDIN = "-"
STDIN_NAME = "<stdin>"

#: Plain JSON Lines files larger than this are split into ranges of this size.
RANGE_BYTES = 64 << 20
#: The scan's last round of ranges is cut in halves when the halves are at least this large
#: (``plan_tasks``).
TAIL_MIN_BYTES = 8 << 20


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


#: ``_is_jsonl_file`` judges on the first two non-blank whole lines of this many bytes.
_HEAD_BYTES = 1 << 20
#: ... read this many first: they usually hold two lines (the whole head: 1.8 ms, measured).
_FIRST_BYTES = 1 << 16


def _first_lines(head: bytes) -> list[bytes]:
    """The first two non-blank whole lines (ended by a newline) of ``head``."""
    lines: list[bytes] = []
    for line in head.split(b"\n")[:-1]:
        if line.strip():
            lines.append(line)
            if len(lines) == 2:
                break
    return lines


def _is_jsonl_file(path: Path) -> bool:
    """True when a plain (not gzipped) file reads as JSON Lines, judged on the first two
    non-blank whole lines of its first ``_HEAD_BYTES`` (looked for in the first
    ``_FIRST_BYTES`` first: the same lines when two are there)."""
    try:
        with open_log(path) as fh:
            head = fh.read(_FIRST_BYTES)
            lines = _first_lines(head)
            if len(lines) < 2 and len(head) == _FIRST_BYTES:
                head += fh.read(_HEAD_BYTES - _FIRST_BYTES)
                lines = _first_lines(head)
    except OSError:
        return False
    if head.startswith(GZIP_MAGIC) or len(lines) < 2:
        return False
    return is_lines(lines, path.name.lower().endswith((".jsonl", ".ndjson")))


def plan_tasks(
    paths: Iterable[str | Path],
    stats: ReadStats,
    range_bytes: int = RANGE_BYTES,
    workers: int = 1,
    tail_min: int | None = None,
) -> list[Task]:
    """The tasks of a scan, in read order (problems with paths go to ``stats``); a path ``-``
    is standard input, read where it stands in the order. Files named by CloudTrail are read
    in the order of their timestamps (module docstring); ranges are balanced over
    ``workers``, the last round cut in halves of at least ``tail_min`` bytes (default
    ``TAIL_MIN_BYTES``; ``_halve_tail``)."""
    tasks: list[Task] = []
    pending: list[str | Path] = []
    for path in [*paths, None]:
        if path is not None and str(path) != STDIN:
            pending.append(path)
            continue
        _plan_files(pending, stats, range_bytes, workers, tasks)
        pending = []
        if path is not None:
            tasks.append(Task(len(tasks), STDIN, 0))
    return _halve_tail(tasks, workers, TAIL_MIN_BYTES if tail_min is None else tail_min)


def _halve_tail(tasks: list[Task], workers: int, tail_min: int) -> list[Task]:
    """``tasks`` with the last round (``workers`` ranges of one file, after at least one round
    of its ranges) cut in halves, when these are ``tail_min`` bytes or more: workers that
    drifted apart by up to a task end at most half a task apart (the exact run waits for the
    last one)."""
    if workers < 2 or len(tasks) < 2 * workers:
        return tasks
    path = tasks[-1].path
    if not all(t.is_range and t.path == path for t in tasks[-2 * workers :]):
        return tasks
    tail = tasks[-workers:]
    if min(t.size for t in tail) < 2 * tail_min:
        return tasks
    out = tasks[:-workers]
    for t in tail:
        assert t.end is not None
        mid = t.start + t.size // 2
        out.append(Task(len(out), path, mid - t.start, t.start, mid))
        out.append(Task(len(out), path, t.end - mid, mid, t.end))
    return out


#: CloudTrail's log file name: <account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<id>.json.gz
_CLOUDTRAIL_NAME = re.compile(r"_CloudTrail_[A-Za-z0-9-]+_(\d{8}T\d{4}Z)_")


def _time_order(path: Path) -> str:
    """The delivery timestamp in a CloudTrail file name ("" for other names)."""
    found = _CLOUDTRAIL_NAME.search(path.name)
    return found.group(1) if found else ""


def _plan_files(
    paths: list[str | Path], stats: ReadStats, range_bytes: int, workers: int, tasks: list[Task]
) -> None:
    # Stable: files without a CloudTrail timestamp keep their walk order, first.
    for path in sorted(iter_log_files(paths, stats), key=_time_order):
        try:
            size = os.stat(path).st_size
        except OSError:
            size = 0
        if size > range_bytes and _is_jsonl_file(path):
            count = math.ceil(size / range_bytes)
            if workers > 1:
                count = math.ceil(count / workers) * workers  # workers end together
            step = math.ceil(size / count)
            for start in range(0, size, step):
                end = min(start + step, size)
                tasks.append(Task(len(tasks), str(path), end - start, start, end))
        else:
            tasks.append(Task(len(tasks), str(path), size))
