"""Batch mode's sorted runs (``scan_runs``) and the exact run split by part of the stateful
rules (``scan_exact``), against one runner over every rule and against ``Engine.run``."""

from __future__ import annotations

import heapq
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ses_sigma import scan_exact, scan_pool, scan_stream
from ses_sigma.alerts import Alert
from ses_sigma.bench_data import generate_records
from ses_sigma.logs import ReadStats, read_records
from ses_sigma.match.engine import Engine
from ses_sigma.pack import load_pack
from ses_sigma.records import Record
from ses_sigma.scan import scan_with_engine
from ses_sigma.scan_exact import cut_payload, merge_parts, part_alerts
from ses_sigma.scan_runs import RunCollector, RunSpec, _route, plan_parts, read_run
from ses_sigma.scan_tasks import alert_tuple, pack_payload, unpack_payload

ENGINE = Engine(load_pack())
#: (eventTime, eventID, payload) of stateful candidates of generated records, with their
#: eventTimes squeezed into a few hours of 9 days (windows fill, alerts fire), many shared.
_POOL: list[tuple[float, str, Any]] = []
for _rec in generate_records(6000, seed=4, ses_share=0.5):
    _data = dict(_rec)
    _n = len(_POOL)
    _data["eventTime"] = f"2026-03-{1 + _n % 9:02d}T{_n % 6:02d}:{_n % 60:02d}:00Z"
    _r = Record.from_dict(_data)
    _names = ENGINE.match_record(_r, [])
    if _names:
        _POOL.append((_r.time, _r.event_id, ENGINE.project(_r, _names)))


def canon(alerts: list[Alert]) -> list[bytes]:
    return sorted(orjson.dumps(a.to_dict()) for a in alerts)


def test_parts_are_whole_components_balanced_over_the_workers() -> None:
    components = ENGINE.stateful_components()
    names = sorted(n for c, _ in components for n in c)
    assert names == sorted(set(names))  # a base rule in one component only
    assert sum(w for _, w in components) == 10  # 8 correlations, 2 first-seen rules
    for count in (1, 2, 3, 20):
        parts = plan_parts(ENGINE, count)
        assert len(parts) == min(count, len(components))
        assert sorted(n for p in parts for n in p) == names
        for members, _ in components:  # a component is never cut
            assert sum(1 for p in parts if set(members) & set(p)) == 1


def _split_run(
    items: list[tuple[float, str, Any]], count: int, by_name: bool = False
) -> tuple[list[Alert], Any]:
    """The exact run in ``count`` parts (as the pool runs it), alerts merged; payloads cut
    as the workers mark them (``scan_runs._route``), or all by name."""
    ordered = sorted(items, key=lambda i: (i[0], i[1]))
    found = []
    notes = []
    parts = plan_parts(ENGINE, count)
    part_of = {n: i for i, names in enumerate(parts) for n in names}
    for i, names in enumerate(parts):
        stream = [  # whole payloads, marked: cut to the part's rules where read
            (
                t,
                e,
                0,
                True if by_name else dict(_route([x[0] for x in p], part_of))[i],
                pack_payload(p),
            )
            for t, e, p in ordered
            if any(item[0] in names for item in p)
        ]
        alerts, runner = part_alerts(ENGINE, names, [stream])
        found.append(list(alerts))
        notes += runner.implausible()
    return list(merge_parts(found)), notes


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, len(_POOL) - 1), min_size=1, max_size=400),
    st.integers(1, 4),
    st.booleans(),
)
def test_split_run_gives_what_one_runner_gives(picks: list[int], count: int, by_name: bool) -> None:
    """Any candidates, any number of parts: the merged alerts of the parts are, time by time,
    those of one runner over every rule (in the same order: ``merge_parts``)."""
    items = [_POOL[i] for i in dict.fromkeys(picks)]  # each (eventTime, eventID) once
    ordered = sorted(items, key=lambda i: (i[0], i[1]))
    one, runner = part_alerts(ENGINE, None, [ordered])
    want = list(merge_parts([one]))
    got, notes = _split_run(items, count, by_name)
    assert [alert_tuple(a) for a in got] == [alert_tuple(a) for a in want]
    assert sorted(notes) == sorted(runner.implausible())


