"""Sorted runs of stateful candidates written by the scan's workers (batch mode).

In batch mode (``scan_stream``: the input is not in time order) the stateful candidates wait
for one exact run at the end. Instead of sending them one by one through the parent's sorted
spill, each task's worker sorts its own candidates by (eventTime, eventID) (stable: equal keys
stay in read order) and writes them to a file in the scan's temporary directory, in marshal
chunks, one sorted run per **part** of the stateful rules (``plan_parts``: the independent
components of ``Engine.stateful_components``, balanced over the workers). An item is
``(eventTime, eventID, row, packed payload)``: ``row`` is the record's index in the task's
match rows (the parent drops the rows it finds to be duplicates, ``scan``); a payload with rules
of several parts goes to each of them whole, as ``(eventTime, eventID, row, cut, payload)``,
and is cut to the part's rules where it is read: ``cut`` is ``(start, stop, items)`` when the
part's items are ``payload[start:stop]`` of a payload of ``items`` items, else True (by name).
The parent only records the files; the exact run (``scan_exact``) merges each part's runs in
its own process.

Files are read by path, with ``os.pread`` on a descriptor of the reader's own (a forked process
shares its parent's descriptors and their offsets).
"""

from __future__ import annotations

import itertools
import marshal
import operator
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ses_sigma.match.engine import Engine

__all__ = [
    "RunCollector",
    "RunReader",
    "RunSpec",
    "TaskRuns",
    "plan_parts",
    "read_run",
    "write_run",
]

#: Items per chunk of a run (a merge holds one chunk of every run it reads).
RUN_CHUNK = 256

_key = operator.itemgetter(0, 1)
_DUMPS = marshal.dumps
_LOADS = marshal.loads


def plan_parts(engine: Engine, count: int) -> tuple[tuple[str, ...], ...]:
    """The stateful rules' base rules in at most ``count`` parts of independent components,
    balanced by their number of engines (largest first, each to the lightest part)."""
    components = sorted(engine.stateful_components(), key=lambda c: (-c[1], c[0]))
    parts: list[tuple[int, list[str]]] = [(0, []) for _ in range(max(1, count))]
    for names, weight in components:
        i = min(range(len(parts)), key=lambda k: parts[k][0])
        parts[i] = (parts[i][0] + weight, parts[i][1] + names)
    return tuple(tuple(sorted(names)) for _, names in parts if names) or ((),)


@dataclass(frozen=True)
class RunSpec:
    """Where workers write their runs, and the parts of the stateful rules (base rule names).
    ``flag`` (a shared byte, set by the parent): runs are written while it is 1."""

    directory: str
    parts: tuple[tuple[str, ...], ...]
    flag: Any = None

    def wanted(self) -> bool:
        """True when the parent asks for runs now."""
        return self.flag is None or bool(self.flag.value)


@dataclass
class TaskRuns:
    """One task's runs: its file, per part the (offset, size) of its chunks, and how many
    stateful candidates (match rows with a payload) the task had."""

    path: str
    chunks: list[list[tuple[int, int]]] = field(default_factory=list)
    records: int = 0


def _route(names: Sequence[str], part_of: dict[str, int]) -> list[tuple[int, Any]]:
    """The parts of the rules ``names`` (in part order), each with where the part's items
    are in the payload: a payload has one item per rule, in sorted name order
    (``Projector._project``), so the part's items are ``payload[start:stop]`` when they are
    together, given as ``(start, stop, item count)``; else True (cut by name where read)."""
    ordered = sorted(set(names))
    by_part: dict[int, list[int]] = {}
    for i, name in enumerate(ordered):
        by_part.setdefault(part_of[name], []).append(i)
    route: list[tuple[int, Any]] = []
    for part, at in sorted(by_part.items()):
        together = at[-1] - at[0] + 1 == len(at)
        route.append((part, (at[0], at[-1] + 1, len(ordered)) if together else True))
    return route


