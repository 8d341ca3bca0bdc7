"""The derived_fields extension (match/derived.py): validation and coalesced values."""

from __future__ import annotations

import pytest
from sigma.collection import SigmaCollection
from sigma.rule import SigmaRuleBase

from ses_sigma.match.derived import DerivedField, derived_fields, value_getter
from ses_sigma.match.errors import RuleCompileError

RULE = """
title: R
name: r
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName: X}
  condition: sel
"""


def load(extra: str) -> SigmaRuleBase:
    [rule] = SigmaCollection.from_yaml(RULE + extra).rules
    return rule


def test_no_attribute_no_fields() -> None:
    assert derived_fields(load("")) == {}


def test_parsed_in_order() -> None:
    got = derived_fields(load("derived_fields:\n  who:\n    coalesce: [a.b, c]\n"))
    assert got == {"who": DerivedField("who", ("a.b", "c"))}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("[a]", "non-empty mapping"),
        ("{a.b: {coalesce: [x, y]}}", "no dot"),
        ("{eventName: {coalesce: [x, y]}}", "is a CloudTrail field"),
        ("{w: [x, y]}", "the one key coalesce"),
        ("{w: {coalesce: [x]}}", "at least two"),
        ("{w: {coalesce: [x, x]}}", "twice"),
        ("{w: {coalesce: [x, '']}}", "not a field name"),
        ("{w: {coalesce: [x, v]}, v: {coalesce: [y, z]}}", "itself a derived field"),
    ],
)
def test_malformed_is_refused_naming_the_rule(body: str, reason: str) -> None:
    with pytest.raises(RuleCompileError) as exc:
        derived_fields(load(f"derived_fields: {body}\n"))
    assert str(exc.value).startswith("r: derived_fields: ")
    assert reason in str(exc.value)


def test_the_first_field_with_a_scalar_value_wins() -> None:
    get = value_getter("who", {"who": DerivedField("who", ("a.b", "c", "d"))})
    assert get({"a": {"b": "x"}, "c": "y"}) == ["x"]
    assert get({"a": {"b": None}, "c": "y"}) == ["y"]
    assert get({"a": {"b": {"obj": 1}}, "c": "y"}) == ["y"]  # an object is no value
    assert get({"a": {"b": []}, "c": ["p", "q"]}) == ["p", "q"]
    assert get({"d": ""}) == [""]  # the empty string is a value
    assert get({"z": 1}) == []


def test_a_plain_name_is_a_field_path() -> None:
    assert value_getter("a.b", {})({"a": {"b": 3}}) == [3]
