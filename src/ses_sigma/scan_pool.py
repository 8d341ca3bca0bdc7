"""The scan's worker processes: a fork pool that reads and matches tasks, then makes the parts
of a batch-mode exact run before it closes (``Work``), and what each worker does.

The compiled engine, the pre-filter and the run spec reach the workers by fork (``_WORKER``,
set just before the pool starts): nothing is pickled but tasks and results. No pool is made
with one worker, one file, or threads a forked child could deadlock on (``other_threads``):
then every task runs in the calling process, with the same results.
"""

from __future__ import annotations

import mmap
import multiprocessing
import multiprocessing.pool  # imported with the scan, not while one starts its pool (~3 ms)
import multiprocessing.popen_fork
import multiprocessing.queues
import multiprocessing.synchronize
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO

from ses_sigma.match.engine import Engine
from ses_sigma.prefilter import Prefilter
from ses_sigma.scan_exact import PartResult, Source, part_alerts_from_files
from ses_sigma.scan_runs import RunSpec, plan_parts
from ses_sigma.scan_stream import PartRunner
from ses_sigma.scan_tasks import STDIN, Task, TaskResult, collector_paused, run_task
from ses_sigma.scan_wire import to_wire

__all__ = ["BATCH_FLAG", "SPLIT_RULES", "SharedFlag", "Work", "other_threads"]

#: ``RunSpec.flag`` once the parent is in batch mode (``scan``): runs wanted, as with 1, and
#: the payloads of a task that wrote them are left out of its result.
BATCH_FLAG = 2


#: Batch mode's exact run split by parts of the stateful rules over the workers (else one
#: worker runs it whole). On: on the 1 M-record bench file (2 workers), the last run's two
#: parts take 0.13-0.16 s instead of 0.19-0.22 s whole, for ~0.14 s more CPU (docs/DESIGN.md).
SPLIT_RULES = True

# Set in the parent before the worker pool forks, inherited by the workers.
_WORKER: tuple[Engine, Prefilter | None, bool, RunSpec | None] | None = None


def other_threads() -> bool:
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
    result = run_task(engine, task, pf, None, suppress, runs)
    if runs is None:
        return to_wire(result)
    # In batch mode for good (the flag never goes back), the parent takes the payloads from
    # the task's runs: they stay out of the wire (scan_wire.to_wire).
    batch = runs.flag is not None and runs.flag.value == BATCH_FLAG and result.runs is not None
    return to_wire(result, runs.directory, without_payloads=batch)


def _worker_part(job: tuple[tuple[str, ...], list[Source]]) -> PartResult:
    assert _WORKER is not None
    with collector_paused():  # no cycles; a collection would walk the inherited heap
        return part_alerts_from_files(_WORKER[0], *job)


class _Flag:
    """A flag for tasks run in this process (the pool's is a ``SharedFlag``)."""

    value = 0


class SharedFlag:
    """A byte shared with the processes forked after it is made (an anonymous shared
    mapping): ``value``, 0 to 255. Not ``multiprocessing``'s ``RawValue``, whose first use
    in a process imports ctypes and makes a shared heap (4 ms of a fresh process's scan,
    measured)."""

    def __init__(self, value: int):
        """A flag set to ``value``."""
        self._map = mmap.mmap(-1, 1, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
        self.value = value

    @property
    def value(self) -> int:
        """The flag."""
        return self._map[0]

    @value.setter
    def value(self, value: int) -> None:
        self._map[0] = value


class Work:
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
        self._size = 0 if workers <= 1 or len(files) <= 1 or other_threads() else workers
        self._size = min(self._size, len(files))
        self._pool: Any = None
        flag: Any = _Flag()
        if self._size:
            self._ctx = multiprocessing.get_context("fork")
            flag = SharedFlag(1)  # workers run ahead: runs until told otherwise (0, BATCH_FLAG)
        parts = plan_parts(engine, 1 if one_part or not SPLIT_RULES else max(1, self._size))
        self.spec = RunSpec(directory, parts, flag)

    def __enter__(self) -> Work:
        if self._size:
            global _WORKER
            _WORKER = (self._engine, self._pf, self._suppress, self.spec)
            self._pool = self._ctx.Pool(self._size)
        return self

    def __exit__(self, *exc: object) -> None:
        """The pool ended (its workers are waited for). After a scan that went well, the
        workers are told to exit first, and the files of ``spec.directory`` (the runs, the
        wire files: nothing reads them now; the directory itself is the caller's) are removed
        while they do: their exits and this overlap (~3 ms each on the bench file, measured
        under load)."""
        global _WORKER
        if self._pool is not None:
            if exc[0] is None:
                self._pool.close()
                with os.scandir(self.spec.directory) as entries:
                    for entry in entries:
                        if entry.is_file(follow_symlinks=False):
                            os.unlink(entry.path)
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
        """Runs exact-run parts on the workers (None without workers): the pool's last
        work, so it is closed then (its workers exit while this process ends the scan)."""
        pool = self._pool
        if pool is None:
            return None

        def run(jobs: list[tuple[tuple[str, ...], list[Source]]]) -> list[PartResult]:
            out = pool.map(_worker_part, jobs, chunksize=1)
            pool.close()
            return out

        return run
