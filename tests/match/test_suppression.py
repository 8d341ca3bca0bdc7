"""The suppression extension: spec validation and the merging of alerts (match/suppression.py)."""

from __future__ import annotations

from typing import Any

import pytest
from sigma.collection import SigmaCollection
from sigma.rule import SigmaRuleBase

from ses_sigma.alerts import Alert
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.match.suppression import SuppressionSpec, Suppressor, group_of

RULE = """
title: Discovery
name: disc
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName: GetAccount}
  condition: sel
"""


def load(extra: str) -> SigmaRuleBase:
    [rule] = SigmaCollection.from_yaml(RULE + extra).rules
    return rule


def spec(extra: str) -> SuppressionSpec:
    found = SuppressionSpec.from_rule(load(extra))
    assert found is not None
    return found


def test_rule_without_the_attribute() -> None:
    assert SuppressionSpec.from_rule(load("")) is None


def test_spec_is_parsed() -> None:
    got = spec("suppression: {fields: [userIdentity.accessKeyId], period: 1d}\n")
    assert got == SuppressionSpec(("userIdentity.accessKeyId",), 86400.0, "suppress")
    got = spec("suppression: {fields: [a, b], period: 90m, missing_fields: do_not_suppress}\n")
    assert got == SuppressionSpec(("a", "b"), 5400.0, "do_not_suppress")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("[a]", "must be a mapping"),
        ("{fields: [a]}", "missing period"),
        ("{period: 1h}", "missing fields"),
        ("{fields: [a], period: 1h, extra: 1}", "unknown"),
        ("{fields: [], period: 1h}", "1 to 3"),
        ("{fields: [a, b, c, d], period: 1h}", "1 to 3"),
        ("{fields: [a, a], period: 1h}", "twice"),
        ("{fields: [''], period: 1h}", "not a field name"),
        ("{fields: [a], period: 1x}", "period"),
        ("{fields: [a], period: 1h, missing_fields: maybe}", "missing_fields"),
    ],
)
def test_malformed_spec_is_refused_naming_the_rule(body: str, reason: str) -> None:
    with pytest.raises(RuleCompileError) as exc:
        SuppressionSpec.from_rule(load(f"suppression: {body}\n"))
    assert str(exc.value).startswith("disc: suppression: ")
    assert reason in str(exc.value)


def test_on_a_correlation_the_fields_are_group_by_names() -> None:
    text = RULE + (
        "---\ntitle: C\nname: c\ncorrelation:\n  type: event_count\n  rules: [disc]\n"
        "  group-by: [userIdentity.arn]\n  timespan: 1h\n  condition: {gte: 2}\n"
        "suppression: {fields: [awsRegion], period: 1h}\n"
    )
    corr = SigmaCollection.from_yaml(text).rules[1]
    with pytest.raises(RuleCompileError, match="must be group-by names"):
        SuppressionSpec.from_rule(corr)


def alert(t: float, eid: str, rule: str = "disc", group: Any = ()) -> Alert:
    return Alert("id", rule, "t", "low", t, (eid,), group)


def run(spec_: SuppressionSpec, items: list[tuple[Alert, dict[str, Any]]]) -> list[Alert]:
    return Suppressor({"disc": spec_}).apply((a, group_of(spec_, data)) for a, data in items)


KEY = SuppressionSpec(("k",), 3600.0)


def test_one_alert_per_group_and_period_carrying_every_event_id() -> None:
    got = run(
        KEY,
        [
            (alert(0, "a1"), {"k": "A"}),
            (alert(1800, "a2"), {"k": "A"}),
            (alert(3600, "a3"), {"k": "A"}),  # the window's inclusive end
            (alert(3601, "a4"), {"k": "A"}),  # a new window
            (alert(10, "b1"), {"k": "B"}),
        ],
    )
    assert [(a.time, a.event_ids, a.suppressed) for a in got] == [
        (0, ("a1", "a2", "a3"), 2),
        (10, ("b1",), 0),
        (3601, ("a4",), 0),
    ]


def test_input_order_does_not_matter() -> None:
    items = [(alert(t, f"e{t}"), {"k": "A"}) for t in (0, 100, 5000, 5100)]
    assert run(KEY, items) == run(KEY, list(reversed(items)))


def test_missing_values_are_grouped_or_never_suppressed() -> None:
    items = [(alert(0, "x"), {}), (alert(10, "y"), {"k": None}), (alert(20, "z"), {})]
    assert [a.event_ids for a in run(KEY, items)] == [("x", "y", "z")]
    keep = SuppressionSpec(("k",), 3600.0, "do_not_suppress")
    assert [(a.event_ids, a.suppressed) for a in run(keep, items)] == [
        (("x",), 0),
        (("y",), 0),
        (("z",), 0),
    ]


def test_values_compare_exactly_and_arrays_are_one_value() -> None:
    items = [
        (alert(0, "a"), {"k": "A"}),
        (alert(1, "b"), {"k": "a"}),
        (alert(2, "c"), {"k": ["A", "B"]}),
        (alert(3, "d"), {"k": ["A", "B"]}),
        (alert(4, "e"), {"k": 1}),
        (alert(5, "f"), {"k": "1"}),
    ]
    assert [a.event_ids for a in run(KEY, items)] == [("a",), ("b",), ("c", "d"), ("e",), ("f",)]


def test_other_rules_pass_unchanged() -> None:
    other = alert(0, "o", rule="other")
    assert Suppressor({"disc": KEY}).apply([(other, None)]) == [other]
    assert other.to_dict().keys() == {
        "rule_id", "rule_name", "title", "level", "time", "group", "event_ids"
    }  # fmt: skip


def test_correlation_alerts_group_on_their_group() -> None:
    s = SuppressionSpec(("who",), 3600.0)
    a1 = alert(0, "a", group=(("who", "x"), ("id", "1")))
    a2 = alert(60, "b", group=(("who", "x"), ("id", "2")))
    a3 = alert(60, "c", group=(("who", "y"), ("id", "1")))
    got = Suppressor({"disc": s}).apply([(a1, None), (a2, None), (a3, None)])
    assert [(a.event_ids, a.suppressed) for a in got] == [(("a", "b"), 1), (("c",), 0)]
    assert got[0].to_dict()["suppressed"] == 1
