"""The benign corpus: deterministic, a week and more of realistic CloudTrail."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import jsonschema
import pytest

from ses_sigma.evaluate.benign import benign_corpus
from ses_sigma.evaluate.org import ALL_REGIONS
from ses_sigma.records import parse_event_time

SCHEMA = Path(__file__).parents[1] / "schemas" / "cloudtrail_record.schema.json"


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    return benign_corpus()


def test_same_seed_same_records_other_seed_other_records():
    assert benign_corpus(days=1) == benign_corpus(days=1)
    assert benign_corpus(days=1) != benign_corpus(seed=7, days=1)


def test_size_and_span(corpus):
    assert 10_000 <= len(corpus) <= 60_000
    times = [parse_event_time(r["eventTime"]) for r in corpus]
    assert times == sorted(times)
    assert max(times) - min(times) >= 7.9 * 86400
    ids = [r["eventID"] for r in corpus]
    assert len(set(ids)) == len(ids)


def test_records_are_cloudtrail(corpus):
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.Draft202012Validator
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    # One record of every shape the generator makes: principal, call, outcome, response.
    shapes = {}
    for r in corpus:
        ident = r["userIdentity"]
        issuer = ident.get("sessionContext", {}).get("sessionIssuer", {}).get("userName")
        key = (
            ident["type"],
            issuer or ident.get("userName"),
            r["eventSource"],
            r["eventName"],
            r.get("errorCode"),
            r["requestParameters"] is None,
            r["responseElements"] is None,
        )
        shapes.setdefault(key, r)
    sample = list(shapes.values())
    assert len(sample) > 50
    for record in sample:
        errors = [e.message for e in validator.iter_errors(record)]
        assert not errors, (record["eventName"], errors)


def _by(corpus, arn_part: str, name: str) -> list[dict]:
    return [r for r in corpus if arn_part in r["userIdentity"]["arn"] and r["eventName"] == name]


def test_the_organisation_at_work(corpus):
    days = 8
    # Trusted Advisor's GetSendQuota, daily in the three SES regions.
    assert len(_by(corpus, "AWSServiceRoleForTrustedAdvisor", "GetSendQuota")) == 3 * days
    # The Prowler-like scanner reads SES in every region every day.
    prowler = _by(corpus, "ProwlerScanRole", "ListEmailIdentities")
    assert Counter(r["awsRegion"] for r in prowler) == dict.fromkeys(ALL_REGIONS, days)
    # The monitoring script: GetAccount hourly in two regions with an AKIA key.
    monitor = _by(corpus, "svc-ses-monitor", "GetAccount")
    assert len(monitor) == 2 * 24 * days
    assert all(r["userIdentity"]["accessKeyId"].startswith("AKIA") for r in monitor)
    # IaC creates and tears down identities and configuration sets.
    for name in ("CreateEmailIdentity", "DeleteEmailIdentity", "CreateConfigurationSet"):
        assert _by(corpus, "TerraformDeployRole", name)
    assert _by(corpus, "IntegTestDeployRole", "DeleteEmailIdentity")
    # The ECS service's role sessions rotate (a new session name every few hours).
    sessions = {r["userIdentity"]["arn"] for r in _by(corpus, "OrdersApiTaskRole", "SendEmail")}
    assert len(sessions) >= 4 * 3 * days
    # Sending is logged as data events; some calls are refused.
    sends = [r for r in corpus if r["eventName"] in {"SendEmail", "SendRawEmail"}]
    assert sends and all(r["eventCategory"] == "Data" for r in sends)
    assert any(r.get("errorCode") == "AccessDenied" for r in corpus)
    # Console users, through IAM Identity Center.
    console = [r for r in corpus if r.get("sessionCredentialFromConsole") == "true"]
    assert any("AWSReservedSSO_" in r["userIdentity"]["arn"] for r in console)
