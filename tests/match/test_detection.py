"""Sigma single-event semantics of the matcher, one small case per rule of the specification."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml
from sigma.rule import SigmaRule

from ses_sigma.match.detection import RuleCompileError, compile_detection


def make_rule(detection: str, name: str = "t_rule") -> SigmaRule:
    """A minimal CloudTrail rule around a YAML ``detection`` block."""
    doc = {
        "title": "test",
        "name": name,
        "logsource": {"product": "aws", "service": "cloudtrail"},
        "detection": yaml.safe_load(detection),
    }
    return SigmaRule.from_dict(doc)


def matches(detection: str, event: dict[str, Any]) -> bool:
    return compile_detection(make_rule(detection)).predicate(event)


EVENT = {
    "eventSource": "ses.amazonaws.com",
    "eventName": "GetAccount",
    "awsRegion": "us-east-1",
    "sourceIPAddress": "203.0.113.7",
    "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 md/command#sesv2.get-account",
    "readOnly": True,
    "errorCode": None,
    "userIdentity": {
        "type": "IAMUser",
        "arn": "arn:aws:iam::111122223333:user/alice",
        "accessKeyId": "AKIAEXAMPLE1234567890",
        "userName": "alice",
    },
    "requestParameters": {"maxItems": 50, "identities": ["a@example.com", "b@example.org"]},
    "resources": [
        {"ARN": "arn:aws:ses:us-east-1:111122223333:identity/a@example.com", "type": "X"},
        {"ARN": "arn:aws:ses:us-east-1:111122223333:identity/example.org", "type": "Y"},
    ],
    "additionalEventData": {"SignatureVersion": "SigV4", "bytes": "5", "ratio": 0.5},
    "recipientAccountId": "111122223333",
    "empty": "",
    "path\\with": "back\\slash",
}


# ---------------------------------------------------------------- plain strings and wildcards


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("GetAccount", True),
        ("getaccount", True),  # case-insensitive
        ("GETACCOUNT", True),
        ("GetAcc", False),  # whole value, not substring
        ("GetAccountX", False),
        ("Get*", True),
        ("*Account", True),
        ("*tAcc*", True),
        ("Get?ccount", True),
        ("Get??ccount", False),
        ("G*t", True),
        ("*", True),
        ("?", False),
    ],
)
def test_plain_string_semantics(value: str, expected: bool) -> None:
    assert matches(f"sel:\n  eventName: '{value}'\ncondition: sel", EVENT) is expected


def test_wildcard_spans_newlines_and_is_case_insensitive() -> None:
    event = {"msg": "first line\nSECOND line"}
    assert matches("sel:\n  msg: 'first*second*'\ncondition: sel", event)


def test_escaped_wildcards_are_literal() -> None:
    event = {"v": "a*b", "w": "axb", "q": "what?"}
    assert matches("sel:\n  v: 'a\\*b'\ncondition: sel", event)
    assert not matches("sel:\n  w: 'a\\*b'\ncondition: sel", event)
    assert matches("sel:\n  q: 'what\\?'\ncondition: sel", event)
    assert not matches("sel:\n  q: 'whatx\\?'\ncondition: sel", event)


def test_backslash_before_ordinary_char_is_literal_and_double_backslash_is_one() -> None:
    assert matches("sel:\n  path\\with: 'back\\slash'\ncondition: sel", EVENT)
    assert matches("sel:\n  path\\with: 'back\\\\slash'\ncondition: sel", EVENT)


def test_contains_startswith_endswith() -> None:
    assert matches("sel:\n  userAgent|contains: 'SESV2.GET'\ncondition: sel", EVENT)
    assert matches("sel:\n  userAgent|startswith: 'AWS-CLI'\ncondition: sel", EVENT)
    assert matches("sel:\n  userAgent|endswith: 'get-ACCOUNT'\ncondition: sel", EVENT)
    assert not matches("sel:\n  userAgent|startswith: 'cli'\ncondition: sel", EVENT)
    assert not matches("sel:\n  userAgent|endswith: 'aws'\ncondition: sel", EVENT)
    assert not matches("sel:\n  userAgent|contains: 'boto3'\ncondition: sel", EVENT)


def test_contains_with_inner_wildcard() -> None:
    assert matches("sel:\n  userAgent|contains: 'cli/2.*linux'\ncondition: sel", EVENT)
    assert not matches("sel:\n  userAgent|contains: 'linux*cli/2'\ncondition: sel", EVENT)


def test_cased_is_case_sensitive() -> None:
    assert matches("sel:\n  eventName|cased: GetAccount\ncondition: sel", EVENT)
    assert not matches("sel:\n  eventName|cased: getaccount\ncondition: sel", EVENT)
    assert matches("sel:\n  eventName|contains|cased: tAcc\ncondition: sel", EVENT)
    assert not matches("sel:\n  eventName|contains|cased: TACC\ncondition: sel", EVENT)


def test_empty_string_is_a_value_not_null() -> None:
    assert matches("sel:\n  empty: ''\ncondition: sel", EVENT)
    assert not matches("sel:\n  empty: null\ncondition: sel", EVENT)
    assert not matches("sel:\n  eventName: ''\ncondition: sel", EVENT)


# ---------------------------------------------------------------- lists, maps, all


def test_list_of_values_is_or() -> None:
    assert matches("sel:\n  eventName: [ListIdentities, getaccount]\ncondition: sel", EVENT)
    assert not matches("sel:\n  eventName: [ListIdentities, GetSendQuota]\ncondition: sel", EVENT)


def test_map_is_and() -> None:
    assert matches("sel:\n  eventName: GetAccount\n  awsRegion: us-east-1\ncondition: sel", EVENT)
    det = "sel:\n  eventName: GetAccount\n  awsRegion: eu-west-1\ncondition: sel"
    assert not matches(det, EVENT)


def test_list_of_maps_is_or_of_ands() -> None:
    det = (
        "sel:\n"
        "  - eventName: GetAccount\n    awsRegion: eu-west-1\n"
        "  - eventName: GetAccount\n    awsRegion: us-east-1\n"
        "condition: sel"
    )
    assert matches(det, EVENT)
    det2 = (
        "sel:\n"
        "  - eventName: GetAccount\n    awsRegion: eu-west-1\n"
        "  - eventName: ListIdentities\n    awsRegion: us-east-1\n"
        "condition: sel"
    )
    assert not matches(det2, EVENT)


def test_all_modifier_turns_list_into_and() -> None:
    assert matches("sel:\n  userAgent|contains|all: [aws-cli, sesv2]\ncondition: sel", EVENT)
    assert not matches("sel:\n  userAgent|contains|all: [aws-cli, boto3]\ncondition: sel", EVENT)


# ---------------------------------------------------------------- null and exists


def test_null_means_absent_or_json_null() -> None:
    assert matches("sel:\n  errorCode: null\ncondition: sel", EVENT)  # JSON null
    assert matches("sel:\n  errorMessage: null\ncondition: sel", EVENT)  # absent
    assert not matches("sel:\n  eventName: null\ncondition: sel", EVENT)
    assert matches("sel:\n  requestParameters.nothing: null\ncondition: sel", EVENT)
    failed = {**EVENT, "errorCode": "AccessDenied"}
    assert not matches("sel:\n  errorCode: null\ncondition: sel", failed)


def test_null_through_a_null_parent() -> None:
    event = {"requestParameters": None}
    assert matches("sel:\n  requestParameters.serviceCode: null\ncondition: sel", event)
    assert not matches("sel:\n  requestParameters.serviceCode: ses\ncondition: sel", event)


def test_exists() -> None:
    assert matches("sel:\n  eventName|exists: true\ncondition: sel", EVENT)
    assert not matches("sel:\n  errorCode|exists: true\ncondition: sel", EVENT)
    assert matches("sel:\n  errorCode|exists: false\ncondition: sel", EVENT)
    assert matches("sel:\n  empty|exists: true\ncondition: sel", EVENT)
    assert matches("sel:\n  userIdentity|exists: true\ncondition: sel", EVENT)


def test_null_in_a_value_list() -> None:
    det = "sel:\n  errorCode: [null, ThrottlingException]\ncondition: sel"
    assert matches(det, EVENT)
    assert matches(det, {**EVENT, "errorCode": "ThrottlingException"})
    assert not matches(det, {**EVENT, "errorCode": "AccessDenied"})


# ---------------------------------------------------------------- numbers and booleans


def test_numbers_match_their_string_forms_both_ways() -> None:
    assert matches("sel:\n  requestParameters.maxItems: 50\ncondition: sel", EVENT)
    assert matches("sel:\n  requestParameters.maxItems: '50'\ncondition: sel", EVENT)
    assert matches("sel:\n  additionalEventData.bytes: 5\ncondition: sel", EVENT)
    assert matches("sel:\n  additionalEventData.bytes: '5'\ncondition: sel", EVENT)
    assert not matches("sel:\n  requestParameters.maxItems: 5\ncondition: sel", EVENT)
    assert matches("sel:\n  additionalEventData.ratio: 0.5\ncondition: sel", EVENT)
    assert matches("sel:\n  requestParameters.maxItems|startswith: '5'\ncondition: sel", EVENT)


def test_booleans_match_their_string_forms_both_ways() -> None:
    assert matches("sel:\n  readOnly: true\ncondition: sel", EVENT)
    assert matches("sel:\n  readOnly: 'true'\ncondition: sel", EVENT)
    assert matches("sel:\n  readOnly: 'TRUE'\ncondition: sel", EVENT)
    assert not matches("sel:\n  readOnly: false\ncondition: sel", EVENT)
    assert matches("sel:\n  flag: true\ncondition: sel", {"flag": "True"})
    assert not matches("sel:\n  flag: true\ncondition: sel", {"flag": 1})


@pytest.mark.parametrize(
    ("modifier", "value", "expected"),
    [
        ("gt", 49, True),
        ("gt", 50, False),
        ("gte", 50, True),
        ("lt", 51, True),
        ("lt", 50, False),
        ("lte", 50, True),
        ("lte", 49, False),
    ],
)
def test_numeric_comparisons(modifier: str, value: int, expected: bool) -> None:
    det = f"sel:\n  requestParameters.maxItems|{modifier}: {value}\ncondition: sel"
    assert matches(det, EVENT) is expected


def test_numeric_comparison_on_numeric_string_and_non_numeric() -> None:
    assert matches("sel:\n  additionalEventData.bytes|gt: 4\ncondition: sel", EVENT)
    assert not matches("sel:\n  eventName|gt: 4\ncondition: sel", EVENT)
    assert not matches("sel:\n  readOnly|gt: 0\ncondition: sel", EVENT)  # booleans are not numbers


# ---------------------------------------------------------------- regular expressions


def test_regex_is_case_sensitive_and_unanchored() -> None:
    assert matches("sel:\n  eventName|re: 'tAcc'\ncondition: sel", EVENT)
    assert not matches("sel:\n  eventName|re: 'tacc'\ncondition: sel", EVENT)
    assert matches("sel:\n  eventName|re: '^Get[A-Z]'\ncondition: sel", EVENT)
    assert not matches("sel:\n  eventName|re: '^Account'\ncondition: sel", EVENT)


def test_regex_flags() -> None:
    assert matches("sel:\n  eventName|re|i: 'tacc'\ncondition: sel", EVENT)
    event = {"msg": "one\ntwo"}
    assert not matches("sel:\n  msg|re: '^two'\ncondition: sel", event)
    assert matches("sel:\n  msg|re|m: '^two'\ncondition: sel", event)
    assert not matches("sel:\n  msg|re: 'one.two'\ncondition: sel", event)
    assert matches("sel:\n  msg|re|s: 'one.two'\ncondition: sel", event)


def test_regex_on_numbers_uses_their_text() -> None:
    assert matches("sel:\n  requestParameters.maxItems|re: '^\\d+$'\ncondition: sel", EVENT)


# ---------------------------------------------------------------- cidr


def test_cidr_ipv4_and_ipv6_and_non_ip() -> None:
    assert matches("sel:\n  sourceIPAddress|cidr: 203.0.113.0/24\ncondition: sel", EVENT)
    assert not matches("sel:\n  sourceIPAddress|cidr: 198.51.100.0/24\ncondition: sel", EVENT)
    v6 = {"sourceIPAddress": "2001:db8::1"}
    assert matches("sel:\n  sourceIPAddress|cidr: '2001:db8::/32'\ncondition: sel", v6)
    assert not matches("sel:\n  sourceIPAddress|cidr: 203.0.113.0/24\ncondition: sel", v6)
    service = {"sourceIPAddress": "trustedadvisor.amazonaws.com"}
    assert not matches("sel:\n  sourceIPAddress|cidr: 0.0.0.0/0\ncondition: sel", service)


def test_cidr_list_is_or() -> None:
    det = "sel:\n  sourceIPAddress|cidr: [10.0.0.0/8, 203.0.113.0/25]\ncondition: sel"
    assert matches(det, EVENT)


# ---------------------------------------------------------------- fieldref


def test_fieldref_compares_two_fields_exactly() -> None:
    event = {"a": "Alice", "b": "Alice", "c": "alice", "n": 5, "m": "5"}
    assert matches("sel:\n  a|fieldref: b\ncondition: sel", event)
    assert not matches("sel:\n  a|fieldref: c\ncondition: sel", event)  # case-sensitive
    assert matches("sel:\n  n|fieldref: m\ncondition: sel", event)  # text forms
    assert not matches("sel:\n  a|fieldref: missing\ncondition: sel", event)


def test_fieldref_across_nested_fields() -> None:
    event = {
        "userIdentity": {"accountId": "111122223333"},
        "recipientAccountId": "111122223333",
    }
    det = "sel:\n  userIdentity.accountId|fieldref: recipientAccountId\ncondition: sel"
    assert matches(det, event)
    assert not matches("sel:\n  not_same|fieldref: recipientAccountId\ncondition: sel", event)


# ---------------------------------------------------------------- encodings


def test_base64_and_base64offset() -> None:
    encoded = base64.b64encode(b"GetAccount").decode()
    assert matches("sel:\n  v|base64: GetAccount\ncondition: sel", {"v": encoded})
    # base64offset: the value appears inside a longer base64 text at any of three offsets
    for prefix in (b"", b"x", b"xy"):
        blob = base64.b64encode(prefix + b"secret-token" + b"tail").decode()
        assert matches(
            "sel:\n  v|base64offset|contains: secret-token\ncondition: sel", {"v": blob}
        ), prefix
    other = base64.b64encode(b"something else entirely").decode()
    det = "sel:\n  v|base64offset|contains: secret-token\ncondition: sel"
    assert not matches(det, {"v": other})


def test_wide_and_windash() -> None:
    wide = "p\x00w\x00d\x00"
    assert matches("sel:\n  v|wide: pwd\ncondition: sel", {"v": wide})
    assert not matches("sel:\n  v|wide: pwd\ncondition: sel", {"v": "pwd"})
    det = "sel:\n  v|windash|contains: ' -enc '\ncondition: sel"
    assert matches(det, {"v": "powershell /enc abc"})
    assert matches(det, {"v": "powershell -enc abc"})
    assert not matches(det, {"v": "powershell enc abc"})


# ---------------------------------------------------------------- nested paths and arrays


def test_nested_path() -> None:
    assert matches("sel:\n  userIdentity.type: iamuser\ncondition: sel", EVENT)
    assert matches("sel:\n  userIdentity.accessKeyId|startswith: AKIA\ncondition: sel", EVENT)
    assert not matches("sel:\n  userIdentity.accessKeyId|startswith: ASIA\ncondition: sel", EVENT)


def test_array_any_element_matches() -> None:
    assert matches("sel:\n  requestParameters.identities: b@example.org\ncondition: sel", EVENT)
    assert matches("sel:\n  resources.ARN|endswith: identity/example.org\ncondition: sel", EVENT)
    assert matches("sel:\n  resources.type: y\ncondition: sel", EVENT)
    assert not matches("sel:\n  resources.type: z\ncondition: sel", EVENT)


def test_flat_dotted_keys_are_found() -> None:
    event = {"requestParameters.serviceCode": "ses"}
    assert matches("sel:\n  requestParameters.serviceCode: SES\ncondition: sel", event)


def test_object_value_never_equals_a_string() -> None:
    assert not matches("sel:\n  userIdentity: '*'\ncondition: sel", EVENT)


# ---------------------------------------------------------------- keywords


def test_keywords_search_every_value_of_the_record() -> None:
    assert matches("keywords:\n  - alice\ncondition: keywords", EVENT)  # userIdentity.userName
    assert matches("keywords:\n  - '*sesv2*'\ncondition: keywords", EVENT)
    assert matches("keywords:\n  - B@EXAMPLE.ORG\ncondition: keywords", EVENT)  # inside an array
    assert not matches("keywords:\n  - mallory\ncondition: keywords", EVENT)
    assert not matches("keywords:\n  - ali\ncondition: keywords", EVENT)  # whole value


def test_keywords_with_fields() -> None:
    det = "keywords:\n  - alice\nsel:\n  eventName: GetAccount\ncondition: keywords and sel"
    assert matches(det, EVENT)


# ---------------------------------------------------------------- conditions


def test_not_and_or_precedence() -> None:
    det = (
        "a:\n  eventName: GetAccount\n"
        "b:\n  awsRegion: eu-west-1\n"
        "c:\n  readOnly: true\n"
        "condition: not b and a or b"
    )
    # ((not b) and a) or b
    assert matches(det, EVENT)
    det2 = "a:\n  eventName: GetAccount\nb:\n  awsRegion: us-east-1\ncondition: a and not b"
    assert not matches(det2, EVENT)
    det3 = "a:\n  eventName: X\nb:\n  awsRegion: us-east-1\ncondition: not a and b"
    assert matches(det3, EVENT)


def test_parentheses() -> None:
    det = "a:\n  eventName: X\nb:\n  awsRegion: us-east-1\ncondition: not (a or b)"
    assert not matches(det, EVENT)


def test_one_of_and_all_of_patterns() -> None:
    det = (
        "sel_a:\n  eventName: GetAccount\n"
        "sel_b:\n  awsRegion: eu-west-1\n"
        "filter:\n  readOnly: false\n"
    )
    assert matches(det + "condition: 1 of sel_* and not filter", EVENT)
    assert not matches(det + "condition: all of sel_*", EVENT)
    assert not matches(det + "condition: all of them", EVENT)
    assert matches(det + "condition: 1 of them", EVENT)


def test_several_conditions_are_or() -> None:
    det = "a:\n  eventName: X\nb:\n  awsRegion: us-east-1\ncondition:\n  - a\n  - b"
    assert matches(det, EVENT)


def test_negated_filter_on_absent_field() -> None:
    det = (
        "sel:\n  eventName: GetAccount\nfilter:\n  errorCode: AccessDenied\n"
        "condition: sel and not filter"
    )
    assert matches(det, EVENT)
    assert not matches(det, {**EVENT, "errorCode": "AccessDenied"})


# ---------------------------------------------------------------- timestamp parts


def test_timestamp_parts() -> None:
    event = {"eventTime": "2026-03-09T23:45:12Z"}
    assert matches("sel:\n  eventTime|hour: 23\ncondition: sel", event)
    assert matches("sel:\n  eventTime|minute: 45\ncondition: sel", event)
    assert matches("sel:\n  eventTime|day: 9\ncondition: sel", event)
    assert matches("sel:\n  eventTime|month: 3\ncondition: sel", event)
    assert matches("sel:\n  eventTime|year: 2026\ncondition: sel", event)
    assert matches("sel:\n  eventTime|week: 11\ncondition: sel", event)
    assert not matches("sel:\n  eventTime|hour: 22\ncondition: sel", event)


# ---------------------------------------------------------------- loud failures


def test_unresolved_placeholder_is_a_compile_error_naming_the_rule() -> None:
    rule = make_rule("sel:\n  userName|expand: '%admins%'\ncondition: sel", name="needs_pipeline")
    with pytest.raises(RuleCompileError, match=r"needs_pipeline: .*admins"):
        compile_detection(rule)


def test_dispatch_sets_are_derived_from_the_condition() -> None:
    rule = make_rule(
        "a:\n  eventSource: ses.amazonaws.com\n  eventName: [GetAccount, ListIdentities]\n"
        "b:\n  eventSource: servicequotas.amazonaws.com\n  eventName: ListServiceQuotas\n"
        "condition: a or b"
    )
    compiled = compile_detection(rule)
    assert compiled.event_sources == {"ses.amazonaws.com", "servicequotas.amazonaws.com"}
    assert compiled.event_names == {"getaccount", "listidentities", "listservicequotas"}


def test_dispatch_sets_are_none_when_a_branch_does_not_pin_the_field() -> None:
    rule = make_rule(
        "a:\n  eventSource: ses.amazonaws.com\n"
        "b:\n  eventSource|startswith: ses\n"
        "c:\n  eventName: X\n"
        "condition: a or b or not c"
    )
    compiled = compile_detection(rule)
    assert compiled.event_sources is None
    assert compiled.event_names is None
