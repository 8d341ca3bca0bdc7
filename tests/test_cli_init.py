"""``ses-sigma init DIR``: a team repository where check and test pass at once, whose rules
scan and convert use together with the bundled pack."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from ses_sigma.cli import main
from ses_sigma.init import TEMPLATE_FILES
from ses_sigma.pack import DEFAULT_RULES_DIR

EXAMPLE = "team_ses_notification_topic_changed"


def run(*args: str, stdin: bytes | None = None) -> Result:
    return CliRunner(env={"COLUMNS": None}).invoke(main, list(args), input=stdin)


@pytest.fixture
def team(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    result = run("init", "mypack")
    assert result.exit_code == 0, result.output
    monkeypatch.chdir(tmp_path / "mypack")
    return tmp_path / "mypack"


def test_init_writes_the_repository(team: Path) -> None:
    for written in TEMPLATE_FILES.values():
        assert (team / written).is_file(), written
    workflow = yaml.safe_load((team / ".github/workflows/ses-sigma.yml").read_text())
    runs = [s.get("run", "") for job in workflow["jobs"].values() for s in job["steps"]]
    for command in ("ses-sigma check", "ses-sigma test", "ses-sigma report"):
        assert any(r.startswith(command) for r in runs), command
    assert "pull_request" in workflow[True]  # YAML 1.1 reads the key `on` as True
    hooks = yaml.safe_load((team / ".pre-commit-config.yaml").read_text())["repos"][0]["hooks"]
    assert [h["entry"] for h in hooks] == ["ses-sigma check", "ses-sigma test"]


def test_check_and_test_pass_at_once(team: Path) -> None:
    check = run("check")
    assert check.exit_code == 0, check.output
    assert "ses-sigma.toml with the bundled pack" in check.stderr
    test = run("test")
    assert test.exit_code == 0, test.output
    bundled = len(list(DEFAULT_RULES_DIR.glob("*.yml")))
    assert f"of {bundled + 1} rule(s)" in test.stdout.splitlines()[-1]
    assert EXAMPLE in test.stdout


def test_check_lists_the_teams_excused_findings_not_the_bundled_ones(team: Path) -> None:
    """The bundled rules' excused findings would bury the team's own lines: they are counted,
    not listed; an excused finding in the team's rule is listed."""
    rule = team / "rules" / f"{EXAMPLE}.yml"
    data = yaml.safe_load(rule.read_text(encoding="utf-8"))
    assert "fields" not in data
    rule.write_text(
        rule.read_text(encoding="utf-8")
        + "fields:\n  - eventName\nlint_exceptions:\n  - code: sigmahq_fields_existence\n"
        + "    reason: the team wants the column list\n",
        encoding="utf-8",
    )
    check = run("check")
    assert check.exit_code == 0, check.output
    listed = [line for line in check.stdout.splitlines() if "(excused:" in line]
    assert len(listed) == 1 and EXAMPLE in listed[0], listed
    found = re.search(
        r"(\d+) excused, .*\((\d+) excused in the bundled rules, not listed\)", check.stderr
    )
    assert found, check.stderr
    total, hidden = int(found.group(1)), int(found.group(2))
    assert hidden > 0 and total == hidden + 1


def test_scan_and_convert_use_the_team_rules_with_the_bundled_pack(team: Path) -> None:
    event = (
        '{"eventVersion":"1.11","eventTime":"2026-12-01T10:00:00Z","eventID":"%s",'
        '"eventSource":"ses.amazonaws.com","eventName":"%s","awsRegion":"us-east-1",'
        '"userIdentity":{"type":"IAMUser","accessKeyId":"AKIAEXAMPLE",'
        '"arn":"arn:aws:iam::111122223333:user/alice"}}\n'
    )
    logs = event % ("e1", "SetIdentityNotificationTopic") + event % ("e2", "GetAccount")
    scan = run("scan", "-", stdin=logs.encode())
    assert scan.exit_code == 0, scan.output
    assert EXAMPLE in scan.stdout and "aws_ses_discovery_long_term_key" in scan.stdout
    convert = run("convert", "-t", "splunk", EXAMPLE, "aws_ses_identity_deleted")
    assert convert.exit_code == 0, convert.output
    assert "SetIdentityNotificationTopic" in convert.stdout
    assert "DeleteIdentity" in convert.stdout


def test_a_duplicated_key_fails_check_with_a_finding(team: Path) -> None:
    rule = team / "rules" / f"{EXAMPLE}.yml"
    lines = rule.read_text(encoding="utf-8").count("\n")
    with rule.open("a", encoding="utf-8") as handle:
        handle.write("level: high\n")
    result = run("check")
    assert result.exit_code == 1, result.output
    assert (
        f"rules/{EXAMPLE}.yml:{lines + 1}: yaml_duplicate_key: duplicate key 'level'"
        in result.stdout
    )
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_init_never_overwrites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mypack").mkdir()
    (tmp_path / "mypack" / "ses-sigma.toml").write_text("# mine\n")
    result = run("init", "mypack")
    assert result.exit_code == 2
    assert "would overwrite" in result.output
    assert (tmp_path / "mypack" / "ses-sigma.toml").read_text() == "# mine\n"
    assert not (tmp_path / "mypack" / "rules").exists()
