"""What one worker does with a unit of a scan's work (a file, or a byte range of one: ``Task``,
planned by ``scan_plan``).

A task reads its records (pre-filtered or not), matches them with the compiled engine and
returns its matched records column by column (``TaskResult``): a digest of each one's
(eventID, eventTime) in one ``array('Q')`` (``rowkeys.record_key``; the parent adds a task's digests
to its set of seen records in one call, ``rowkeys.KeySet.add_many``), eventTimes, eventIDs,
single-event alerts as indexes into ``Engine.alert_rules`` (``Engine.match_rules``: an alert
of a single-event rule is the rule's part and the record's time and eventID, so no Alert is
built where the record is matched), what each brings to the stateful rules
(``Engine.project``: value tuples, never the record) and, when suppressing, the alerts'
suppression groups. The parent (``scan``) merges the results in task order, so the outcome
does not depend on the number of workers, and builds Alerts only when something consumes
them (``scan_wire.alerts_of``). A worker process sends the columns as two ``marshal`` blobs
(``scan_wire.to_wire``): the alerts' rule indexes apart, as a parent that only counts alerts never
reads them (a list per record: most of the cost of reading the rows back, measured).
In-process nothing is encoded.
"""

from __future__ import annotations

import dataclasses
import gc
import marshal
import operator
import os
import sys
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ses_sigma.alerts import Alert
from ses_sigma.logs import RECORD, ReadStats, read_file, read_range, read_stream
from ses_sigma.match.engine import Engine
from ses_sigma.match.projection import pack
from ses_sigma.match.stateful import PackedPayload, Payload
from ses_sigma.prefilter import Prefilter
from ses_sigma.records import Record
from ses_sigma.rowkeys import DIGEST_KEY, RECORD_DIGEST
from ses_sigma.scan_gc import in_scan_gc
from ses_sigma.scan_plan import RANGE_BYTES, STDIN, STDIN_NAME, Task, plan_tasks
from ses_sigma.scan_runs import RunCollector, RunSpec, TaskRuns

__all__ = [
    "ALERT_FIELDS",
    "LEFT_OUT",
    "RANGE_BYTES",
    "STDIN",
    "Match",
    "Task",
    "TaskResult",
    "alert_tuple",
    "collector_paused",
    "pack_payload",
    "plan_tasks",
    "run_task",
    "unpack_payload",
]

#: A matched record (``TaskResult.rows``): eventTime, eventID, its single-event alerts
#: (indexes into ``Engine.alert_rules``: ``scan_wire.alerts_of`` makes the Alerts), its
#: packed stateful payload (None when it feeds no stateful rule) and, when suppressing, the
#: suppression group of each alert (else None).
Match = tuple[float, str, list[int], PackedPayload | None, list[Any] | None]

#: An Alert's fields, in order.
ALERT_FIELDS = tuple(f.name for f in dataclasses.fields(Alert))
#: An Alert's fields as a plain tuple (``Alert(*fields)`` makes it again).
alert_tuple = operator.attrgetter(*ALERT_FIELDS)


_LOADS = marshal.loads


def pack_payload(payload: Payload) -> PackedPayload:
    """``payload`` as marshal bytes, made where the record is matched, while its objects are
    in the CPU's cache: the reorder buffer, the disk spill, the sort and the wire to the parent
    then move one bytes object, not a tree of tuples, and the stateful engines get the tree
    back (``unpack_payload``) when they take it. On the 1 M-record bench file, writing the
    sorted spill runs cost 1.7 µs a payload as trees (their objects scattered in memory by the
    sort), 0.6 µs as made here. A payload marshal cannot write stays as it is. The scan gets
    these bytes from ``Engine.project_packed`` (``match.projection.compile_packed``: the same
    bytes, mostly from a template per rule set)."""
    return pack(payload)


