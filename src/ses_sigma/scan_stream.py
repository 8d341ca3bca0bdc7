"""The scan's stateful half: correlation and first-seen alerts streamed in event time, exactly.

Records matched by base rules of stateful rules reach the parent (``scan``) in input order,
which CloudTrail does not keep in time order. ``StatefulStream`` puts them (as ``Engine.project``
payloads) in a **reorder buffer** ordered by ``(eventTime, eventID)`` and releases to the
stateful engines those older than the **watermark**: the newest plausible eventTime seen minus
the reorder window (default 15 minutes, CloudTrail's delivery delay). Released records go to
the engines in sorted order, so every alert the engines give is final when given (correlations
alert on the event that completes a window, first-seen rules on the new value): it streams out.

A record older than one already released is **late**: the streamed run did not see it. Every
released record is kept in a sorted log on disk and every late one in a sorted spill; at the
end, when late records were seen, fresh engines run over both merged (the exact run, the one
``Engine.run`` would make), the alerts the streamed run missed are emitted, the streamed alerts
the exact run does not hold are reported (``withdrawn``), and the counts of late records and how
late they were go to the result. Without late records the streamed run is the exact run.

**Batch mode.** When the input is clearly not in time order, streaming it is wasted work: the
exact run redoes it all, and what streams out is mostly withdrawn later. So once at least
``BATCH_MIN_LATE`` candidates were late and they are at least ``BATCH_LATE_SHARE`` of the
candidates so far, the stream stops: the reorder buffer goes to the late spill, and so does
every later candidate; nothing more reaches the streamed run, and the stateful engines run once,
at the end (the exact run, as above). The alerts streamed before the switch are diffed as
always (final, or withdrawn), and the final alerts are the same as without the switch.
Time-ordered input (late records rare) never switches. From the switch on, a task whose worker
wrote its candidates as sorted runs (``scan_runs``) is taken whole (``add_run``: the file, and
the rows the parent dropped as duplicates), and the exact run reads those runs
(``scan_exact``), in a worker process when ``use_workers`` gave one: with two or more workers,
split by independent parts of the stateful rules, a part per worker (``scan_pool.SPLIT_RULES``, on).

Duplicates (CloudTrail delivers at least once) are dropped before any of this by ``SeenKeys``:
keyed 64-bit digests of (eventID, eventTime) in a C hash set (``rowkeys``).
"""

from __future__ import annotations

import heapq
import itertools
import operator
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ses_sigma.alerts import Alert
from ses_sigma.match.baseline import Baseline
from ses_sigma.match.engine import Engine
from ses_sigma.match.first_seen import FUTURE_SLACK
from ses_sigma.match.stateful import StatefulRunner
from ses_sigma.rowkeys import KeySet
from ses_sigma.scan_exact import Source, merge_parts, only_rules, open_runs, part_alerts
from ses_sigma.scan_runs import RunSpec, TaskRuns, write_run
from ses_sigma.scan_spill import ChunkLog, SortedSpill
from ses_sigma.scan_tasks import PackedPayload, alert_tuple, unpack_payload

__all__ = [
    "BATCH_LATE_SHARE",
    "BATCH_MIN_LATE",
    "DEFAULT_REORDER_WINDOW",
    "LateReport",
    "SeenKeys",
    "StatefulStream",
]

#: Seconds of event time a record may arrive behind the newest one and still be streamed.
DEFAULT_REORDER_WINDOW = 900.0
#: Batch mode (module docstring): late candidates needed, and their share of the candidates.
BATCH_MIN_LATE = 1000
#: Wall-clock seconds between two moves of the far-future bound: a stream scanned for days
#: moves it (its new records are plausible, as its first ones were), and records forged years
#: ahead cannot make it move, and the far-future spill be placed again, more often.
BOUND_EVERY = 3600.0
BATCH_LATE_SHARE = 0.1
#: Candidates from which batch mode's exact run is made in the workers' processes (fewer: in
#: this one; a part's process costs a round trip and a file of the candidates held here).
SPLIT_MIN = 4096

#: Runs the parts of an exact run in other processes: per part, (base rule names, sources);
#: per part, its alerts as tuples in time order and its first-seen notes.
PartRunner = Callable[
    [list[tuple[tuple[str, ...], list[Source]]]],
    list[tuple[list[tuple[Any, ...]], list[tuple[str, str, str]]]],
]