def _per_item(
    names: tuple[str, ...] | None, streams: list[list[tuple[Any, ...]]]
) -> tuple[list[tuple[Any, ...]], Any]:
    """The exact run as it was made item by item (the reference of the blocked merge):
    heapq.merge by (eventTime, eventID), each payload unpacked and cut, then fed."""
    runner = ENGINE.stateful_runner(None, None, rules=names)
    wanted = frozenset(names) if names is not None else None
    out = []
    for item in heapq.merge(*streams, key=lambda i: (i[0], i[1])):
        payload = unpack_payload(item[-1])
        if len(item) == 5 and wanted is not None:
            payload = cut_payload(payload, item[3], wanted)
        out += runner.feed(item[0], item[1], payload)
    out += runner.finish()
    return [alert_tuple(a) for a in out], runner.implausible()


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(0, len(_POOL) - 1), min_size=1, max_size=300),
    st.lists(st.integers(0, 4), min_size=1, max_size=40),
    st.integers(1, 3),
    st.integers(0, 2),
)
def test_blocked_part_run_is_the_per_item_run(
    picks: list[int], spread: list[int], count: int, packed: int
) -> None:
    """Candidates spread over up to 5 sorted streams (some keys in several streams: ties in
    stream order), payloads packed, as trees or mixed, marked for their part: the blocked
    merge's alerts and notes are those of the per-item run."""
    # Repeated picks: the same key in several streams, with other payloads (order shows).
    items = [(*_POOL[i][:2], _POOL[(i + 7 * k) % len(_POOL)][2]) for k, i in enumerate(picks)]
    parts = plan_parts(ENGINE, count)
    part_of = {n: i for i, names in enumerate(parts) for n in names}
    for i, names in enumerate((None, *parts)):
        streams: list[list[tuple[Any, ...]]] = [[] for _ in range(5)]
        for k, (t, e, p) in enumerate(items):
            if names is not None and not any(item[0] in names for item in p):
                continue
            payload = pack_payload(p) if packed == 1 or (packed == 2 and k % 2) else p
            if names is None:
                item: tuple[Any, ...] = (t, e, k, payload)
            else:
                route = dict(_route([x[0] for x in p], part_of))
                whole = len(route) == 1
                item = (t, e, k, payload) if whole else (t, e, k, route[i - 1], payload)
            streams[spread[k % len(spread)]].append(item)
        for stream in streams:
            stream.sort(key=lambda x: (x[0], x[1]))  # stable: read order within a key
        want = _per_item(names, streams)
        alerts, runner = part_alerts(ENGINE, names, streams)
        assert ([alert_tuple(a) for a in alerts], runner.implausible()) == want


def test_a_wrong_mark_is_an_error() -> None:
    """A payload whose mark does not fit it (another length, rules of another part) stops
    the exact run with the reason, never feeds other rules' items."""
    parts = plan_parts(ENGINE, 2)
    part_of = {n: i for i, names in enumerate(parts) for n in names}
    t, e, p = next(x for x in _POOL if len({part_of[i[0]] for i in x[2]}) == 2)
    route = dict(_route([x[0] for x in p], part_of))
    for part, cut, payload, reason in [
        (0, route[0], p + p[-1:], "items, not"),
        (0, route[1], p, "rules of another part"),
    ]:
        alerts, _ = part_alerts(ENGINE, parts[part], [[(t, e, 0, cut, pack_payload(payload))]])
        with pytest.raises(RuntimeError, match=reason):
            list(alerts)


def test_split_run_fires_on_the_pool() -> None:
    """The pool's candidates make alerts of several rules (the test above is not empty)."""
    got, _ = _split_run(_POOL, 2)
    assert len({a.rule_name for a in got}) >= 3


