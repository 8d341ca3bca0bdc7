"""The exact stateful run of batch mode, one part of the stateful rules at a time, in parallel.

The parts (``scan_runs.plan_parts``) share no engine: a correlation and its base rules are in
one part, a first-seen rule is its own base rule, suppression is applied to all alerts at the
end and the first-seen baseline keeps one state per rule. So each part's engines can be fed
alone, with the part's payload items of the merged, de-duplicated candidates in
(eventTime, eventID) order, and give the alerts they would give in one runner. ``part_alerts``
runs one part; ``part_alerts_from_files`` does it in a scan worker from the run files
(``scan_runs``), returning plain tuples; ``merge_parts`` puts the parts' alert lists back in
one time-ordered stream (within a second, in ``Alert.sort_key`` order, the same for any
number of parts).
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import marshal
import operator
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ses_sigma.alerts import Alert
from ses_sigma.match.baseline import Baseline
from ses_sigma.match.engine import Engine
from ses_sigma.match.stateful import Payload, StatefulRunner
from ses_sigma.scan_runs import RUN_CHUNK, RunReader, read_run, write_run
from ses_sigma.scan_tasks import alert_tuple, unpack_payload

__all__ = [
    "Source",
    "cut_payload",
    "merge_blocks",
    "merge_parts",
    "only_rules",
    "open_runs",
    "part_alerts",
    "part_alerts_from_files",
]

#: A run for a part's process: file path, the part's chunks, the match rows dropped as
#: duplicates, and whether its payloads hold every rule (then cut to the part's).
Source = tuple[str, list[tuple[int, int]], list[int], bool]

#: Alert tuples (``scan_tasks.alert_tuple``) in time order, and the first-seen notes.
PartResult = tuple[list[tuple[Any, ...]], list[tuple[str, str, str]]]

_key = operator.itemgetter(0, 1)
_LOADS = marshal.loads
_time = operator.attrgetter("time")


def only_rules(items: Iterable[tuple[Any, ...]], names: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    """Items ``(eventTime, eventID, ..., payload)`` with their payloads cut to the items of
    the rules ``names`` (those left empty are left out)."""
    wanted = frozenset(names)
    for item in items:
        payload = unpack_payload(item[-1])
        kept = tuple(p for p in payload if p[0] in wanted)
        if kept:
            yield (item[0], item[1], kept)


def cut_payload(payload: Payload, cut: Any, wanted: frozenset[str]) -> Payload:
    """The items of ``payload`` for the rules ``wanted``: ``payload[start:stop]`` when ``cut``
    is ``(start, stop, items)`` (``scan_runs``: the part's items together; ``items`` and the
    rules at both ends are checked), else (True) those whose rule is wanted."""
    if cut is True:
        return tuple(p for p in payload if p[0] in wanted)
    start, stop, count = cut
    if len(payload) != count:
        raise RuntimeError(f"a run item's payload has {len(payload)} items, not {count}")
    if payload[start][0] not in wanted or payload[stop - 1][0] not in wanted:
        raise RuntimeError(f"a run item's payload cut {cut} holds rules of another part")
    return payload[start:stop]


#: An item of a run: (eventTime, eventID, [row, [cut,]] payload), ``scan_runs``.
Item = tuple[Any, ...]


def _by_name(items: list[Item], wanted: frozenset[str]) -> list[Item]:
    """Items with payloads of every rule as ``(eventTime, eventID, payload)``, the payloads
    cut to the rules ``wanted`` by name; those left empty are left out."""
    out = []
    for item in items:
        kept = tuple(p for p in unpack_payload(item[-1]) if p[0] in wanted)
        if kept:
            out.append((item[0], item[1], kept))
    return out


def _blocks(lists: Iterable[list[Item]]) -> Iterator[list[Item]]:
    """Chunks of one sorted run as blocks that end between two keys (eventTime, eventID):
    the items of a chunk's last key are held back for the next block, so every item of a
    key is in one block (a run's ties span no blocks: ``merge_blocks``). A block grows past
    a chunk only by items of one key (after the parent's de-duplication, one)."""
    carry: list[Item] = []
    for block in lists:
        if carry:
            block = carry + block
        if not block:
            continue
        cut = bisect.bisect_left(block, _key(block[-1]), key=_key)
        carry = block[cut:]
        if cut:
            yield block[:cut]
    if carry:
        yield carry


def merge_blocks(streams: Sequence[Iterator[list[Item]]]) -> Iterator[list[Item]]:
    """The blocks of sorted runs (``_blocks``) merged into batches in (eventTime, eventID)
    order, equal keys in stream order (as ``heapq.merge(..., key=_key)``), holding one block
    per stream: each round takes from every stream the items up to the smallest last key of
    their current blocks (all of that key there are in those blocks: ``_blocks``), puts them
    together in stream order and sorts them (stable) by key in C."""
    heads: list[list[Any]] = []  # [block, position, stream]
    for stream in streams:
        block = next(stream, None)
        if block:
            heads.append([block, 0, stream])
    while len(heads) > 1:
        bound = min(_key(head[0][-1]) for head in heads)
        batch: list[Item] = []
        taken = 0
        for head in heads:
            block, at = head[0], head[1]
            if _key(block[-1]) <= bound:  # the whole block: the next one, if any
                batch += block[at:] if at else block
                head[0] = next(head[2], None)
                head[1] = 0
                taken += 1
            else:
                stop = bisect.bisect_right(block, bound, at, key=_key)
                if stop > at:
                    batch += block[at:stop]
                    head[1] = stop
                    taken += 1
        if taken > 1:
            batch.sort(key=_key)
        yield batch
        heads = [head for head in heads if head[0]]
    for block, at, stream in heads:
        yield block[at:] if at else block
        yield from stream


def part_alerts(
    engine: Engine,
    names: Sequence[str] | None,
    streams: Sequence[Iterable[tuple[Any, ...]]],
    baseline: Baseline | None = None,
    groups: list[tuple[Alert, Any]] | None = None,
) -> tuple[Iterator[Alert], StatefulRunner]:
    """Feed fresh engines of the base rules ``names`` (None: all) with the items of
    ``streams`` (each sorted by (eventTime, eventID); the last field of an item is its payload,
    packed or not, holding only those rules, or marked to be cut: ``scan_runs``). Returns
    their alerts in time order, made as the iterator is read, and the runner (its first-seen
    notes, once the iterator is done)."""
    return _part_alerts(engine, names, [(s, False) for s in streams], baseline, groups)


def _chunked(stream: Iterable[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    """A stream's items in lists: a run's chunks as they are read, else ``RUN_CHUNK`` items
    at a time."""
    if isinstance(stream, RunReader):
        yield from stream.lists()
        return
    items = iter(stream)
    while batch := list(itertools.islice(items, RUN_CHUNK)):
        yield batch


def _part_alerts(
    engine: Engine,
    names: Sequence[str] | None,
    streams: Sequence[tuple[Iterable[Item], bool]],
    baseline: Baseline | None = None,
    groups: list[tuple[Alert, Any]] | None = None,
) -> tuple[Iterator[Alert], StatefulRunner]:
    """``part_alerts`` of ``(stream, by_name)`` pairs: the payloads of a stream ``by_name``
    hold every rule and are cut to ``names`` by name.

    Each payload is unpacked (and cut) just before it is fed, one at a time: its objects are
    then made, used and freed while in the CPU's cache (unpacking a chunk at a time was
    slower, measured on the bench file's runs)."""
    runner = engine.stateful_runner(baseline, groups, rules=names)
    wanted = frozenset(names) if names is not None else None

    def lists(stream: Iterable[Item], by_name: bool) -> Iterator[list[Item]]:
        if wanted is None or not by_name:
            return _chunked(stream)
        return (_by_name(items, wanted) for items in _chunked(stream))

    blocks = [_blocks(lists(stream, by_name)) for stream, by_name in streams]

    def alerts() -> Iterator[Alert]:
        feed = runner.feed
        loads = _LOADS
        for batch in merge_blocks(blocks):
            for item in batch:
                payload = item[-1]
                if type(payload) is bytes:  # packed (unpack_payload)
                    payload = loads(payload)
                if len(item) == 5 and wanted is not None:  # rules of other parts too
                    cut = item[3]
                    if cut is True:
                        payload = cut_payload(payload, cut, wanted)
                    else:  # cut_payload, inline
                        start, stop, count = cut
                        if (
                            len(payload) != count
                            or payload[start][0] not in wanted
                            or payload[stop - 1][0] not in wanted
                        ):
                            cut_payload(payload, cut, wanted)  # raises, saying why
                        payload = payload[start:stop]
                found = feed(item[0], item[1], payload)
                if found:
                    yield from found
        yield from runner.finish()

    return alerts(), runner


#: Runs read at once by a merge (one chunk of each in memory); more are merged into files
#: first, this many at a time, so the exact run's memory does not grow with the input.
MAX_OPEN = 32


def open_runs(
    runs: Sequence[tuple[str, list[tuple[int, int]], list[int]]], directory: str
) -> list[RunReader]:
    """Streams of ``runs`` (file path, chunks, dropped rows; in task order), at most
    ``MAX_OPEN`` of them: beyond that, consecutive runs are first merged into new files in
    ``directory`` (equal keys stay in task order)."""
    level = 0
    most = max(2, MAX_OPEN)  # merging one run at a time would never end
    while len(runs) > most:
        merged = []
        for start in range(0, len(runs), most):
            group = runs[start : start + most]
            path = os.path.join(directory, f"merged-{os.getpid()}-{level}-{start}.run")
            items = heapq.merge(*(read_run(*run) for run in group), key=_key)
            merged.append((path, write_run(path, items), []))
        runs = merged
        level += 1
    return [read_run(*run) for run in runs]


def part_alerts_from_files(
    engine: Engine, names: Sequence[str], sources: Sequence[Source]
) -> PartResult:
    """``part_alerts`` for one part, in a worker process, from run files (``Source``)."""
    streams: list[tuple[Iterable[tuple[Any, ...]], bool]] = [
        (read_run(path, chunks, dropped), True) for path, chunks, dropped, whole in sources if whole
    ]
    runs = [(path, chunks, dropped) for path, chunks, dropped, whole in sources if not whole]
    if runs:
        streams += [(run, False) for run in open_runs(runs, os.path.dirname(runs[0][0]))]
    alerts, runner = _part_alerts(engine, names, streams)
    found = [alert_tuple(a) for a in alerts]
    return found, runner.implausible()


def merge_parts(parts: Iterable[Iterable[Alert]]) -> Iterator[Alert]:
    """The parts' alerts (each in time order) in one time-ordered stream; alerts of one time
    in ``Alert.sort_key`` order."""
    for _, same in itertools.groupby(heapq.merge(*parts, key=_time), key=_time):
        batch = list(same)
        if len(batch) > 1:
            batch.sort(key=operator.attrgetter("sort_key"))
        yield from batch
