"""``ses-sigma scan`` end to end through click's CliRunner, and the scan() library call."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ses_sigma.cli import main
from ses_sigma.logs import read_records
from ses_sigma.pack import DEFAULT_RULES_DIR
from ses_sigma.scan import scan

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
BROKEN = ROOT / "tests" / "data" / "logs"
CI_DEPLOY = "arn:aws:iam::111122223333:user/ci-deploy"


def run(*args: str, columns: str | None = None) -> Result:
    # COLUMNS unset: rich's table takes its natural width when not on a terminal.
    return CliRunner(env={"COLUMNS": columns}).invoke(main, ["scan", *args])


def alert_lines(result: Result) -> list[dict]:
    """The JSON alerts printed, in (time, rule, event ids) order (they stream as found)."""
    got = [json.loads(line) for line in result.stdout.splitlines()]
    return sorted(got, key=lambda a: (a["time"], a["rule_name"], a["event_ids"]))


@pytest.fixture(scope="module")
def demo() -> Result:
    return run(str(EXAMPLES))


def test_json_lines_are_the_library_alerts(demo: Result) -> None:
    assert demo.exit_code == 0, demo.stderr
    got = alert_lines(demo)
    library = [a.to_dict() for a in scan([EXAMPLES]).alerts]
    assert sorted(got, key=repr) == sorted(library, key=repr)
    assert got and all(
        set(a) == {"rule_id", "rule_name", "title", "level", "time", "group", "event_ids"}
        for a in got
    )


def test_demo_story_raises_the_documented_alerts(demo: Result) -> None:
    # examples/README.md documents these 66 alerts (time, rule), in the order scan prints them.
    got = [(a["time"], a["rule_name"]) for a in alert_lines(demo)]
    expected = [
        ("2025-03-03T10:21:07Z", "aws_ses_account_recon"),
        ("2025-03-03T10:21:31Z", "aws_ses_account_recon"),
        ("2025-03-04T11:02:45Z", "aws_ses_identity_created"),
        ("2025-03-04T11:02:45Z", "aws_ses_identity_modification_attempt"),
        ("2025-03-04T11:02:45Z", "aws_ses_sender_setup_change"),
        ("2025-03-05T16:40:02Z", "aws_ses_identity_deleted"),
        ("2025-03-05T16:40:02Z", "aws_ses_identity_modification_attempt"),
        ("2025-03-11T14:02:11Z", "aws_sts_key_validated_by_secret_scanner"),
        ("2025-03-11T14:03:02Z", "aws_ses_account_recon"),
        ("2025-03-11T14:03:02Z", "aws_ses_discovery_long_term_key"),
        ("2025-03-11T14:03:02Z", "aws_ses_enumeration_new_principal"),
        ("2025-03-11T14:03:02Z", "aws_ses_recon_long_term_key"),
        ("2025-03-11T14:03:03Z", "aws_ses_account_recon"),
        ("2025-03-11T14:03:03Z", "aws_ses_recon_long_term_key"),
        ("2025-03-11T14:03:04Z", "aws_ses_account_recon"),
        ("2025-03-11T14:03:04Z", "aws_ses_recon_long_term_key"),
        ("2025-03-11T14:03:11Z", "aws_ses_account_recon"),
        ("2025-03-11T14:03:11Z", "aws_ses_discovery_long_term_key"),
        ("2025-03-11T14:03:11Z", "aws_ses_recon_long_term_key"),
        ("2025-03-11T14:03:12Z", "aws_ses_account_recon"),
        ("2025-03-11T14:03:12Z", "aws_ses_recon_long_term_key"),
        ("2025-03-11T14:03:13Z", "aws_ses_account_recon"),
        ("2025-03-11T14:03:13Z", "aws_ses_recon_long_term_key"),
        ("2025-03-11T14:03:20Z", "aws_ses_account_recon"),
        ("2025-03-11T14:03:20Z", "aws_ses_discovery_long_term_key"),
        ("2025-03-11T14:03:20Z", "aws_ses_recon_long_term_key"),
        ("2025-03-11T14:03:20Z", "aws_ses_recon_multi_region"),
        ("2025-03-11T14:03:21Z", "aws_ses_account_recon"),
        ("2025-03-11T14:03:21Z", "aws_ses_recon_long_term_key"),
        ("2025-03-11T14:03:22Z", "aws_ses_account_recon"),
        ("2025-03-11T14:03:22Z", "aws_ses_recon_long_term_key"),
        ("2025-03-11T14:03:29Z", "aws_ses_account_recon"),
        ("2025-03-11T14:03:29Z", "aws_ses_discovery_long_term_key"),
        ("2025-03-11T14:03:29Z", "aws_ses_recon_long_term_key"),
        ("2025-03-11T14:03:30Z", "aws_ses_account_recon"),
        ("2025-03-11T14:03:30Z", "aws_ses_recon_long_term_key"),
        ("2025-03-11T14:03:31Z", "aws_ses_account_recon"),
        ("2025-03-11T14:03:31Z", "aws_ses_recon_long_term_key"),
        ("2025-03-11T14:04:40Z", "aws_ses_quota_recon"),
        ("2025-03-11T14:06:15Z", "aws_ses_account_details_long_term_key"),
        ("2025-03-11T14:06:15Z", "aws_ses_production_access_requested"),
        ("2025-03-11T14:06:15Z", "aws_ses_recon_then_sender_change"),
        ("2025-03-11T14:06:15Z", "aws_ses_sender_setup_change"),
        ("2025-03-11T14:06:19Z", "aws_ses_account_details_long_term_key"),
        ("2025-03-11T14:06:19Z", "aws_ses_production_access_requested"),
        ("2025-03-11T14:06:19Z", "aws_ses_sender_setup_change"),
        ("2025-03-11T14:09:41Z", "aws_ses_identity_created"),
        ("2025-03-11T14:09:41Z", "aws_ses_identity_modification_attempt"),
        ("2025-03-11T14:09:41Z", "aws_ses_sender_setup_change"),
        ("2025-03-11T14:10:05Z", "aws_ses_identity_created"),
        ("2025-03-11T14:10:05Z", "aws_ses_identity_modification_attempt"),
        ("2025-03-11T14:10:05Z", "aws_ses_sender_setup_change"),
        ("2025-03-11T14:11:52Z", "aws_ses_identity_modification_attempt"),
        ("2025-03-11T14:11:52Z", "aws_ses_sender_setup_change"),
        ("2025-03-11T14:11:52Z", "aws_ses_setup_call_refused"),
        ("2025-03-11T14:12:30Z", "aws_ses_sender_setup_change"),
        ("2025-03-11T14:12:30Z", "aws_ses_sending_enabled"),
        ("2025-03-11T14:52:19Z", "aws_ses_identity_added_then_deleted"),
        ("2025-03-11T14:52:19Z", "aws_ses_identity_deleted"),
        ("2025-03-11T14:52:19Z", "aws_ses_identity_modification_attempt"),
        ("2025-03-11T14:53:02Z", "aws_ses_identity_added_then_deleted"),
        ("2025-03-11T14:53:02Z", "aws_ses_identity_deleted"),
        ("2025-03-11T14:53:02Z", "aws_ses_identity_modification_attempt"),
        ("2025-03-11T15:31:12Z", "aws_ses_account_recon"),
        ("2025-03-11T15:31:40Z", "aws_ses_account_recon"),
        ("2025-03-11T15:32:05Z", "aws_ses_account_recon"),
    ]
    assert got == expected
    by_rule = {a["rule_name"]: a for a in alert_lines(demo)}
    assert by_rule["aws_ses_enumeration_new_principal"]["group"] == {"sesPrincipal": CI_DEPLOY}
    corrs = [
        a for a in alert_lines(demo) if a["rule_name"] == "aws_ses_identity_added_then_deleted"
    ]
    assert [a["group"] for a in corrs] == [
        {"userIdentity.arn": CI_DEPLOY, "sesIdentity": "billing@example.net"},
        {"userIdentity.arn": CI_DEPLOY, "sesIdentity": "accounts@example.org"},
    ]
    times = {r.event_id: r.data["eventTime"] for r in read_records([EXAMPLES])}
    assert [[times[e] for e in a["event_ids"]] for a in corrs] == [
        ["2025-03-11T14:09:41Z", "2025-03-11T14:52:19Z"],
        ["2025-03-11T14:10:05Z", "2025-03-11T14:53:02Z"],
    ]
    records = {r.event_id: r.data for r in read_records([EXAMPLES])}
    sandbox_exits = [
        records[a["event_ids"][0]]
        for a in alert_lines(demo)
        if a["rule_name"] == "aws_ses_production_access_requested"
    ]
    assert [r["awsRegion"] for r in sandbox_exits] == ["us-east-1", "eu-west-1"]
    assert all(r["requestParameters"]["productionAccessEnabled"] is True for r in sandbox_exits)
    levels = [a["level"] for a in alert_lines(demo)]
    assert levels.count("high") == 4  # validation, 2 sandbox exits by AKIA, recon->change
    assert by_rule["aws_ses_recon_then_sender_change"]["group"] == {
        "userIdentity.accessKeyId": "AKIAIOSFODNN7EXAMPLE"
    }


def test_summary_on_stderr(demo: Result) -> None:
    assert demo.stderr.splitlines()[-1] == (
        "scanned 3 file(s), 63 record(s): 66 alert(s), 0 rejected (files: 3 read, 0 rejected; "
        "records: 63 read, 29 matched, 0 rejected), "
        "2 file(s) skipped (not CloudTrail logs; -v lists them)"
    )
    assert "rejected:" not in demo.stderr
    assert "{" not in demo.stderr  # no alert leaked onto stderr


def test_verbose_lists_skipped_files() -> None:
    result = run("-v", str(EXAMPLES))
    assert f"skipped: {EXAMPLES / 'make_examples.py'}: not a log file suffix" in result.stderr
    ruled_out = scan([EXAMPLES]).read.prefiltered
    assert ruled_out > 0
    line = f"pre-filter: C kernel; {ruled_out} of 63 record(s) ruled out without decoding"
    assert line in result.stderr


def test_table_renders_every_alert() -> None:
    result = run("--format", "table", str(EXAMPLES))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "time" in line)
    for column in ("time", "level", "rule", "group", "events"):
        assert column in header
    alerts = scan([EXAMPLES]).alerts
    body = result.stdout
    for alert in alerts:
        for event_id in alert.event_ids:
            assert event_id in body  # natural width: nothing folded
    rows = [line for line in lines if "2025-03-" in line]
    assert len(rows) == len(alerts)
    assert f"userIdentity.arn={CI_DEPLOY}" in body
    assert result.stderr.splitlines()[-1].startswith("scanned 3 file(s), 63 record(s): 66 alert(s)")


def test_table_fits_a_narrow_terminal_width() -> None:
    result = run("--format", "table", str(EXAMPLES), columns="100")
    assert result.exit_code == 0
    assert max(len(line) for line in result.stdout.splitlines()) <= 100
    assert "aws_ses_identity_added_then_deleted" in result.stdout  # no_wrap column kept whole


def test_rejected_inputs_exit_1_and_alerts_still_printed(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    shutil.copytree(BROKEN, logs)
    shutil.copy(EXAMPLES / "logs" / "trail-export-2025-03-03_10.json", logs)
    result = run(str(logs))
    assert result.exit_code == 1
    names = {a["rule_name"] for a in alert_lines(result)}
    assert "aws_ses_identity_created" in names  # from the intact trail export
    rejected = [line for line in result.stderr.splitlines() if line.startswith("rejected: ")]
    assert len(rejected) == 3
    assert any(f"{logs / 'one_bad_line.jsonl'}:3:" in line for line in rejected)
    assert any(
        f"{logs / 'truncated.json.gz'}:1:" in line and "truncated gzip" in line for line in rejected
    )
    assert any(f"{logs / 'not_cloudtrail.json'}: not a CloudTrail log" in line for line in rejected)
    assert "3 rejected" in result.stderr.splitlines()[-1]


def test_rules_option_replaces_the_pack(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(DEFAULT_RULES_DIR / "aws_ses_discovery_long_term_key.yml", rules)
    result = run("--rules", str(rules), str(EXAMPLES))
    assert result.exit_code == 0, result.stderr
    got = alert_lines(result)
    assert [a["rule_name"] for a in got] == ["aws_ses_discovery_long_term_key"] * 4


def test_rules_option_is_repeatable_with_files(tmp_path: Path) -> None:
    custom = tmp_path / "sandbox_exit.yml"
    custom.write_text(
        """title: SES Production Access Requested
