"""The lucene, eql and esql targets: files, refusals (each with its reason), correlations with
aliases executed against the matcher, determinism, and the pack left untouched."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from sigma.correlations import SigmaCorrelationTimespan

from ses_sigma.convert.base import get_target
from ses_sigma.convert.elastic import eql_query, esql_query, lucene_query
from ses_sigma.convert.elastic_common import Refused, eql_duration
from ses_sigma.harness import DEFAULT_FIXTURES_DIR, expand_event, load_bases
from ses_sigma.match.detection import compile_detection
from ses_sigma.pack import Pack, load_pack, rule_key
from ses_sigma.verify.ecs import to_ecs
from ses_sigma.verify.eql_run import run_eql
from ses_sigma.verify.lucene import compile_query

CONVERT = {"lucene": lucene_query, "eql": eql_query, "esql": esql_query}
EXT = {"lucene": "lucene", "eql": "eql", "esql": "esql"}

RULE = """\
title: {name}
id: {id}
name: {name}
status: experimental
description: test rule {name}
author: test
date: 2026-11-25
level: medium
logsource:
  product: aws
  service: cloudtrail
detection:
{detection}
"""

CREATED = """\
  selection:
    eventSource: ses.amazonaws.com
    eventName: [VerifyEmailIdentity, CreateEmailIdentity]
    errorCode: null
  condition: selection"""

DELETED = """\
  selection:
    eventSource: ses.amazonaws.com
    eventName: [DeleteIdentity, DeleteEmailIdentity]
    errorCode: null
  condition: selection"""

CORRELATION = """\
title: {name}
id: {id}
name: {name}
status: experimental
description: test correlation {name}
author: test
date: 2026-11-25
level: high
correlation:
{body}
"""


def write_pack(tmp: Path, singles: dict[str, str], correlations: dict[str, str]) -> Pack:
    rules = tmp / "rules"
    rules.mkdir()
    n = 0
    for name, detection in singles.items():
        n += 1
        rule_id = f"00000000-0000-4000-8000-{n:012d}"
        text = RULE.format(name=name, id=rule_id, detection=detection)
        (rules / f"{name}.yml").write_text(text)
    for name, body in correlations.items():
        n += 1
        rule_id = f"00000000-0000-4000-8000-{n:012d}"
        text = CORRELATION.format(name=name, id=rule_id, body=body)
        (rules / f"{name}.yml").write_text(text)
    return load_pack([rules])


def reason(target: str, pack: Pack, name: str) -> str:
    with pytest.raises(Refused) as info:
        CONVERT[target](pack, pack.get(name))
    return info.value.reason


# --- the targets ------------------------------------------------------------------------------


@pytest.mark.parametrize("target", sorted(CONVERT))
def test_target_output_for_the_pack(target: str) -> None:
    pack = load_pack()
    tgt = get_target(target)
    assert tgt.formats == ("query",)
    rules = sorted(pack, key=rule_key)
    out = tgt.convert(pack, rules, "query")
    refused = {r.rule for r in out.refusals}
    assert all(r.target == target for r in out.refusals)
    assert out.refusals == sorted(out.refusals)
    expected = {f"{rule_key(r)}.{EXT[target]}" for r in rules if rule_key(r) not in refused}
    assert set(out.files) == expected
    for path, text in out.files.items():
        assert isinstance(text, str) and text.endswith("\n") and not text.endswith("\n\n")
        rule = pack.get(path.rsplit(".", 1)[0])
        assert text == CONVERT[target](pack, rule) + "\n"
    assert "aws_ses_enumeration_new_principal" in refused
    with pytest.raises(ValueError, match="no format"):
        tgt.convert(pack, rules, "ndjson")


def test_conversion_is_deterministic_and_leaves_the_pack_alone() -> None:
    pack = load_pack()
    before = {rule_key(r): copy.deepcopy(r.to_dict()) for r in pack}
    first = {t: get_target(t).convert(pack, list(pack), "query").files for t in CONVERT}
    second = {t: get_target(t).convert(pack, list(pack), "query").files for t in CONVERT}
    assert first == second
    assert {rule_key(r): r.to_dict() for r in pack} == before
    assert all(not r.applied_processing_items for r in pack)


def test_temporal_ordered_is_refused_by_every_elastic_query_target() -> None:
    # An EQL sequence breaks same-timestamp ties by event.id, not by the correlation's rule
    # order (the matcher's tie rule): a creation and a deletion of one second would pair by
    # chance (CloudTrail has 1-second resolution).
    pack = load_pack()
    rule = "aws_ses_identity_added_then_deleted"
    assert "tiebreaker" in reason("eql", pack, rule)
    assert "rule order" in reason("eql", pack, rule)
    assert "date_trunc" in reason("esql", pack, rule)
    assert "single documents" in reason("lucene", pack, rule)


# --- refusals -------------------------------------------------------------------------------------


def test_correlation_types_without_a_faithful_form_are_refused(tmp_path: Path) -> None:
    pack = write_pack(
        tmp_path,
        {"t_created": CREATED, "t_deleted": DELETED},
        {
            "t_count": "  type: event_count\n  rules: [t_created]\n  group-by: [userIdentity.arn]"
            "\n  timespan: 10m\n  condition:\n    gte: 3",
            "t_values": "  type: value_count\n  rules: [t_created]\n  group-by: "
            "[userIdentity.arn]\n  timespan: 10m\n  condition:\n    gte: 3\n    field: awsRegion",
            "t_temporal": "  type: temporal\n  rules: [t_created, t_deleted]\n  group-by: "
            "[userIdentity.arn]\n  timespan: 10m",
        },
    )
    for name, word in [("t_count", "sliding"), ("t_values", "distinct"), ("t_temporal", "sample")]:
        assert word in reason("eql", pack, name)
        assert "date_trunc" in reason("esql", pack, name)
        assert "single documents" in reason("lucene", pack, name)


def test_matcher_refusals_carry_over(tmp_path: Path) -> None:
    pack = write_pack(
        tmp_path,
        {
            "t_created": CREATED,
            "t_deleted": DELETED,
            "t_expand": "  selection:\n    eventName|expand: '%names%'\n  condition: selection",
        },
        {
            "t_partial": "  type: temporal_ordered\n  rules: [t_created, t_deleted]\n  group-by: "
            "[userIdentity.arn]\n  timespan: 10m\n  condition:\n    gte: 1",
        },
    )
    for target in CONVERT:
        assert "the matcher refuses it" in reason(target, pack, "t_expand")
    assert "the matcher refuses it" in reason("eql", pack, "t_partial")
    assert "gte 2" in reason("eql", pack, "t_partial")


@pytest.mark.parametrize(
    ("detection", "targets", "word"),
    [
        ("eventName: 5", "lucene eql esql", "number value"),
        ("eventName: true", "lucene eql esql", "bool value"),
        ("eventName|gt: 5", "lucene eql esql", "numeric comparison"),
        ("eventName|fieldref: eventSource", "lucene eql esql", "field reference"),
        ("eventName: 'caf\u00e9'", "lucene eql esql", "non-ASCII letter"),
        ("eventName: 'Get\\*Account'", "eql", "literal *"),
        ("readOnly: 'yes'", "lucene eql esql", "boolean field"),
        ("eventTime: '2026*'", "lucene eql esql", "date field"),
        ("userAgent|re: '\\d+'", "lucene eql esql", "not in the Lucene regular expression syntax"),
        ("requestParameters.serviceCode: ses", "eql", "elastic/elasticsearch#101985"),
        ("requestParameters.serviceCode: ses", "esql", "FIELD_EXTRACT"),
        ("requestParameters.serviceCode|contains: se", "lucene", "flattened"),
        ("requestParameters.serviceCode|re: se", "lucene", "flattened"),
        ("requestParameters.identity: abcdefghij", "lucene", "case variants"),
        ("requestParameters.serviceCode: null", "eql esql", "flattened"),
    ],
)
def test_values_without_a_faithful_form_are_refused(
    tmp_path: Path, detection: str, targets: str, word: str
) -> None:
    pack = write_pack(
        tmp_path, {"t_rule": f"  selection:\n    {detection}\n  condition: selection"}, {}
    )
    for target in targets.split():
        assert word in reason(target, pack, "t_rule"), target


def test_keyword_detections_are_refused(tmp_path: Path) -> None:
    pack = write_pack(tmp_path, {"t_kw": "  keywords:\n    - evil\n  condition: keywords"}, {})
    for target in CONVERT:
        assert "keyword detection" in reason(target, pack, "t_kw")


# --- what converts --------------------------------------------------------------------------------


def test_flattened_keys_in_lucene_use_spellings_and_prefixes(tmp_path: Path, lucene: str) -> None:
    pack = write_pack(
        tmp_path,
        {
            "t_exact": "  selection:\n    requestParameters.serviceCode: ses"
            "\n  condition: selection",
            "t_prefix": "  selection:\n    requestParameters.emailIdentity|startswith: 'Mail '"
            "\n  condition: selection",
            "t_cased": "  selection:\n    requestParameters.serviceCode|cased: SES"
            "\n  condition: selection",
        },
        {},
    )
    field = "aws.cloudtrail.flattened.request_parameters"
    exact = lucene_query(pack, pack.get("t_exact"))
    assert f"{field}.serviceCode:(ses OR seS OR sEs OR sES OR Ses OR SeS OR SEs OR SES)" in exact
    prefix = lucene_query(pack, pack.get("t_prefix"))
    assert f"{field}.emailIdentity:(mail\\ * OR " in prefix
    assert prefix.count("\\ *") == 2**4
    query = compile_query(prefix)
    for value, hit in [("MAIL x", True), ("mAiL ", True), ("mail", False), ("xmail y", False)]:
        doc = {
            "event": {"dataset": "aws.cloudtrail"},
            "aws": {"cloudtrail": {"flattened": {"request_parameters": {"emailIdentity": value}}}},
        }
        assert query.matches(doc) is hit, value
    assert lucene_query(pack, pack.get("t_cased")).endswith(f"{field}.serviceCode:SES")


def test_readonly_booleans_convert(tmp_path: Path) -> None:
    pack = write_pack(
        tmp_path, {"t_ro": "  selection:\n    readOnly: 'False'\n  condition: selection"}, {}
    )
    assert lucene_query(pack, pack.get("t_ro")).endswith("aws.cloudtrail.read_only:false")
    assert eql_query(pack, pack.get("t_ro")).endswith("aws.cloudtrail.read_only == false")
    assert esql_query(pack, pack.get("t_ro")).endswith("aws.cloudtrail.read_only == false")


def test_readonly_yaml_booleans_convert_and_run_like_the_matcher(
    tmp_path: Path, lucene: str
) -> None:
    pack = write_pack(
        tmp_path, {"t_ro": "  selection:\n    readOnly: true\n  condition: selection"}, {}
    )
    bases = load_bases(DEFAULT_FIXTURES_DIR / "_base.yml")
    events = [
        _event(bases, "ses_get_account", "alice", 1, 0),
        _event(bases, "ses_delete_identity", "alice", 2, 1),
    ]
    assert [e["readOnly"] for e in events] == [True, False]
    rule = pack.get("t_ro")
    predicate = compile_detection(rule).predicate
    assert [predicate(e) for e in events] == [True, False]
    docs = [to_ecs(copy.deepcopy(e)) for e in events]
    query = compile_query(lucene_query(pack, rule))
    assert [d["event"]["id"] for d in query.filter(docs)] == [events[0]["eventID"]]
    assert [m[0]["event"]["id"] for m in run_eql(eql_query(pack, rule), docs)] == [
        events[0]["eventID"]
    ]


def test_esql_escapes_literal_wildcards(tmp_path: Path) -> None:
    pack = write_pack(
        tmp_path,
        {"t_star": "  selection:\n    userAgent|contains: 'a\\*B'\n  condition: selection"},
        {},
    )
    assert 'to_lower(user_agent.original) like "*a\\\\*b*"' in esql_query(pack, pack.get("t_star"))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("1h", "1h"), ("90m", "90m"), ("3600s", "1h"), ("1w", "7d"), ("2d", "2d"), ("1M", "2629746s")],
)
def test_eql_durations_keep_the_seconds(spec: str, expected: str) -> None:
    assert eql_duration(SigmaCorrelationTimespan(spec)) == expected


def test_eql_durations_refuse_fractions() -> None:
    with pytest.raises(Refused):
        eql_duration(1.5)


# --- aliases: per-stage keys, executed ------------------------------------------------------------

ALIASED = """\
  type: temporal_ordered
  rules: [t_created, t_deleted]
  group-by: [who]
  aliases:
    who:
      t_created: userIdentity.arn
      t_deleted: userIdentity.sessionContext.sessionIssuer.arn
  timespan: 30m"""


def _event(bases: Any, base: str, principal: str, n: int, minute: int, **over: Any) -> dict:
    spec = {
        "base": base,
        "principal": principal,
        "eventID": f"a11a5000-0000-4000-8000-{n:012d}",
        "eventTime": f"2026-11-20T10:{minute:02d}:00Z",
        **over,
    }
    return expand_event(spec, bases)
