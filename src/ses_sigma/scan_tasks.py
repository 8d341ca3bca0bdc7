"""Scan work units: the files (and byte ranges of large JSON Lines files) a scan is split into,
and what one worker does with one of them.

A task reads its records (pre-filtered or not), matches them with the compiled engine and
returns, per matched record, a small tuple (``Match``): a digest of its (eventID, eventTime),
its single-event alerts and what it brings to the stateful rules (``Engine.project``: value
tuples, never the record). The parent (``scan``) merges the results in task order, so the
outcome does not depend on the number of workers. A worker process sends its matches as one
``marshal`` blob (``to_wire``): a single-event alert made from its record alone (the rule's
id, name, title and level, the record's time and eventID) travels as the index of its rule in a
small table, any other alert as a plain tuple; the parent unmarshals the blob (several times
faster than unpickling the same rows, and the rows are smaller) and rebuilds Alerts only when
something consumes them (``alerts_of``). In-process nothing is encoded.

Tasks are planned in event-time order where the file names say it (CloudTrail's
``<account>_CloudTrail_<region>_YYYYMMDDTHHMMZ_<id>.json.gz``: S3's layout walks region by
region, which would put every other region behind), and large JSON Lines files are cut into
equal ranges, as many as a multiple of the workers, so that workers end together.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import marshal
import math
import operator
import os
import re
import struct
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ses_sigma.alerts import Alert
from ses_sigma.logs import RECORD, ReadStats, iter_log_files, read_file, read_range, read_stream
from ses_sigma.logs.decode import is_lines
from ses_sigma.logs.streams import GZIP_MAGIC, open_log
from ses_sigma.match.engine import Engine
from ses_sigma.match.stateful import Payload
from ses_sigma.prefilter import Prefilter
from ses_sigma.records import Record
from ses_sigma.scan_gc import in_scan_gc
from ses_sigma.scan_runs import RunCollector, RunSpec, TaskRuns

__all__ = [
    "RANGE_BYTES",
    "STDIN",
    "Match",
    "Task",
    "TaskResult",
    "alert_tuple",
    "alerts_of",
    "collector_paused",
    "from_wire",
    "pack_payload",
    "plan_tasks",
    "record_key",
    "run_task",
    "to_wire",
    "unpack_payload",
]

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


#: A stateful payload as the scan carries it: ``marshal`` bytes (``pack_payload``), or the
#: payload itself when marshal cannot write it.
PackedPayload = bytes | Payload

#: A matched record: digest of (eventID, eventTime) (``record_key``), eventTime, eventID, its
#: single-event alerts, its packed stateful payload (None when it feeds no stateful rule) and,
#: when suppressing, the suppression group of each alert (else None).
Match = tuple[int, float, str, list[Alert], PackedPayload | None, list[Any] | None]

_ALERT_FIELDS = tuple(f.name for f in dataclasses.fields(Alert))
#: An Alert's fields as a plain tuple (``Alert(*fields)`` makes it again).
alert_tuple = operator.attrgetter(*_ALERT_FIELDS)


_PACK_TIME = struct.Struct("<d").pack
_BLAKE2B = hashlib.blake2b
#: The digest's secret key, drawn once per process (worker processes are forked: they share
#: it). Eventual collisions are not chosen: with a known key, whoever writes log records could
#: make two of them collide in about 2**32 tries and have the second dropped as a duplicate.
_DIGEST_KEY = os.urandom(16)


_DUMPS = marshal.dumps
_LOADS = marshal.loads


def pack_payload(payload: Payload) -> PackedPayload:
    """``payload`` as marshal bytes, made where the record is matched, while its objects are
    in the CPU's cache: the reorder buffer, the disk spill, the sort and the wire to the parent
    then move one bytes object, not a tree of tuples, and the stateful engines get the tree
    back (``unpack_payload``) when they take it. On the 1 M-record bench file, writing the
    sorted spill runs cost 1.7 µs a payload as trees (their objects scattered in memory by the
    sort), 0.6 µs as made here. A payload marshal cannot write stays as it is."""
    try:
        return _DUMPS(payload, 2)  # version 2, no references: 0.45 + 0.49 µs a payload
        # to write and read, against 0.66 + 0.66 for version 4 (a payload shares few objects)
    except ValueError:
        return payload


def unpack_payload(packed: PackedPayload) -> Payload:
    """The payload ``pack_payload`` packed."""
    return _LOADS(packed) if type(packed) is bytes else packed  # type: ignore[return-value]


def record_key(event_id: str, ts: float) -> int:
    """A 64-bit digest of (eventID, eventTime): the set of matched records stays small (8
    bytes a record, ``scan_stream.SeenKeys``). Two different records share one with odds of
    about n²/2⁶⁵ (1e-9 for 200,000 matched records), and nobody can aim for one: the digest is
    keyed with a secret drawn per process (``_DIGEST_KEY``). The time goes in as its 8 IEEE
    bytes (fixed length, so the pair is read back unambiguously; 0.5 instead of 0.7 us with its
    repr, measured)."""
    data = _PACK_TIME(ts) + event_id.encode("utf-8", "surrogatepass")  # lone surrogates too
    return int.from_bytes(_BLAKE2B(data, digest_size=8, key=_DIGEST_KEY).digest(), "little")


@dataclass
class TaskResult:
    """What one task found: matched records in read order, read statistics, lines read."""

    task: Task
    matches: list[Any] = field(default_factory=list)  # Match, or its wire form
    stats: ReadStats = field(default_factory=ReadStats)
    lines: int = 0
    #: Set by ``to_wire`` (then ``matches`` is empty): the marshal'ed match rows, whose alerts
    #: are indexes into ``rules`` or alert tuples, and that table of (id, name, title, level).
    wire: bytes | None = None
    rules: list[tuple[str, str, str, str]] = field(default_factory=list)
    #: The task's stateful candidates as sorted runs on disk (batch mode, ``scan_runs``), or
    #: None; the match rows hold them too.
    runs: TaskRuns | None = None

    def rows(self) -> list[Any]:
        """The match rows: ``matches``, or those ``to_wire`` encoded (alerts in wire form:
        ``alerts_of`` makes them Alerts again)."""
        return marshal.loads(self.wire) if self.wire is not None else self.matches


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
    paths: Iterable[str | Path],
    stats: ReadStats,
    range_bytes: int = RANGE_BYTES,
    workers: int = 1,
) -> list[Task]:
    """The tasks of a scan, in read order (problems with paths go to ``stats``); a path ``-``
    is standard input, read where it stands in the order. Files named by CloudTrail are read
    in the order of their timestamps (module docstring); ranges are balanced over
    ``workers``."""
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
    return tasks


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
    matches = result.matches
    # Line numbers of a range are relative to it (the parent shifts rejections only): origins
    # of ranges stay out of the payloads, whose warnings then name the eventID.
    origins = not task.is_range
    match_record = engine.match_record
    project = engine.project
    collect = collector.add if collector is not None else None
    collect_names = collector.names if collector is not None else None
    while True:
        try:
            rec = next(records)
        except StopIteration as stop:
            result.lines = stop.value or 0
            break
        alerts: list[Alert] = []
        groups: list[tuple[Alert, Any]] | None = [] if suppress else None
        try:
            stateful = match_record(rec, alerts, groups)
        except RecursionError:
            stats.records -= 1
            stats.reject(rec.origin, "nested too deeply for the matcher: not matched", RECORD)
            continue
        if alerts or stateful:
            payload = None
            if stateful:
                payload = pack_payload(project(rec, stateful, suppress, origins))
                if collect is not None:
                    collect((rec.time, rec.event_id, len(matches), payload))
                    if collect_names is not None:
                        collect_names(stateful)
            sup = [g for _, g in groups] if groups is not None else None
            key = record_key(rec.event_id, rec.time)
            matches.append((key, rec.time, rec.event_id, alerts, payload, sup))
    if collector is not None:
        result.runs = collector.write(task.index)
    return result


_NEW = object.__new__
# Alert is a frozen dataclass: its __init__ goes through object.__setattr__ per field; the slots'
# member descriptors set them at half the cost (as alerts.single_alert_maker does).
_SETTERS = tuple(getattr(Alert, name).__set__ for name in _ALERT_FIELDS)


def _wire_alerts(
    alerts: list[Alert], ts: float, event_id: str, table: dict[tuple[str, str, str, str], int]
) -> tuple[Any, ...]:
    out: list[Any] = []
    for a in alerts:
        if (
            a.time is ts
            and a.group == ()
            and a.suppressed is None
            and len(a.event_ids) == 1
            and a.event_ids[0] == event_id
        ):
            rule = (a.rule_id, a.rule_name, a.title, a.level)
            index = table.get(rule)
            if index is None:
                index = table[rule] = len(table)
            out.append(index)
        else:
            out.append(alert_tuple(a))
    return tuple(out)


def to_wire(result: TaskResult) -> TaskResult:
    """The result with its matches in wire form, for a worker to send (in place; module
    docstring). Rows ``marshal`` cannot write (a suppression group of an unusual type) are
    sent as they are, with their alerts as plain tuples, pickled. The collector is paused
    meanwhile (no cycle is made; in a forked worker a collection also walks, and so copies, the
    heap inherited from the parent)."""
    with collector_paused():
        return _to_wire(result)


def _to_wire(result: TaskResult) -> TaskResult:
    table: dict[tuple[str, str, str, str], int] = {}
    rows = [
        (key, ts, event_id, _wire_alerts(alerts, ts, event_id, table) if alerts else (), p, sup)
        for key, ts, event_id, alerts, p, sup in result.matches
    ]
    try:
        result.wire = marshal.dumps(rows, 4)
    except ValueError:  # unmarshallable object: pickle the rows instead
        result.matches = [
            (key, ts, event_id, [alert_tuple(a) for a in alerts], p, sup)
            for key, ts, event_id, alerts, p, sup in result.matches
        ]
        return result
    result.rules = list(table)
    result.matches = []
    return result


def alerts_of(
    found: Any, ts: float, event_id: str, rules: list[tuple[str, str, str, str]]
) -> list[Alert]:
    """The Alerts of one match row: ``found`` as ``run_task`` made it (Alerts, returned as they
    are) or in wire form (rule indexes into ``rules`` and alert tuples, ``to_wire``)."""
    if not found or (type(found) is list and type(found[0]) is Alert):
        return found  # type: ignore[no-any-return]
    out = []
    s_id, s_name, s_title, s_level, s_time, s_events, s_group, s_suppressed = _SETTERS
    for item in found:
        if type(item) is int:
            rule_id, rule_name, title, level = rules[item]
            alert = _NEW(Alert)
            s_id(alert, rule_id)
            s_name(alert, rule_name)
            s_title(alert, title)
            s_level(alert, level)
            s_time(alert, ts)
            s_events(alert, (event_id,))
            s_group(alert, ())
            s_suppressed(alert, None)
            out.append(alert)
        else:
            out.append(Alert(*item))
    return out


def from_wire(result: TaskResult) -> TaskResult:
    """The result ``to_wire`` sent, with its matches as ``run_task`` made them (in place)."""
    rules = result.rules
    result.matches = [
        (key, ts, event_id, alerts_of(found, ts, event_id, rules) if found else [], p, sup)
        for key, ts, event_id, found, p, sup in result.rows()
    ]
    result.wire = None
    result.rules = []
    return result