#: The set of matched records' digests (``rowkeys.KeySet``: a C open-addressing table of
#: uint64, 10.7 to 21.3 bytes a record; ``rowkeys.SortedKeySet`` without the extension).
SeenKeys = KeySet


@dataclass
class LateReport:
    """Records that came after later ones had been released, and what the exact run changed."""

    #: Late records (stateful candidates only), and the most seconds one was behind.
    records: int = 0
    max_behind: float = 0.0
    #: Alerts of the exact run the streamed run had not given (emitted at the end).
    added: int = 0
    #: Streamed alerts the exact run does not hold.
    withdrawn: list[Alert] = field(default_factory=list)
    #: Batch mode (``scan_stream``): candidates seen when streaming stopped (None: it did not),
    #: and candidates held for the exact run from then on (late or not).
    batch_from: int | None = None
    deferred: int = 0


def _in_time_order(alerts: Iterable[Alert]) -> Iterator[Alert]:
    """The alerts, checked to come in time order (what the comparison relies on)."""
    last = float("-inf")
    for alert in alerts:
        if alert.time < last:
            raise RuntimeError(f"stateful alerts out of time order at {alert.rule_name}")
        last = alert.time
        yield alert


def _diff(streamed: Iterable[Alert], exact: Iterable[Alert]) -> Iterator[tuple[bool, Alert]]:
    """Compare two alert streams in time order: (True, alert) for an alert only ``exact``
    holds, (False, alert) for one only ``streamed`` holds (memory: one second of alerts)."""
    a = itertools.groupby(_in_time_order(streamed), key=lambda x: x.time)
    b = itertools.groupby(_in_time_order(exact), key=lambda x: x.time)
    ta, ga = next(a, (None, None))
    tb, gb = next(b, (None, None))
    while ga is not None or gb is not None:
        if gb is None or (ga is not None and ta is not None and tb is not None and ta < tb):
            assert ga is not None
            yield from ((False, x) for x in ga)
            ta, ga = next(a, (None, None))
        elif ga is None or (ta is not None and tb is not None and tb < ta):
            yield from ((True, x) for x in gb)
            tb, gb = next(b, (None, None))
        else:
            left, right = Counter(ga), Counter(gb)
            yield from ((False, x) for x in (left - right).elements())
            yield from ((True, x) for x in (right - left).elements())
            ta, ga = next(a, (None, None))
            tb, gb = next(b, (None, None))


