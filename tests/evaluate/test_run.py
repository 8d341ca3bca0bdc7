"""The evaluation: attribution of alerts to stages, benign counts, and the claims check."""

from __future__ import annotations

from pathlib import Path

import pytest

from ses_sigma.evaluate.benign import benign_corpus
from ses_sigma.evaluate.campaigns import load_campaign
from ses_sigma.evaluate.claims import ClaimsError, check, load_claims, unclaimed
from ses_sigma.evaluate.run import (
    BenignOutcome,
    CampaignOutcome,
    EvalError,
    EvalResult,
    ModeOutcome,
    StageOutcome,
    evaluate,
)
from ses_sigma.pack import load_pack

RULE = """\
title: GetAccount seen
id: 7c0d1bb8-5a57-4f0e-9c39-5d7f1f0d2c11
name: test_get_account
status: test
description: test rule
author: test
date: 2026-11-20
logsource: {{product: aws, service: cloudtrail}}
detection:
  selection:
    eventSource: ses.amazonaws.com
    eventName: GetAccount
  condition: selection
level: {level}
"""

CAMPAIGN = """\
name: toy
title: toy campaign
sources: [{url: "https://example.com/toy", follows: the toy write-up of the test}]
start: "2025-01-01T00:00:00Z"
principals:
  attacker: {org: svc-newsletter, sourceIPAddress: 203.0.113.5}
steps:
  - {at: 0s, stage: recon, call: ses:ListIdentities}
  - {at: 30s, stage: recon, call: ses:GetAccount}
  - {at: 1m, stage: enable_sending, call: ses:UpdateAccountSendingEnabled, params: {enabled: true}}
"""


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    (root / "rules").mkdir()
    (root / "rules" / "test_get_account.yml").write_text(RULE.format(level="high"), "utf-8")
    (root / "toy.yml").write_text(CAMPAIGN, "utf-8")
    benign = benign_corpus(days=1)
    result = evaluate(load_pack([root / "rules"]), [load_campaign(root / "toy.yml")], benign)
    return result, benign


def test_stage_detected_when_an_alert_holds_its_record(toy):
    result, _ = toy
    (c,) = result.campaigns
    for mode in (c.alone, c.history):
        recon, enable = mode.stages
        assert recon.rules == ["test_get_account"]
        assert recon.records == 2
        assert recon.delay == 30.0  # the stage starts with ListIdentities, alerted at GetAccount
        assert not enable.detected and enable.delay is None
        assert mode.first_alert == 30.0
        assert mode.high
        assert mode.levels == {"high": 1}
    assert result.covered("alone") == 1 and result.stages_total == 2


def test_benign_alerts_counted_per_rule_and_level(toy):
    result, benign = toy
    expected = sum(
        1
        for r in benign
        if r["eventSource"] == "ses.amazonaws.com" and r["eventName"] == "GetAccount"
    )
    assert expected > 0
    assert result.benign.alerts == {("test_get_account", "high"): expected}
    assert result.benign.at_least("medium") == expected


def test_unknown_scan_option_is_an_error(tmp_path):
    with pytest.raises(EvalError, match="no 'colour' option"):
        evaluate(load_pack(), [], benign_corpus(days=1), {"colour": "red"})


def _result(detected: list[str], high: bool, benign: dict) -> EvalResult:
    stages = [
        StageOutcome("recon", 1, ["r"] if "recon" in detected else [], 0.0),
        StageOutcome("sending", 5, ["r"] if "sending" in detected else [], 0.0),
    ]
    mode = ModeOutcome(stages, 0.0, {"high": 1} if high else {"medium": 1})
    return EvalResult(
        rules=["r"],
        scan_options={},
        campaigns=[CampaignOutcome("c", "t", [], 6, mode, mode)],
        benign=BenignOutcome(10, 0.0, 1.0, benign),
    )


def _claims(tmp_path: Path, text: str):
    path = tmp_path / "claims.yml"
    path.write_text(text, "utf-8")
    return load_claims(path)


CLAIMS = """\
campaigns:
  c: {alone: [recon], with_history: [recon, sending], high: true}
benign_accepted:
  - {rule: r, level: medium, max: 2, reason: the monitoring script polls}
"""


def test_claims_hold(tmp_path):
    result = _result(["recon", "sending"], True, {("r", "medium"): 2, ("q", "low"): 50})
    claims = _claims(tmp_path, CLAIMS)
    assert check(result, claims) == []
    assert unclaimed(result, claims) == ["c: alone also detects sending"]


def test_missed_stage_fails(tmp_path):
    problems = check(_result(["recon"], True, {}), _claims(tmp_path, CLAIMS))
    assert problems == [
        "c: stage 'sending' claimed detected with_history, missed",
    ]


def test_missing_high_fails(tmp_path):
    problems = check(_result(["recon", "sending"], False, {}), _claims(tmp_path, CLAIMS))
    assert problems == ["c: claimed to raise a high alert (alone), raised none"]


def test_unaccepted_or_excess_benign_alerts_fail(tmp_path):
    claims = _claims(tmp_path, CLAIMS)
    result = _result(["recon", "sending"], True, {("r", "medium"): 3, ("x", "high"): 1})
    assert check(result, claims) == [
        "benign: 3 medium alert(s) of r, 2 accepted",
        "benign: 1 high alert(s) of x, not accepted in the claims file",
    ]


def test_claims_must_cover_every_campaign(tmp_path):
    claims = _claims(tmp_path, "campaigns:\n  other: {alone: [recon]}\n")
    problems = check(_result(["recon"], False, {}), claims)
    assert "other: claimed, but no such campaign was evaluated" in problems
    assert "c: evaluated, but the claims file says nothing about it" in problems


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("campaigns:\n  c: {alone: [spying]}\n", "unknown stage"),
        ("campaigns:\n  c: {alone: [recon], noisy: 1}\n", "unknown key"),
        (
            "campaigns:\n  c: {}\nbenign_accepted:\n  - {rule: r, level: medium, max: 1, "
            "reason: ok}\n",
            "reason must say why",
        ),
        (
            "campaigns:\n  c: {}\nbenign_accepted:\n  - {rule: r, level: loud, max: 1, "
            "reason: because it is so}\n",
            "level must be",
        ),
    ],
)
def test_bad_claims_file_is_named(tmp_path, text, message):
    with pytest.raises(ClaimsError) as exc:
        _claims(tmp_path, text)
    assert "claims.yml" in str(exc.value) and message in str(exc.value)


def test_scan_accepts_follows_a_catch_all(monkeypatch):
    import ses_sigma.evaluate.run as run

    def scan(paths, rules=(), on_rejection=None, skip_unsupported=False, **options): ...

    def scan_with_engine(engine, paths, on_rejection=None, *, suppress=False, workers=1): ...

    monkeypatch.setattr(run, "scan", scan)
    monkeypatch.setattr(run, "scan_with_engine", scan_with_engine)
    assert run.scan_accepts("skip_unsupported")
    assert run.scan_accepts("suppress")
    assert not run.scan_accepts("colour")
