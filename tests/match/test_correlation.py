"""CorrelationEngine: sliding inclusive windows, groups, order, refusals and bounded state."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule

from ses_sigma.alerts import Alert
from ses_sigma.match.correlation import CorrelationEngine
from ses_sigma.match.engine import Engine
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.pack import load_pack
from ses_sigma.records import Record, format_time, parse_event_time

T0 = parse_event_time("2025-01-20T10:00:00Z")
H = 3600.0
M = 60.0
ARN_X = "arn:aws:iam::111122223333:user/x"
ARN_Y = "arn:aws:iam::111122223333:user/y"

BASE_RULES = """
title: Created
name: created
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName: CreateEmailIdentity}
  condition: sel
---
title: Deleted
name: deleted
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName: DeleteEmailIdentity}
  condition: sel
---
title: Listed
name: listed
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName: ListEmailIdentities}
  condition: sel
"""


def load_corr(correlation: str, *, resolve: bool = True) -> SigmaCorrelationRule:
    """The correlation (named ``corr``) of BASE_RULES plus ``correlation`` (YAML body)."""
    body = textwrap.indent(textwrap.dedent(correlation).strip(), "  ")
    text = f"{BASE_RULES}\n---\ntitle: Corr\nname: corr\nlevel: high\ncorrelation:\n{body}\n"
    coll = SigmaCollection.from_yaml(text, collect_errors=True, resolve_references=resolve)
    found = [r for r in coll.rules if isinstance(r, SigmaCorrelationRule)]
    assert len(found) == 1
    return found[0]


def engine(correlation: str) -> CorrelationEngine:
    return CorrelationEngine(load_corr(correlation))


_serial = iter(range(1_000_000))


def rec(offset: float, arn: str | None = ARN_X, eid: str | None = None, **extra: Any) -> Record:
    """A record ``offset`` seconds after T0 by principal ``arn`` (None: no userIdentity)."""
    data: dict[str, Any] = {"eventTime": format_time(T0 + offset), **extra}
    if arn is not None:
        data["userIdentity"] = {"arn": arn}
    event_id = eid or f"e{next(_serial):06d}"
    data["eventID"] = event_id
    return Record(data=data, time=T0 + offset, event_id=event_id)


def run(eng: CorrelationEngine, feeds: list[tuple[str, Record]]) -> list[Alert]:
    """Feed in the given order (tests build it time-ordered) and flush."""
    out: list[Alert] = []
    for rule, record in feeds:
        out.extend(eng.feed(rule, record))
    out.extend(eng.flush())
    return out


ORDERED = """
type: temporal_ordered
rules: [created, deleted]
group-by: [userIdentity.arn]
timespan: 1h
"""

TEMPORAL = """
type: temporal
rules: [created, deleted]
group-by: [userIdentity.arn]
timespan: 1h
"""

COUNT3 = """
type: event_count
rules: [listed]
group-by: [userIdentity.arn]
timespan: 1h
condition: {gte: 3}
"""


# --------------------------------------------------------------------------- windows


@pytest.mark.parametrize("spec", [ORDERED, TEMPORAL])
def test_pair_exactly_timespan_apart_is_one_window(spec: str) -> None:
    a, b = rec(0), rec(H)
    alerts = run(engine(spec), [("created", a), ("deleted", b)])
    assert [al.event_ids for al in alerts] == [(a.event_id, b.event_id)]
    assert alerts[0].time == b.time
    assert alerts[0].group == (("userIdentity.arn", ARN_X),)
    assert alerts[0].rule_name == "corr"
    assert alerts[0].level == "high"


@pytest.mark.parametrize("spec", [ORDERED, TEMPORAL])
def test_pair_one_second_over_timespan_does_not_correlate(spec: str) -> None:
    alerts = run(engine(spec), [("created", rec(0)), ("deleted", rec(H + 1))])
    assert alerts == []


@pytest.mark.parametrize("spec", [ORDERED, TEMPORAL])
def test_pair_straddling_a_fixed_hour_bucket_correlates(spec: str) -> None:
    # 10:59:30 and 11:00:30: different hourly buckets, one minute apart.
    a, b = rec(59 * M + 30), rec(H + 30)
    assert format_time(a.time) == "2025-01-20T10:59:30Z"
    assert format_time(b.time) == "2025-01-20T11:00:30Z"
    alerts = run(engine(spec), [("created", a), ("deleted", b)])
    assert [al.event_ids for al in alerts] == [(a.event_id, b.event_id)]


def test_fractional_times_on_the_edge_stay_in_the_window() -> None:
    def at(when: str, eid: str) -> Record:
        return Record.from_dict({"eventTime": when, "eventID": eid, "userIdentity": {"arn": ARN_X}})

    for frac in ("123", "1", "999999", "123456789", "3"):
        a = at(f"2025-01-20T10:59:59.{frac}Z", "a")
        b = at(f"2025-01-20T11:59:59.{frac}Z", "b")
        late = at(f"2025-01-20T12:00:00.{frac}Z", "c")
        assert len(run(engine(ORDERED), [("created", a), ("deleted", b)])) == 1, frac
        assert run(engine(ORDERED), [("created", a), ("deleted", late)]) == [], frac


def test_event_count_window_edges() -> None:
    e = [rec(0), rec(30 * M), rec(H)]
    alerts = run(engine(COUNT3), [("listed", r) for r in e])
    assert [al.event_ids for al in alerts] == [tuple(r.event_id for r in e)]
    assert alerts[0].time == e[2].time

    # The first event falls out one second too early: no alert until a third fits.
    f = [rec(0), rec(30 * M), rec(H + 1), rec(H + 2)]
    alerts = run(engine(COUNT3), [("listed", r) for r in f])
    assert [al.event_ids for al in alerts] == [tuple(r.event_id for r in f[1:])]


def test_event_count_straddling_a_bucket_boundary() -> None:
    e = [rec(59 * M), rec(59 * M + 50), rec(H + 40)]
    alerts = run(engine(COUNT3), [("listed", r) for r in e])
    assert len(alerts) == 1


def test_event_count_gt_needs_one_more() -> None:
    spec = COUNT3.replace("gte: 3", "gt: 2")
    e = [rec(0), rec(1), rec(2)]
    eng = engine(spec)
    assert eng.feed("listed", e[0]) == [] and eng.feed("listed", e[1]) == []
    assert len(eng.feed("listed", e[2])) == 1


def test_event_count_one_alert_per_burst_then_starts_over() -> None:
    eng = engine(COUNT3)
    burst = [rec(i) for i in range(7)]  # 7 events in 7 seconds
    got = [len(eng.feed("listed", r)) for r in burst]
    # Alerts at the 3rd and 6th event; the 7th starts a new count.
    assert got == [0, 0, 1, 0, 0, 1, 0]


def test_event_count_over_two_rules_counts_an_event_matched_by_both_once() -> None:
    spec = """
    type: event_count
    rules: [created, listed]
    timespan: 1h
    condition: {gte: 2}
    """
    eng = engine(spec)
    both = rec(0)
    assert eng.feed("created", both) == []
    assert eng.feed("listed", both) == []  # the same event: still one
    alerts = eng.feed("listed", rec(5))
    assert len(alerts) == 1 and alerts[0].event_ids[0] == both.event_id
    assert alerts[0].group == ()


# --------------------------------------------------------------------------- temporal_ordered


def test_ordered_wrong_order_does_not_alert_until_the_right_order() -> None:
    d1, c, d2 = rec(0), rec(10 * M), rec(20 * M)
    alerts = run(engine(ORDERED), [("deleted", d1), ("created", c), ("deleted", d2)])
    assert [al.event_ids for al in alerts] == [(c.event_id, d2.event_id)]


def test_ordered_only_wrong_order_never_alerts() -> None:
    assert run(engine(ORDERED), [("deleted", rec(0)), ("created", rec(60))]) == []


def test_ordered_uses_the_most_recent_earlier_step() -> None:
    # created@0 and created@30m, deleted@80m: only the later creation is within 1h.
    c1, c2, d = rec(0), rec(30 * M), rec(80 * M)
    alerts = run(engine(ORDERED), [("created", c1), ("created", c2), ("deleted", d)])
    assert [al.event_ids for al in alerts] == [(c2.event_id, d.event_id)]


def test_ordered_three_steps_keep_the_chain_with_the_latest_start() -> None:
    spec = """
    type: temporal_ordered
    rules: [listed, created, deleted]
    group-by: [userIdentity.arn]
    timespan: 1h
    """
    l1, c1, l2, c2, d = rec(0), rec(10 * M), rec(20 * M), rec(30 * M), rec(75 * M)
    # Chain l1-c1-d spans 75m (too long); l2-c2-d spans 55m.
    feeds = [("listed", l1), ("created", c1), ("listed", l2), ("created", c2), ("deleted", d)]
    alerts = run(engine(spec), feeds)
    assert [al.event_ids for al in alerts] == [(l2.event_id, c2.event_id, d.event_id)]
    # Without c2 the chain l2 -> ? has no creation after l2: no alert.
    assert run(engine(spec), feeds[:3] + feeds[4:]) == []


def test_ordered_state_is_cleared_after_an_alert() -> None:
    c, d1, d2 = rec(0), rec(10 * M), rec(20 * M)
    alerts = run(engine(ORDERED), [("created", c), ("deleted", d1), ("deleted", d2)])
    assert [al.event_ids for al in alerts] == [(c.event_id, d1.event_id)]


@pytest.mark.parametrize("first", ["created", "deleted"])
def test_ordered_one_event_never_fills_two_steps(first: str) -> None:
    # The same record matched by both rules, fed in either order.
    second = "deleted" if first == "created" else "created"
    both = rec(10 * M)
    assert run(engine(ORDERED), [(first, both), (second, both)]) == []
    # ...but with an earlier creation it completes the pair as the deletion.
    c, both2 = rec(20 * M), rec(30 * M)
    alerts = run(engine(ORDERED), [("created", c), (first, both2), (second, both2)])
    assert [al.event_ids for al in alerts] == [(c.event_id, both2.event_id)]


@pytest.mark.parametrize("first", ["created", "deleted"])
def test_ordered_event_of_both_rules_pairs_with_another_of_its_second(first: str) -> None:
    # A creation of the same second as an event matching both rules: the latter is the
    # deletion of the pair (rule order at ties), whatever the eventIDs.
    second = "deleted" if first == "created" else "created"
    for cid, bid in [("a", "b"), ("b", "a")]:
        c, both = rec(0, eid=cid), rec(0, eid=bid)
        feeds = sorted([("created", c), (first, both), (second, both)], key=lambda f: f[1].sort_key)
        alerts = run(engine(ORDERED), feeds)
        assert [al.event_ids for al in alerts] == [(cid, bid)], (cid, bid)  # step order


@pytest.mark.parametrize(("cid", "did"), [("b-created", "a-deleted"), ("a-created", "b-deleted")])
def test_ordered_same_second_follows_rule_order_not_event_id(cid: str, did: str) -> None:
    # CloudTrail has 1-second resolution and random eventIDs: a creation and a deletion of
    # the same second pair, whatever their eventIDs and the order they are fed in.
    c, d = rec(0, eid=cid), rec(0, eid=did)
    feeds = sorted([("deleted", d), ("created", c)], key=lambda f: f[1].sort_key)
    alerts = run(engine(ORDERED), feeds)
    assert [al.event_ids for al in alerts] == [(cid, did)]  # step order, not eventID order
    # A deletion one second before the creation still does not pair.
    assert run(engine(ORDERED), [("deleted", rec(0)), ("created", rec(1))]) == []


def test_ordered_same_second_alert_comes_with_the_next_time_or_flush() -> None:
    eng = engine(ORDERED)
    c, d = rec(0), rec(30)
    assert eng.feed("created", c) == [] and eng.feed("deleted", d) == []
    alerts = eng.feed("created", rec(31))  # a later time settles the second of d
    assert [al.event_ids for al in alerts] == [(c.event_id, d.event_id)]
    assert eng.flush() == []


def test_ordered_duplicate_delivery_counts_once() -> None:
    c, d = rec(0), rec(10)
    dup = Record(data=dict(c.data), time=c.time, event_id=c.event_id)
    alerts = run(engine(ORDERED), [("created", c), ("created", dup), ("deleted", d)])
    assert [al.event_ids for al in alerts] == [(c.event_id, d.event_id)]


def test_ordered_several_alerts_from_one_long_stream() -> None:
    feeds = []
    expected = []
    for i in range(50):
        c, d = rec(i * 2 * H), rec(i * 2 * H + 59 * M)
        feeds += [("created", c), ("deleted", d)]
        expected.append((c.event_id, d.event_id))
        feeds.append(("deleted", rec(i * 2 * H + H + 30 * M)))  # a lone deletion: nothing
    alerts = run(engine(ORDERED), feeds)
    assert [al.event_ids for al in alerts] == expected


# --------------------------------------------------------------------------- temporal


def test_temporal_any_order() -> None:
    d, c = rec(0), rec(59 * M)
    alerts = run(engine(TEMPORAL), [("deleted", d), ("created", c)])
    assert [al.event_ids for al in alerts] == [(d.event_id, c.event_id)]
    assert alerts[0].time == c.time


def test_temporal_same_rule_twice_is_not_enough() -> None:
    a1, a2, b = rec(0), rec(10 * M), rec(20 * M)
    eng = engine(TEMPORAL)
    assert eng.feed("created", a1) == [] and eng.feed("created", a2) == []
    alerts = eng.feed("deleted", b)
    # The most recent event of each rule.
    assert [al.event_ids for al in alerts] == [(a2.event_id, b.event_id)]


def test_temporal_one_event_matched_by_both_rules_counts_for_both() -> None:
    both = rec(0)
    eng = engine(TEMPORAL)
    alerts = eng.feed("created", both) + eng.feed("deleted", both)
    assert [al.event_ids for al in alerts] == [(both.event_id,)]


def test_temporal_condition_counts_distinct_rules() -> None:
    spec = """
    type: temporal
    rules: [created, deleted, listed]
    timespan: 1h
    condition: {gte: 2}
    """
    eng = engine(spec)
    assert eng.feed("listed", rec(0)) == [] and eng.feed("listed", rec(1)) == []
    assert len(eng.feed("created", rec(2))) == 1


# --------------------------------------------------------------------------- groups


@pytest.mark.parametrize("spec", [ORDERED, TEMPORAL])
def test_different_groups_do_not_correlate(spec: str) -> None:
    assert run(engine(spec), [("created", rec(0, ARN_X)), ("deleted", rec(60, ARN_Y))]) == []


def test_groups_are_independent() -> None:
    cx, cy, dy, dx = rec(0, ARN_X), rec(1, ARN_Y), rec(2, ARN_Y), rec(3, ARN_X)
    alerts = run(
        engine(ORDERED), [("created", cx), ("created", cy), ("deleted", dy), ("deleted", dx)]
    )
    assert [(al.group, al.event_ids) for al in alerts] == [
        ((("userIdentity.arn", ARN_Y),), (cy.event_id, dy.event_id)),
        ((("userIdentity.arn", ARN_X),), (cx.event_id, dx.event_id)),
    ]


def test_group_values_are_case_sensitive() -> None:
    alerts = run(engine(ORDERED), [("created", rec(0, "arn:X")), ("deleted", rec(1, "arn:x"))])
    assert alerts == []


def test_event_without_group_value_does_not_take_part() -> None:
    eng = engine(ORDERED)
    assert eng.feed("created", rec(0, arn=None)) == []
    assert eng.feed("deleted", rec(1, arn=None)) == []
    assert eng.group_count == 0
    # An object where a value is expected is no value either.
    assert eng.feed("created", rec(2, arn=None, userIdentity={"arn": {"x": 1}})) == []
    assert eng.group_count == 0


def test_array_group_value_puts_the_event_in_each_group() -> None:
    spec = """
    type: temporal_ordered
    rules: [created, deleted]
    group-by: [resources.ARN]
    timespan: 1h
    """
    c = rec(0, resources=[{"ARN": "r1"}, {"ARN": "r2"}, {"ARN": "r1"}])
    d1 = rec(10, resources=[{"ARN": "r2"}])
    d2 = rec(20, resources={"ARN": "r1"})
    alerts = run(engine(spec), [("created", c), ("deleted", d1), ("deleted", d2)])
    assert [(al.group, al.event_ids) for al in alerts] == [
        ((("resources.ARN", "r2"),), (c.event_id, d1.event_id)),
        ((("resources.ARN", "r1"),), (c.event_id, d2.event_id)),
    ]


def test_aliases_map_the_group_by_name_per_rule_with_nested_fields() -> None:
    spec = """
    type: temporal_ordered
    rules: [created, deleted]
    group-by: [identity]
    timespan: 1h
    aliases:
      identity:
        created: requestParameters.emailIdentity
        deleted: requestParameters.identity
    """
    c = rec(0, requestParameters={"emailIdentity": "evil@example.com"})
    d_other = rec(1, requestParameters={"identity": "other@example.com"})
    d = rec(2, requestParameters={"identity": "evil@example.com", "emailIdentity": "nope"})
    alerts = run(engine(spec), [("created", c), ("deleted", d_other), ("deleted", d)])
    assert [(al.group, al.event_ids) for al in alerts] == [
        ((("identity", "evil@example.com"),), (c.event_id, d.event_id)),
    ]


def test_group_by_two_fields() -> None:
    spec = """
    type: event_count
    rules: [listed]
    group-by: [userIdentity.arn, awsRegion]
    timespan: 1h
    condition: {gte: 2}
    """
    feeds = [
        ("listed", rec(0, ARN_X, awsRegion="us-east-1")),
        ("listed", rec(1, ARN_X, awsRegion="eu-west-1")),
        ("listed", rec(2, ARN_Y, awsRegion="us-east-1")),
        ("listed", rec(3, ARN_X)),  # no region: does not take part
        ("listed", rec(4, ARN_X, awsRegion="eu-west-1")),
    ]
    alerts = run(engine(spec), feeds)
    assert [al.group for al in alerts] == [
        (("userIdentity.arn", ARN_X), ("awsRegion", "eu-west-1")),
    ]
    assert alerts[0].event_ids == (feeds[1][1].event_id, feeds[4][1].event_id)


# --------------------------------------------------------------------------- value_count


VALUES3 = """
type: value_count
rules: [listed]
group-by: [userIdentity.arn]
timespan: 1h
condition: {gte: 3, field: awsRegion}
"""


def test_value_count_counts_distinct_values_in_a_sliding_window() -> None:
    feeds = [
        rec(0, awsRegion="us-east-1"),
        rec(10 * M, awsRegion="us-east-1"),  # repeat
        rec(20 * M),  # no value: does not take part
        rec(30 * M, awsRegion="eu-west-1"),
        rec(H + 1, awsRegion="ap-south-1"),  # us-east-1@0 has left; us-east-1@10m has not
    ]
    alerts = run(engine(VALUES3), [("listed", r) for r in feeds])
    assert [al.event_ids for al in alerts] == [
        (feeds[1].event_id, feeds[3].event_id, feeds[4].event_id)
    ]


def test_value_count_value_leaving_the_window_is_not_counted() -> None:
    feeds = [
        rec(0, awsRegion="us-east-1"),
        rec(30 * M, awsRegion="eu-west-1"),
        rec(H + 1, awsRegion="ap-south-1"),
    ]
    assert run(engine(VALUES3), [("listed", r) for r in feeds]) == []


def test_value_count_array_values_count_each() -> None:
    r = rec(0, awsRegion=["a", "b", "c"])
    alerts = run(engine(VALUES3), [("listed", r)])
    assert [al.event_ids for al in alerts] == [(r.event_id,)]


def test_value_count_values_compare_exactly() -> None:
    feeds = [
        rec(0, awsRegion="A"),
        rec(1, awsRegion="a"),
        rec(2, awsRegion=1),
        rec(3, awsRegion="1"),
    ]
    alerts = run(engine(VALUES3.replace("gte: 3", "gte: 4")), [("listed", r) for r in feeds])
    assert len(alerts) == 1


def test_value_count_field_through_an_alias() -> None:
    spec = """
    type: value_count
    rules: [created, listed]
    timespan: 1h
    condition: {gte: 2, field: ip}
    aliases:
      ip: {created: sourceIPAddress, listed: requestParameters.ip}
    """
    c = rec(0, sourceIPAddress="1.1.1.1", requestParameters={"ip": "9.9.9.9"})
    same = rec(1, requestParameters={"ip": "1.1.1.1"}, sourceIPAddress="2.2.2.2")
    other = rec(2, requestParameters={"ip": "3.3.3.3"})
    eng = engine(spec)
    assert eng.feed("created", c) == [] and eng.feed("listed", same) == []
    alerts = eng.feed("listed", other)
    assert [al.event_ids for al in alerts] == [(c.event_id, same.event_id, other.event_id)]


# --------------------------------------------------------------------------- bounded state


def test_state_is_bounded_by_the_window_over_a_long_stream() -> None:
    # 20,000 distinct principals, one event each, one per minute: with a 1h window at most
    # the last 61 can still take part, whatever the stream length.
    for spec, rule in [(ORDERED, "created"), (TEMPORAL, "created"), (COUNT3, "listed")]:
        eng = engine(spec)
        peak = 0
        for i in range(20_000):
            assert eng.feed(rule, rec(i * M, arn=f"arn:p{i}")) == []
            peak = max(peak, eng.group_count)
        assert 0 < eng.group_count <= 61
        assert peak <= 61
        assert eng.state_size <= 61


def test_state_within_a_busy_group_is_bounded_too() -> None:
    spec = VALUES3.replace("gte: 3", "gte: 1000")
    eng = engine(spec)
    for i in range(10_000):  # one principal, one event per minute, always the same region
        assert eng.feed("listed", rec(i * M, awsRegion="us-east-1")) == []
    assert eng.group_count == 1
    assert eng.state_size == 61  # the events of the last hour, both edges included


def test_temporal_ordered_chains_are_bounded() -> None:
    eng = engine(ORDERED)
    for i in range(5_000):  # creations only: nothing ever completes
        eng.feed("created", rec(i * 10))
    eng.feed("created", rec(5_000 * 10))  # settles the held second
    assert eng.group_count == 1
    assert eng.state_size == 2  # the most recent creation and the one it replaced


def test_flush_drops_state_and_emits_nothing_pending() -> None:
    eng = engine(ORDERED)
    eng.feed("created", rec(0))
    eng.feed("created", rec(1))
    assert eng.group_count == 1
    assert eng.flush() == []
    assert eng.group_count == 0


def test_feed_out_of_order_is_an_error() -> None:
    eng = engine(ORDERED)
    eng.feed("created", rec(10))
    with pytest.raises(ValueError, match="out of"):
        eng.feed("deleted", rec(5))


def test_feed_of_an_unreferenced_rule_is_an_error() -> None:
    with pytest.raises(ValueError, match="listed"):
        engine(ORDERED).feed("listed", rec(0))


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        (
            "type: value_sum\nrules: [listed]\ntimespan: 1h\ncondition: {gte: 3, field: x}",
            "value_sum",
        ),
        (
            "type: value_avg\nrules: [listed]\ntimespan: 1h\ncondition: {gte: 3, field: x}",
            "value_avg",
        ),
        ("type: event_count\nrules: [listed]\ntimespan: 1h\ncondition: {lt: 3}", "'lt'"),
        ("type: event_count\nrules: [listed]\ntimespan: 1h\ncondition: {lte: 3}", "'lte'"),
        ("type: event_count\nrules: [listed]\ntimespan: 1h\ncondition: {eq: 3}", "'eq'"),
        ("type: event_count\nrules: [listed]\ntimespan: 1h\ncondition: {neq: 3}", "'neq'"),
        ("type: event_count\nrules: [listed]\ntimespan: 1h\ncondition: {gte: 0}", "without any"),
        (
            "type: value_count\nrules: [listed]\ntimespan: 1h\ncondition: {gte: 2, field: [a, b]}",
            "one field name",
        ),
        (
            "type: temporal\ntimespan: 1h\ncondition: created and not deleted",
            "extended",
        ),
        (
            "type: temporal\nrules: [created, deleted]\ntimespan: 1h\ncondition: {gte: 3}",
            "more distinct rules",
        ),
        (
            "type: temporal_ordered\nrules: [created, deleted, listed]\ntimespan: 1h\n"
            "condition: {gte: 2}",
            "every referenced rule",
        ),
        ("type: temporal\nrules: [created, created]\ntimespan: 1h", "twice"),
        ("type: temporal_ordered\nrules: [created]\ntimespan: 1h\ngroup-by: [a, a]", "twice"),
        ("type: temporal\nrules: [created, deleted]", "timespan"),
        ("type: temporal\nrules: [created, deleted]\ntimespan: 1x", "Timespan"),
        (
            "type: temporal\nrules: [created, deleted]\ntimespan: 1h\ngroup-by: [who]\n"
            "aliases: {who: {created: userIdentity.arn}}",
            "no field for rule 'deleted'",
        ),
        (
            "type: temporal\nrules: [created, deleted]\ntimespan: 1h\ngroup-by: [who]\n"
            "aliases: {who: {created: a, deleted: b, listed: c}}",
            "not a referenced rule",
        ),
        (
            "type: temporal\nrules: [created, deleted]\ntimespan: 1h\ngroup-by: [x]\n"
            "aliases: {who: {created: a, deleted: b}}",
            "not used",
        ),
    ],
)
def test_check_refuses_loudly_naming_the_rule(spec: str, reason: str) -> None:
    corr = load_corr(spec)
    with pytest.raises(RuleCompileError) as exc:
        CorrelationEngine.check(corr)
    assert str(exc.value).startswith("corr: ")
    assert reason in str(exc.value)
    with pytest.raises(RuleCompileError):
        CorrelationEngine(corr)


def test_check_refuses_a_correlation_over_a_correlation() -> None:
    text = f"""{BASE_RULES}