def test_collector_sorts_stably_cuts_by_part_and_drops_rows(tmp_path: Path) -> None:
    parts = plan_parts(ENGINE, 2)
    collector = RunCollector(RunSpec(str(tmp_path), parts))
    items = _POOL[:300] + _POOL[:5]  # the same keys twice: read order kept
    for row, (t, e, p) in enumerate(items):
        collector.add((t, e, row, pack_payload(p)))
        assert collector.names is not None
        collector.names([item[0] for item in p])
    runs = collector.write(7)
    assert runs is not None and runs.records == len(items) and len(runs.chunks) == 2
    for i, names in enumerate(parts):
        got = list(read_run(runs.path, runs.chunks[i]))
        want = [
            (t, e, row)
            for row, (t, e, p) in enumerate(items)
            if any(item[0] in names for item in p)
        ]
        want.sort(key=lambda x: (x[0], x[1]))
        assert [g[:3] for g in got] == want
        for g in got:
            payload = items[g[2]][2]
            whole = all(item[0] in names for item in payload)
            assert len(g) == (4 if whole else 5)  # marked when other parts' rules are in it
            assert g[-1] == pack_payload(payload)
            if not whole:  # the mark cuts the payload to the part's items, in their order
                mine = tuple(item for item in payload if item[0] in names)
                assert cut_payload(payload, g[3], frozenset(names)) == mine
        dropped = [row for _, _, row in want[::3]]
        kept = list(read_run(runs.path, runs.chunks[i], dropped))
        assert [k[2] for k in kept] == [row for _, _, row in want if row not in set(dropped)]


def test_route_cuts_a_payload_to_each_part_by_slice_or_by_name() -> None:
    """A payload has one item per rule in sorted name order (the slice's premise); a part
    whose rules are not together is cut by name; a payload of another length is refused."""
    parts = (("a", "c"), ("b", "d"))
    part_of = {n: i for i, p in enumerate(parts) for n in p}
    payload = tuple((n, None, None, ()) for n in "abcd")
    route = _route(["d", "a", "b", "c", "a"], part_of)
    assert route == [(0, True), (1, True)]
    for part, cut in route:
        want = tuple(p for p in payload if p[0] in parts[part])
        assert cut_payload(payload, cut, frozenset(parts[part])) == want
    route = _route(["c", "d"], part_of)
    assert route == [(0, (0, 1, 2)), (1, (1, 2, 2))]
    two = payload[2:]
    assert cut_payload(two, route[0][1], frozenset(parts[0])) == (two[0],)
    with pytest.raises(RuntimeError, match="3 items, not 2"):
        cut_payload(payload[1:], route[0][1], frozenset(parts[0]))
    with pytest.raises(RuntimeError, match="rules of another part"):
        cut_payload(payload[1:3], route[0][1], frozenset(parts[0]))
    for _, _, p in _POOL[:500]:  # the pack's payloads: sorted, one item per rule
        names = [item[0] for item in p]
        assert names == sorted(set(names))


def _forged(rec: dict[str, Any], n: int) -> dict[str, Any]:
    """A record with the same eventID and eventTime as ``rec`` and another, new principal
    (a first-seen alert of its own if it were not dropped as a copy)."""
    out = json.loads(json.dumps(rec))
    out["userIdentity"] = {
        "type": "IAMUser",
        "arn": f"arn:aws:iam::111122223333:user/forged-{n}",
        "accountId": "111122223333",
        "accessKeyId": f"AKIAFORGED{n:010d}",
        "userName": f"forged-{n}",
    }
    return out


def _reference(paths: list[Path], **kw: Any) -> list[bytes]:
    """``Engine.run`` over the records, each matched (eventID, eventTime) once: the first
    matched copy in read order (the scan's contract: ``scan`` module docstring)."""
    seen: set[tuple[str, float]] = set()
    unique = []
    for rec in read_records(paths, ReadStats()):
        if not ENGINE.match_record(rec, alerts := []) and not alerts:
            continue
        if (rec.event_id, rec.time) not in seen:
            seen.add((rec.event_id, rec.time))
            unique.append(rec)
    return canon(ENGINE.run(unique, **kw))


