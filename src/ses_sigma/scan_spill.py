"""Scan items kept on disk, so that a scan's memory does not grow with its input.

``ChunkLog`` appends items (small tuples) to a temporary file in chunks and reads them
back in order; ``SortedSpill`` keeps items in sorted runs (a ``ChunkLog`` each) and merges them
(``heapq.merge``) in ``(eventTime, eventID)`` order. When it holds ``MAX_RUNS`` runs they are
merged into one on disk, so a merge holds at most ``MAX_RUNS`` chunks in memory, whatever the
input size. Items are tuples of str, int, float, bool and None (nested), written with
``marshal`` (3 to 4 times faster than pickle for them; the files are this process's own
temporary files, never read from elsewhere), a chunk of them at a time.
"""

from __future__ import annotations

import heapq
import itertools
import marshal
import operator
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

__all__ = ["ChunkLog", "SortedSpill"]

#: Items per chunk written at once.
CHUNK = 2048
#: Items per chunk of a sorted run (a merge reads one chunk of every run at once).
RUN_CHUNK = 256
#: Sorted runs kept before they are merged into one.
MAX_RUNS = 16


#: The sort key of spilled items, (eventTime, eventID) (C-level: no Python call per item).
_key = operator.itemgetter(0, 1)


class ChunkLog:
    """Items appended in order, read back in that order (``read``, possibly several times)."""

    def __init__(self, chunk: int = CHUNK):
        """``chunk``: items held in memory before they go to disk as one chunk."""
        self._chunk = chunk
        self._buffer: list[Any] = []
        self._file: IO[bytes] | None = None
        self._offsets: list[tuple[int, int]] = []  # (offset, size) of each chunk
        self.count = 0

    def append(self, item: Any) -> None:
        """Add one item at the end."""
        self._buffer.append(item)
        self.count += 1
        if len(self._buffer) >= self._chunk:
            self._write()

    def extend(self, items: Iterable[Any]) -> None:
        """Add items at the end (a chunk at a time, no Python call per item)."""
        buffer = self._buffer
        before = len(buffer)
        buffer.extend(items)
        self.count += len(buffer) - before
        chunk = self._chunk
        if len(buffer) >= chunk:
            self._buffer = []
            for start in range(0, len(buffer), chunk):
                part = buffer[start : start + chunk]
                if len(part) < chunk:
                    self._buffer = part  # the rest waits for more
                else:
                    self._write_items(part)

    def _write(self) -> None:
        if not self._buffer:
            return
        self._write_items(self._buffer)
        self._buffer = []

    def _write_items(self, items: list[Any]) -> None:
        if self._file is None:
            # Closed by close(); a temporary file disappears with the process anyway.
            self._file = tempfile.TemporaryFile(prefix="ses-sigma-spill-")  # noqa: SIM115
        data = marshal.dumps(items, 4)
        self._file.seek(0, 2)
        self._offsets.append((self._file.tell(), len(data)))
        self._file.write(data)

    def read(self) -> Iterator[Any]:
        """Every item, in the order appended (the log stays usable)."""
        self._write()
        for offset, size in list(self._offsets):
            assert self._file is not None
            self._file.seek(offset)
            # marshal.loads of the bytes: marshal.load on a file reads it a few bytes at a time
            # through the file's Python methods, 6 to 8 times slower.
            yield from marshal.loads(self._file.read(size))

    def close(self) -> None:
        """Drop the items and the file."""
        self._buffer = []
        self._offsets = []
        if self._file is not None:
            self._file.close()
            self._file = None


class SortedSpill:
    """Items ``(eventTime, eventID, ...)`` added in any order, read back sorted by their first
    two fields (items with equal keys in the order added)."""

    def __init__(self, run_size: int = 5000):
        """``run_size``: items held in memory before a sorted run goes to disk."""
        self._run_size = run_size
        self._buffer: list[tuple[Any, ...]] = []
        self._runs: list[ChunkLog] = []
        self._levels: list[int] = []
        self.count = 0

    def add(self, item: tuple[Any, ...]) -> None:
        """Add one item."""
        self._buffer.append(item)
        self.count += 1
        if len(self._buffer) >= self._run_size:
            self._spill()

    def _spill(self) -> None:
        self._buffer.sort(key=_key)
        run = ChunkLog(RUN_CHUNK)
        run.extend(self._buffer)
        run._write()
        self._buffer = []
        # Runs by level: MAX_RUNS runs of one level merge into one of the next (each item is
        # rewritten about log(n / run_size, MAX_RUNS) times; at most MAX_RUNS - 1 runs a level).
        self._levels.append(0)
        self._runs.append(run)
        while self._levels.count(self._levels[-1]) >= MAX_RUNS:
            level = self._levels[-1]
            merging = [r for lv, r in zip(self._levels, self._runs, strict=True) if lv == level]
            merged = ChunkLog(RUN_CHUNK)
            items = heapq.merge(*(r.read() for r in merging), key=_key)
            while batch := list(itertools.islice(items, RUN_CHUNK)):
                merged.extend(batch)
            merged._write()
            for old in merging:
                old.close()
            kept = [(lv, r) for lv, r in zip(self._levels, self._runs, strict=True) if lv != level]
            self._levels = [lv for lv, _ in kept] + [level + 1]
            self._runs = [r for _, r in kept] + [merged]

    def sorted(self) -> Iterator[tuple[Any, ...]]:
        """Every item in (eventTime, eventID) order."""
        self._buffer.sort(key=_key)
        return heapq.merge(*(run.read() for run in self._runs), iter(self._buffer), key=_key)

    def close(self) -> None:
        """Drop the items and the files."""
        for run in self._runs:
            run.close()
        self._runs = []
        self._levels = []
        self._buffer = []
