"""The feeders ``StatefulRunner`` calls, engine by engine, against the reference engines
(``match.feed_reference``), state included.

``FirstSeenEngine.feeder`` (per-time work once per eventTime, learning over stays over, get and
move_to_end), ``CorrelationEngine.feeder`` of an event_count / value_count correlation
(``_process`` and ``CountState.add`` inline) and of step 0 of a temporal_ordered one (inline),
and the runner's ``feed`` closure. Each is fed the same stream as its reference engine (many
records per second, repeats, window and forget edges, a saved baseline whose sightings are out
of time order, some later than the records): after every feed the alerts, and the state a test
can see (first-seen: the ``seen`` map in order and the learning start; counting correlations:
groups and events held), must be equal. ``tests/match/test_feed_fast.py`` compares whole runs.
"""

from __future__ import annotations

import gc
import weakref
from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sigma.collection import SigmaCollection

from ses_sigma.match.engine import Engine
from ses_sigma.match.first_seen import FirstSeenState
from ses_sigma.match.stateful import StatefulRunner
from ses_sigma.pack import Pack
from ses_sigma.records import Record, parse_event_time

SETTINGS = settings(
    max_examples=50,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

T0 = parse_event_time("2025-01-20T10:00:00Z")
CLOCK = T0 + 3600.0

PACK = """
title: A
name: ga
logsource: {product: aws, service: cloudtrail}
detection: {sel: {eventName: A}, condition: sel}
---
title: B
name: gb
logsource: {product: aws, service: cloudtrail}
detection: {sel: {eventName: B}, condition: sel}
---
title: New k
name: gnew
logsource: {product: aws, service: cloudtrail}
detection: {sel: {eventName: [A, B]}, condition: sel}
first_seen:
  fields: [k]
  learning_period: 4s
  forget_after: 5s
---
title: Count
name: gcount
correlation:
  type: event_count
  rules: [ga, gb]
  group-by: [k]
  timespan: 3s
  condition: {gte: 3}
---
title: Values
name: gvalues
correlation:
  type: value_count
  rules: [ga, gb]
  group-by: [k]
  timespan: 4s
  condition: {gte: 2, field: v}
---
title: Ordered
name: gord
correlation:
  type: temporal_ordered
  rules: [ga, gb]
  group-by: [k]
  timespan: 3s
"""

ENGINE = Engine(Pack(SigmaCollection.from_yaml(PACK)), clock=lambda: CLOCK)
KEYS = ["x", "y", "z"]


def _key(k: str) -> tuple[tuple[str, Any], ...]:
    return (("str", k),)


@st.composite
def feeds(draw: st.DrawFn) -> list[tuple[float, str, str, tuple[str, ...], tuple[str, ...]]]:
    """Sorted (time, eventID, rule, keys, values): few seconds (many records per second,
    edges of 3 to 5 s), fractions, an implausible far-future time, repeated events."""
    out = []
    for _ in range(draw(st.integers(0, 30))):
        t = draw(
            st.one_of(
                st.integers(0, 14).map(float),
                st.sampled_from([0.5, 3.5, 5.5]),
                st.just(10 * 86400.0),
            )
        )
        keys = tuple(draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=2, unique=True)))
        values = tuple(draw(st.lists(st.sampled_from(["p", "q", "r"]), max_size=2, unique=True)))
        out.append(
            (
                T0 + t,
                f"e{draw(st.integers(0, 3))}",
                draw(st.sampled_from(["ga", "gb"])),
                keys,
                values,
            )
        )
    out.sort(key=lambda f: f[:3])
    return out


def _baseline_state(
    entries: list[tuple[str, int]], start: int | None
) -> tuple[FirstSeenState, FirstSeenState]:
    """Two equal states: sightings in the order drawn (not time order), some after T0 + 14."""
    seen = OrderedDict((_key(k), T0 + t) for k, t in entries)
    start_time = None if start is None else T0 + start
    return (
        FirstSeenState(learning_start=start_time, seen=OrderedDict(seen)),
        FirstSeenState(learning_start=start_time, seen=OrderedDict(seen)),
    )


@SETTINGS
@given(
    stream=feeds(),
    saved=st.lists(st.tuples(st.sampled_from(KEYS), st.integers(-10, 30)), max_size=4),
    start=st.one_of(st.none(), st.integers(-6, 6)),
)
def test_first_seen_feeder_equals_the_reference(
    stream: list[tuple[float, str, str, tuple[str, ...], tuple[str, ...]]],
    saved: list[tuple[str, int]],
    start: int | None,
) -> None:
    fast_state, ref_state = _baseline_state(saved, start)
    fast = ENGINE.stateful_runner().first_seen["gnew"]
    fast.state = fast_state
    ref = ENGINE.stateful_runner(reference=True).first_seen["gnew"]
    ref.state = ref_state
    feed = fast.feeder()
    for time, event_id, _, keys, _ in stream:
        found = (tuple(_key(k) for k in keys), None, "")
        got = list(feed((time, event_id), found))
        assert got == ref.feed_event((time, event_id), found)
        assert list(fast.state.seen.items()) == list(ref.state.seen.items())
        assert fast.state.learning_start == ref.state.learning_start
    assert [(r.event_id, r.time) for r in fast.implausible] == [
        (r.event_id, r.time) for r in ref.implausible
    ]