id: 5f0f8a53-6f0e-4d7b-9c1e-2a3b4c5d6e7f
name: test_ses_sandbox_exit
status: test
logsource:
  product: aws
  service: cloudtrail
detection:
  selection:
    eventSource: ses.amazonaws.com
    eventName: PutAccountDetails
    requestParameters.productionAccessEnabled: true
  condition: selection
level: high
"""
    )
    deleted = DEFAULT_RULES_DIR / "aws_ses_identity_deleted.yml"
    result = run("--rules", str(custom), "--rules", str(deleted), str(EXAMPLES))
    assert result.exit_code == 0, result.stderr
    got = [(a["time"], a["rule_name"]) for a in alert_lines(result)]
    assert got == [
        ("2025-03-05T16:40:02Z", "aws_ses_identity_deleted"),
        ("2025-03-11T14:06:15Z", "test_ses_sandbox_exit"),
        ("2025-03-11T14:06:19Z", "test_ses_sandbox_exit"),
        ("2025-03-11T14:52:19Z", "aws_ses_identity_deleted"),
        ("2025-03-11T14:53:02Z", "aws_ses_identity_deleted"),
    ]


def test_broken_rule_file_stops_the_run_naming_the_file(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules)
    bad = rules / "zz_broken.yml"
    bad.write_text("title: Broken\nlogsource: [unclosed\n")
    result = run("--rules", str(rules), str(EXAMPLES))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert str(bad) in result.stderr
    assert "scanned" not in result.stderr  # no log was read


def test_rule_the_matcher_refuses_stops_the_run_naming_the_rule(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules)
    (rules / "few_deletes.yml").write_text(
        """title: Few Deletes
