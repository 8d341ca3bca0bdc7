"""What the splunk target converts and what it refuses, construct by construct.

Every Sigma construct the matcher supports (tests/match/test_detection.py) either converts to
SPL with the same meaning (the emitted text is pinned) or is refused with a reason naming the
rule, the target and the construct. Correlations: which types and shapes convert.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sigma.rule import SigmaRule

from ses_sigma.convert.base import Refusal, get_target
from ses_sigma.convert.splunk import SplunkSearch, convert_rule
from ses_sigma.convert.splunk_app import render_savedsearches
from ses_sigma.convert.splunk_correlation import provably_disjoint, required_values
from ses_sigma.pack import Pack, load_pack

HEAD = "title: {title}\nname: {name}\nlogsource:\n  product: aws\n  service: cloudtrail\n"


def rule_text(name: str, detection: str, extra: str = "") -> str:
    """A CloudTrail rule with the given (indented) detection block."""
    return HEAD.format(title=f"Test {name}", name=name) + f"detection:\n{detection}{extra}"


def make_pack(tmp_path: Path, *texts: str) -> Pack:
    for i, text in enumerate(texts):
        (tmp_path / f"r{i}.yml").write_text(text, encoding="utf-8")
    return load_pack([tmp_path])


def convert_one(tmp_path: Path, detection: str, extra: str = "") -> SplunkSearch | Refusal:
    pack = make_pack(tmp_path, rule_text("t_rule", detection, extra))
    return convert_rule(pack, pack.get("t_rule"))


def search_of(result: SplunkSearch | Refusal) -> str:
    assert isinstance(result, SplunkSearch), result
    return result.spl.split("\n| table ")[0]


# --- converted, with the meaning pinned -----------------------------------------------------


@pytest.mark.parametrize(
    ("detection", "expected"),
    [
        ("eventName: Get*Account", ' eventName="Get*Account"'),
        ("eventName|contains: Account", ' eventName="*Account*"'),
        ("eventName|startswith: Get", ' eventName="Get*"'),
        ("eventName|endswith: Account", ' eventName="*Account"'),
        ("eventName: [GetAccount, GetSendQuota]", ' eventName IN ("GetAccount", "GetSendQuota")'),
        (
            "userAgent|contains|all: [aws-cli, Python]",
            ' userAgent="*aws-cli*" userAgent="*Python*"',
        ),
        ("userAgent: null", ' (NOT userAgent=* OR userAgent="null")'),
        ("userAgent|exists: false", ' (NOT userAgent=* OR userAgent="null")'),
        ("userAgent|exists: true", ' (userAgent=* NOT userAgent="null")'),
        ("requestParameters.maxItems: 5", " requestParameters.maxItems=5"),
        ("readOnly: true", " readOnly=true"),
        ("sourceIPAddress|cidr: 192.0.2.0/24", ' sourceIPAddress="192.0.2.0/24"'),
        ("sourceIPAddress|cidr: '2001:db8::/32'", ' sourceIPAddress="2001:db8::/32"'),
        ("userAgent|re: '^Boto3/[0-9]+'", '\n| regex userAgent="^Boto3/[0-9]+"'),
        ("userAgent|re|i: 'boto'", '\n| regex userAgent="(?i)boto"'),
        ("userAgent|re: 'a\"b'", '\n| regex userAgent="a\\"b"'),
        ("userAgent: 'C:\\Tools\\x'", ' userAgent="C:\\\\Tools\\\\x"'),
        ("userAgent: 'say \"hi\"'", ' userAgent="say \\"hi\\""'),
        ("userAgent|windash|contains: ' -x'", ' userAgent="* -x*" OR userAgent="* /x*"'),
        ("userAgent|base64offset|contains: abc", ' userAgent="*YWJj*" OR userAgent="*FiY*"'),
        ("userAgent|neq: abc", ' NOT userAgent="abc"'),
        ("requestParameters.identities: a@example.com", ' "requestParameters.identities{}"="a@'),
    ],
)
def test_converted_constructs(tmp_path: Path, detection: str, expected: str) -> None:
    search = search_of(convert_one(tmp_path, f"  sel:\n    {detection}\n  condition: sel\n"))
    assert search.startswith('sourcetype="aws:cloudtrail"')
    assert expected in search, search


def test_regex_in_a_positive_and_chain(tmp_path: Path) -> None:
    det = "  sel:\n    eventName: X\n  r:\n    userAgent|re: 'y'\n  condition: sel and r\n"
    assert search_of(convert_one(tmp_path, det)) == (
        'sourcetype="aws:cloudtrail" eventName="X"\n| regex userAgent="y"'
    )


def test_not_or_and_precedence_is_kept(tmp_path: Path) -> None:
    det = (
        "  a:\n    eventName: A\n  b:\n    eventName: B\n  c:\n    userAgent: C\n"
        "  condition: (a or b) and not c\n"
    )
    # SPL's search evaluates OR before AND: no parentheses are needed around a OR b.
    assert search_of(convert_one(tmp_path, det)) == (
        'sourcetype="aws:cloudtrail" eventName IN ("A", "B") NOT userAgent="C"'
    )


# --- refused, with the reason -------------------------------------------------------------


@pytest.mark.parametrize(
    ("detection", "reason"),
    [
        ("  sel:\n    eventName: Get?ccount\n  condition: sel\n", "'?' (exactly one character)"),
        ("  sel:\n    eventName: 'a\\*b'\n  condition: sel\n", "a literal '*' cannot be escaped"),
        ("  sel:\n    eventName|cased: GetAccount\n  condition: sel\n", "eventName|cased"),
        ("  sel:\n    userAgent: ''\n  condition: sel\n", "'' (empty string)"),
        ("  sel:\n    requestParameters.maxItems|gt: 5\n  condition: sel\n", "numeric comparison"),
        (
            "  sel:\n    userIdentity.userName|fieldref: requestParameters.userName\n"
            "  condition: sel\n",
            "userIdentity.userName|fieldref",
        ),
        (
            "  a:\n    eventName: X\n  r:\n    userAgent|re: y\n  condition: a or r\n",
            "userAgent|re under OR or NOT",
        ),
        (
            "  a:\n    eventName: X\n  r:\n    userAgent|re: y\n  condition: a and not r\n",
            "userAgent|re under OR or NOT",
        ),
        (
            "  a:\n    eventName: X\n  r:\n    userAgent|re: y\n  condition: not (a and r)\n",
            "userAgent|re under OR or NOT",
        ),
        (
            "  sel:\n    requestParameters.identities|re: 'x'\n  condition: sel\n",
            "|re on an array field",
        ),
        ("  sel:\n    eventTime|minute: 5\n  condition: sel\n", "timestamp part"),
        ("  kw:\n    - GetAccount\n  condition: kw\n", "keyword detection"),
        (
            "  sel:\n    userIdentity.sessionContext.attributes.creationDate: x\n"
            "  condition: sel\n",
            "field 'userIdentity.sessionContext.attributes.creationDate' has no mapping",
        ),
        (
            "  a:\n    eventName: x\n  b:\n    eventName: y\n  condition:\n    - a\n    - b\n",
            "several conditions",
        ),
        ("  sel:\n    userAgent|expand: '%x%'\n  condition: sel\n", "the matcher cannot"),
        ("  sel:\n    requestParameters.cidrIp: 0.0.0.0/0\n  condition: sel\n", "CIDR network"),
        ("  sel:\n    userAgent: Ärger\n  condition: sel\n", "non-ASCII letters"),
    ],
)
def test_refused_constructs(tmp_path: Path, detection: str, reason: str) -> None:
    result = convert_one(tmp_path, detection)
    assert isinstance(result, Refusal), result
    assert (result.rule, result.target) == ("t_rule", "splunk")
    assert reason in result.reason
    assert str(result).startswith("t_rule: cannot convert to splunk: ")
    assert str(tmp_path) not in result.reason and "(while " not in result.reason


def test_non_cloudtrail_rule_is_refused(tmp_path: Path) -> None:
    text = rule_text("t_rule", "  sel:\n    eventName: X\n  condition: sel\n").replace(
        "cloudtrail", "guardduty"
    )
    pack = make_pack(tmp_path, text)
    result = convert_rule(pack, pack.get("t_rule"))
    assert isinstance(result, Refusal)
    assert "log source is product=aws service=guardduty" in result.reason


def test_bad_first_seen_spec_is_refused(tmp_path: Path) -> None:
    extra = "first_seen:\n  fields: [userIdentity.arn]\n  learning_period: 7d\n"
    result = convert_one(tmp_path, "  sel:\n    eventName: X\n  condition: sel\n", extra)
    assert isinstance(result, Refusal)
    assert "the matcher cannot evaluate it: first_seen: missing forget_after" in result.reason


def test_a_refused_rule_does_not_stop_the_others(tmp_path: Path) -> None:
    pack = make_pack(
        tmp_path,
        rule_text("good", "  sel:\n    eventName: X\n  condition: sel\n"),
        rule_text("bad", "  sel:\n    eventName|cased: X\n  condition: sel\n"),
    )
    for fmt in ("spl", "savedsearches", "app"):
        out = get_target("splunk").convert(pack, list(pack), fmt)
        assert [r.rule for r in out.refusals] == ["bad"]
    out = get_target("splunk").convert(pack, list(pack), "spl")
    assert list(out.files) == ["good.spl"]


# --- first-seen shapes --------------------------------------------------------------------


def test_first_seen_on_an_array_field_expands_it(tmp_path: Path) -> None:
    extra = (
        "first_seen:\n  fields: [userIdentity.arn, requestParameters.identities]\n"
        "  learning_period: 1d\n  forget_after: 2h\n"
    )
    result = convert_one(tmp_path, "  sel:\n    eventName: X\n  condition: sel\n", extra)
    assert isinstance(result, SplunkSearch)
    lines = result.spl.split("\n")
    assert lines[1] == (
        "| eval sigma_seen_1='userIdentity.arn', sigma_seen_2='requestParameters.identities{}'"
    )
    assert lines[2] == "| mvexpand sigma_seen_2"
    assert "by sigma_seen_1 sigma_seen_2" in lines[5]
    assert lines[6].endswith("> 7200")
    assert lines[7] == (
        "| rename sigma_seen_1 as userIdentity.arn,"
        ' sigma_seen_2 as "requestParameters.identities{}"'
    )
    assert result.schedule.lookback == 900 + 7200


# --- correlations -------------------------------------------------------------------------

BASE_A = rule_text("step_a", "  sel:\n    eventName: CreateThing\n  condition: sel\n")
BASE_B = rule_text("step_b", "  sel:\n    eventName: DeleteThing\n  condition: sel\n")


def correlation(kind: str, rules: list[str], body: str, name: str = "t_corr") -> str:
    listed = "".join(f"    - {r}\n" for r in rules)
    return (
        f"title: Test correlation\nname: {name}\ncorrelation:\n  type: {kind}\n"
        f"  rules:\n{listed}{body}"
    )


def convert_corr(tmp_path: Path, *texts: str, name: str = "t_corr") -> SplunkSearch | Refusal:
    pack = make_pack(tmp_path, *texts)
    return convert_rule(pack, pack.get(name))


@pytest.mark.parametrize(
    ("kind", "condition"),
    [
        ("event_count", "gte: 3"),
        ("value_count", "gte: 2\n    field: eventName"),
        ("temporal", "gte: 2"),
    ],
)
def test_fixed_bucket_correlations_are_refused(tmp_path: Path, kind: str, condition: str) -> None:
    body = f"  group-by:\n    - userIdentity.arn\n  timespan: 10m\n  condition:\n    {condition}\n"
    result = convert_corr(tmp_path, BASE_A, BASE_B, correlation(kind, ["step_a", "step_b"], body))
    assert isinstance(result, Refusal), result
    assert result.rule == "t_corr"
    assert result.reason.startswith(f"{kind}: pySigma's Splunk backend converts it to ")
    assert "fixed buckets" in result.reason and "one alert per burst" in result.reason


def test_temporal_ordered_with_three_steps_is_refused(tmp_path: Path) -> None:
    base_c = rule_text("step_c", "  sel:\n    eventName: SendThing\n  condition: sel\n")
    body = "  group-by:\n    - userIdentity.arn\n  timespan: 10m\n"
    text = correlation("temporal_ordered", ["step_a", "step_c", "step_b"], body)
    result = convert_corr(tmp_path, BASE_A, BASE_B, base_c, text)
    assert isinstance(result, Refusal)
    assert "temporal_ordered: 3 steps: only two-step chains are converted" in result.reason


def test_correlation_the_matcher_refuses_is_refused(tmp_path: Path) -> None:
    body = "  timespan: 10m\n  condition:\n    lte: 2\n"
    text = correlation("temporal_ordered", ["step_a", "step_b"], body)
    result = convert_corr(tmp_path, BASE_A, BASE_B, text)
    assert isinstance(result, Refusal)
    assert "the matcher refuses it" in result.reason and "'lte'" in result.reason


def test_correlation_over_a_refused_base_rule_is_refused(tmp_path: Path) -> None:
    bad_b = rule_text("step_b", "  sel:\n    eventName|cased: DeleteThing\n  condition: sel\n")
    body = "  group-by:\n    - userIdentity.arn\n  timespan: 10m\n"
    text = correlation("temporal_ordered", ["step_a", "step_b"], body)
    result = convert_corr(tmp_path, BASE_A, bad_b, text)
    assert isinstance(result, Refusal)
    assert result.reason.startswith("base rule step_b cannot be converted: eventName|cased")


OVERLAP_FIRST = rule_text("first", "  sel:\n    eventName: [CreateThing, Both]\n  condition: sel\n")
OVERLAP_SECOND = rule_text(
    "second", "  sel:\n    eventName: [DeleteThing, Both]\n  condition: sel\n"
)


@pytest.mark.parametrize("order", [["first", "second"], ["second", "first"]])
def test_overlapping_steps_are_refused(tmp_path: Path, order: list[str]) -> None:
    # An event matching both steps: one row per event cannot say which step it plays.
    body = "  group-by:\n    - userIdentity.arn\n  timespan: 10m\n"
    text = correlation("temporal_ordered", order, body)
    result = convert_corr(tmp_path, OVERLAP_FIRST, OVERLAP_SECOND, text)
    assert isinstance(result, Refusal)
    assert f"an event may match both {order[0]} and {order[1]}" in result.reason


def test_ties_are_sorted_in_rule_order(tmp_path: Path) -> None:
    a = rule_text("a_step", "  sel:\n    eventName: CreateThing\n  condition: sel\n")
    b = rule_text("b_step", "  sel:\n    eventName: DeleteThing\n  condition: sel\n")
    body = "  group-by:\n    - userIdentity.arn\n  timespan: 10m\n"
    text = correlation("temporal_ordered", ["a_step", "b_step"], body)
    result = convert_corr(tmp_path, a, b, text)
    assert isinstance(result, SplunkSearch), result
    assert "| sort 0 num(_time) num(sigma_step_2) str(eventID)" in result.spl


def test_derived_group_field_is_a_coalesce(tmp_path: Path) -> None:
    a = rule_text("a_step", "  sel:\n    eventName: CreateThing\n  condition: sel\n")
    b = rule_text("b_step", "  sel:\n    eventName: DeleteThing\n  condition: sel\n")
    body = "  group-by:\n    - thing\n  timespan: 10m\n"
    text = correlation("temporal_ordered", ["a_step", "b_step"], body) + (
        "derived_fields:\n  thing:\n    coalesce:\n      - requestParameters.name\n"
        "      - requestParameters.identities\n"
    )
    result = convert_corr(tmp_path, a, b, text)
    assert isinstance(result, SplunkSearch), result
    assert (
        "sigma_group_1=coalesce(nullif('requestParameters.name', \"null\"), "
        "nullif('requestParameters.identities{}', \"null\"))"
    ) in result.spl
    assert "| rename sigma_group_1 as thing" in result.spl


def test_aliases_and_array_group_fields(tmp_path: Path) -> None:
    body = (
        "  group-by:\n    - who\n    - requestParameters.identities\n  timespan: 90s\n"
        "  aliases:\n    who:\n      step_a: userIdentity.arn\n"
        "      step_b: requestParameters.userName\n"
    )
    text = correlation("temporal_ordered", ["step_a", "step_b"], body)
    result = convert_corr(tmp_path, BASE_A, BASE_B, text)
    assert isinstance(result, SplunkSearch), result
    lines = result.spl.split("\n")
    assert lines[1].endswith(
        "sigma_step_1=1, sigma_group_1='userIdentity.arn', "
        "sigma_group_2='requestParameters.identities{}' ]"
    )
    assert lines[2].endswith(
        "sigma_step_2=1, sigma_group_1='requestParameters.userName', "
        "sigma_group_2='requestParameters.identities{}' ]"
    )
    assert lines[3].endswith("by _time eventID sigma_group_1 sigma_group_2")
    assert '| where sigma_group_1!="null" AND sigma_group_2!="null"' in lines
    assert "_time - sigma_prev_time <= 90" in result.spl
    assert '| rename sigma_group_1 as who, sigma_group_2 as "requestParameters.identities{}"' in (
        lines
    )
    # 15m delay + 15m interval + 90s window, read from the whole minute before.
    conf = get_target("splunk").convert(load_pack([tmp_path]), [], "savedsearches")
    assert conf.files  # an empty selection still writes the (empty) file
    stanza = result.saved_search()
    assert stanza.schedule.lookback == 990
    text = render_savedsearches([stanza])
    assert "\ndispatch.earliest_time = -32m@m\n" in text


def test_correlation_without_group_by(tmp_path: Path) -> None:
    text = correlation("temporal_ordered", ["step_a", "step_b"], "  timespan: 10m\n")
    result = convert_corr(tmp_path, BASE_A, BASE_B, text)
    assert isinstance(result, SplunkSearch), result
    assert (
        "| stats max(sigma_step_1) as sigma_step_1 max(sigma_step_2) as sigma_step_2"
        " by _time eventID\n" in result.spl
    )
    assert "last(sigma_step_1) as sigma_prev_step_1\n" in result.spl  # no by: one group
    assert "rename" not in result.spl


def test_base_rules_that_do_not_generate_get_no_file(tmp_path: Path) -> None:
    body = "  group-by:\n    - userIdentity.arn\n  timespan: 10m\n  generate: false\n"
    pack = make_pack(
        tmp_path, BASE_A, BASE_B, correlation("temporal_ordered", ["step_a", "step_b"], body)
    )
    out = get_target("splunk").convert(pack, list(pack), "spl")
    assert sorted(out.files) == ["t_corr.spl"]
    assert out.refusals == []
    body = body.replace("false", "true")
    (tmp_path / "r2.yml").write_text(correlation("temporal_ordered", ["step_a", "step_b"], body))
    pack = load_pack([tmp_path])
    out = get_target("splunk").convert(pack, list(pack), "spl")
    assert sorted(out.files) == ["step_a.spl", "step_b.spl", "t_corr.spl"]


# --- the disjointness proof -------------------------------------------------------------------


def _rule(tmp_path: Path, name: str, detection: str) -> SigmaRule:
    sub = tmp_path / name
    sub.mkdir()
    return make_pack(sub, rule_text(name, detection)).get(name)


def sel(item: str, condition: str = "s") -> str:
    """A detection with one selection ``s`` holding ``item``."""
    return f"  s:\n    {item}\n  condition: {condition}\n"


TWO_SELECTIONS = "  s:\n    eventName: A\n  t:\n    {t}\n  condition: s or t\n"


@pytest.mark.parametrize(
    ("det_a", "det_b", "disjoint"),
    [
        (sel("eventName: [A, B]"), sel("eventName: C"), True),
        (sel("eventName: [A, B]"), sel("eventName: b"), False),  # case-insensitive
        (sel("eventName: A*"), sel("eventName: C"), False),  # wildcards pin nothing
        (sel("eventName: A", "not s"), sel("eventName: C"), False),
        (TWO_SELECTIONS.format(t="eventName: B"), sel("eventName: C"), True),
        (TWO_SELECTIONS.format(t="userAgent: B"), sel("eventName: C"), False),  # t: any name
        (
            sel("eventSource: x.amazonaws.com"),
            "  s:\n    eventSource: y.amazonaws.com\n    eventName: A\n  condition: s\n",
            True,
        ),
        (sel("userAgent: a"), sel("userAgent: b"), False),  # not known to be single-valued
    ],
)
def test_provably_disjoint(tmp_path: Path, det_a: str, det_b: str, disjoint: bool) -> None:
    a, b = _rule(tmp_path, "ra", det_a), _rule(tmp_path, "rb", det_b)
    assert isinstance(a, SigmaRule) and isinstance(b, SigmaRule)
    assert (provably_disjoint(a, b) is not None) is disjoint
    assert (provably_disjoint(b, a) is not None) is disjoint


def test_required_values_are_lower_cased_and_intersected(tmp_path: Path) -> None:
    det = "  s:\n    eventName: [GetX, GetY]\n  t:\n    eventName: getx\n  condition: s and t\n"
    rule = _rule(tmp_path, "r", det)
    [cond] = rule.detection.parsed_condition
    assert required_values(cond.parsed) == {"eventName": frozenset({"getx"})}
