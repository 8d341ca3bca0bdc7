"""``ses-sigma check`` end to end: the pack passes; every broken example rule fails with the
right code, message and line; output formats; usage errors; no network."""

from __future__ import annotations

import re
import shutil
import socket
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import sigma.data.mitre_attack as pysigma_attack
import sigma.data.mitre_d3fend as pysigma_d3fend
import sigma.validators.sigmahq.data.base as sigmahq_data
from click.testing import CliRunner, Result

from ses_sigma.cli import main
from ses_sigma.harness import DEFAULT_FIXTURES_DIR, collect_fixtures, run_cases
from ses_sigma.lint import PackPaths, check_pack
from ses_sigma.match.engine import Engine
from ses_sigma.pack import DEFAULT_RULES_DIR, load_pack, rule_key

BAD_RULES = Path(__file__).resolve().parent / "bad_rules"
MARKER = re.compile(r"#\s*expect:\s*(?P<code>[a-z_0-9]+)")
FINDING = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+): (?P<code>[a-z_0-9]+): (?P<message>.*)$")
EXCUSED = re.compile(r" \(excused: .+\)$")

#: Per case: a fragment of the message of each expected code.
MESSAGES: dict[str, dict[str, str]] = {
    "duplicate_key": {
        "yaml_duplicate_key": "duplicate key 'detection.selection.eventName' (first at line 24)"
    },
    "wrong_file_name": {
        "ses_file_name": "file name aws_ses_lint_wrong_file_name.yml does not match the rule's "
        "name 'aws_ses_lint_file_name_mismatch'"
    },
    "duplicate_id": {
        "identifier_uniqueness": "identifier: be7f7a63-c9e1-4f11-9a0f-0f7277506925",
    },
    "duplicate_title": {"duplicate_title": "title: AWS SES Sender Identity Deleted"},
    "duplicate_name": {
        "ses_duplicate_name": "rule name 'aws_ses_identity_deleted' is also used by "
        "pack/rules/aws_ses_identity_deleted.yml"
    },
    "missing_event_source": {"ses_event_source": "eventSource is not pinned"},
    "missing_triage": {"ses_missing_attribute": "triage is missing"},
    "hidden_text": {"ses_text": "invisible or control character U+202E"},
    "missing_level": {"sigmahq_level_existence": "missing the level field"},
    "invalid_attack_tag": {
        "ses_attack_tag": "attack.t1496.004: T1496.004 is in ATT&CK 17.0 but missing from the "
        "vendored copy"
    },
    "no_technique_tag": {"ses_technique_tag": "no ATT&CK technique tag"},
    "unmapped_field": {
        "ses_unmapped_field": "field 'userIdentity.Type' has no mapping in the CloudTrail "
        "pipelines (ses_cloudtrail_splunk, ses_cloudtrail_elastic)"
    },
    "no_negative_case": {"ses_fixture_coverage": "no case where the rule must not fire"},
    "no_fixture": {"ses_fixture_coverage": "no fixture cases"},
    "correlation_missing_rule": {
        "ses_unknown_reference": "references rule 'aws_ses_identity_removed', which is not a "
        "rule of the pack"
    },
    "bad_first_seen": {
        "ses_first_seen": "first_seen: learning_period: Timespan '7 days' is invalid"
    },
    "pysigma_validator": {
        "wildcards_instead_of_modifiers": "wildcard at end instead of being modified with "
        "startswith modifier (detection_item: userAgent)"
    },
    "sigmahq_validator": {"sigmahq_title_end": "title that ends with a dot"},
    "low_severity_validator": {
        "sigmahq_ofselection_condition": "only one selection in the detection section"
    },
    "unloadable_rule": {"sigma_load": "'urgent' is not a valid Sigma rule level"},
    "yaml_syntax": {
        "yaml_syntax": "invalid YAML: expected ',' or ']', but got ':' (line 25, column 22)"
    },
    "matcher_unsupported": {
        "ses_matcher": "not supported by the matcher: placeholder %root_arns% (|expand)"
    },
    "regex_unsupported": {
        "ses_regex": "regular expression '^(aws)-cli-\\\\1' cannot run in linear time with its "
        "meaning: RE2 cannot run it (invalid escape sequence: \\1)"
    },
    "correlation_not_evaluable": {"ses_correlation": "condition operator 'lte' is not supported"},
    "unknown_attribute": {"sigmahq_unknown_field": "unknown field (fieldname: severity)"},
    "bad_fixture": {
        "ses_fixture": "case 'a base record that does not exist': event #1: unknown base "
        "'ses_get_send_quota_v3'"
    },
    "excuse_without_reason": {
        "ses_excuse_without_reason": "the excuse for sigmahq_title_end gives no reason",
        "sigmahq_title_end": "title that ends with a dot",
    },
    "stale_excuse": {"ses_stale_excuse": "sigmahq_title_end does not fire in this file any more"},
}

