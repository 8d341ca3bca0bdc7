"""FirstSeenSpec parsing and FirstSeenEngine: learning, forgetting, refresh, bounded state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sigma.collection import SigmaCollection
from sigma.rule import SigmaRule

from ses_sigma.match.engine import Engine
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.match.feed_reference import ReferenceFirstSeen
from ses_sigma.match.first_seen import (
    EARLIEST_PLAUSIBLE,
    FUTURE_SLACK,
    FirstSeenEngine,
    FirstSeenSpec,
    FirstSeenState,
)
from ses_sigma.pack import load_pack
from ses_sigma.records import Record, format_time, parse_event_time

T0 = parse_event_time("2025-01-01T00:00:00Z")
D = 86400.0
H = 3600.0

RULE = """
title: Enumeration
name: enum
level: medium
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName: GetSendQuota}
  condition: sel
"""


def load_rule(first_seen: str | None) -> SigmaRule:
    text = RULE if first_seen is None else RULE + "first_seen:\n" + first_seen
    rules = SigmaCollection.from_yaml(text).rules
    assert len(rules) == 1 and isinstance(rules[0], SigmaRule)
    return rules[0]


SPEC = """
  fields: [userIdentity.arn]
  learning_period: 7d
  forget_after: 30d
"""

_serial = iter(range(1_000_000))


def rec(offset: float, arn: Any = "arn:x", **extra: Any) -> Record:
    data: dict[str, Any] = {"eventTime": format_time(T0 + offset), **extra}
    if arn is not None:
        data["userIdentity"] = {"arn": arn}
    eid = f"e{next(_serial):06d}"
    data["eventID"] = eid
    return Record(data=data, time=T0 + offset, event_id=eid)


#: The wall clock the engines see: far enough after T0 for every test's records.
CLOCK = T0 + 10 * 365 * 86400.0


def engine(
    spec: str = SPEC, data_start: float | None = T0, state: FirstSeenState | None = None
) -> FirstSeenEngine:
    rule = load_rule(spec)
    parsed = FirstSeenSpec.from_rule(rule)
    assert parsed is not None
    return FirstSeenEngine(rule, parsed, data_start=data_start, state=state, clock=lambda: CLOCK)


# --------------------------------------------------------------------------- spec


def test_rule_without_the_attribute_has_no_spec() -> None:
    assert FirstSeenSpec.from_rule(load_rule(None)) is None


def test_spec_is_parsed_with_sigma_timespans() -> None:
    spec = FirstSeenSpec.from_rule(load_rule(SPEC))
    assert spec == FirstSeenSpec(("userIdentity.arn",), 7 * D, 30 * D)
    spec = FirstSeenSpec.from_rule(
        load_rule("  fields: [a, b.c]\n  learning_period: 90m\n  forget_after: 2w\n")
    )
    assert spec == FirstSeenSpec(("a", "b.c"), 90 * 60.0, 14 * D)


def test_the_pack_rule_spec() -> None:
    rule = load_pack().get("aws_ses_enumeration_new_principal")
    assert isinstance(rule, SigmaRule)
    spec = FirstSeenSpec.from_rule(rule)
    assert spec is not None
    assert spec.fields == ("sesPrincipal",)
    assert (spec.learning_period, spec.forget_after) == (7 * D, 30 * D)
    assert [(d.name, d.sources) for d in spec.derived] == [
        (
            "sesPrincipal",
            ("userIdentity.sessionContext.sessionIssuer.arn", "userIdentity.arn"),
        )
    ]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("  - userIdentity.arn\n", "must be a mapping"),
        ("  fields: [a]\n  learning_period: 7d\n", "missing forget_after"),
        ("  learning_period: 7d\n  forget_after: 7d\n", "missing fields"),
        ("  fields: [a]\n  learning_period: 7d\n  forget_after: 7d\n  extra: 1\n", "unknown"),
        ("  fields: []\n  learning_period: 7d\n  forget_after: 7d\n", "non-empty list"),
        ("  fields: a\n  learning_period: 7d\n  forget_after: 7d\n", "non-empty list"),
        ("  fields: [a, 3]\n  learning_period: 7d\n  forget_after: 7d\n", "3"),
        ("  fields: [a, '']\n  learning_period: 7d\n  forget_after: 7d\n", "''"),
        ("  fields: [[a]]\n  learning_period: 7d\n  forget_after: 7d\n", "['a']"),
        ("  fields: [a, a]\n  learning_period: 7d\n  forget_after: 7d\n", "twice"),
        ("  fields: [a]\n  learning_period: 7x\n  forget_after: 7d\n", "learning_period"),
        ("  fields: [a]\n  learning_period: 7\n  forget_after: 7d\n", "learning_period"),
        ("  fields: [a]\n  learning_period: 0d\n  forget_after: 7d\n", "greater than zero"),
        ("  fields: [a]\n  learning_period: 7d\n  forget_after: 30 days\n", "forget_after"),
        ("  fields: [a]\n  learning_period: 7d\n  forget_after: -1d\n", "forget_after"),
    ],
)
def test_malformed_spec_is_refused_naming_the_rule(body: str, reason: str) -> None:
    rule = load_rule(body)
    with pytest.raises(RuleCompileError) as exc:
        FirstSeenSpec.from_rule(rule)
    assert str(exc.value).startswith("enum: first_seen: ")
    assert reason in str(exc.value)


# --------------------------------------------------------------------------- learning


def test_learning_period_boundary() -> None:
    eng = engine()
    assert eng.feed(rec(7 * D - 1, "arn:a")) == []  # new, but still learning
    alerts = eng.feed(rec(7 * D, "arn:b"))  # new, exactly at the end of learning
    assert [(a.group, a.time) for a in alerts] == [((("userIdentity.arn", "arn:b"),), T0 + 7 * D)]
    assert alerts[0].rule_name == "enum" and alerts[0].level == "medium"


def test_a_given_learning_start_is_used() -> None:
    eng = engine(data_start=T0 - 7 * D)
    assert len(eng.feed(rec(0, "arn:a"))) == 1


def test_learning_starts_at_the_first_match() -> None:
    eng = engine(data_start=None)
    assert eng.feed(rec(3 * D, "arn:a")) == []
    assert eng.data_start == T0 + 3 * D
    assert eng.feed(rec(10 * D - 1, "arn:b")) == []  # 1s before the end of learning
    assert len(eng.feed(rec(10 * D, "arn:c"))) == 1


@pytest.mark.parametrize(
    "when",
    [
        "0001-01-01T00:00:00Z",
        "1970-01-01T00:00:00Z",
        "2013-10-31T23:59:59Z",
        "9999-12-31T00:00:00Z",
    ],
)
def test_an_implausible_time_cannot_disarm_learning(when: str) -> None:
    eng = engine(data_start=None)
    odd = Record(
        data={"eventTime": when, "eventID": "odd", "userIdentity": {"arn": "arn:odd"}},
        time=parse_event_time(when),
        event_id="odd",
    )
    early = odd.time < T0
    if early:  # fed first, as the engine's sort would
        assert eng.feed(odd) == []
    assert eng.feed(rec(1 * D, "arn:a")) == []  # starts learning, not the odd record
    assert eng.data_start == T0 + 1 * D
    assert eng.feed(rec(2 * D, "arn:b")) == []  # still learning
    assert len(eng.feed(rec(8 * D, "arn:c"))) == 1
    if not early:  # fed last: takes no part, forgets nothing
        assert eng.feed(odd) == []
        assert eng.state_size == 3
    assert [r.event_id for r in eng.implausible] == ["odd"]


def test_the_plausible_range_edges() -> None:
    eng = engine(data_start=None)
    start = EARLIEST_PLAUSIBLE
    first = Record(data={"eventTime": format_time(start), "eventID": "x"}, time=start, event_id="x")
    eng.feed(first)
    assert eng.implausible == [] and eng.data_start == start
    late = CLOCK + FUTURE_SLACK
    eng.feed(Record(data={}, time=late, event_id="y"))
    assert eng.implausible == []
    eng.feed(Record(data={}, time=late + 1, event_id="z"))
    assert [r.event_id for r in eng.implausible] == ["z"]


def test_projection_carries_the_raw_time_only_when_it_may_be_implausible() -> None:
    """``project`` leaves out the raw eventTime and origin of a match dated from
    EARLIEST_PLAUSIBLE to the wall clock when the engine was made (``note_after``), so that
    payloads depend on values only; a time outside may be implausible to an engine fed it:
    it carries its note. An engine made up to FUTURE_SLACK later (its wall clock ahead) finds
    every time left without a note plausible, and writes the note of the others."""
    projecting = engine(data_start=None)
    assert projecting.note_after == CLOCK
    later = FirstSeenEngine(
        projecting.rule, projecting.spec, clock=lambda: CLOCK + FUTURE_SLACK
    )  # the runner's engine, made a day later
    cases = [
        (EARLIEST_PLAUSIBLE - 1, True),
        (EARLIEST_PLAUSIBLE, False),
        (CLOCK, False),
        (CLOCK + 1, True),
        (CLOCK + 3 * FUTURE_SLACK, True),
    ]
    for n, (t, carried) in enumerate(cases):
        data = {"eventTime": f"raw{n}", "eventID": f"e{n}", "userIdentity": {"arn": "arn:a"}}
        r = Record(data=data, time=t, event_id=f"e{n}", origin=f"f.jsonl:{n}")
        keys, raw, origin = projecting.project(r)
        assert keys == ((("str", "arn:a"),),)
        assert (raw, origin) == ((f"raw{n}", f"f.jsonl:{n}") if carried else (None, ""))
        assert projecting.project(r, origin=False)[1:] == (
            (f"raw{n}", "") if carried else (None, "")
        )
        later.feed_event(r.sort_key, projecting.project(r))
    # Implausible to the later engine: before 2013-11-01 and three days ahead, with their notes.
    assert [(r.data, r.origin) for r in later.implausible] == [
        ({"eventTime": "raw0"}, "f.jsonl:0"),
        ({"eventTime": "raw4"}, "f.jsonl:4"),
    ]


def test_state_carries_over_between_engines() -> None:
    state = FirstSeenState()
    eng = engine(data_start=None, state=state)
    assert eng.feed(rec(0, "arn:a")) == []
    assert state.learning_start == T0 and state.seen
    eng2 = engine(data_start=None, state=state)  # a later run over a short export
    assert eng2.feed(rec(9 * D, "arn:a")) == []  # known from the first run
    assert len(eng2.feed(rec(9 * D, "arn:b"))) == 1  # new, and learning is long over


def test_a_value_seen_after_the_match_in_saved_state_is_known() -> None:
    state = FirstSeenState()
    assert engine(data_start=None, state=state).feed(rec(20 * D, "arn:a")) == []
    # A later run over older logs (still after learning): arn:a was seen after them.
    assert engine(data_start=None, state=state).feed(rec(19 * D, "arn:a")) == []


def test_derived_field_keys_a_role_session_on_its_role() -> None:
    spec = (
        "  fields: [who]\n  learning_period: 1d\n  forget_after: 30d\n"
        "derived_fields:\n  who:\n    coalesce:\n"
        "      - userIdentity.sessionContext.sessionIssuer.arn\n      - userIdentity.arn\n"
    )
    eng = engine(spec)
    role = "arn:aws:iam::1:role/App"

    def session(offset: float, name: str) -> Record:
        return rec(
            offset,
            None,
            userIdentity={
                "arn": f"arn:aws:sts::1:assumed-role/App/{name}",
                "sessionContext": {"sessionIssuer": {"arn": role}},
            },
        )

    assert eng.feed(session(0, "task-1")) == []
    assert eng.feed(session(2 * D, "task-2")) == []  # another session of a known role
    alerts = eng.feed(rec(2 * D, "arn:aws:iam::1:user/bob"))  # no issuer: the user ARN
    assert [a.group for a in alerts] == [(("who", "arn:aws:iam::1:user/bob"),)]
    carol = {"arn": "arn:aws:iam::1:user/carol", "sessionContext": {"sessionIssuer": {}}}
    console = rec(3 * D, None, userIdentity=carol)
    assert [a.group for a in eng.feed(console)] == [(("who", "arn:aws:iam::1:user/carol"),)]


def test_value_seen_during_learning_is_quiet_later() -> None:
    eng = engine()
    assert eng.feed(rec(1 * D, "arn:a")) == []
    assert eng.feed(rec(8 * D, "arn:a")) == []
    assert len(eng.feed(rec(8 * D, "arn:b"))) == 1


def test_a_value_alerts_once() -> None:
    eng = engine()
    first = rec(10 * D, "arn:a")
    alerts = eng.feed(first)
    assert [a.event_ids for a in alerts] == [(first.event_id,)]
    assert eng.feed(rec(10 * D + 1, "arn:a")) == []
    assert eng.feed(rec(11 * D, "arn:a")) == []


# --------------------------------------------------------------------------- forgetting


def test_forget_boundary() -> None:
    eng = engine()
    assert eng.feed(rec(0, "arn:a")) == []
    assert eng.feed(rec(0, "arn:b")) == []
    assert eng.feed(rec(30 * D, "arn:a")) == []  # exactly forget_after later: still known
    alerts = eng.feed(rec(30 * D + 1, "arn:b"))  # one second more: new again
    assert [a.group for a in alerts] == [(("userIdentity.arn", "arn:b"),)]


def test_every_match_refreshes_last_seen() -> None:
    eng = engine()
    assert eng.feed(rec(0, "arn:a")) == []
    assert eng.feed(rec(20 * D, "arn:a")) == []
    # 45 days after the first sighting, 25 after the last: still known.
    assert eng.feed(rec(45 * D, "arn:a")) == []
    # A sighting that alerted refreshes too.
    assert len(eng.feed(rec(80 * D, "arn:a"))) == 1  # 35 days after 45d: new again
    assert eng.feed(rec(109 * D, "arn:a")) == []


def test_forgotten_during_learning_is_only_remembered_again() -> None:
    spec = "  fields: [userIdentity.arn]\n  learning_period: 7d\n  forget_after: 1d\n"
    eng = engine(spec)
    assert eng.feed(rec(0, "arn:a")) == []
    assert eng.feed(rec(3 * D, "arn:a")) == []  # forgotten, but learning: quiet
    assert eng.feed(rec(3 * D + 23 * H, "arn:a")) == []
    assert len(eng.feed(rec(5 * D + 23 * H, "arn:a"))) == 0  # still learning
    assert len(eng.feed(rec(7 * D + 23 * H + 1, "arn:a"))) == 1  # > 1d later, after learning


# --------------------------------------------------------------------------- values


def test_event_without_the_field_does_not_take_part() -> None:
    eng = engine()
    assert eng.feed(rec(10 * D, arn=None)) == []
    assert eng.feed(rec(10 * D, arn={"nested": "object"})) == []
    assert eng.state_size == 0


def test_several_fields_make_one_tuple() -> None:
    spec = "  fields: [userIdentity.arn, awsRegion]\n  learning_period: 1d\n  forget_after: 30d\n"
    eng = engine(spec)
    assert eng.feed(rec(0, "arn:a", awsRegion="us-east-1")) == []
    assert eng.feed(rec(2 * D, "arn:a", awsRegion="us-east-1")) == []
    alerts = eng.feed(rec(2 * D, "arn:a", awsRegion="eu-west-1"))
    assert [a.group for a in alerts] == [
        (("userIdentity.arn", "arn:a"), ("awsRegion", "eu-west-1")),
    ]
    assert eng.feed(rec(2 * D, "arn:b")) == []  # no region: does not take part


def test_array_values_are_looked_up_one_by_one() -> None:
    spec = "  fields: [resources.ARN]\n  learning_period: 1d\n  forget_after: 30d\n"
    eng = engine(spec)
    assert eng.feed(rec(0, resources=[{"ARN": "r1"}])) == []
    r = rec(2 * D, resources=[{"ARN": "r1"}, {"ARN": "r2"}, {"ARN": "r3"}, {"ARN": "r2"}])
    alerts = eng.feed(r)
    assert [a.group for a in alerts] == [(("resources.ARN", "r2"),), (("resources.ARN", "r3"),)]
    assert all(a.event_ids == (r.event_id,) for a in alerts)
    # Every value of the array was refreshed.
    assert eng.feed(rec(3 * D, resources=[{"ARN": "r3"}, {"ARN": "r1"}])) == []


def test_values_compare_exactly() -> None:
    eng = engine()
    assert eng.feed(rec(0, "arn:A")) == []
    assert len(eng.feed(rec(8 * D, "arn:a"))) == 1
    assert len(eng.feed(rec(8 * D, 1))) == 1
    assert len(eng.feed(rec(8 * D, "1"))) == 1
    assert len(eng.feed(rec(8 * D, True))) == 1


# --------------------------------------------------------------------------- state


def test_state_is_bounded_by_forget_after() -> None:
    spec = "  fields: [userIdentity.arn]\n  learning_period: 1h\n  forget_after: 1d\n"
    eng = engine(spec)
    alerts = 0
    peak = 0
    for i in range(20_000):  # a new principal every hour for 2+ years
        alerts += len(eng.feed(rec(i * H, f"arn:p{i}")))
        peak = max(peak, eng.state_size)
    assert alerts == 20_000 - 1  # all but the one seen during learning (at 0h; 1h is not)
    assert eng.state_size == 25  # the last 24h, both edges included
    assert peak == 25


def test_feed_out_of_order_is_an_error() -> None:
    eng = engine()
    eng.feed(rec(10))
    with pytest.raises(ValueError, match="out of order"):
        eng.feed(rec(5))


# --------------------------------------------------------------------------- end to end


def _event(when: str, eid: str, arn: str, **extra: Any) -> dict[str, Any]:
    return {
        "eventTime": when,
        "eventID": eid,
        "eventSource": "ses.amazonaws.com",
        "eventName": "GetSendQuota",
        "userIdentity": {"arn": arn, "type": "IAMUser"},
        "sourceIPAddress": "203.0.113.7",
        **extra,
    }


def test_end_to_end_with_the_pack_rule(tmp_path: Path) -> None:
    rules = Path(__file__).resolve().parents[2] / "rules"
    name = "aws_ses_enumeration_new_principal"
    (tmp_path / f"{name}.yml").write_text((rules / f"{name}.yml").read_text())
    eng = Engine(load_pack([tmp_path]))
    data = [
        # Not a match of the rule: it does not start the learning period.
        {**_event("2024-12-01T00:00:00Z", "s0", "arn:other"), "eventName": "SendEmail"},
        _event("2025-01-03T00:00:00Z", "a1", "arn:known"),  # first match: learning starts
        _event("2025-01-09T23:59:59Z", "b1", "arn:late-learner"),  # learning, 1s before the end
        _event("2025-01-10T00:00:00Z", "c1", "arn:new"),  # first alert possible
        _event("2025-01-11T00:00:00Z", "a2", "arn:known"),
        _event("2025-01-12T00:00:00Z", "c2", "arn:new"),
        # An AWS service call is filtered out by the rule: no match, no state.
        _event(
            "2025-01-12T00:00:00Z", "x1", "arn:svc", sourceIPAddress="trustedadvisor.amazonaws.com"
        ),
        _event("2025-02-11T00:00:01Z", "c3", "arn:new"),  # 30d + 1s after c2: new again
    ]
    records = [Record.from_dict(d) for d in reversed(data)]  # input order does not matter
    alerts = eng.run(records)
    assert [(a.event_ids, dict(a.group)) for a in alerts] == [
        (("c1",), {"sesPrincipal": "arn:new"}),
        (("c3",), {"sesPrincipal": "arn:new"}),
    ]
    assert all(a.rule_name == name for a in alerts)


@pytest.mark.parametrize("kind", ["engine", "feeder", "reference"])
def test_a_stream_that_runs_for_days_moves_the_far_future_bound(kind: str) -> None:
    """The far-future bound is the wall clock plus FUTURE_SLACK when the match is fed: the
    clock is read again when a match passes the bound it gave last (a live stream), and a
    match still past it, or past a clock that stood still, is implausible."""
    now = [T0]
    rule = load_rule(SPEC)
    parsed = FirstSeenSpec.from_rule(rule)
    assert parsed is not None
    cls = ReferenceFirstSeen if kind == "reference" else FirstSeenEngine
    eng = cls(rule, parsed, data_start=T0, clock=lambda: now[0])
    if kind == "feeder":
        feed = eng.feeder()

        def fed(r: Record) -> Any:
            return feed(r.sort_key, eng.project(r))
    else:
        fed = eng.feed
    assert list(fed(rec(0, "arn:a"))) == []  # learning
    assert list(fed(rec(FUTURE_SLACK + 1, "arn:b"))) == []  # a day ahead of a clock at T0
    now[0] = T0 + 9 * D  # the stream has run for nine days
    assert len(fed(rec(9 * D, "arn:c"))) == 1  # plausible now, learning over: new, alerts
    assert len(fed(rec(9 * D + FUTURE_SLACK + 1, "arn:d"))) == 0  # still a day ahead
    assert [r.time - T0 for r in eng.implausible] == [FUTURE_SLACK + 1, 9 * D + FUTURE_SLACK + 1]
    assert eng.state_size == 2  # a and c; b and d took no part
    now[0] = T0  # a clock stepped back: the bound never moves down
    assert eng.plausible(T0 + 9 * D + FUTURE_SLACK)
