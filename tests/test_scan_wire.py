"""How a worker's matches travel (``scan_tasks.to_wire`` / ``from_wire``) and the scan's garbage
collector settings (``scan_gc``): the wire form gives back exactly what ``run_task`` made, and
rule indexes give back exactly the alerts ``Engine.match_record`` makes."""

from __future__ import annotations

import contextlib
import gc
import pickle
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ses_sigma.alerts import Alert
from ses_sigma.logs import ReadStats, read_records
from ses_sigma.match.engine import Engine
from ses_sigma.pack import load_pack
from ses_sigma.records import Record, RecordError
from ses_sigma.scan_gc import YOUNG_THRESHOLD, in_scan_gc, scan_gc
from ses_sigma.scan_tasks import LEFT_OUT, Task, TaskResult, pack_payload, unpack_payload
from ses_sigma.scan_wire import WIRE_FILE_MIN, alerts_of, from_wire, to_wire

# Hostile text: lone surrogates, NUL, non-ASCII; times: -0.0, huge, negative.
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=8)
TIMES = st.sampled_from([0.0, -0.0, 1.5, 1e18, -86400.0, 1767383144.0]) | st.floats(allow_nan=False)
RULES = [
    ("id-1", "rule_one", "Rule one", "high"),
    ("", "rule_two", "Rule \udc80 two", "low"),
]
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | TIMES | TEXT,
    lambda inner: st.lists(inner, max_size=3).map(tuple) | st.lists(inner, max_size=3),
    max_leaves=6,
)


class Opaque:
    """A suppression group value marshal cannot write (the rows then go pickled)."""

    def __init__(self, value: int):
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.value == self.value

    def __hash__(self) -> int:
        return self.value


@st.composite
def matches(draw: Any, suppress: bool) -> tuple[Any, ...]:
    ts = draw(TIMES)
    event_id = draw(TEXT)
    found = draw(st.lists(st.integers(0, len(RULES) - 1), max_size=3))
    payload = draw(st.none() | VALUES.map(lambda v: (("rule_one", None, None, (v,)),)))
    payload = pack_payload(payload) if payload is not None and draw(st.booleans()) else payload
    values = VALUES | st.builds(Opaque, st.integers())
    sup = draw(st.lists(values, min_size=len(found), max_size=len(found))) if suppress else None
    return (ts, event_id, found, payload, sup)


@settings(max_examples=80)
@given(rows=st.booleans().flatmap(lambda sup: st.lists(matches(sup), max_size=6)))
def test_wire_round_trip_is_exact(rows: list[Any]) -> None:
    result = TaskResult(Task(0, "f.jsonl", 10), ReadStats(), 3)
    result.keys.extend(range(len(rows)))
    result.times, result.event_ids, result.found, result.payloads, groups = (
        [list(c) for c in zip(*rows, strict=True)] if rows else [[], [], [], [], []]
    )
    result.groups = groups if rows and rows[0][4] is not None else None
    assert result.rows() == rows
    sent = pickle.loads(pickle.dumps(to_wire(result)))  # as multiprocessing sends it
    opaque = any(r[4] and any(isinstance(v, Opaque) for v in r[4]) for r in rows)
    assert (sent.wire is None) == opaque  # pickled columns only when marshal cannot write them
    assert list(sent.keys) == list(range(len(rows)))
    got = from_wire(sent).rows()
    assert len(got) == len(rows)
    for (t1, e1, f1, p1, s1), (t2, e2, f2, p2, s2) in zip(rows, got, strict=True):
        assert (e1, f1, p1, s1) == (e2, f2, p2, s2)
        assert repr((t1, p1)) == repr((t2, p2))  # -0.0, True vs 1 kept
        assert alerts_of(f1, t1, e1, RULES) == alerts_of(f2, t2, e2, RULES)


@settings(max_examples=60)
@given(payload=st.lists(VALUES, max_size=4).map(tuple))
def test_packed_payloads_come_back_exactly(payload: tuple[Any, ...]) -> None:
    packed = pack_payload(payload)
    assert type(packed) is bytes
    back = unpack_payload(packed)
    assert back == payload and repr(back) == repr(payload)  # True vs 1, -0.0 vs 0.0 kept


def test_a_payload_marshal_cannot_write_travels_as_it_is() -> None:
    payload = (("rule", None, object(), ()),)
    assert pack_payload(payload) is payload
    assert unpack_payload(payload) is payload


def _records(engine: Engine) -> list[Record]:
    """Every fixture event and every bundled example record."""
    from ses_sigma.harness import load_fixtures

    examples = Path(__file__).resolve().parents[1] / "examples"
    out = list(read_records([examples], ReadStats()))
    for case in load_fixtures(rule_names=engine.rule_names):
        for event in case.events:
            with contextlib.suppress(RecordError):  # a fixture of a bad eventTime
                out.append(Record.from_dict(event))
    return out


def test_rule_indexes_make_the_alerts_of_match_record() -> None:
    """``Engine.match_rules`` + ``alerts_of`` give exactly ``Engine.match_record``'s alerts
    (same fields, same types), suppression groups and stateful rule names, on every fixture
    event and example record."""
    engine = Engine(load_pack())
    fired = 0
    for rec in _records(engine):
        alerts: list[Alert] = []
        groups: list[tuple[Alert, Any]] = []
        names = engine.match_record(rec, alerts, groups)
        found: list[int] = []
        sup: list[Any] = []
        assert engine.match_rules(rec, found, sup) == names
        made = alerts_of(found, rec.time, rec.event_id, engine.alert_rules)
        assert [repr(a) for a in made] == [repr(a) for a in alerts]
        assert [type(a.time) for a in made] == [type(a.time) for a in alerts]
        assert made == alerts and sup == [g for _, g in groups]
        fired += bool(alerts)
    assert fired > 50  # not vacuous


