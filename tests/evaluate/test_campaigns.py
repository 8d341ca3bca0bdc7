"""Campaign replays: every file loads, cites its source, and replays to pure CloudTrail."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from ses_sigma.evaluate.campaigns import (
    CampaignError,
    load_campaign,
    load_campaigns,
    parse_duration,
)
from ses_sigma.evaluate.claims import DEFAULT_SCENARIOS_DIR
from ses_sigma.records import parse_event_time

SCHEMA = Path(__file__).parents[1] / "schemas" / "cloudtrail_record.schema.json"
CAMPAIGNS = load_campaigns(DEFAULT_SCENARIOS_DIR / "campaigns")

#: One replay per public write-up named in issue 8.
WRITE_UPS = {
    "permiso_ses_pionage",
    "wiz_2025_production_burst",
    "wiz_2025_support_case",
    "datadog_stratus_ses",
    "unit42_lambda_phishing",
    "invictus_dangerdev",
    "smtp_credentials_abuse",
    "all_refused_probe",
    "v2_cleanup",
    "quota_only",
}


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.Draft202012Validator
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_one_replay_per_write_up():
    assert {c.name for c in CAMPAIGNS} >= WRITE_UPS


@pytest.mark.parametrize("campaign", CAMPAIGNS, ids=lambda c: c.name)
def test_cites_its_sources(campaign):
    assert campaign.sources
    for source in campaign.sources:
        assert source.url.startswith("https://")
        assert len(source.follows.split()) >= 5


@pytest.mark.parametrize("campaign", CAMPAIGNS, ids=lambda c: c.name)
def test_replays_to_valid_cloudtrail(campaign, validator):
    replay = campaign.replay()
    assert replay.records
    for record in replay.records:
        errors = [e.message for e in validator.iter_errors(record)]
        assert not errors, (record["eventName"], errors)


@pytest.mark.parametrize("campaign", CAMPAIGNS, ids=lambda c: c.name)
def test_every_record_labelled_outside_the_record(campaign):
    replay = campaign.replay()
    ids = [r["eventID"] for r in replay.records]
    assert len(set(ids)) == len(ids)
    assert set(replay.stages) == set(ids)
    for record in replay.records:
        text = json.dumps(record)
        assert '"stage"' not in text
        assert replay.stages[record["eventID"]] not in record
    times = [parse_event_time(r["eventTime"]) for r in replay.records]
    assert times == sorted(times)
    assert campaign.stages, "a replay goes through at least one stage of the chain"


def test_event_ids_unique_across_campaigns():
    ids = [r["eventID"] for c in CAMPAIGNS for r in c.replay().records]
    assert len(set(ids)) == len(ids)


def test_replay_at_another_start_shifts_every_record():
    campaign = next(c for c in CAMPAIGNS if c.name == "wiz_2025_production_burst")
    a = campaign.replay()
    b = campaign.replay(campaign.start + 86400 * 10)
    assert [parse_event_time(r["eventTime"]) + 86400 * 10 for r in a.records] == [
        parse_event_time(r["eventTime"]) for r in b.records
    ]
    assert sorted(a.stages.values()) == sorted(b.stages.values())


def test_wiz_burst_is_every_region_within_ten_seconds():
    campaign = next(c for c in CAMPAIGNS if c.name == "wiz_2025_production_burst")
    replay = campaign.replay()
    burst = [r for r in replay.records if r["eventName"] == "PutAccountDetails"]
    assert len({r["awsRegion"] for r in burst}) == 17
    times = [parse_event_time(r["eventTime"]) for r in burst]
    assert max(times) - min(times) <= 10
    assert all("productionAccessEnabled" not in r["requestParameters"] for r in burst)


@pytest.mark.parametrize(
    ("value", "seconds"), [(90, 90.0), ("90s", 90.0), ("2h40m", 9600.0), ("1d", 86400.0)]
)
def test_parse_duration(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "5x", "-3s", True, -1, "1h 2m"])
def test_parse_duration_refuses(value):
    with pytest.raises(ValueError):
        parse_duration(value)


GOOD = """\
name: {name}
title: t
sources: [{{url: "https://example.com/a", follows: what it follows}}]
start: "2025-01-01T00:00:00Z"
principals:
  attacker: {{org: svc-newsletter}}
steps:
{steps}
"""


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ("  - {stage: spying, call: ses:GetAccount}", "step 1: stage 'spying'"),
        ("  - {stage: recon, call: GetAccount}", "step 1: call must be"),
        ("  - {stage: recon, call: ses:GetAccount, principal: nobody}", "unknown principal"),
        ("  - {stage: recon, call: ses:GetAccount, colour: red}", "unknown key"),
        ("  - {stage: recon, call: ses:GetAccount, error: Throttling}", "needs error_message"),
        ("  - {stage: recon, call: ses:GetAccount, at: soon}", "not a duration"),
        ("  - {stage: recon, call: ses:GetAccount, repeat: 0}", "repeat must be"),
    ],
)
def test_bad_step_is_named(tmp_path, steps, message):
    path = tmp_path / "bad.yml"
    path.write_text(GOOD.format(name="bad", steps=steps), encoding="utf-8")
    with pytest.raises(CampaignError) as exc:
        load_campaign(path)
    assert str(path) in str(exc.value)
    assert message in str(exc.value)


def test_file_name_and_sources_required(tmp_path):
    path = tmp_path / "other.yml"
    path.write_text(
        GOOD.format(name="bad", steps="  - {stage: recon, call: ses:GetAccount}"), "utf-8"
    )
    with pytest.raises(CampaignError, match="name must be the file name"):
        load_campaign(path)
    text = GOOD.format(name="other", steps="  - {stage: recon, call: ses:GetAccount}")
    path.write_text(text.replace("sources:", "references:"), "utf-8")
    with pytest.raises(CampaignError, match="sources"):
        load_campaign(path)