class RunCollector:
    """A task's stateful candidates, gathered as the worker matches them and written sorted
    when the task ends (``write``): ``add`` takes ``(eventTime, eventID, row, packed payload)``
    and, with several parts, ``names`` the names of the rules that matched (``match_record``'s
    list, the rules of the payload). Plain list appends: no Python call per candidate."""

    def __init__(self, spec: RunSpec):
        """``spec``: where to write, and the parts."""
        self._spec = spec
        self._items: list[tuple[Any, ...]] = []
        self._names: list[list[str]] = []
        self.add = self._items.append
        self.names = self._names.append if len(spec.parts) > 1 else None

    def _buckets(self) -> list[list[tuple[Any, ...]]]:
        """The candidates per part; a payload with rules of several parts goes to each whole,
        marked by a 5th field, where it is cut (cheaper than packing a payload per part, or
        projecting one: measured on the bench file, 0.17 s more worker CPU for 2 parts)."""
        parts = self._spec.parts
        if len(parts) == 1:
            return [self._items]
        part_of = {name: i for i, names in enumerate(parts) for name in names}
        buckets: list[list[tuple[Any, ...]]] = [[] for _ in parts]
        seen: dict[tuple[str, ...], list[tuple[int, Any]]] = {}
        for item, names in zip(self._items, self._names, strict=True):
            key = tuple(names)
            into = seen.get(key)
            if into is None:
                into = seen[key] = _route(names, part_of)
            if len(into) == 1:
                buckets[into[0][0]].append(item)
            else:
                for part, cut in into:
                    buckets[part].append((item[0], item[1], item[2], cut, item[3]))
        return buckets

    def write(self, index: int) -> TaskRuns | None:
        """Sort and write the runs of task ``index``; None when nothing was gathered or
        marshal cannot write a payload (the parent then takes the candidates from the match
        rows, one by one, as for streaming)."""
        if not self._items:
            return None
        path = os.path.join(self._spec.directory, f"task-{index}.run")
        runs = TaskRuns(path, records=len(self._items))
        offset = 0
        try:
            with open(path, "wb") as fh:
                for bucket in self._buckets():
                    # By (eventTime, eventID, row): rows are unique in a bucket, so equal keys
                    # stay in read order and payloads are never compared (no key function:
                    # half the time of key=itemgetter(0, 1), measured on a bench task).
                    bucket.sort()
                    chunks = []
                    for start in range(0, len(bucket), RUN_CHUNK):
                        # Version 2, no references: 2.5x faster to write (a bench task's runs)
                        data = _DUMPS(bucket[start : start + RUN_CHUNK], 2)
                        fh.write(data)
                        chunks.append((offset, len(data)))
                        offset += len(data)
                    runs.chunks.append(chunks)
        except ValueError:  # a payload marshal cannot write
            os.unlink(path)
            return None
        finally:
            self._items.clear()
            self._names.clear()
        return runs


class RunReader:
    """One run (its ``chunks`` of the file at ``path``) without the items of the match rows
    ``dropped``: iterated, its items in order; ``lists``, its chunks as item lists (what the
    exact run's blocked merge takes, ``scan_exact``). Opens the file itself when read and
    reads with ``os.pread``."""

    def __init__(self, path: str, chunks: Sequence[tuple[int, int]], dropped: Sequence[int] = ()):
        """``chunks``: (offset, size) of each chunk; ``dropped``: rows left out."""
        self.path = path
        self.chunks = chunks
        self.dropped = dropped

    def lists(self) -> Iterator[list[tuple[Any, ...]]]:
        """The run's chunks, each a list of items (none empty), in order."""
        if not self.chunks:
            return
        drop = frozenset(self.dropped)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for offset, size in self.chunks:
                data = os.pread(fd, size, offset)
                if len(data) != size:
                    raise OSError(f"{self.path}: run chunk at {offset} cut short")
                items = _LOADS(data)
                if drop:
                    items = [item for item in items if item[2] not in drop]
                if items:
                    yield items
        finally:
            os.close(fd)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return itertools.chain.from_iterable(self.lists())


def read_run(
    path: str, chunks: Sequence[tuple[int, int]], dropped: Sequence[int] = ()
) -> RunReader:
    """The items of one run (its ``chunks`` of the file at ``path``) in order, without those
    of the match rows ``dropped`` (``RunReader``)."""
    return RunReader(path, chunks, dropped)


def write_run(path: str, items: Iterator[tuple[Any, ...]]) -> list[tuple[int, int]]:
    """Write ``items`` (already in order) to a new file at ``path`` in chunks; their
    (offset, size). For the parent's own candidates (a part's process reads them by path)."""
    chunks = []
    offset = 0
    with open(path, "wb") as fh:
        while batch := list(itertools.islice(items, RUN_CHUNK)):
            data = _DUMPS(batch, 2)
            fh.write(data)
            chunks.append((offset, len(data)))
            offset += len(data)
    return chunks