#: Findings in the pack's own files that a case causes (the other half of a duplicate).
PACK_SIDE: dict[str, set[tuple[str, int, str]]] = {
    "duplicate_id": {("rules/aws_ses_identity_deleted.yml", 2, "identifier_uniqueness")},
    "duplicate_title": {("rules/aws_ses_identity_deleted.yml", 1, "duplicate_title")},
}

PASSING = ("control", "excused")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["check", *args])


def findings(output: str) -> list[tuple[str, int, str, str]]:
    """Every ``file:line: code: message`` line of text output, excused ones included."""
    out = []
    for line in output.splitlines():
        m = FINDING.match(line)
        assert m is not None, f"not a finding line: {line!r}"
        out.append((m["file"], int(m["line"]), m["code"], m["message"]))
    return out


def failing(output: str) -> list[tuple[str, int, str, str]]:
    return [f for f in findings(output) if not EXCUSED.search(f[3])]


def expected_markers(case: Path) -> set[tuple[str, int, str]]:
    """(file relative to the pack, line, code) of every ``# expect:`` marker of a case."""
    found = set()
    for path in sorted(case.rglob("*.yml")):
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            m = MARKER.search(text)
            if m is not None:
                found.add((path.relative_to(case).as_posix(), number, m["code"]))
    return found


def build_pack(root: Path, case: str | None = None) -> Path:
    """The pack's rules/ and fixtures/ under ``root``, with a case's files added on top."""
    pack = root / "pack"
    shutil.copytree(DEFAULT_RULES_DIR, pack / "rules")
    shutil.copytree(DEFAULT_FIXTURES_DIR, pack / "fixtures")
    if case is not None:
        shutil.copytree(BAD_RULES / case, pack, dirs_exist_ok=True)
    return pack


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in tmp_path, so findings name files relative to it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --------------------------------------------------------------------------- the pack


def excuse_count() -> int:
    return sum(len(rule.custom_attributes.get("lint_exceptions", [])) for rule in load_pack())


def test_the_pack_passes() -> None:
    """`make test` runs the check: the pack has no finding that is not excused."""
    result = run()
    assert result.exit_code == 0, result.output
    listed = findings(result.stdout)
    assert failing(result.stdout) == []
    # Every excuse of the pack is used (otherwise it would be a stale-excuse finding)...
    assert len(listed) == excuse_count() > 0
    # ... and listed as excused, with its reason.
    assert all("(excused: the fields list is intended" in f[3] for f in listed)
    rule_count = len(list(DEFAULT_RULES_DIR.glob("*.yml")))
    pack_line, summary_line = result.stderr.strip().splitlines()
    # Which pack (the repository's ses-sigma.toml, found from the working directory).
    assert re.fullmatch(
        rf"pack: .+ses-sigma\.toml, {rule_count} rule\(s\)(, filters from .+)?", pack_line
    )
    assert summary_line == (
        f"ses-sigma check passed: 0 finding(s), {len(listed)} excused, {rule_count} rule file(s)"
    )


