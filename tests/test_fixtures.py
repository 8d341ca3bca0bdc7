"""Every fixture case of the pack, one pytest id per case (``<rule>::<case>``), plus checks
that the fixtures themselves are well-formed, realistic CloudTrail and cover every rule.

``pytest -k aws_ses_identity_deleted`` runs the cases of one rule. A malformed fixture does not
abort collection: it makes ``test_fixtures_load`` fail with every problem (file, line, case).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import SigmaNull

from ses_sigma.harness import (
    BASE_FILE,
    DEFAULT_FIXTURES_DIR,
    Case,
    check_coverage,
    collect_fixtures,
    expand_event,
    fixture_files,
    load_bases,
    load_yaml,
    run_case,
)
from ses_sigma.match.engine import Engine
from ses_sigma.pack import Pack, PackLoadError, load_pack, rule_key

SCHEMAS = Path(__file__).resolve().parent / "schemas"

DOC_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
)
EXAMPLE_ACCOUNTS = {"111122223333", "123456789012"}
_ARN_ACCOUNT = re.compile(r"arn:aws:[a-z0-9-]*:[a-z0-9-]*:(\d{12})")

try:
    PACK: Pack | None = load_pack()
    LOAD_ERROR: Exception | None = None
except PackLoadError as exc:  # reported by test_fixtures_load, not as a collection error
    PACK, LOAD_ERROR = None, exc
SINGLE_RULES = PACK.rules if PACK else []
RULE_NAMES = [rule_key(r) for r in PACK] if PACK else []
CASES, PROBLEMS = collect_fixtures(DEFAULT_FIXTURES_DIR, RULE_NAMES) if PACK else ([], [])


@pytest.fixture(scope="module")
def engine() -> Engine:
    assert PACK is not None, LOAD_ERROR
    return Engine(PACK)


@cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    """A validator for tests/schemas/<name>, resolving references between the schemas."""
    schemas = [json.loads(p.read_text(encoding="utf-8")) for p in SCHEMAS.glob("*.json")]
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema,
        registry=registry,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def schema_errors(name: str, instance: Any) -> list[str]:
    errors = validator(name).iter_errors(instance)
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]


# --------------------------------------------------------------------------- the cases


def test_fixtures_load() -> None:
    assert LOAD_ERROR is None, f"the rule pack does not load: {LOAD_ERROR}"
    assert not PROBLEMS, "malformed fixtures:\n" + "\n".join(map(str, PROBLEMS))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case(engine: Engine, case: Case) -> None:
    verdict = run_case(engine, case)
    assert verdict.passed, verdict.explain()


def test_every_rule_has_a_firing_and_a_quiet_case() -> None:
    assert check_coverage(RULE_NAMES, CASES) == []


# --------------------------------------------------------------------------- realism


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_events_are_cloudtrail_records(case: Case) -> None:
    problems = [
        f"event {event['eventID']}: {err}"
        for event in case.events
        for err in schema_errors("cloudtrail_record.schema.json", event)
    ]
    assert not problems, "\n".join(problems)


def _strings(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v, key)
    elif isinstance(node, str):
        yield key, node


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_events_use_documentation_addresses_and_accounts(case: Case) -> None:
    bad: list[str] = []
    for event in case.events:
        for key, text in _strings(event):
            try:
                ip = ipaddress.ip_address(text)
            except ValueError:
                ip = None
            if ip is not None and not any(ip in net for net in DOC_NETWORKS):
                bad.append(f"{event['eventID']}: {key}={text} is not a documentation address")
            accounts = set(_ARN_ACCOUNT.findall(text))
            if key in ("accountId", "recipientAccountId", "vpcEndpointAccountId"):
                accounts.add(text)
            for account in accounts - EXAMPLE_ACCOUNTS:
                bad.append(f"{event['eventID']}: {key} uses account {account}")
    assert not bad, "\n".join(bad)


def test_base_file_matches_schema() -> None:
    data, _ = load_yaml(DEFAULT_FIXTURES_DIR / BASE_FILE)
    errors = schema_errors("fixture_base.schema.json", data)
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("path", fixture_files(DEFAULT_FIXTURES_DIR), ids=lambda p: p.name)
def test_fixture_file_matches_schema(path: Path) -> None:
    data, _ = load_yaml(path)
    errors = schema_errors("fixture_file.schema.json", data)
    assert not errors, "\n".join(errors)


def test_fixture_schema_allows_exactly_the_cloudtrail_keys() -> None:
    record = json.loads((SCHEMAS / "cloudtrail_record.schema.json").read_text(encoding="utf-8"))
    fixture = json.loads((SCHEMAS / "fixture_file.schema.json").read_text(encoding="utf-8"))
    allowed = set(fixture["$defs"]["event"]["propertyNames"]["enum"])
    assert allowed == set(record["properties"]) | {"base", "principal", "_remove"}


# --------------------------------------------------------------------------- what the cases cover


def _items(detection: SigmaDetection) -> Iterator[SigmaDetectionItem]:
    for item in detection.detection_items:
        if isinstance(item, SigmaDetection):
            yield from _items(item)
        else:
            yield item


def _field_values(rule: SigmaRule, field: str) -> list[Any]:
    """The values pySigma parsed for ``field`` anywhere in the rule's detections."""
    return [
        value
        for detection in rule.detection.detections.values()
        for item in _items(detection)
        if item.field == field
        for value in item.value
    ]


