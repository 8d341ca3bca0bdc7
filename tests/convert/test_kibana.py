"""The kibana target: Elastic Security detection rules NDJSON, validated against a JSON Schema
of the import format (tests/schemas/kibana_rule.schema.json, written from Elastic's docs), with
the same query strings as the lucene and eql targets."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from sigma.rule import SigmaRuleBase

from ses_sigma import attack
from ses_sigma.convert.base import get_target
from ses_sigma.convert.elastic import lucene_query
from ses_sigma.convert.elastic_common import Refused
from ses_sigma.convert.kibana import NDJSON_FILE, PACK_LICENSE, kibana_rule
from ses_sigma.pack import Pack, load_pack, rule_key

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "kibana_rule.schema.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def pack() -> Pack:
    return load_pack()


FIRST_SEEN = "aws_ses_enumeration_new_principal"
CORRELATION = "aws_ses_identity_added_then_deleted"
#: The pack's rules Kibana refuses, and a word of the reason.
REFUSED = {
    FIRST_SEEN: "sesPrincipal is derived",
    CORRELATION: "not in the correlation's rule order",
}


def converted(pack: Pack) -> list[SigmaRuleBase]:
    return [r for r in sorted(pack, key=rule_key) if rule_key(r) not in REFUSED]


@pytest.fixture(scope="module")
def lines(pack: Pack) -> list[str]:
    out = get_target("kibana").convert(pack, sorted(pack, key=rule_key), "ndjson")
    assert {r.rule: r.reason for r in out.refusals}.keys() == REFUSED.keys()
    for refusal in out.refusals:
        assert REFUSED[refusal.rule] in refusal.reason, refusal
    assert set(out.files) == {NDJSON_FILE}
    text = out.files[NDJSON_FILE]
    assert isinstance(text, str) and text.endswith("\n") and "\n\n" not in text
    return text.splitlines()


@pytest.fixture(scope="module")
def rules(lines: list[str]) -> dict[str, dict[str, Any]]:
    objs = [json.loads(line) for line in lines]
    return {obj["rule_id"]: obj for obj in objs}


def by_name(pack: Pack, rules: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    return rules[str(pack.get(name).id)]


# --- format -----------------------------------------------------------------------------------


def test_every_line_validates_against_the_import_schema(
    lines: list[str], validator: jsonschema.Draft202012Validator
) -> None:
    for line in lines:
        errors = sorted(validator.iter_errors(json.loads(line)), key=str)
        assert not errors, [e.message for e in errors]


def test_lines_are_sorted_compact_json_in_rule_order(pack: Pack, lines: list[str]) -> None:
    objs = [json.loads(line) for line in lines]
    assert [o["rule_id"] for o in objs] == [str(r.id) for r in converted(pack)]
    for line, obj in zip(lines, objs, strict=True):
        assert line == orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode()


def test_output_is_deterministic(pack: Pack, lines: list[str]) -> None:
    again = get_target("kibana").convert(pack, sorted(pack, key=rule_key), "ndjson")
    assert again.files[NDJSON_FILE] == "\n".join(lines) + "\n"
    assert not any(k in json.loads(lines[0]) for k in ("created_at", "updated_at", "id"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"severity": "informational"}, "is not one of"),
        ({"risk_score": 101}, "greater than the maximum"),
        ({"type": "eql", "language": None}, "'language' is a required property"),
        ({"type": "eql"}, "'eql' was expected"),
        ({"typo": 1}, "Additional properties"),
        ({"from": "6m"}, "does not match"),
        ({"new_terms_fields": ["a"]}, "should not be valid"),
        ({"threat": [{"framework": "MITRE ATT&CK"}]}, "'tactic' is a required property"),
        ({"tiebreaker_field": "event.id"}, "should not be valid"),
    ],
)
def test_the_schema_rejects_what_kibana_rejects(
    pack: Pack,
    rules: dict[str, dict[str, Any]],
    validator: jsonschema.Draft202012Validator,
    change: dict[str, Any],
    message: str,
) -> None:
    obj = dict(by_name(pack, rules, "aws_ses_identity_deleted"), **change)
    obj = {k: v for k, v in obj.items() if v is not None}
    errors = [e.message for e in validator.iter_errors(obj)]
    assert any(message in e for e in errors), errors


@pytest.mark.parametrize("drop", ["name", "description", "risk_score", "severity", "type"])
def test_the_schema_requires_the_documented_keys(
    pack: Pack,
    rules: dict[str, dict[str, Any]],
    validator: jsonschema.Draft202012Validator,
    drop: str,
) -> None:
    obj = dict(by_name(pack, rules, "aws_ses_identity_deleted"))
    del obj[drop]
    assert not validator.is_valid(obj)


def test_the_schema_requires_type_specific_keys(
    pack: Pack, rules: dict[str, dict[str, Any]], validator: jsonschema.Draft202012Validator
) -> None:
    query = dict(by_name(pack, rules, "aws_ses_identity_deleted"))
    del query["query"]
    assert not validator.is_valid(query)


# --- content ------------------------------------------------------------------------------------


def test_query_strings_are_the_lucene_and_eql_outputs(
    pack: Pack, rules: dict[str, dict[str, Any]]
) -> None:
    for rule in converted(pack):
        obj = by_name(pack, rules, rule_key(rule))
        assert obj["type"] == "query"
        assert obj["language"] == "lucene"
        assert obj["query"] == lucene_query(pack, rule)


def test_rule_types(pack: Pack, rules: dict[str, dict[str, Any]]) -> None:
    types = {rule_key(r): by_name(pack, rules, rule_key(r))["type"] for r in converted(pack)}
    assert types == {
        "aws_ses_discovery_long_term_key": "query",
        "aws_ses_feedback_forwarding_disabled": "query",
        "aws_ses_identity_created": "query",
        "aws_ses_identity_deleted": "query",
        "aws_ses_identity_modification_attempt": "query",
        "aws_ses_identity_policy_changed": "query",
        "aws_ses_production_access_requested": "query",
        "aws_ses_quota_increase_requested": "query",
        "aws_ses_receipt_rule_changed": "query",
        "aws_ses_sending_enabled": "query",
        "aws_ses_smtp_user_created": "query",
    }


def test_suppression_becomes_alert_suppression(pack: Pack, rules: dict[str, dict]) -> None:
    got = {
        rule_key(r): by_name(pack, rules, rule_key(r)).get("alert_suppression")
        for r in converted(pack)
    }
    assert got["aws_ses_discovery_long_term_key"] == {
        "group_by": ["aws.cloudtrail.user_identity.access_key_id"],
        "duration": {"value": 24, "unit": "h"},
        "missing_fields_strategy": "suppress",
    }
    for name in ("aws_ses_identity_deleted", "aws_ses_identity_modification_attempt"):
        assert got[name] == {
            "group_by": ["aws.cloudtrail.user_identity.arn"],
            "duration": {"value": 1, "unit": "h"},
            "missing_fields_strategy": "suppress",
        }
    assert got["aws_ses_sending_enabled"] is None


@pytest.mark.parametrize(
    ("suppression", "word"),
    [
        ("{fields: [requestParameters.emailIdentity], period: 1h}", "flattened"),
        ("{fields: [userIdentity.userName], period: 1h}", "user.name"),
        ("{fields: [userIdentity.arn], period: 1x}", "period"),
    ],
)
def test_suppression_without_a_faithful_kibana_form(
    tmp_path: Path, suppression: str, word: str
) -> None:
    pack = write_pack(
        tmp_path, {"t_a": single("t_a", "GetAccount", extra=f"suppression: {suppression}\n")}
    )
    with pytest.raises(Refused) as info:
        kibana_rule(pack, pack.get("t_a"))
    assert word in info.value.reason


def test_do_not_suppress_strategy(tmp_path: Path) -> None:
    extra = (
        "suppression: {fields: [userIdentity.arn], period: 90m, missing_fields: do_not_suppress}\n"
    )
    pack = write_pack(tmp_path, {"t_a": single("t_a", "GetAccount", extra=extra)})
    assert kibana_rule(pack, pack.get("t_a"))["alert_suppression"] == {
        "group_by": ["aws.cloudtrail.user_identity.arn"],
        "duration": {"value": 90, "unit": "m"},
        "missing_fields_strategy": "doNotSuppress",
    }


def test_common_fields(pack: Pack, rules: dict[str, dict[str, Any]]) -> None:
    for rule in converted(pack):
        obj = by_name(pack, rules, rule_key(rule))
        assert obj["name"] == rule.title
        assert obj["description"] == rule.description.strip()
        assert obj["references"] == rule.references
        assert obj["false_positives"] == rule.falsepositives
        assert obj["author"] == [rule.author]
        assert obj["index"] == ["logs-aws.cloudtrail-*", "filebeat-*"]
        assert obj["enabled"] is False
        assert obj["max_signals"] == 100
        assert obj["version"] == 1
        assert obj["license"] == PACK_LICENSE
        assert rule.custom_attributes["triage"].strip() in obj["note"]
        assert obj["note"].startswith("## Triage and analysis\n")
        assert f"Sigma Level: {rule.level.name.lower()}" in obj["tags"]
        assert all(f"{t.namespace}.{t.name}" in obj["tags"] for t in rule.tags)
        assert "building_block_type" not in obj  # generate: true keeps the base rules


def test_pack_license_is_the_distribution_license() -> None:
    meta = importlib.metadata.metadata("ses-sigma")
    assert (meta.get("License-Expression") or meta.get("License")) == PACK_LICENSE


@pytest.mark.parametrize(
    ("name", "severity", "risk"),
    [
        ("aws_ses_identity_created", "low", 21),  # informational
        ("aws_ses_identity_deleted", "low", 21),
        ("aws_ses_sending_enabled", "medium", 47),
        ("aws_ses_discovery_long_term_key", "low", 21),
    ],
)
def test_severity_and_risk_score(
    pack: Pack, rules: dict[str, dict[str, Any]], name: str, severity: str, risk: int
) -> None:
    obj = by_name(pack, rules, name)
    assert (obj["severity"], obj["risk_score"]) == (severity, risk)


def test_threat_entries_come_from_the_vendored_attack(
    pack: Pack, rules: dict[str, dict[str, Any]]
) -> None:
    obj = by_name(pack, rules, "aws_ses_identity_created")
    tac = attack.tactic("resource-development")
    parent = attack.technique("T1585")
    sub = attack.technique("T1585.002")
    assert obj["threat"] == [
        {
            "framework": "MITRE ATT&CK",
            "tactic": {"id": tac.id, "name": tac.name, "reference": tac.url},
            "technique": [
                {
                    "id": parent.id,
                    "name": parent.name,
                    "reference": parent.url,
                    "subtechnique": [{"id": sub.id, "name": sub.name, "reference": sub.url}],
                }
            ],
        }
    ]
    assert "Tactic: Resource Development" in obj["tags"]
    discovery = by_name(pack, rules, "aws_ses_discovery_long_term_key")["threat"]
    assert [t["tactic"]["id"] for t in discovery] == [attack.tactic("discovery").id]
    assert discovery[0]["technique"][0]["id"] == "T1526"
    assert "subtechnique" not in discovery[0]["technique"][0]


# --- temp packs: refusals and special cases -----------------------------------------------------

HEADER = """\
title: {name}
id: {id}
name: {name}
status: experimental
description: test rule {name}
author: test
date: 2026-11-25
level: {level}
tags: {tags}
"""
SINGLE = """\
logsource:
  product: aws
  service: cloudtrail
