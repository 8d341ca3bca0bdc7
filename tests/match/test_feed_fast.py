"""The stateful engines' fast feeding gives the reference's alerts on any payload stream.

``Engine.stateful_runner()`` (the fast feeders of ``match.correlation``, ``match.first_seen``,
``match.stateful``) against ``Engine.stateful_runner(reference=True)`` (``match.feed_reference``:
the code before), over payload streams from Hypothesis: a synthetic pack with every
correlation type (temporal_ordered of two and three steps with a rule matching two steps,
event_count, value_count, temporal) and a first-seen rule, records with few eventTimes (ties,
fractional seconds, window edges), few eventIDs (repeats), group-by values of every type
(``True``, ``1``, ``1.0``, ``"1"``, arrays), value_count values repeated, implausible times, a
saved baseline or none, suppression on and off, fed as a scan feeds (one payload per record)
and as ``Engine.run`` does (one per record and rule). Alerts, their order, the suppression
groups, the suppressed alerts, the implausible-time notes and the first-seen state must be
equal.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sigma.collection import SigmaCollection

from ses_sigma.alerts import Alert
from ses_sigma.logs import read_records
from ses_sigma.match.baseline import Baseline
from ses_sigma.match.engine import Engine
from ses_sigma.match.first_seen import FirstSeenState
from ses_sigma.match.stateful import Payload
from ses_sigma.pack import Pack, load_pack
from ses_sigma.records import Record, format_time, parse_event_time

SETTINGS = settings(
    max_examples=400,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
T0 = parse_event_time("2025-01-20T10:00:00Z")
CLOCK = T0 + 3600.0

SYNTHETIC = """
title: A
name: fa
logsource: {product: aws, service: cloudtrail}
detection: {sel: {eventName: A}, condition: sel}
---
title: B
name: fb
logsource: {product: aws, service: cloudtrail}
detection: {sel: {eventName: B}, condition: sel}
---
title: A or B
name: fab
logsource: {product: aws, service: cloudtrail}
detection: {sel: {eventName: [A, B]}, condition: sel}
---
title: C
name: fc
logsource: {product: aws, service: cloudtrail}
detection: {sel: {eventName: C}, condition: sel}
---
title: New k
name: fnew
logsource: {product: aws, service: cloudtrail}
detection: {sel: {eventName: [A, C, F]}, condition: sel}
first_seen:
  fields: [k]
  learning_period: 8s
  forget_after: 12s
suppression:
  fields: [k]
  period: 5s
---
title: Ordered two
name: ford2
correlation:
  type: temporal_ordered
  rules: [fa, fb]
  group-by: [k]
  timespan: 6s
suppression:
  fields: [k]
  period: 4s
---
title: Ordered three
name: ford3
correlation:
  type: temporal_ordered
  rules: [fa, fab, fc]
  group-by: [k]
  timespan: 9s
---
title: Count
name: fcount
correlation:
  type: event_count
  rules: [fa, fb]
  group-by: [k]
  timespan: 5s
  condition: {gte: 3}
---
title: Values
name: fvalues
correlation:
  type: value_count
  rules: [fb, fc]
  group-by: [k]
  timespan: 7s
  condition: {gte: 2, field: v}
---
title: Temporal
name: ftemporal
correlation:
  type: temporal
  rules: [fa, fb, fc]
  group-by: [k]
  timespan: 4s