def unpack_payload(packed: PackedPayload) -> Payload:
    """The payload ``pack_payload`` packed."""
    return _LOADS(packed) if type(packed) is bytes else packed  # type: ignore[return-value]


class _LeftOut:
    """What ``TaskResult.columns`` gives for a payload left out of the wire: not a payload."""

    def __repr__(self) -> str:
        return "LEFT_OUT"


#: A payload left out of a task's wire (``TaskResult.payloads_left_out``).
LEFT_OUT: Any = _LeftOut()

#: The columns of ``TaskResult.columns``: eventTimes, eventIDs, packed stateful payloads and
#: suppression groups (None when not suppressing).
Columns = tuple[list[float], list[str], list[PackedPayload | None], list[list[Any]] | None]


@dataclass
class TaskResult:
    """What one task found: read statistics, lines read and its matched records in read
    order, column by column (row i is item i of each; ``rows`` pairs them up)."""

    task: Task
    stats: ReadStats = field(default_factory=ReadStats)
    lines: int = 0
    #: ``record_key`` of each match (native uint64).
    keys: array[int] = field(default_factory=lambda: array("Q"))
    times: list[float] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    #: Each match's single-event alerts: indexes into ``Engine.alert_rules``.
    found: list[list[int]] = field(default_factory=list)
    payloads: list[PackedPayload | None] = field(default_factory=list)
    #: When suppressing, each match's suppression group per alert (else None).
    groups: list[list[Any]] | None = None
    #: Single-event alerts in ``found`` (a parent that does not keep them counts them so).
    alerts: int = 0
    #: Set by ``to_wire`` (then the columns but ``keys`` are empty): the marshal'ed
    #: (times, event_ids, payloads, groups), and ``found``.
    wire: bytes | None = None
    found_wire: bytes | None = None
    #: Set by ``to_wire`` for a large result: the two blobs are in this file instead (path,
    #: size of ``wire``), read when first asked for (``columns``), removed then or by
    #: ``release``.
    wire_file: tuple[str, int] | None = None
    #: Set by ``to_wire`` when the payloads were left out (they are in ``runs``): the wire
    #: holds which rows have one, and ``columns`` gives ``LEFT_OUT`` for them.
    payloads_left_out: bool = False
    #: The task's stateful candidates as sorted runs on disk (batch mode, ``scan_runs``), or
    #: None; the columns hold them too.
    runs: TaskRuns | None = None

    def columns(self) -> Columns:
        """(times, event_ids, payloads, groups), decoded if ``to_wire`` encoded them."""
        if self.wire_file is not None:
            self._load()
        if self.wire is not None:
            times, event_ids, payloads, groups = marshal.loads(self.wire)
            if self.payloads_left_out:  # which rows have one, as bytes
                payloads = [LEFT_OUT if has else None for has in payloads]
            return times, event_ids, payloads, groups
        return self.times, self.event_ids, self.payloads, self.groups

    def found_lists(self) -> list[list[int]]:
        """``found``, decoded if ``to_wire`` encoded it."""
        if self.wire_file is not None:
            self._load()
        if self.found_wire is not None:
            return marshal.loads(self.found_wire)  # type: ignore[no-any-return]
        return self.found

    def _load(self) -> None:
        """The blobs of ``wire_file`` read back (the file then removed)."""
        assert self.wire_file is not None
        path, size = self.wire_file
        with open(path, "rb") as fh:
            data = fh.read()
        self.wire, self.found_wire = data[:size], data[size:]
        self.wire_file = None
        os.unlink(path)

    def release(self) -> None:
        """Remove ``wire_file`` if it was not read (its rows not needed)."""
        if self.wire_file is not None:
            os.unlink(self.wire_file[0])
            self.wire_file = None

    def rows(self) -> list[Match]:
        """The matches as rows (``Match``)."""
        times, event_ids, payloads, groups = self.columns()
        sups = groups if groups is not None else [None] * len(times)
        return list(zip(times, event_ids, self.found_lists(), payloads, sups, strict=True))


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
    runs: RunSpec | None = None,
) -> TaskResult:
    """Read and match one task (in a worker process, or in the parent with one worker;
    standard input, ``stdin`` or ``sys.stdin.buffer``, always in the parent). With ``runs``
    (when it says so: ``RunSpec.wanted``), the task's stateful candidates are also written
    sorted to a run file (``TaskResult.runs``, ``scan_runs``).

    The cyclic garbage collector is paused while a byte range is read (bounded by the range
    size; as it was after): the read and match path makes no reference cycle, and the
    matches a task keeps (tuples, lists, Alerts) otherwise set off collections that walk
    them, and the whole heap, again and again (0.08 s of the 0.74 s CPU of a 1-worker scan
    of the 1 M bench file, measured with gc.callbacks). Other tasks (whole files, standard
    input: not bounded) run with the collector as it is."""
    collector = RunCollector(runs) if runs is not None and runs.wanted() else None
    if not task.is_range:
        return _run_task(engine, task, pf, stdin, suppress, collector)
    with collector_paused():
        return _run_task(engine, task, pf, stdin, suppress, collector)


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the block (if it was on), on again after.

    What the block made and kept goes straight to the oldest generation (``gc.freeze`` then
    ``gc.unfreeze``: two list splices), where the next full collection looks at it as at
    any old object, instead of being walked by the young collection that re-enabling would
    set off at once (0.03-0.04 s of a 1-worker scan of the 1 M bench file, measured). Not
    done when objects are frozen, by ``scan_gc`` (asked first: cheap) or by anything else
    (``gc.get_freeze_count()``, which walks them): they stay frozen."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if not in_scan_gc() and gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        gc.enable()