detection:
  selection:
    eventSource: ses.amazonaws.com
    eventName: {event}
  condition: selection
"""


def write_pack(tmp: Path, docs: dict[str, str]) -> Pack:
    rules = tmp / "rules"
    rules.mkdir()
    for n, (name, text) in enumerate(docs.items(), start=1):
        (rules / f"{name}.yml").write_text(
            text.replace("{id}", f"00000000-0000-4000-8000-{n:012d}")
        )
    return load_pack([rules])


def single(name: str, event: str, tags: str = "[]", level: str = "low", extra: str = "") -> str:
    head = HEADER.replace("{name}", name).replace("{level}", level).replace("{tags}", tags)
    return head + SINGLE.replace("{event}", event) + extra


def correlation(name: str, body: str) -> str:
    head = HEADER.replace("{name}", name).replace("{level}", "high").replace("{tags}", "[]")
    return head + "correlation:\n" + body


def test_count_correlations_are_refused(tmp_path: Path) -> None:
    pack = write_pack(
        tmp_path,
        {
            "t_a": single("t_a", "DeleteIdentity"),
            "t_count": correlation(
                "t_count",
                "  type: event_count\n  rules: [t_a]\n  group-by: [userIdentity.arn]\n"
                "  timespan: 10m\n  condition:\n    gte: 5\n",
            ),
        },
    )
    out = get_target("kibana").convert(pack, [pack.get("t_count"), pack.get("t_a")], "ndjson")
    assert [r.rule for r in out.refusals] == ["t_count"]
    assert "threshold rule counts within each run's fixed look-back" in out.refusals[0].reason
    assert len(out.files[NDJSON_FILE].splitlines()) == 1


def test_generate_false_base_rules_are_building_blocks(tmp_path: Path) -> None:
    pack = write_pack(
        tmp_path,
        {
            "t_a": single("t_a", "VerifyEmailIdentity"),
            "t_b": single("t_b", "DeleteIdentity"),
            "t_seq": correlation(
                "t_seq",
                "  type: temporal_ordered\n  rules: [t_a, t_b]\n  group-by: [userIdentity.arn]\n"
                "  timespan: 10m\n  generate: false\n",
            ),
        },
    )
    assert kibana_rule(pack, pack.get("t_a"))["building_block_type"] == "default"
    with pytest.raises(Refused, match="tiebreaker"):
        kibana_rule(pack, pack.get("t_seq"))


def test_technique_without_its_tactic_is_filed_under_its_own_tactics(tmp_path: Path) -> None:
    pack = write_pack(
        tmp_path, {"t_a": single("t_a", "GetAccount", tags="[attack.t1526, attack.impact]")}
    )
    threat = kibana_rule(pack, pack.get("t_a"))["threat"]
    ids = [t["tactic"]["id"] for t in threat]
    assert ids == [attack.tactic("impact").id, attack.tactic("discovery").id]
    assert "technique" not in threat[0]
    assert threat[1]["technique"][0]["id"] == "T1526"


def test_unknown_technique_is_refused(tmp_path: Path) -> None:
    pack = write_pack(tmp_path, {"t_a": single("t_a", "GetAccount", tags="[attack.t1496.004]")})
    with pytest.raises(Refused, match=r"T1496\.004"):
        kibana_rule(pack, pack.get("t_a"))


@pytest.mark.parametrize(
    ("fields", "word"),
    [
        ("[userIdentity.arn, sourceIPAddress, awsRegion, userAgent]", "at most 3"),
        ("[userIdentity.userName]", "user.name"),
        ("[noSuchField]", "no Elastic mapping"),
    ],
)
def test_first_seen_fields_without_a_faithful_new_terms_form(
    tmp_path: Path, fields: str, word: str
) -> None:
    extra = f"first_seen:\n  fields: {fields}\n  learning_period: 1d\n  forget_after: 2d\n"
    pack = write_pack(tmp_path, {"t_fs": single("t_fs", "GetAccount", extra=extra)})
    with pytest.raises(Refused) as info:
        kibana_rule(pack, pack.get("t_fs"))
    assert word in info.value.reason


def test_first_seen_with_two_fields(tmp_path: Path) -> None:
    extra = (
        "first_seen:\n  fields: [userIdentity.arn, awsRegion]\n"
        "  learning_period: 1d\n  forget_after: 36h\n"
    )
    pack = write_pack(tmp_path, {"t_fs": single("t_fs", "GetAccount", extra=extra)})
    obj = kibana_rule(pack, pack.get("t_fs"))
    assert obj["new_terms_fields"] == ["aws.cloudtrail.user_identity.arn", "cloud.region"]
    assert obj["history_window_start"] == "now-36h"


def test_first_seen_on_a_derived_field_is_refused(tmp_path: Path) -> None:
    extra = (
        "first_seen:\n  fields: [who]\n  learning_period: 1d\n  forget_after: 2d\n"
        "derived_fields:\n  who:\n    coalesce: [userIdentity.sessionContext.sessionIssuer.arn,"
        " userIdentity.arn]\n"
    )
    pack = write_pack(tmp_path, {"t_fs": single("t_fs", "GetAccount", extra=extra)})
    with pytest.raises(Refused, match="first_seen field who is derived"):
        kibana_rule(pack, pack.get("t_fs"))