def test_scan_gc_restores_the_collector() -> None:
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    with scan_gc():
        assert gc.get_threshold()[0] == max(before[0], YOUNG_THRESHOLD)
        assert gc.get_freeze_count() > frozen
        cycle: list[Any] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1  # cyclic garbage is still collected
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    try:
        with scan_gc():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    assert not in_scan_gc()


def test_in_scan_gc_follows_nested_blocks() -> None:
    assert not in_scan_gc()
    with scan_gc():
        assert in_scan_gc()
        with scan_gc():
            assert in_scan_gc()
        assert in_scan_gc()
    assert not in_scan_gc()


def test_counted_alerts_are_the_kept_ones() -> None:
    """Without a consumer (keep_alerts False, no on_alert) the parent counts a worker's alerts
    without rebuilding them: the same count as the alerts it keeps, at 1 and 2 workers."""
    from ses_sigma.scan import scan_with_engine

    examples = Path(__file__).resolve().parents[1] / "examples"
    engine = Engine(load_pack())
    kept = scan_with_engine(engine, [examples], workers=2)
    assert len(kept.alerts) == kept.alert_count == 66  # examples/README.md
    for workers in (1, 2):
        counted = scan_with_engine(engine, [examples], workers=workers, keep_alerts=False)
        assert counted.alerts == [] and counted.alert_count == 66


def test_bench_rows_checks_what_it_times(tmp_path: Path, capsys: Any) -> None:
    """``python -m ses_sigma.bench_rows`` runs on a small file, its checks passing."""
    import orjson

    from ses_sigma.bench_data import generate_records
    from ses_sigma.bench_rows import main

    path = tmp_path / "small.jsonl"
    records = generate_records(3000, seed=2, ses_share=0.5)
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    assert main([str(path), "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "matched records" in out and "KeySet.add_many" in out and "former wire" in out


def test_a_large_result_travels_through_a_file(tmp_path: Path) -> None:
    """Blobs of ``WIRE_FILE_MIN`` bytes or more go through a file of the scan's directory: the
    rows come back exactly, the file is removed once read (or by ``release`` when unread),
    and a small result still travels in the message."""
    rows = [
        (
            1767383144.0 + i,
            f"id-{i}",
            [i % 2],
            pack_payload((("rule_one", None, None, (i,)),)),
            None,
        )
        for i in range(4000)
    ]

    def made() -> TaskResult:
        result = TaskResult(Task(7, "f.jsonl", 10), ReadStats(), 3)
        result.keys.extend(range(len(rows)))
        result.times, result.event_ids, result.found, result.payloads, _ = [
            list(c) for c in zip(*rows, strict=True)
        ]
        return result

    sent = pickle.loads(pickle.dumps(to_wire(made(), str(tmp_path))))
    assert sent.wire is None and sent.wire_file is not None
    assert len(pickle.dumps(sent)) < WIRE_FILE_MIN  # the rows are not in the message
    assert [p.name for p in tmp_path.iterdir()] == ["wire-7"]
    assert len(sent.keys) == len(rows)
    assert from_wire(sent).rows() == rows
    assert list(tmp_path.iterdir()) == []
    unread = to_wire(made(), str(tmp_path))
    assert unread.wire_file is not None
    unread.release()
    assert list(tmp_path.iterdir()) == []
    small = made()
    small.times, small.event_ids, small.found, small.payloads = (
        c[:3] for c in (small.times, small.event_ids, small.found, small.payloads)
    )
    del small.keys[3:]
    small_sent = to_wire(small, str(tmp_path))
    assert small_sent.wire_file is None and small_sent.wire is not None
    assert from_wire(small_sent).rows() == rows[:3]


def test_payloads_left_out_of_the_wire(tmp_path: Path) -> None:
    """``without_payloads``: the payloads stay out of the wire (they are in the task's runs),
    which rows had one comes back as ``LEFT_OUT``; every other column as it was."""
    rows = [
        (1.5 + i, f"id-{i}", [0] if i % 3 else [], pack_payload(((f"r{i}", None, None, ()),)))
        for i in range(500)
    ]
    rows = [(t, e, f, p if i % 4 else None) for i, (t, e, f, p) in enumerate(rows)]

    def made() -> TaskResult:
        result = TaskResult(Task(3, "f.jsonl", 10), ReadStats(), 3)
        result.keys.extend(range(len(rows)))
        result.times, result.event_ids, result.found, result.payloads = [
            list(c) for c in zip(*rows, strict=True)
        ]
        return result

    whole = to_wire(made(), str(tmp_path))
    sent = pickle.loads(pickle.dumps(to_wire(made(), str(tmp_path), without_payloads=True)))
    assert sent.payloads_left_out and not whole.payloads_left_out

    def size(result: TaskResult) -> int:
        return result.wire_file[1] if result.wire_file is not None else len(result.wire or b"")

    assert 0 < size(sent) < size(whole) // 2
    whole.release()
    times, event_ids, payloads, groups = sent.columns()
    assert (times, event_ids, groups) == ([r[0] for r in rows], [r[1] for r in rows], None)
    assert payloads == [None if r[3] is None else LEFT_OUT for r in rows]
    assert sent.found_lists() == [r[2] for r in rows]
    assert list(tmp_path.iterdir()) == []