---
title: Inner
name: inner
correlation: {{type: temporal, rules: [created, deleted], timespan: 1h}}
---
title: Outer
name: outer
correlation: {{type: event_count, rules: [inner], timespan: 1d, condition: {{gte: 2}}}}
"""
    coll = SigmaCollection.from_yaml(text)
    outer = next(r for r in coll.rules if r.name == "outer")
    inner = next(r for r in coll.rules if r.name == "inner")
    CorrelationEngine.check(inner)
    with pytest.raises(RuleCompileError, match=r"^outer: correlation over 'inner'"):
        CorrelationEngine.check(outer)


def test_check_refuses_unresolved_references_and_missing_timespan() -> None:
    with pytest.raises(RuleCompileError, match=r"^corr: reference 'created' is not resolved"):
        CorrelationEngine.check(load_corr(TEMPORAL, resolve=False))
    corr = load_corr(TEMPORAL)
    corr.timespan = None  # type: ignore[assignment]
    with pytest.raises(RuleCompileError, match=r"^corr: correlation without a valid timespan"):
        CorrelationEngine.check(corr)


def test_check_accepts_references_by_id_and_aliases_by_id() -> None:
    text = """
title: A
id: 5d0e6a3c-1b7e-4a5e-9b1e-0e6d1a2b3c4d
logsource: {product: aws, service: cloudtrail}
detection: {sel: {eventName: A}, condition: sel}
---
title: B
name: b
logsource: {product: aws, service: cloudtrail}
detection: {sel: {eventName: B}, condition: sel}
---
title: Corr
name: corr
correlation:
  type: temporal
  rules: [5d0e6a3c-1b7e-4a5e-9b1e-0e6d1a2b3c4d, b]
  group-by: [who]
  timespan: 10m
  aliases:
    who: {5d0e6a3c-1b7e-4a5e-9b1e-0e6d1a2b3c4d: user.a, b: user.b}