def _alerted_events(case: Case) -> list[dict[str, Any]]:
    ids = {i for alert in case.expect for i in alert.event_ids}
    return [e for e in case.events if e["eventID"] in ids]


def _quiet_events(case: Case) -> list[dict[str, Any]]:
    ids = {i for alert in case.expect for i in alert.event_ids}
    return [e for e in case.events if e["eventID"] not in ids]


@pytest.mark.parametrize("rule", SINGLE_RULES, ids=rule_key)
def test_every_listed_event_name_has_a_positive_case(rule: SigmaRule) -> None:
    names = {str(v) for v in _field_values(rule, "eventName")}
    assert names, f"{rule_key(rule)} lists no eventName"
    fired = {
        e["eventName"]
        for case in CASES
        if case.rule == rule_key(rule)
        for e in _alerted_events(case)
    }
    assert names <= fired, f"eventNames without a positive case: {sorted(names - fired)}"


@pytest.mark.parametrize("rule", SINGLE_RULES, ids=rule_key)
def test_failed_calls_are_covered(rule: SigmaRule) -> None:
    """Success-only rules (``errorCode: null``) have a failed call that stays quiet; the other
    rules have a failed call that fires."""
    mine = [c for c in CASES if c.rule == rule_key(rule)]
    success_only = any(isinstance(v, SigmaNull) for v in _field_values(rule, "errorCode"))
    if success_only:
        pool = [e for c in mine for e in _quiet_events(c)]
    else:
        pool = [e for c in mine for e in _alerted_events(c)]
    failed = [e for e in pool if isinstance(e.get("errorCode"), str)]
    kind = "quiet" if success_only else "firing"
    assert failed, f"{rule_key(rule)}: no {kind} case with a failed call (errorCode)"


# --------------------------------------------------------------------------- the schema can fail


def _base_event(base: str, principal: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "base": base,
        "eventID": "00000000-0000-4000-8000-000000000001",
        "eventTime": "2026-11-20T10:00:00Z",
    }
    if principal:
        spec["principal"] = principal
    return expand_event(spec, load_bases(DEFAULT_FIXTURES_DIR / BASE_FILE))


def _set(path: str, value: Any) -> Any:
    def mutate(record: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = record
        for p in parents:
            node = node[p]
        node[last] = value

    return mutate


def _drop(path: str) -> Any:
    def mutate(record: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = record
        for p in parents:
            node = node[p]
        del node[last]

    return mutate


BAD_RECORDS = {
    "no eventVersion": ("ses_get_account", None, _drop("eventVersion")),
    "eventTime without zone": ("ses_get_account", None, _set("eventTime", "2026-11-20T10:00:00")),
    "eventTime in Panther's form": (
        "ses_get_account",
        None,
        _set("eventTime", "2026-11-20 10:00:00.000000000"),
    ),
    "eventID not a UUID": ("ses_get_account", None, _set("eventID", "test-event-id")),
    "placeholder access key": (
        "ses_get_account",
        None,
        _set("userIdentity.accessKeyId", "SAMPLE_ACCESS_KEY"),
    ),
    "IAM user without userName": ("ses_get_account", None, _drop("userIdentity.userName")),
    "IAM user without access key": ("ses_get_account", None, _drop("userIdentity.accessKeyId")),
    "assumed role with a long-term key": (
        "ses_get_account",
        "bob_mailops",
        _set("userIdentity.accessKeyId", "AKIAIOSFODNN7EXAMPLE"),
    ),
    "assumed role without session context": (
        "ses_get_account",
        "bob_mailops",
        _drop("userIdentity.sessionContext"),
    ),
    "mfaAuthenticated as a boolean": (
        "ses_get_account",
        "bob_mailops",
        _set("userIdentity.sessionContext.attributes.mfaAuthenticated", True),
    ),
    "eventSource not an AWS endpoint": (
        "ses_get_account",
        None,
        _set("eventSource", "ses.example.com"),
    ),
    "misspelt top-level key": ("ses_get_account", None, _set("eventname", "GetAccount")),
    "account id as a number": ("ses_get_account", None, _set("recipientAccountId", 111122223333)),
    "failed call without errorMessage": (
        "ses_get_account",
        None,
        _set("errorCode", "AccessDenied"),
    ),
    "readOnly as a string": ("ses_get_account", None, _set("readOnly", "true")),
    "client call without tlsDetails": ("ses_get_account", None, _drop("tlsDetails")),
    "unknown region form": ("ses_get_account", None, _set("awsRegion", "ap-isob-central-3r")),
    "no requestParameters key": ("ses_get_account", None, _drop("requestParameters")),
    "sourceIPAddress neither an IP nor a service": (
        "ses_get_account",
        None,
        _set("sourceIPAddress", "1.2.3"),
    ),
}


@pytest.mark.parametrize("name", BAD_RECORDS)
def test_schema_rejects_unrealistic_records(name: str) -> None:
    base, principal, mutate = BAD_RECORDS[name]
    record = _base_event(base, principal)
    assert schema_errors("cloudtrail_record.schema.json", record) == []  # the control
    mutate(record)
    assert schema_errors("cloudtrail_record.schema.json", record), name