@pytest.fixture
def spied(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts the task runs taken whole and the exact runs split over the pool."""
    counts: Counter[str] = Counter()
    add_run = scan_stream.StatefulStream.add_run

    def counted_add_run(self: Any, *args: Any) -> None:
        counts["runs"] += 1
        add_run(self, *args)

    monkeypatch.setattr(scan_stream.StatefulStream, "add_run", counted_add_run)
    run_parts = scan_pool.Work.run_parts

    def counted(self: Any) -> Any:
        inner = run_parts.fget(self)  # type: ignore[attr-defined]
        if inner is None:
            return None

        def run(jobs: Any) -> Any:
            counts["split"] += 1
            return inner(jobs)

        return run

    monkeypatch.setattr(scan_pool.Work, "run_parts", property(counted))
    monkeypatch.setattr(scan_stream, "SPLIT_MIN", 0)
    monkeypatch.setattr(scan_stream, "BATCH_MIN_LATE", 20)
    monkeypatch.setattr(scan_exact, "MAX_OPEN", 3)  # runs merged by levels first
    return counts


def _data(tmp_path: Path, ordered: bool) -> Path:
    records = generate_records(3000, seed=31, ses_share=0.45)
    # Forged copies (last file; the first in task order wins) and far-future times.
    ses = sorted(
        (r for r in records if r["eventSource"] == "ses.amazonaws.com"),
        key=lambda r: r["eventTime"],
    )
    forged = [_forged(r, n) for n, r in enumerate(ses[-80:])]  # after the learning period
    late = {"eventTime": "2099-01-01T00:00:00Z"}
    future = [{**r, **late, "eventID": f"future-{i}"} for i, r in enumerate(records[:300:11])]
    records += [records[i] for i in range(0, 3000, 97)]  # true copies
    if ordered:
        records.sort(key=lambda r: r["eventTime"])
    else:
        random.Random(9).shuffle(records)
    folder = tmp_path / ("ordered" if ordered else "shuffled")
    folder.mkdir()
    chunks = [records[k : k + 500] for k in range(0, len(records), 500)]
    chunks[-1] = chunks[-1] + forged + future
    for k, chunk in enumerate(chunks):
        (folder / f"p{k:03d}.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in chunk))
    return folder


@pytest.mark.parametrize(("ordered", "split"), [(False, False), (False, True), (True, True)])
def test_scan_with_runs_and_split_exact_run(
    tmp_path: Path,
    spied: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
    ordered: bool,
    split: bool,
) -> None:
    """Workers 1, 2, 3, pre-filter on and off, shuffled and time-ordered input with true and
    forged copies across tasks and far-future times, the exact run in one part or split by
    rules: the alerts of ``Engine.run``; on shuffled input the workers' runs are taken and,
    with workers, the exact run is made by them."""
    monkeypatch.setattr(scan_pool, "SPLIT_RULES", split)
    folder = _data(tmp_path, ordered)
    want = _reference([folder])
    assert len(want) > 100
    for workers, prefilter in [(1, True), (2, True), (2, False), (3, True), (3, False)]:
        before = dict(spied)
        seen: list[Alert] = []
        got = scan_with_engine(
            ENGINE,
            [folder],
            workers=workers,
            prefilter=prefilter,
            on_alert=seen.append,
            range_bytes=120_000,
        )
        assert canon(got.alerts) == want, (workers, prefilter)
        shown = Counter(seen)
        shown.subtract(got.late.withdrawn)
        assert canon(list(shown.elements())) == want
        assert got.duplicates > 0
        took = spied.get("runs", 0) - before.get("runs", 0)
        made = spied.get("split", 0) - before.get("split", 0)
        # No pool where forking is unsafe (other threads: a JVM under pytest-xdist): in here.
        pooled = workers > 1 and not scan_pool.other_threads()
        if ordered:
            assert got.late.batch_from is None and took == 0 and made == 0
        else:
            assert got.late.batch_from is not None and took > 0
            assert made == (1 if pooled else 0)


def test_state_and_suppression_stay_in_one_runner(tmp_path: Path, spied: dict[str, int]) -> None:
    """With a baseline or suppression the exact run is one runner (runs still taken): the
    alerts and the saved baseline are those of the time-ordered scan."""
    folder = _data(tmp_path, False)
    ordered = _data(tmp_path, True)
    want = _reference([folder], suppress=True)
    for workers in (1, 2):
        got = scan_with_engine(ENGINE, [folder], workers=workers, suppress=True)
        assert canon(got.alerts) == want
    saved = []
    for path, workers in ((folder, 2), (ordered, 1), (folder, 3)):
        state = tmp_path / f"state-{path.name}-{workers}.json"
        scan_with_engine(ENGINE, [path], workers=workers, state=state)
        saved.append(json.loads(state.read_text()))
    assert saved[0] == saved[1] == saved[2]
    assert spied["runs"] > 0 and spied.get("split", 0) == 0