def test_first_seen_feeder_with_its_state_replaced() -> None:
    """A state replaced between feeds (``seen`` and learning start) is the one used, as by
    the reference: learning over in the first, not started in the second."""
    engines = [
        ENGINE.stateful_runner().first_seen["gnew"],
        ENGINE.stateful_runner(reference=True).first_seen["gnew"],
    ]
    got = []
    for eng in engines:
        feed = eng.feeder() if eng is engines[0] else eng.feed_event
        eng.state = FirstSeenState(learning_start=T0 - 100)
        out = [list(feed((T0 + 1, "e1"), ((_key("x"),), None, "")))]
        eng.state = FirstSeenState(learning_start=None)
        out.append(list(feed((T0 + 2, "e2"), ((_key("y"),), None, ""))))
        out.append(list(feed((T0 + 2, "e3"), ((_key("z"),), None, ""))))
        got.append((out, eng.state.learning_start, list(eng.state.seen)))
    assert got[0] == got[1]
    assert [len(alerts) for alerts in got[0][0]] == [1, 0, 0]


@pytest.mark.parametrize("name", ["gcount", "gvalues", "gord"])
@SETTINGS
@given(stream=feeds())
def test_correlation_feeders_equal_the_reference(
    name: str, stream: list[tuple[float, str, str, tuple[str, ...], tuple[str, ...]]]
) -> None:
    """Counting correlations (and temporal_ordered, whose step 0 is fed inline) as the runner
    feeds them: ``advance`` at each new eventTime, then the feeders."""
    fast = next(e for e in ENGINE.stateful_runner().correlations if e.rule.name == name)
    ref = next(
        e for e in ENGINE.stateful_runner(reference=True).correlations if e.rule.name == name
    )
    feeders = {rule: fast.feeder(rule) for rule in ("ga", "gb")}
    now = float("-inf")
    for time, event_id, rule, keys, values in stream:
        got = []
        if time > now:
            now = time
            got.extend(fast.advance(time))
        # (value_count values for gvalues only: the others' projection has none)
        corr_values = tuple(("str", v) for v in values) if name == "gvalues" else ()
        found = None if name == "gvalues" and not values else (corr_values, tuple(keys))
        got.extend(feeders[rule]((time, event_id), found))
        assert got == ref.feed_event(rule, (time, event_id), found)
        if name != "gord":  # (a temporal_ordered reference keeps empty groups: its docstring)
            assert (fast.group_count, fast.state_size) == (ref.group_count, ref.state_size)
    assert fast.flush() == ref.flush()


def test_the_streams_can_fail() -> None:
    """Each engine of the pack alerts on a hand-made stream like the drawn ones, so the
    comparisons above see alerts (a fast path that lost one would differ)."""
    stream = [
        (T0 + 6, "e1", "A", "x", "p"),
        (T0 + 6, "e2", "B", "x", "q"),
        (T0 + 7, "e1", "A", "x", "r"),
        (T0 + 13, "e3", "B", "y", "p"),
    ]
    runner = ENGINE.stateful_runner()
    alerts = []
    for time, event_id, name, k, v in stream:
        rec = Record({"eventName": name, "k": k, "v": v}, time, event_id)
        payload = ENGINE.project(rec, ENGINE.match_record(rec, []))
        alerts.extend(runner.feed(time, event_id, payload))
    alerts.extend(runner.finish())
    assert {a.rule_name for a in alerts} == {"gnew", "gcount", "gvalues", "gord"}


def test_the_runner_feed_is_its_closure_and_the_method_calls_it() -> None:
    runner = ENGINE.stateful_runner()
    assert runner.feed is runner._feed
    reference = ENGINE.stateful_runner(reference=True)
    assert reference.feed.__func__ is type(reference).feed  # its own method, not the closure
    payload = (("gnew", ((_key("x"),), None, ""), None, ()),)
    assert StatefulRunner.feed(runner, T0 + 9, "e1", payload) == []
    with pytest.raises(ValueError, match="out of"):
        runner.feed(T0 + 9, "e0", payload)


def test_a_runner_is_freed_without_the_garbage_collector() -> None:
    """No reference cycle through the feeders (a scan worker freezes what exists, so an
    engine left in a cycle would stay): a runner dropped frees its engines at once."""
    runner = ENGINE.stateful_runner()
    engines = [weakref.ref(e) for e in [*runner.first_seen.values(), *runner.correlations]]
    payload = (("gnew", ((_key("x"),), None, ""), None, ()),)
    runner.feed(T0 + 9, "e1", payload)
    gc.disable()
    try:
        del runner
        assert [ref() for ref in engines] == [None] * len(engines)
    finally:
        gc.enable()
