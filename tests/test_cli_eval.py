"""``ses-sigma eval`` on the command line."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from ses_sigma.cli import main
from ses_sigma.evaluate.claims import DEFAULT_SCENARIOS_DIR
from ses_sigma.evaluate.run import scan_accepts
from ses_sigma.scan import scan

CAMPAIGN = DEFAULT_SCENARIOS_DIR / "campaigns" / "unit42_lambda_phishing.yml"


def _one(tmp_path):
    d = tmp_path / "campaigns"
    d.mkdir()
    shutil.copy(CAMPAIGN, d)
    return d


def test_json_report(tmp_path):
    res = CliRunner().invoke(
        main, ["eval", "--scenarios", str(_one(tmp_path)), "--days", "1", "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["summary"]["campaigns"] == 1
    (campaign,) = doc["campaigns"]
    assert campaign["name"] == "unit42_lambda_phishing"
    stages = {s["stage"]: s for s in campaign["alone"]["stages"]}
    assert "aws_ses_sending_enabled" in stages["enable_sending"]["rules"]
    assert stages["enable_sending"]["delay_seconds"] == 0


def test_table_report(tmp_path):
    res = CliRunner().invoke(main, ["eval", "--scenarios", str(_one(tmp_path)), "--days", "1"])
    assert res.exit_code == 0, res.output
    assert "stages detected, each campaign scanned alone:" in res.stdout
    assert "unit42_lambda_phishing" in res.stdout and "benign corpus alerts" in res.stdout


def test_claim_not_met_exits_1(tmp_path):
    claims = tmp_path / "claims.yml"
    claims.write_text(
        "campaigns:\n  unit42_lambda_phishing: {alone: [sending]}\n", encoding="utf-8"
    )
    res = CliRunner().invoke(
        main,
        ["eval", "--scenarios", str(_one(tmp_path)), "--days", "1", "--claims", str(claims)],
    )
    assert res.exit_code == 1
    assert "stage 'sending' claimed detected alone, missed" in res.stderr


def test_suppress_only_when_scan_has_it(tmp_path):
    res = CliRunner().invoke(
        main, ["eval", "--scenarios", str(_one(tmp_path)), "--days", "1", "--suppress"]
    )
    if scan_accepts("suppress"):
        assert res.exit_code == 0, res.output
        assert "without the scan options" in res.stdout
    else:
        assert res.exit_code == 2
        assert "no suppression" in res.stderr


def test_export_is_scannable(tmp_path):
    out = tmp_path / "export"
    res = CliRunner().invoke(
        main,
        ["eval", "--scenarios", str(_one(tmp_path)), "--days", "1", "--export", str(out)],
    )
    assert res.exit_code == 0, res.output
    labels = json.loads((out / "unit42_lambda_phishing.stages.json").read_text("utf-8"))
    result = scan([out / "unit42_lambda_phishing.jsonl", out / "benign.jsonl"])
    assert result.ok and result.read.records > len(labels)
    assert set(labels.values()) >= {"recon", "sending", "cleanup_evasion"}