class StatefulStream:
    """The reorder buffer, the streamed stateful run and, after late records, the exact run."""

    def __init__(
        self,
        engine: Engine,
        emit: Callable[[Alert], None],
        window: float = DEFAULT_REORDER_WINDOW,
        baseline: Callable[[], Baseline | None] = lambda: None,
        groups: list[tuple[Alert, Any]] | None = None,
        clock: Callable[[], float] | None = None,
    ):
        """``emit`` gets every final alert; ``window`` is the reorder window in seconds;
        ``baseline`` gives the first-seen state to start from (called again, for a fresh copy,
        by the exact run); ``groups`` collects (alert, group) pairs when suppressing."""
        self._engine = engine
        self._emit = emit
        self._window = window
        self._baseline_source = baseline
        self.baseline = baseline()
        self._suppress = groups is not None
        self.groups: list[tuple[Alert, Any]] | None = [] if groups is not None else None
        self.runner: StatefulRunner = engine.stateful_runner(self.baseline, self.groups)
        self._heap: list[tuple[float, str, PackedPayload]] = []
        self._released: tuple[float, str] | None = None
        self._released_log = ChunkLog()
        self._streamed = ChunkLog()
        self._late = SortedSpill()
        # Records dated beyond any plausible time (a forged eventTime years ahead) wait on disk:
        # held in the buffer until the end, an attacker's many could grow memory without bound.
        self._future = SortedSpill()
        self._newest = float("-inf")
        self._watermark = float("-inf")
        self._clock = clock or engine_clock(engine)
        self._bound_read = self._clock()
        self._latest_plausible = self._bound_read + FUTURE_SLACK
        self.late = LateReport()
        self.candidates = 0
        # Batch mode: the tasks' sorted runs written by the workers (scan_runs), each with the
        # match rows the parent dropped as duplicates.
        self._runs: list[tuple[TaskRuns, list[int]]] = []
        self._spec: RunSpec | None = None
        self._run_parts: PartRunner | None = None
        #: Largest reorder buffer held (records).
        self.peak_buffer = 0

    def add(self, time: float, event_id: str, payload: PackedPayload) -> None:
        """A matched record (each (eventID, eventTime) once), in input order; its payload as
        ``scan_tasks.pack_payload`` packed it (or the payload itself)."""
        self.candidates += 1
        released = self._released
        if released is not None and (time, event_id) < released:
            late = self.late
            late.records += 1
            late.max_behind = max(late.max_behind, released[0] - time)
            self._late.add((time, event_id, payload))
            if late.batch_from is not None:
                late.deferred += 1
            elif (
                late.records >= BATCH_MIN_LATE
                and late.records >= BATCH_LATE_SHARE * self.candidates
            ):
                self._to_batch()
            return
        if self.late.batch_from is not None:
            self.late.deferred += 1
            self._late.add((time, event_id, payload))
            return
        if time > self._latest_plausible and not self._move_bound(time):
            # Later than everything plausible in the buffer: released after it, at the end.
            self._future.add((time, event_id, payload))
            return
        self._place((time, event_id, payload))

    def _place(self, item: tuple[float, str, PackedPayload]) -> None:
        """Into the reorder buffer (a record no older than what was released), releasing
        what the watermark passed."""
        time = item[0]
        heap = self._heap
        heapq.heappush(heap, item)
        if time > self._newest:
            self._newest = time
            self._watermark = time - self._window
        watermark = self._watermark
        if heap[0][0] < watermark:
            self.peak_buffer = max(self.peak_buffer, len(heap))
            while heap and heap[0][0] < watermark:
                self._release(heapq.heappop(heap))

    def _move_bound(self, time: float) -> bool:
        """Read the wall clock again (at most once per BOUND_EVERY) and move the far-future
        bound up to it: the spilled records it now covers are placed in the buffer (they are
        later than every record released: the bound was above those). True when ``time`` is
        plausible now."""
        now = self._clock()
        if now - self._bound_read < BOUND_EVERY:
            return False
        self._bound_read = now
        bound = now + FUTURE_SLACK
        if bound <= self._latest_plausible:  # a clock stepped back: the bound never moves down
            return False
        self._latest_plausible = bound
        if self._future.count:
            held, self._future = self._future, SortedSpill()
            for item in held.sorted():
                if item[0] > bound:
                    self._future.add(item)
                else:
                    self._place(item)
            held.close()
        return time <= bound

    @property
    def batch(self) -> bool:
        """True once in batch mode (module docstring)."""
        return self.late.batch_from is not None

    def add_run(self, runs: TaskRuns, dropped: list[int]) -> None:
        """Batch mode: a task's candidates at once, as the sorted runs its worker wrote, but
        those of the match rows ``dropped`` (duplicates); the same as ``add`` for each."""
        assert self.late.batch_from is not None
        count = runs.records - len(dropped)
        self.candidates += count
        self.late.deferred += count
        self._runs.append((runs, dropped))

    def _to_batch(self) -> None:
        """Stop streaming (batch mode, module docstring): the buffer joins the late spill."""
        late = self.late
        late.batch_from = self.candidates
        late.deferred += len(self._heap)
        self.peak_buffer = max(self.peak_buffer, len(self._heap))
        for item in self._heap:
            self._late.add(item)
        self._heap = []

    def _release(self, item: tuple[float, str, PackedPayload]) -> None:
        time, event_id, payload = item
        self._released = (time, event_id)
        self._released_log.append(item)
        for alert in self.runner.feed(time, event_id, unpack_payload(payload)):
            self._streamed.append(alert_tuple(alert))
            self._emit(alert)

    def use_workers(self, spec: RunSpec, run_parts: PartRunner | None = None) -> None:
        """Before ``finish``: ``spec``, the parts and directory of the workers' runs (batch
        mode, ``add_run``); ``run_parts`` runs the parts of the exact run in other processes
        (``scan_exact``; used for a big exact run, without baseline or suppression)."""
        self._spec = spec
        self._run_parts = run_parts

    def finish(self) -> list[tuple[str, str, str]]:
        """End of input: release the buffer, end the streamed run and, if records were late,
        run the exact one. Returns the first-seen implausible-time notes of the final run."""
        batch = self.late.batch_from is not None
        if not batch:
            self.peak_buffer = max(self.peak_buffer, len(self._heap))
            while self._heap:
                self._release(heapq.heappop(self._heap))
            for item in self._future.sorted():
                self._release(item)
            # The streamed run's held alerts (of its last second); in batch mode it stopped
            # before the end of input: what it holds is not final, the exact run decides.
            for alert in self.runner.finish():
                self._streamed.append(alert_tuple(alert))
                self._emit(alert)
        if not self.late.records:
            self._close()
            return self.runner.implausible()
        self.baseline = self._baseline_source()
        self.groups = [] if self._suppress else None
        exact, notes = self._exact(batch, self._spec, self._run_parts)
        if not self._streamed.count:  # nothing streamed: every exact alert is new
            for alert in _in_time_order(exact):
                self.late.added += 1
                self._emit(alert)
        else:
            streamed = (Alert(*fields) for fields in self._streamed.read())
            for only_exact, alert in _diff(streamed, exact):
                if only_exact:
                    self.late.added += 1
                    self._emit(alert)
                else:
                    self.late.withdrawn.append(alert)
        self._close()
        return notes()

    def _held(self, batch: bool) -> Iterator[tuple[Any, ...]]:
        """The candidates this process holds, merged in (eventTime, eventID) order."""
        runs = [self._released_log.read(), self._late.sorted()]
        if batch:
            runs.append(self._future.sorted())  # never released: the exact run takes them
        return heapq.merge(*runs, key=_item_key)

    def _open(self, part: int) -> list[Iterator[tuple[Any, ...]]]:
        """The workers' runs of one part, as streams (``scan_exact.open_runs``)."""
        if not self._runs or self._spec is None:
            return []
        runs = [(r.path, r.chunks[part], d) for r, d in self._runs]
        return open_runs(runs, self._spec.directory)

    def _exact(
        self, batch: bool, spec: RunSpec | None, run_parts: PartRunner | None
    ) -> tuple[Iterator[Alert], Callable[[], list[tuple[str, str, str]]]]:
        """The exact run's alerts in time order, and its first-seen notes (once read)."""
        parts: tuple[tuple[str, ...] | None, ...] = (None,)
        if self._runs:
            assert spec is not None
            parts = spec.parts
        one = self.baseline is not None or self.groups is not None
        if run_parts is not None and not one and self._runs and self.candidates >= SPLIT_MIN:
            # In the workers' processes (this one is then idle), one part each.
            assert spec is not None
            path = f"{spec.directory}/held.run"
            held: Source = (path, write_run(path, self._held(batch)), [], True)
            jobs = [
                (names, [(r.path, r.chunks[i], d, False) for r, d in self._runs] + [held])
                for i, names in enumerate(spec.parts)
            ]
            results = run_parts(jobs)
            found = [[Alert(*fields) for fields in alerts] for alerts, _ in results]
            notes = [note for _, part_notes in results for note in part_notes]
            return merge_parts(found), lambda: notes
        if len(parts) == 1:
            streams: list[Iterable[tuple[Any, ...]]] = [self._held(batch)]
            streams += self._open(0)
            alerts, runner = part_alerts(self._engine, None, streams, self.baseline, self.groups)
            self.runner = runner
            return merge_parts([alerts]), runner.implausible
        # Parts of the rules, one after the other (none with a baseline or suppression: their
        # RunSpec has one part).
        assert not one
        runners = []
        iters = []
        for i, names in enumerate(parts):
            assert names is not None
            streams = [only_rules(self._held(batch), names)]
            streams += self._open(i)
            alerts, runner = part_alerts(self._engine, names, streams)
            runners.append(runner)
            iters.append(list(alerts))  # parts run one after the other
        return merge_parts(iters), lambda: [n for r in runners for n in r.implausible()]

    def _close(self) -> None:
        self._released_log.close()
        self._streamed.close()
        self._late.close()
        self._future.close()


_item_key = operator.itemgetter(0, 1)


def engine_clock(engine: Engine) -> Callable[[], float]:
    """The wall clock the engine bounds plausible eventTimes with."""
    return engine._clock
