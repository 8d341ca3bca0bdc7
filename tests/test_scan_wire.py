"""How a worker's matches travel (``scan_tasks.to_wire`` / ``from_wire``) and the scan's garbage
collector settings (``scan_gc``): the wire form gives back exactly what ``run_task`` made."""

from __future__ import annotations

import gc
import pickle
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ses_sigma.alerts import Alert
from ses_sigma.logs import ReadStats
from ses_sigma.scan_gc import YOUNG_THRESHOLD, in_scan_gc, scan_gc
from ses_sigma.scan_tasks import (
    Task,
    TaskResult,
    alerts_of,
    from_wire,
    pack_payload,
    to_wire,
    unpack_payload,
)

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
def matches(draw: Any) -> tuple[Any, ...]:
    ts = draw(TIMES)
    event_id = draw(TEXT)
    alerts = []
    for _ in range(draw(st.integers(0, 3))):
        rule_id, name, title, level = draw(st.sampled_from(RULES))
        if draw(st.booleans()):  # as single_alert_maker makes it (the same time object)
            alerts.append(Alert(rule_id, name, title, level, ts, (event_id,)))
        else:
            alerts.append(
                Alert(
                    rule_id,
                    name,
                    title,
                    level,
                    draw(TIMES),
                    tuple(draw(st.lists(TEXT, max_size=2))),
                    tuple((draw(TEXT), draw(VALUES)) for _ in range(draw(st.integers(0, 2)))),
                    draw(st.none() | st.integers(0, 3)),
                )
            )
    payload = draw(st.none() | VALUES.map(lambda v: (("rule_one", None, None, (v,)),)))
    sup = draw(st.none() | st.lists(VALUES | st.builds(Opaque, st.integers()), max_size=3))
    key = draw(st.integers(0, 2**64 - 1))
    return (key, ts, event_id, alerts, payload, sup)


@settings(max_examples=60)
@given(rows=st.lists(matches(), max_size=6))
def test_wire_round_trip_is_exact(rows: list[Any]) -> None:
    result = TaskResult(Task(0, "f.jsonl", 10), list(rows), ReadStats(), 3)
    sent = pickle.loads(pickle.dumps(to_wire(result)))  # as multiprocessing sends it
    opaque = any(r[5] and any(isinstance(v, Opaque) for v in r[5]) for r in rows)
    assert (sent.wire is None) == opaque  # pickled rows only when marshal cannot write them
    got = from_wire(sent).matches
    assert len(got) == len(rows)
    for (k1, t1, e1, a1, p1, s1), (k2, t2, e2, a2, p2, s2) in zip(rows, got, strict=True):
        assert (k1, e1, p1, s1) == (k2, e2, p2, s2)
        assert repr(t1) == repr(t2)
        assert [type(a) for a in a2] == [Alert] * len(a1)
        assert [repr(a) for a in a1] == [repr(a) for a in a2]
        assert a1 == a2


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


def test_single_event_alerts_travel_as_rule_indexes() -> None:
    ts, event_id = 1767383144.0, "e\udc80"
    alert = Alert(*RULES[0], ts, (event_id,))
    other = Alert(*RULES[1], ts + 1, (event_id,))
    result = to_wire(TaskResult(Task(0, "f", 1), [(7, ts, event_id, [alert, other], None, None)]))
    [(_, _, _, found, _, _)] = result.rows()
    assert found[0] == 0 and result.rules == [RULES[0]]  # the template: an index
    assert type(found[1]) is tuple  # a different time: the whole alert
    assert alerts_of(found, ts, event_id, result.rules) == [alert, other]
    # An alert equal to the template but for the sign of a zero time is sent whole.
    signed = Alert(*RULES[0], 0.0, ("x",))
    result = to_wire(TaskResult(Task(0, "f", 1), [(7, -0.0, "x", [signed], None, None)]))
    [got] = from_wire(result).matches[0][3]
    assert repr(got.time) == "0.0"


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
    from pathlib import Path

    from ses_sigma.match.engine import Engine
    from ses_sigma.pack import load_pack
    from ses_sigma.scan import scan_with_engine

    examples = Path(__file__).resolve().parents[1] / "examples"
    engine = Engine(load_pack())
    kept = scan_with_engine(engine, [examples], workers=2)
    assert len(kept.alerts) == kept.alert_count == 66  # examples/README.md
    for workers in (1, 2):
        counted = scan_with_engine(engine, [examples], workers=workers, keep_alerts=False)
        assert counted.alerts == [] and counted.alert_count == 66