def _run_task(
    engine: Engine,
    task: Task,
    pf: Prefilter | None,
    stdin: BinaryIO | None,
    suppress: bool,
    collector: RunCollector | None = None,
) -> TaskResult:
    result = TaskResult(task)
    stats = result.stats
    if task.is_range and task.start == 0:
        stats.files += 1  # a split file is counted once, by its first range
    records = _records(task, stats, pf, stdin)
    add_key = result.keys.append
    add_time = result.times.append
    add_id = result.event_ids.append
    add_found = result.found.append
    add_payload = result.payloads.append
    if suppress:
        result.groups = []
        add_groups = result.groups.append
    digest = RECORD_DIGEST
    secret = DIGEST_KEY
    alert_count = 0
    # Line numbers of a range are relative to it (the parent shifts rejections only): origins
    # of ranges stay out of the payloads, whose warnings then name the eventID.
    origins = not task.is_range
    match_rules = engine.match_rules
    project = engine.project_packed
    collect = collector.add if collector is not None else None
    collect_names = collector.names if collector is not None else None
    times = result.times
    while True:
        try:
            rec = next(records)
        except StopIteration as stop:
            result.lines = stop.value or 0
            break
        found: list[int] = []
        sup: list[Any] | None = [] if suppress else None
        try:
            stateful = match_rules(rec, found, sup)
        except RecursionError:
            stats.records -= 1
            stats.reject(rec.origin, "nested too deeply for the matcher: not matched", RECORD)
            continue
        if found or stateful:
            payload = project(rec, stateful, suppress, origins) if stateful else None
            ts = rec.time
            event_id = rec.event_id
            if collect is not None and payload is not None:
                collect((ts, event_id, len(times), payload))  # row: its index in the columns
                if collect_names is not None:
                    collect_names(stateful)
            add_key(digest(event_id, ts, secret))  # rowkeys.record_key
            add_time(ts)
            add_id(event_id)
            add_found(found)
            add_payload(payload)
            if sup is not None:
                add_groups(sup)
            alert_count += len(found)
    result.alerts = alert_count
    if collector is not None:
        result.runs = collector.write(task.index)
    return result
