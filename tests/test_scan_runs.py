"""The exact run's blocked merge (``scan_exact.merge_blocks``, ``_blocks``) and run reading
(``scan_runs.RunReader``, ``open_runs``) against ``heapq.merge`` by (eventTime, eventID):
the same items in the same order, ties across runs in run order, ties within a run in read
order, whatever the chunk sizes, dropped rows and number of runs."""

from __future__ import annotations

import heapq
import marshal
import operator
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ses_sigma import scan_exact
from ses_sigma.scan_exact import _blocks, merge_blocks, open_runs
from ses_sigma.scan_runs import RunCollector, RunReader, RunSpec, read_run, write_run
from ses_sigma.scan_tasks import pack_payload, unpack_payload

_key = operator.itemgetter(0, 1)

#: A run: items (eventTime, eventID, row, tag) sorted by key, few distinct keys (many ties).
_runs = st.lists(
    st.lists(st.tuples(st.integers(0, 6), st.sampled_from("abc")), max_size=40),
    min_size=0,
    max_size=7,
)


def _items(runs: list[list[tuple[int, str]]]) -> list[list[tuple[Any, ...]]]:
    """Sorted runs of items; the 4th field tells which run and place an item came from."""
    out = []
    for r, keys in enumerate(runs):
        items = [(float(t), e, row, f"{r}.{row}") for row, (t, e) in enumerate(keys)]
        items.sort()  # by (eventTime, eventID, row): read order within a key
        out.append(items)
    return out


def _chunks(items: list[Any], sizes: list[int]) -> list[list[Any]]:
    """``items`` cut into chunks of the given sizes (cycled), some empty."""
    out, at, k = [], 0, 0
    while at < len(items):
        size = sizes[k % len(sizes)]
        out.append(items[at : at + size])
        at += size
        k += 1
    return out


@settings(max_examples=150, deadline=None)
@given(_runs, st.lists(st.integers(0, 9), min_size=1, max_size=5).filter(any))
def test_blocked_merge_is_heapq_merge(runs: list[list[tuple[int, str]]], sizes: list[int]) -> None:
    """Any sorted runs cut in any chunks (ties within runs, across runs and across chunk
    ends): the batches hold heapq.merge's items in its order (stable: run order)."""
    items = _items(runs)
    want = list(heapq.merge(*items, key=_key))
    streams = [_blocks(iter(_chunks(run, sizes))) for run in items]
    got = [item for batch in merge_blocks(streams) for item in batch]
    assert got == want


def test_blocks_end_between_keys() -> None:
    """A key's items are never split over two blocks, even over several chunks."""
    run = [(1.0, "a", 0), (2.0, "a", 1), (2.0, "a", 2), (2.0, "a", 3), (2.0, "a", 4), (3.0, "a", 5)]
    blocks = list(_blocks(iter([run[:2], run[2:3], [], run[3:5], run[5:]])))
    assert blocks == [run[:1], run[1:5], run[5:]]


def _write(tmp_path: Path, name: str, items: list[Any], chunk: int) -> list[tuple[int, int]]:
    """A run file as workers write it (marshal chunks); its chunks."""
    chunks = []
    offset = 0
    with open(tmp_path / name, "wb") as fh:
        for start in range(0, len(items), chunk):
            data = marshal.dumps(items[start : start + chunk], 2)
            fh.write(data)
            chunks.append((offset, len(data)))
            offset += len(data)
    return chunks


@settings(max_examples=25, deadline=None)
@given(_runs, st.integers(1, 5), st.sets(st.integers(0, 40)), st.integers(2, 4))
def test_runs_read_by_chunks_and_merged_by_levels(
    runs: list[list[tuple[int, str]]],
    chunk: int,
    dropped: set[int],
    max_open: int,
) -> None:
    """Run files read by chunks without their dropped rows, more runs than ``MAX_OPEN``
    merged into files by levels first: heapq.merge of the kept items."""
    with tempfile.TemporaryDirectory() as folder:  # one per example, removed after it
        _check_runs(Path(folder), runs, chunk, dropped, max_open)


def _check_runs(
    tmp_path: Path,
    runs: list[list[tuple[int, str]]],
    chunk: int,
    dropped: set[int],
    max_open: int,
) -> None:
    items = _items(runs)
    specs = [
        (
            str(tmp_path / f"task-{i}.run"),
            _write(tmp_path, f"task-{i}.run", run, chunk),
            sorted(dropped),
        )
        for i, run in enumerate(items)
    ]
    kept = [[item for item in run if item[2] not in dropped] for run in items]
    want = list(heapq.merge(*kept, key=_key))
    for spec, run in zip(specs, kept, strict=True):
        reader = read_run(*spec)
        assert list(reader) == run
        assert all(reader.lists()) and [i for c in reader.lists() for i in c] == run
    saved = scan_exact.MAX_OPEN
    scan_exact.MAX_OPEN = max_open  # not a fixture: Hypothesis runs many examples per test
    try:
        readers = open_runs(specs, str(tmp_path))
    finally:
        scan_exact.MAX_OPEN = saved
    assert len(readers) <= max_open
    assert all(isinstance(r, RunReader) for r in readers)
    got = [item for batch in merge_blocks([_blocks(r.lists()) for r in readers]) for item in batch]
    assert got == want


def test_write_run_reads_back(tmp_path: Path) -> None:
    """``write_run``'s chunks read back as the items written, by chunk and by item."""
    items = [(float(i // 3), f"e{i}", (i, "x" * i)) for i in range(700)]
    path = str(tmp_path / "held.run")
    chunks = write_run(path, iter(items))
    assert len(chunks) == 3
    assert list(read_run(path, chunks)) == items
    assert list(read_run(path, [])) == []


_any_text = st.text(st.characters(codec=None, categories=None), max_size=8)  # lone surrogates
_values = st.recursive(
    st.none()
    | st.integers(-(2**100), 2**100)  # huge ints
    | _any_text
    | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner),
    max_leaves=8,
)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), _any_text, st.tuples(_any_text, _values)),
        max_size=30,
    ),
)
def test_hostile_payloads_cross_a_run_unchanged(
    rows: list[tuple[int, str, tuple[str, Any]]],
) -> None:
    """Payloads of attacker values (lone surrogates, huge ints, nested lists) written by a
    task's collector and read back through the blocked merge: the same items, each payload
    unpacked to what was packed; tie order kept (rows in read order)."""
    with tempfile.TemporaryDirectory() as folder:
        spec = RunSpec(folder, (("r",),))
        collector = RunCollector(spec)
        for row, (t, e, payload) in enumerate(rows):
            collector.add((float(t), e, row, pack_payload((payload,))))
        runs = collector.write(0)
        if not rows:
            assert runs is None
            return
        assert runs is not None
        reader = read_run(runs.path, runs.chunks[0])
        got = [item for batch in merge_blocks([_blocks(reader.lists())]) for item in batch]
    want = sorted((float(t), e, row) for row, (t, e, _) in enumerate(rows))
    assert [g[:3] for g in got] == want
    for item in got:
        assert unpack_payload(item[3]) == (rows[item[2]][2],)