def test_check_needs_no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With every download path refused, the check still runs every enabled validator."""
    attempts: list[str] = []

    def refuse(url: object, *args: object, **kwargs: object) -> None:
        attempts.append(str(url))
        raise OSError(f"network access attempted: {url}")

    def no_connect(self: socket.socket, address: object) -> None:
        attempts.append(str(address))
        raise OSError(f"network access attempted: {address}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    for module in (pysigma_attack, pysigma_d3fend, sigmahq_data):
        monkeypatch.setattr(module, "urlopen", refuse)
    monkeypatch.setattr(socket.socket, "connect", no_connect)
    result = check_pack(PackPaths((DEFAULT_RULES_DIR,), DEFAULT_FIXTURES_DIR))
    assert attempts == []
    assert result.passed, "\n".join(map(str, result.failing))
    # A validator that tried to download would be a validator_error finding.
    assert not [f for f in result.findings if f.code == "validator_error"]
    # And the validators did run: a broken rule is still caught offline.
    pack = build_pack(tmp_path, "invalid_attack_tag")
    broken = check_pack(PackPaths((pack / "rules",), pack / "fixtures"))
    assert [f.code for f in broken.failing] == ["ses_attack_tag"]
    assert attempts == []


# --------------------------------------------------------------------------- broken rules


def test_every_case_directory_is_tested() -> None:
    cases = {p.name for p in BAD_RULES.iterdir() if p.is_dir()}
    assert cases == set(MESSAGES) | set(PASSING)


@pytest.mark.parametrize("case", sorted(MESSAGES))
def test_broken_rule(case: str, in_tmp: Path) -> None:
    build_pack(in_tmp, case)
    result = run("pack")
    assert result.exit_code == 1, result.output
    got = failing(result.stdout)
    expected = {("pack/" + f, line, code) for f, line, code in expected_markers(BAD_RULES / case)}
    expected |= {("pack/" + f, line, code) for f, line, code in PACK_SIDE.get(case, set())}
    assert expected, "a broken case needs at least one # expect: marker"
    assert {(f, line, code) for f, line, code, _ in got} == expected
    assert len(got) == len(expected)  # no finding twice
    for _, _, code, message in got:
        assert MESSAGES[case][code] in message, (code, message)
    assert "ses-sigma check FAILED" in result.stderr


def test_control_case_passes_and_its_cases_are_right(in_tmp: Path) -> None:
    """The template of the broken rules is clean: check passes and its fixture cases pass."""
    pack = build_pack(in_tmp, "control")
    result = run("pack")
    assert result.exit_code == 0, result.output
    assert failing(result.stdout) == []
    loaded = load_pack([pack / "rules"])
    name = "aws_ses_lint_control"
    cases, problems = collect_fixtures(pack / "fixtures", [rule_key(r) for r in loaded])
    assert problems == []
    mine = [c for c in cases if c.rule == name]
    assert {c.fires for c in mine} == {True, False}
    verdicts = run_cases(Engine(loaded), mine)
    assert all(v.passed for v in verdicts), [v.explain() for v in verdicts if not v.passed]


def test_excused_finding_is_listed_and_passes(in_tmp: Path) -> None:
    build_pack(in_tmp, "excused")
    result = run("pack")
    assert result.exit_code == 0, result.output
    mine = [f for f in findings(result.stdout) if "aws_ses_lint_excused" in f[0]]
    assert mine == [
        (
            "pack/rules/aws_ses_lint_excused.yml",
            2,
            "sigmahq_title_end",
            "Rule has a title that ends with a dot(.) (excused: the example shows an excused "
            "finding)",
        )
    ]


def test_excuse_marker_keeps_the_rule_valid_sigma() -> None:
    """pySigma keeps lint_exceptions as a custom attribute: the files stay valid Sigma."""
    rule = load_pack().get("aws_ses_identity_deleted")
    [entry] = rule.custom_attributes["lint_exceptions"]
    assert entry["code"] == "sigmahq_fields_existence"
    assert entry["reason"].startswith("the fields list is intended")


# --------------------------------------------------------------------------- formats


def test_github_format(in_tmp: Path) -> None:
    build_pack(in_tmp, "excuse_without_reason")
    shutil.copytree(BAD_RULES / "low_severity_validator", in_tmp / "pack", dirs_exist_ok=True)
    text = run("pack")
    github = run("pack", "--format", "github")
    assert github.exit_code == text.exit_code == 1
    annotation = re.compile(
        r"^::(?P<kind>error|warning|notice) file=(?P<file>[^,]+),line=(?P<line>\d+)::"
        r"(?P<code>[a-z_0-9]+): (?P<message>.*)$"
    )
    got = []
    for line in github.stdout.splitlines():
        m = annotation.match(line)
        assert m is not None, line
        got.append((m["kind"], m["file"], int(m["line"]), m["code"], m["message"]))
    # The same findings as the text format, in the same order.
    assert [(f, n, c, m) for _, f, n, c, m in got] == findings(text.stdout)
    kinds = {(code, kind) for kind, _, _, code, _ in got}
    assert ("ses_excuse_without_reason", "error") in kinds
    assert ("sigmahq_title_end", "error") in kinds
    assert ("sigmahq_ofselection_condition", "warning") in kinds  # LOW severity
    assert ("sigmahq_fields_existence", "notice") in kinds  # excused in the pack
    assert {k for k, *_ in got} == {"error", "warning", "notice"}


def test_github_format_escapes() -> None:
    from ses_sigma.lint.findings import Finding
    from ses_sigma.lint.report import github_annotation

    line = github_annotation(Finding("a,b:c.yml", 3, "x", "50% done\nnext"))
    assert line == "::error file=a%2Cb%3Ac.yml,line=3::x: 50%25 done%0Anext"


def test_junit_output(in_tmp: Path) -> None:
    pack = build_pack(in_tmp, "duplicate_id")
    report = in_tmp / "out" / "junit.xml"
    report.parent.mkdir()
    result = run("pack", "--junit", str(report))
    assert result.exit_code == 1
    root = ET.parse(report).getroot()
    [suite] = root.findall("testsuite")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    rule_files = {f"pack/rules/{p.name}" for p in (pack / "rules").glob("*.yml")}
    assert set(cases) == rule_files  # one testcase per rule file
    failures = {
        name: [(f.get("type"), f.get("message")) for f in case.findall("failure")]
        for name, case in cases.items()
    }
    expected = {
        "pack/rules/aws_ses_lint_duplicate_id.yml",
        "pack/rules/aws_ses_identity_deleted.yml",
    }
    assert {n for n, f in failures.items() if f} == expected
    for name in expected:
        [(kind, message)] = failures[name]
        assert kind == "identifier_uniqueness"
        assert message.startswith("identifier_uniqueness: Rule identifier used by multiple rules")
    assert suite.get("tests") == str(len(rule_files))
    assert suite.get("failures") == "2"
    # Excused findings are not failures; they are in the testcase's output.
    deleted = cases["pack/rules/aws_ses_identity_deleted.yml"]
    assert "sigmahq_fields_existence" in (deleted.findtext("system-out") or "")


def test_junit_on_a_passing_pack(in_tmp: Path) -> None:
    build_pack(in_tmp)
    report = in_tmp / "junit.xml"
    result = run("pack", "--junit", str(report))
    assert result.exit_code == 0, result.output
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    assert suite.get("failures") == "0"
    assert suite.findall("testcase/failure") == []
    assert len(suite.findall("testcase")) == len(list(DEFAULT_RULES_DIR.glob("*.yml")))


# --------------------------------------------------------------------------- usage


def test_paths_as_rules_and_fixtures_directories(in_tmp: Path) -> None:
    pack = build_pack(in_tmp, "no_technique_tag")
    result = run(str(pack / "rules"), str(pack / "fixtures"))
    assert result.exit_code == 1
    assert [f[2] for f in failing(result.stdout)] == ["ses_technique_tag"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no/such/dir"], "does not exist"),
        (["--format", "sarif"], "Invalid value for '--format'"),
    ],
)
def test_usage_errors(args: list[str], message: str, in_tmp: Path) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_rules_without_fixtures_are_linted(in_tmp: Path) -> None:
    """A third-party rule set without fixtures: every rule is linted, and the missing cases
    are one summary finding, not a refusal (nor one finding per rule)."""
    pack = build_pack(in_tmp, "no_technique_tag")
    result = run(str(pack / "rules"))
    assert result.exit_code == 1, result.output
    codes = sorted(f[2] for f in failing(result.stdout))
    assert codes == ["ses_no_fixtures", "ses_technique_tag"]
    (no_fixtures,) = [f for f in failing(result.stdout) if f[2] == "ses_no_fixtures"]
    rules = len(list((pack / "rules").glob("*.yml")))
    assert f"the {rules} rule(s) have no fixture cases" in no_fixtures[3]


def test_no_rule_files_is_a_usage_error(in_tmp: Path) -> None:
    pack = build_pack(in_tmp)
    (in_tmp / "empty").mkdir()
    result = run(str(in_tmp / "empty"), str(pack / "fixtures"))
    assert result.exit_code == 2
    assert "no rule files" in result.output


def test_stray_fixture_file_is_a_finding(in_tmp: Path) -> None:
    pack = build_pack(in_tmp)
    stray = pack / "fixtures" / "aws_ses_no_such_rule.yml"
    shutil.copy(pack / "fixtures" / "aws_ses_identity_deleted.yml", stray)
    result = run("pack")
    assert result.exit_code == 1
    assert [f[:3] for f in failing(result.stdout)] == [
        ("pack/fixtures/aws_ses_no_such_rule.yml", 1, "ses_fixture")
    ]
    assert "no rule named 'aws_ses_no_such_rule'" in result.stdout


def test_selected_rule_files_check_their_own_fixtures_only(in_tmp: Path) -> None:
    pack = build_pack(in_tmp, "no_negative_case")
    selected = pack / "rules" / "aws_ses_lint_no_negative_case.yml"
    result = run(str(selected), str(pack / "fixtures"))
    assert result.exit_code == 1
    # The other fixture files are not reported as fixtures of rules outside the selection.
    assert [f[2] for f in failing(result.stdout)] == ["ses_fixture_coverage"]
    clean = run(str(pack / "rules" / "aws_ses_identity_deleted.yml"), str(pack / "fixtures"))
    assert clean.exit_code == 0, clean.output