"""
    coll = SigmaCollection.from_yaml(text)
    corr = next(r for r in coll.rules if isinstance(r, SigmaCorrelationRule))
    eng = CorrelationEngine(corr)
    a_name = "5d0e6a3c-1b7e-4a5e-9b1e-0e6d1a2b3c4d"  # rule_key of a rule without a name
    alerts = eng.feed(a_name, rec(0, user={"a": "u1"})) + eng.feed("b", rec(1, user={"b": "u1"}))
    assert [al.group for al in alerts] == [(("who", "u1"),)]


def test_the_pack_correlations_pass_the_check() -> None:
    pack = load_pack()
    assert pack.correlations
    for corr in pack.correlations:
        CorrelationEngine.check(corr)


# --------------------------------------------------------------------------- end to end


def _event(when: str, eid: str, name: str, arn: str, **extra: Any) -> Record:
    data = {
        "eventTime": when,
        "eventID": eid,
        "eventSource": "ses.amazonaws.com",
        "eventName": name,
        "userIdentity": {"arn": arn},
        **extra,
    }
    return Record.from_dict(data)


def test_end_to_end_through_the_engine_with_the_pack_correlation(tmp_path: Path) -> None:
    # The pack's own correlation and its two base rules, loaded from a temp dir.
    rules = Path(__file__).resolve().parents[2] / "rules"
    for name in (
        "aws_ses_identity_created",
        "aws_ses_identity_deleted",
        "aws_ses_identity_added_then_deleted",
    ):
        (tmp_path / f"{name}.yml").write_text((rules / f"{name}.yml").read_text())
    eng = Engine(load_pack([tmp_path]))
    v2, v1 = {"emailIdentity": "a@example.com"}, {"identity": "example.org"}
    ea, v1b = {"emailAddress": "b@example.com"}, {"identity": "b@example.com"}
    records = [
        # Delivered out of order, straddling 11:00; the engine orders them.
        _event("2025-01-20T11:00:30Z", "d1", "DeleteEmailIdentity", ARN_X, requestParameters=v2),
        _event("2025-01-20T10:59:30Z", "c1", "CreateEmailIdentity", ARN_X, requestParameters=v2),
        # Another principal: deleted without creating.
        _event("2025-01-20T11:10:00Z", "d2", "DeleteIdentity", ARN_Y, requestParameters=v1),
        # A refused deletion is no base-rule match.
        _event("2025-01-20T12:00:00Z", "c3", "VerifyEmailIdentity", ARN_Y, requestParameters=ea),
        _event("2025-01-20T12:10:00Z", "d3", "DeleteIdentity", ARN_Y, errorCode="AccessDenied"),
        # Another identity than the one created: not the pair.
        _event("2025-01-20T12:20:00Z", "d5", "DeleteIdentity", ARN_Y, requestParameters=v1),
        # Too late: 1h01m after the creation.
        _event("2025-01-20T13:01:00Z", "d4", "DeleteIdentity", ARN_Y, requestParameters=v1b),
    ]
    alerts = eng.run(records)
    corr = [a for a in alerts if a.rule_name == "aws_ses_identity_added_then_deleted"]
    assert [(a.event_ids, dict(a.group), format_time(a.time)) for a in corr] == [
        (
            ("c1", "d1"),
            {"userIdentity.arn": ARN_X, "sesIdentity": "a@example.com"},
            "2025-01-20T11:00:30Z",
        ),
    ]
    # generate: true keeps the base rules' own alerts.
    base = sorted(a.event_ids[0] for a in alerts if a.rule_name != corr[0].rule_name)
    assert base == ["c1", "c3", "d1", "d2", "d4", "d5"]


def test_end_to_end_input_order_does_not_matter(tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text(
        BASE_RULES
        + "---\ntitle: Corr\nname: corr\ncorrelation:\n"
        + textwrap.indent(COUNT3.strip(), "  ")
        + "\n"
    )
    eng = Engine(load_pack([tmp_path]))
    records = [
        _event(format_time(T0 + i * 20 * M), f"l{i}", "ListEmailIdentities", ARN_X)
        for i in range(7)
    ]
    forward = eng.run(records)
    backward = eng.run(list(reversed(records)))
    assert forward == backward
    # Windows of three events 20m apart (the third exactly 40m after the first): l0-l2, l3-l5.
    assert [a.event_ids for a in forward] == [("l0", "l1", "l2"), ("l3", "l4", "l5")]


def test_end_to_end_refused_correlation_names_the_rule(tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text(
        BASE_RULES
        + "---\ntitle: Corr\nname: corr\ncorrelation:\n"
        + textwrap.indent(COUNT3.replace("gte: 3", "lt: 3").strip(), "  ")
        + "\n"
    )
    with pytest.raises(RuleCompileError, match=r"corr: condition operator 'lt'"):
        Engine(load_pack([tmp_path]))