id: 0b6c9e3e-1d2f-4a5b-8c7d-9e0f1a2b3c4d
name: test_few_deletes
correlation:
  type: event_count
  rules:
    - aws_ses_identity_deleted
  group-by:
    - userIdentity.arn
  timespan: 1h
  condition:
    lte: 3
level: low
"""
    )
    result = run("--rules", str(rules), str(EXAMPLES))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "test_few_deletes" in result.stderr
    assert str(rules / "few_deletes.yml") in result.stderr


PIPE_SYNTAX_RULE = """title: Old Count
id: 7d1c2b3a-4e5f-4a6b-9c8d-0e1f2a3b4c5d
name: test_old_count
logsource: {product: aws, service: cloudtrail}
detection:
  selection:
    eventSource: ses.amazonaws.com
  condition: selection | count() by userIdentity.arn > 20
level: low
"""

CORRELATION_OVER_IT = """title: Over Old Count
id: 8e2d3c4b-5f6a-4b7c-8d9e-1f2a3b4c5d6e
name: test_over_old_count
correlation:
  type: temporal
  rules: [test_old_count, aws_ses_identity_deleted]
  group-by: [userIdentity.arn]
  timespan: 1h
  generate: true
level: low
"""


def test_skip_unsupported_leaves_out_refused_rules_and_their_correlations(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules)
    (rules / "old_count.yml").write_text(PIPE_SYNTAX_RULE)
    (rules / "over_old_count.yml").write_text(CORRELATION_OVER_IT)

    stopped = run("--rules", str(rules), str(EXAMPLES))
    assert stopped.exit_code == 2
    assert str(rules / "old_count.yml") in stopped.stderr
    assert "pipe syntax" in stopped.stderr

    skipped = run("--skip-unsupported", "--rules", str(rules), str(EXAMPLES))
    assert skipped.exit_code == 0, skipped.stderr
    warnings = [ln for ln in skipped.stderr.splitlines() if ln.startswith("warning: rule left out")]
    assert len(warnings) == 2
    assert (
        str(rules / "old_count.yml") in warnings[0] or str(rules / "old_count.yml") in warnings[1]
    )
    assert any("test_over_old_count" in w and "test_old_count" in w for w in warnings)
    assert "2 rule(s) left out" in skipped.stderr
    # the rest of the pack still runs: the same alerts as the pack alone
    alone = run(str(EXAMPLES))
    assert skipped.stdout == alone.stdout


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("no/such/path",),
        ("--format", "csv", "examples"),
        ("--rules", "no/such/rules", "examples"),
        ("--reorder-window", "15 minutes", "examples"),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, ["scan", *args])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Usage:" in result.stderr or "Error:" in result.stderr


def test_scan_library_result_matches_reading_order_independence(tmp_path: Path) -> None:
    # The same records in one JSON Lines file, in reverse time order, give the same alerts.
    records = sorted(read_records([EXAMPLES]), key=lambda r: r.sort_key, reverse=True)
    single = tmp_path / "all.jsonl"
    single.write_text("".join(json.dumps(r.data) + "\n" for r in records))
    one = scan([single])
    many = scan([EXAMPLES])
    assert one.ok and many.ok
    assert [a.to_dict() for a in one.alerts] == [a.to_dict() for a in many.alerts]
    assert one.read.records == many.read.records == 63


@pytest.mark.parametrize("options", [["--workers", "2"], ["--workers", "1", "--no-prefilter"]])
def test_workers_and_prefilter_options_give_the_same_alerts(
    demo: Result, options: list[str]
) -> None:
    result = run(*options, str(EXAMPLES))
    assert result.exit_code == 0, result.stderr
    assert alert_lines(result) == alert_lines(demo)
    assert result.stderr.splitlines()[-1] == demo.stderr.splitlines()[-1]


def test_progress_bar_only_when_asked_for_or_on_a_terminal() -> None:
    from ses_sigma.cli.progress import ScanProgress

    with ScanProgress(delay=0, force=False) as quiet:
        quiet.update(1, 10)
        assert quiet._progress is None
    with ScanProgress(delay=0, force=True) as shown:
        shown.update(1, 10)
        assert shown._progress is not None
        shown.update(10, 10)
    assert shown._progress is None


# --------------------------------------------------------------------------- --suppress


def test_suppress_merges_repetition_and_keeps_every_event_id() -> None:
    plain = alert_lines(run(str(EXAMPLES)))
    result = run("--suppress", str(EXAMPLES))
    assert result.exit_code == 0, result.stderr
    got = alert_lines(result)
    assert len(got) == 57 < len(plain) == 66

    # Every event id of the unsuppressed alerts is still carried, rule by rule.
    def ids(alerts: list[dict], rule: str) -> list[str]:
        return sorted(e for a in alerts if a["rule_name"] == rule for e in a["event_ids"])

    for rule in {a["rule_name"] for a in plain}:
        assert ids(got, rule) == ids(plain, rule), rule
    discovery = [a for a in got if a["rule_name"] == "aws_ses_discovery_long_term_key"]
    assert [(a["time"], a["suppressed"], len(a["event_ids"])) for a in discovery] == [
        ("2025-03-11T14:03:02Z", 3, 4)
    ]
    # Rules without the attribute are not suppressed (no "suppressed" key).
    assert all("suppressed" not in a for a in got if a["rule_name"] == "aws_ses_sending_enabled")


# --------------------------------------------------------------------------- --state


def _enum_record(when: str, eid: str, arn: str) -> dict:
    return {
        "eventVersion": "1.08",
        "eventTime": when,
        "eventID": eid,
        "eventSource": "ses.amazonaws.com",
        "eventName": "GetSendQuota",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.7",
        "userIdentity": {"type": "IAMUser", "arn": arn, "accessKeyId": "ASIAEXAMPLE0000000001"},
    }


def test_state_lets_a_short_export_say_new(tmp_path: Path) -> None:
    state = tmp_path / "baseline.json"
    week = tmp_path / "week.jsonl"
    week.write_text(
        "\n".join(
            json.dumps(
                _enum_record(f"2026-11-0{d}T10:00:00Z", f"w{d}", "arn:aws:iam::1:user/known")
            )
            for d in range(1, 9)
        )
    )
    first = run("--state", str(state), str(week))
    assert first.exit_code == 0, first.stderr
    assert not [
        a for a in alert_lines(first) if a["rule_name"] == "aws_ses_enumeration_new_principal"
    ]
    saved = json.loads(state.read_text())
    assert saved["format"] == "ses-sigma-baseline" and saved["version"] == 1
    entry = saved["rules"]["aws_ses_enumeration_new_principal"]
    assert entry["learning_start"] == "2026-11-01T10:00:00Z"
    assert entry["seen"] == [
        {"values": ["arn:aws:iam::1:user/known"], "last_seen": "2026-11-08T10:00:00Z"}
    ]
    export = tmp_path / "export.jsonl"
    export.write_text(
        json.dumps(_enum_record("2026-11-20T10:00:00Z", "x1", "arn:aws:iam::1:user/known"))
        + "\n"
        + json.dumps(_enum_record("2026-11-20T10:05:00Z", "x2", "arn:aws:iam::1:user/new"))
    )
    # Without the baseline, the short export is all learning: nothing is new.
    alone = run(str(export))
    assert not [
        a for a in alert_lines(alone) if a["rule_name"] == "aws_ses_enumeration_new_principal"
    ]
    second = run("--state", str(state), str(export))
    assert second.exit_code == 0, second.stderr
    new = [a for a in alert_lines(second) if a["rule_name"] == "aws_ses_enumeration_new_principal"]
    assert [(a["event_ids"], a["group"]) for a in new] == [
        (["x2"], {"sesPrincipal": "arn:aws:iam::1:user/new"})
    ]
    assert (
        len(json.loads(state.read_text())["rules"]["aws_ses_enumeration_new_principal"]["seen"])
        == 2
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not JSON"),
        ('{"format": "other", "version": 1, "rules": {}}', "format is 'other'"),
        ('{"format": "ses-sigma-baseline", "version": 9, "rules": {}}', "version 9"),
        (
            '{"format": "ses-sigma-baseline", "version": 1, "rules": {"r": {"spec": {"fields": '
            '["a"], "derived": {}, "forget_after": 60}, "learning_start": "yesterday", '
            '"seen": []}}}',
            "rules.r.learning_start",
        ),
        (
            '{"format": "ses-sigma-baseline", "version": 1, "rules": {"r": {"spec": {"fields": '
            '["a"], "derived": {}, "forget_after": 60}, "learning_start": null, "seen": '
            '[{"values": ["x", "y"], "last_seen": "2026-11-01T00:00:00Z"}]}}}',
            "rules.r.seen[0].values",
        ),
    ],
)
def test_a_bad_state_file_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    state = tmp_path / "baseline.json"
    state.write_text(content)
    result = run("--state", str(state), str(EXAMPLES))
    assert result.exit_code == 2
    assert str(state) in result.stderr and message in result.stderr
    assert result.stdout == ""
    assert state.read_text() == content  # left as it was


def test_state_of_another_spec_is_dropped_with_a_warning(tmp_path: Path) -> None:
    state = tmp_path / "baseline.json"
    state.write_text(
        '{"format": "ses-sigma-baseline", "version": 1, "rules": {'
        '"aws_ses_enumeration_new_principal": {"spec": {"fields": ["userIdentity.arn"], '
        '"derived": {}, "forget_after": 2592000.0}, "learning_start": "2025-01-01T00:00:00Z", '
        '"seen": []}}}'
    )
    result = run("--state", str(state), str(EXAMPLES))
    assert result.exit_code == 0, result.stderr
    assert "another first_seen spec" in result.stderr
    saved = json.loads(state.read_text())["rules"]["aws_ses_enumeration_new_principal"]
    assert saved["spec"]["fields"] == ["sesPrincipal"]
    assert saved["learning_start"] == "2025-03-03T10:21:07Z"


def test_implausible_event_time_is_reported(tmp_path: Path) -> None:
    log = tmp_path / "odd.jsonl"
    log.write_text(json.dumps(_enum_record("0001-01-01T00:00:00Z", "odd", "arn:aws:iam::1:user/x")))
    result = run(str(log))
    assert result.exit_code == 0, result.stderr
    assert "eventTime 0001-01-01T00:00:00Z is implausible" in result.stderr


# --------------------------------------------------------------------------- filters


def test_filters_option_applies_a_site_filter(tmp_path: Path) -> None:
    example = ROOT / "filters" / "examples" / "known_monitoring_keys.yml.example"
    log = tmp_path / "poll.jsonl"
    record = {
        **_enum_record(
            "2026-11-20T10:00:00Z", "p1", "arn:aws:iam::111122223333:user/svc-ses-monitor"
        ),
        "eventName": "GetAccount",
        "sourceIPAddress": "198.51.100.80",
    }
    record["userIdentity"]["accessKeyId"] = "AKIA3EXAMPLESESMON01"
    log.write_text(json.dumps(record))
    plain = alert_lines(run(str(log)))
    # the poll also raises the reconnaissance building blocks (low, informational); the example
    # filter is for the discovery rule
    assert [a["rule_name"] for a in plain] == [
        "aws_ses_account_recon",
        "aws_ses_discovery_long_term_key",
        "aws_ses_recon_long_term_key",
    ]
    filtered = alert_lines(run("--filters", str(example), str(log)))
    assert [a["rule_name"] for a in filtered] == [
        "aws_ses_account_recon",
        "aws_ses_recon_long_term_key",
    ]
    assert alert_lines(run("--no-filters", str(log))) == plain


def test_a_filter_naming_an_unknown_rule_stops_the_run(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    example = ROOT / "filters" / "examples" / "known_monitoring_keys.yml.example"
    bad.write_text(example.read_text().replace("aws_ses_discovery_long_term_key", "no_such_rule"))
    result = run("--filters", str(bad), str(EXAMPLES))
    assert result.exit_code == 2
    assert str(bad) in result.stderr and "'no_such_rule', which is not in the pack" in result.stderr


def _ses_call(name: str, when: str, event_id: str) -> str:
    return json.dumps(
        {
            "userIdentity": {
                "type": "IAMUser",
                "arn": "arn:aws:iam::111122223333:user/dev",
                "accessKeyId": "AKIAEXAMPLEKEY000001",
            },
            "eventTime": when,
            "eventSource": "ses.amazonaws.com",
            "eventName": name,
            "awsRegion": "us-east-1",
            "requestParameters": {"emailIdentity": "x@example.com"},
            "eventID": event_id,
        }
    )


def test_late_records_are_reported_with_the_withdrawn_alerts(tmp_path: Path) -> None:
    """A creation read after newer records were evaluated: the streamed pairing is withdrawn
    on stderr, the exact one printed at the end; the printed alerts minus the withdrawn ones
    are the exact alerts (the table, printed at the end, has only those)."""
    a = tmp_path / "a.jsonl"
    a.write_text(
        "\n".join(
            [
                _ses_call("CreateEmailIdentity", "2026-03-01T10:00:00Z", "c-early"),
                _ses_call("DeleteEmailIdentity", "2026-03-01T10:30:00Z", "d-1"),
                _ses_call("GetAccount", "2026-03-01T12:00:00Z", "g-1"),
            ]
        )
        + "\n"
    )
    b = tmp_path / "b.jsonl"
    b.write_text(_ses_call("CreateEmailIdentity", "2026-03-01T10:20:00Z", "c-late") + "\n")
    result = run(str(a), str(b))
    assert result.exit_code == 0, result.output
    assert "warning: 1 record(s) feeding correlation or first-seen rules came after" in (
        result.stderr
    )
    assert "(--reorder-window 15m)" in result.stderr
    assert (
        "withdrawn: aws_ses_identity_added_then_deleted at 2026-03-01T10:30:00Z, "
        "events c-early, d-1" in result.stderr
    )
    pairs = [
        (x["event_ids"], x.get("withdrawn", False))
        for x in map(json.loads, result.stdout.splitlines())  # in the order written
        if x["rule_name"] == "aws_ses_identity_added_then_deleted"
    ]
    # Streamed, then found by the exact run at the end, then the streamed one retracted.
    streamed, exact = (["c-early", "d-1"], False), (["c-late", "d-1"], False)
    assert pairs == [streamed, exact, (["c-early", "d-1"], True)]
    # A window wider than the data: nothing is released early, nothing is late.
    wide = run("--reorder-window", "1d", str(a), str(b))
    assert "warning: " not in wide.stderr
    assert [
        x["event_ids"]
        for x in alert_lines(wide)
        if x["rule_name"] == "aws_ses_identity_added_then_deleted"
    ] == [["c-late", "d-1"]]


def test_batch_mode_is_said_in_the_late_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When streaming stops for unordered input (``scan_stream`` batch mode, threshold
    lowered here to the first late record), the warning says so; the alerts are the same."""
    from ses_sigma import scan_stream

    a = tmp_path / "a.jsonl"
    a.write_text(
        "\n".join(
            [
                _ses_call("CreateEmailIdentity", "2026-03-01T10:00:00Z", "c-early"),
                _ses_call("DeleteEmailIdentity", "2026-03-01T10:30:00Z", "d-1"),
                _ses_call("GetAccount", "2026-03-01T12:00:00Z", "g-1"),
                _ses_call("CreateEmailIdentity", "2026-03-01T10:20:00Z", "c-late"),
            ]
        )
        + "\n"
    )
    before = run(str(a))
    monkeypatch.setattr(scan_stream, "BATCH_MIN_LATE", 1)
    result = run(str(a))
    assert result.exit_code == 0, result.output
    assert "the input looked unordered: after 4 such record(s), streaming stopped" in (
        result.stderr
    )
    assert "streaming stopped" not in before.stderr

    def final(out: Result) -> list[str]:
        """The alerts printed, minus those retracted by a withdrawn line."""
        lines = Counter()
        for line in out.stdout.splitlines():
            alert = json.loads(line)
            withdrawn = alert.pop("withdrawn", False)
            lines[json.dumps(alert, sort_keys=True)] += -1 if withdrawn else 1
        assert min(lines.values()) >= 0
        return sorted(lines.elements())

    assert final(result) == final(before) and len(final(result)) > 3
