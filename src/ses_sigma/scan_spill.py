"""Stateful candidates kept in bounded memory: sorted runs spilled to a temporary file.

Correlations and first-seen rules must see their matches in (eventTime, eventID, rule) order,
and CloudTrail input comes in any order (files, and records within them). Rather than holding
every candidate until the end, candidates are buffered up to ``run_size``, sorted, written to a
temporary file as a run, and the runs are merged (``heapq.merge``) when the input is read:
memory is one run plus one pending item per run, whatever the input size.
"""

from __future__ import annotations

import heapq
import pickle
import tempfile
from collections.abc import Iterator
from typing import IO

from ses_sigma.records import Record

__all__ = ["CandidateSpill"]

# time, eventID, rule name, pickled record data, counted here (not already counted as matched)
Item = tuple[float, str, str, bytes, bool]


class CandidateSpill:
    """Sorted merge of (time, eventID, rule, data) candidates with bounded memory."""

    def __init__(self, run_size: int = 20_000):
        """``run_size``: candidates held in memory before a sorted run goes to disk."""
        self._run_size = run_size
        self._buffer: list[Item] = []
        self._file: IO[bytes] | None = None
        self._runs: list[tuple[int, int]] = []  # (offset, count) of each run in the file
        self.count = 0
        #: After ``sorted``: records counted here (stateful matches only), and their copies.
        self.matched = 0
        self.duplicates = 0

    def add(self, time: float, event_id: str, rule: str, data: bytes, counted: bool) -> None:
        """Add one candidate; ``counted``: the record is not yet counted as matched."""
        self._buffer.append((time, event_id, rule, data, counted))
        self.count += 1
        if len(self._buffer) >= self._run_size:
            self._spill()

    def _spill(self) -> None:
        if self._file is None:
            # Closed by sorted() once the runs are merged.
            self._file = tempfile.TemporaryFile(prefix="ses-sigma-candidates-")  # noqa: SIM115
        self._buffer.sort(key=lambda item: item[:3])
        self._file.seek(0, 2)
        offset = self._file.tell()
        pickler = pickle.Pickler(self._file, pickle.HIGHEST_PROTOCOL)
        for item in self._buffer:
            pickler.dump(item)
            pickler.clear_memo()
        self._runs.append((offset, len(self._buffer)))
        self._buffer = []

    def _read_run(self, offset: int, count: int) -> Iterator[Item]:
        assert self._file is not None
        position = offset
        for _ in range(count):
            self._file.seek(position)
            item = pickle.load(self._file)
            position = self._file.tell()
            yield item

    def sorted(self) -> Iterator[tuple[str, Record]]:
        """Every candidate as (rule name, Record), in (eventTime, eventID, rule) order, each
        (eventID, eventTime, rule) once. Consumes the spill; counts ``matched`` and
        ``duplicates`` of the records first counted here."""
        self._buffer.sort(key=lambda item: item[:3])
        runs = [self._read_run(o, c) for o, c in self._runs]
        merged = heapq.merge(*runs, iter(self._buffer), key=lambda item: item[:3])
        previous: tuple[float, str, str] | None = None
        group: tuple[float, str] | None = None
        copies = 1  # of the current (time, eventID, rule)
        counted_only = True  # every entry of the current group is counted here
        most = 1  # most copies of one rule in the current group
        try:
            for time, event_id, rule, data, counted in merged:
                if (time, event_id) != group:
                    if group is not None and counted_only:
                        self.matched += 1
                        self.duplicates += most - 1
                    group, counted_only, most = (time, event_id), True, 1
                counted_only = counted_only and counted
                if (time, event_id, rule) == previous:
                    copies += 1
                    most = max(most, copies)
                    continue
                previous, copies = (time, event_id, rule), 1
                yield rule, Record(data=pickle.loads(data), time=time, event_id=event_id)
            if group is not None and counted_only:
                self.matched += 1
                self.duplicates += most - 1
        finally:
            if self._file is not None:
                self._file.close()
                self._file = None