"""

ENGINE = Engine(Pack(SigmaCollection.from_yaml(SYNTHETIC)), clock=lambda: CLOCK)

KEYS = st.sampled_from(["x", "y", True, 1, 1.0, "1", None])
VALUES = st.sampled_from(["p", "q", "P", 1, True, "1"])
# Seconds after T0 (ties, window edges at 4..12 s), with fractions and implausible times.
OFFSETS = st.one_of(
    st.integers(0, 16).map(float),
    st.sampled_from([0.5, 4.5, 6.5, 10.25]),
    st.sampled_from([-T0, 10 * 86400.0]),  # 1970 and ten days after the clock
)


@st.composite
def records(draw: st.DrawFn) -> tuple[float, str, dict[str, Any]]:
    """(eventTime, eventID, record data) of one CloudTrail-like record."""
    offset = draw(OFFSETS)
    data: dict[str, Any] = {
        "eventName": draw(st.sampled_from(["A", "B", "C", "F"])),
        "eventTime": format_time(T0 + offset),
    }
    k = draw(st.one_of(KEYS, st.lists(KEYS, min_size=1, max_size=3)))
    if k is not None:
        data["k"] = k
    v = draw(st.one_of(VALUES, st.none(), st.lists(VALUES, max_size=2)))
    if v is not None:
        data["v"] = v
    return T0 + offset, f"e{draw(st.integers(0, 6))}", data


@st.composite
def streams(draw: st.DrawFn) -> list[tuple[float, str, dict[str, Any]]]:
    """Records, some of them delivered twice (CloudTrail does: same eventID and eventTime)."""
    recs = draw(st.lists(records(), max_size=40))
    if recs:
        again = draw(st.lists(st.integers(0, len(recs) - 1), max_size=6))
        recs = recs + [recs[i] for i in again]
    return recs


def _payloads(
    recs: list[tuple[float, str, dict[str, Any]]], suppress: bool, per_rule: bool
) -> list[tuple[float, str, Payload]]:
    """Sorted (time, eventID, payload) triples: one per record (first copy of an
    (eventID, eventTime), as a scan), or one per record and rule (as ``Engine.run``)."""
    out: list[tuple[float, str, str, Payload]] = []
    seen: set[tuple[float, str]] = set()
    for time, event_id, data in recs:
        if not per_rule:
            if (time, event_id) in seen:
                continue
            seen.add((time, event_id))
        rec = Record(data, time, event_id, "f.jsonl:1")
        names = ENGINE.match_record(rec, [])
        if not names:
            continue
        payload = ENGINE.project(rec, names, suppress=suppress)
        if per_rule:
            out.extend((time, event_id, item[0], (item,)) for item in payload)
        else:
            out.append((time, event_id, "", payload))
    out.sort(key=lambda p: p[:3])
    return [(t, e, p) for t, e, _, p in out]


def _baseline(entries: list[tuple[Any, float]], start: float | None) -> Baseline:
    seen = OrderedDict(((("str", str(k)),), T0 + t) for k, t in entries)
    return Baseline(states={"fnew": FirstSeenState(learning_start=start, seen=seen)})


def _run(
    triples: list[tuple[float, str, Payload]],
    reference: bool,
    suppress: bool,
    baseline: Baseline | None,
) -> tuple[Any, ...]:
    groups: list[tuple[Alert, Any]] | None = [] if suppress else None
    runner = ENGINE.stateful_runner(baseline, groups, reference=reference)
    alerts: list[Alert] = []
    for time, event_id, payload in triples:
        alerts.extend(runner.feed(time, event_id, payload))
    alerts.extend(runner.finish())
    suppressed = ENGINE.suppress(groups) if groups is not None else None
    state = None
    if baseline is not None:
        state = {n: (s.learning_start, list(s.seen.items())) for n, s in baseline.states.items()}
    return alerts, groups, suppressed, runner.implausible(), state


@SETTINGS
@given(
    recs=streams(),
    suppress=st.booleans(),
    per_rule=st.booleans(),
    saved=st.one_of(
        st.none(),
        st.tuples(
            st.lists(
                st.tuples(st.sampled_from(["x", "y", "True", "1"]), st.integers(-20, 40)),
                max_size=4,
            ),
            st.one_of(st.none(), st.integers(-20, 10).map(lambda t: T0 + t)),
        ),
    ),
)
def test_fast_feeding_equals_the_reference(
    recs: list[tuple[float, str, dict[str, Any]]],
    suppress: bool,
    per_rule: bool,
    saved: tuple[list[tuple[Any, float]], float | None] | None,
) -> None:
    triples = _payloads(recs, suppress, per_rule)
    base = _baseline(*saved) if saved is not None else None
    want = _run(triples, True, suppress, copy.deepcopy(base))
    got = _run(triples, False, suppress, copy.deepcopy(base))
    assert got == want


def test_the_synthetic_pack_alerts_at_all() -> None:
    """The generated streams can fail: every stateful rule of the synthetic pack alerts on
    a hand-made stream (so a fast path that dropped alerts would differ)."""
    recs = []
    for i, name in enumerate(["A", "A", "B", "B", "C", "C", "A", "B", "C"]):
        recs.append((T0 + 9 + i, f"h{i}", {"eventName": name, "k": "x", "v": f"v{i}"}))
    recs.append((T0 + 30, "h99", {"eventName": "F", "k": "z"}))
    got = _run(_payloads(recs, False, False), False, False, None)[0]
    assert {a.rule_name for a in got} == {
        "fnew",
        "ford2",
        "ford3",
        "fcount",
        "fvalues",
        "ftemporal",
    }
    assert got == _run(_payloads(recs, False, False), True, False, None)[0]


def test_later_steps_of_one_second_go_in_step_order() -> None:
    """ford3 (fa, fab, fc): a C and a B of the same second, the C with the smaller eventID,
    after an A: B takes step 2 first, then C completes the chain."""
    recs = [
        (T0 + 1, "e5", {"eventName": "A", "k": "x"}),
        (T0 + 2, "e7", {"eventName": "B", "k": "x"}),
        (T0 + 2, "e1", {"eventName": "C", "k": "x"}),
    ]
    for per_rule in (False, True):
        triples = _payloads(recs, False, per_rule)
        got = _run(triples, False, False, None)[0]
        assert [(a.rule_name, a.event_ids) for a in got if a.rule_name == "ford3"] == [
            ("ford3", ("e5", "e7", "e1"))
        ]
        assert got == _run(triples, True, False, None)[0]


def test_out_of_order_feeding_is_an_error() -> None:
    runner = ENGINE.stateful_runner()
    rec = Record({"eventName": "B", "k": "x"}, T0 + 5, "e2")
    payload = ENGINE.project(rec, ENGINE.match_record(rec, []))
    runner.feed(T0 + 5, "e2", payload)
    with pytest.raises(ValueError, match="out of"):
        runner.feed(T0 + 5, "e1", payload)
    with pytest.raises(ValueError, match="out of"):
        runner.feed(T0 + 4, "e9", payload)


@pytest.mark.parametrize("suppress", [False, True])
def test_pack_runner_equals_the_reference_on_the_examples(suppress: bool) -> None:
    """The bundled pack over the example logs (``examples/``), as ``Engine.run`` feeds them."""
    engine = Engine(load_pack())
    pending: list[tuple[float, str, str, Payload]] = []
    for rec in read_records([EXAMPLES]):
        names = engine.match_record(rec, [])
        if names:
            payload = engine.project(rec, names, suppress=suppress)
            pending.extend((rec.time, rec.event_id, item[0], (item,)) for item in payload)
    pending.sort(key=lambda p: p[:3])
    assert len(pending) > 50
    results = []
    for reference in (True, False):
        groups: list[tuple[Alert, Any]] | None = [] if suppress else None
        runner = engine.stateful_runner(None, groups, reference=reference)
        alerts = [a for t, e, _, p in pending for a in runner.feed(t, e, p)]
        alerts.extend(runner.finish())
        results.append((alerts, groups, engine.suppress(groups) if groups is not None else None))
    assert results[0] == results[1]
    # The examples raise first-seen, value_count and temporal_ordered alerts.
    assert {"aws_ses_enumeration_new_principal", "aws_ses_recon_multi_region"} <= {
        a.rule_name for a in results[0][0]
    }
    assert "aws_ses_identity_added_then_deleted" in {a.rule_name for a in results[0][0]}
