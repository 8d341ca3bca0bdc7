"""The linter's parts: YAML lines and duplicate keys, the validator configuration (and that the
validators it disables for data really download), excuses, loading around broken files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import sigma.data.mitre_d3fend as pysigma_d3fend
import sigma.validators.sigmahq.data.base as sigmahq_data
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaRuleLocation
from sigma.validators.sigmahq.data import (
    data_filename,
    data_taxonomy,
    data_windows_eventid,
    data_windows_provider,
)

from ses_sigma.lint.excuses import read_excuses
from ses_sigma.lint.findings import Where
from ses_sigma.lint.loading import load_rules
from ses_sigma.lint.validators import (
    ValidatorConfigError,
    installed_validators,
    load_config,
)
from ses_sigma.lint.yamlcheck import compose_file, line_of
from ses_sigma.pack import DEFAULT_RULES_DIR, load_pack


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- yamlcheck


def test_duplicate_keys_anywhere_with_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path / "r.yml",
        """\
        title: t
        detection:
          sel:
            - a: 1
              a: 2
          sel2: {b: 1, 'b': 2}
          condition: sel
        title: u
        n: 1
        '1': x
        1: y
        """,
    )
    lines, found = compose_file(path, "r.yml")
    assert lines is not None
    got = [(f.line, f.message.split(" (")[0]) for f in found]
    assert got == [
        (5, "duplicate key 'detection.sel[0].a'"),
        (6, "duplicate key 'detection.sel2.b'"),
        (8, "duplicate key 'title'"),
    ]  # '1' (a string) and 1 (an int) are different keys
    assert all(f.code == "yaml_duplicate_key" for f in found)
    assert "(first at line 4)" in found[0].message


def test_yaml_syntax_error_has_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "r.yml", "title: t\ndetection:\n  sel: [a\n  condition: sel\n")
    lines, found = compose_file(path, "r.yml")
    assert lines is None
    [finding] = found
    assert finding.code == "yaml_syntax"
    assert finding.line == 4


def test_line_of(tmp_path: Path) -> None:
    path = write(
        tmp_path / "r.yml",
        """\
        title: t
        tags:
          - attack.discovery
          - attack.t1526
        detection:
          sel:
            userIdentity.arn|endswith: x
            f: {fieldref: userIdentity.arn}
          condition: sel
        """,
    )
    lines, _ = compose_file(path, "r.yml")
    assert line_of(lines, Where(keys=("tags",), item="attack.t1526")) == 4
    assert line_of(lines, Where(keys=("detection",), field="userIdentity.arn")) == 7
    assert line_of(lines, Where(keys=("detection", "condition"))) == 9
    assert line_of(lines, Where(keys=("detection", "nothing"))) == 5  # the closest key
    assert line_of(lines, Where(keys=("level",))) == 1
    assert line_of(lines, Where(line=42)) == 42
    assert line_of(None, Where(keys=("title",))) == 1


# --------------------------------------------------------------------------- validators.yml


#: Validators disabled because they download data; each is shown to download below.
DATA_VALIDATORS = (
    "d3_fendtag",
    "sigmahq_fieldname_cast",
    "sigmahq_invalid_fieldname",
    "sigmahq_redundant_field",
    "sigmahq_logsource_unknown",
    "sigmahq_filename_prefix",
    "sigmahq_category_event_id",
    "sigmahq_category_windows_provider_name",
)
#: Disabled for the pack's conventions, not for data.
CONVENTION_VALIDATORS = ("sigmahq_correlation_filename_prefix", "attacktag")


def test_config_disables_exactly_these_with_reasons() -> None:
    config = load_config()
    assert set(config.disabled) == set(DATA_VALIDATORS) | set(CONVENTION_VALIDATORS)
    assert all(len(reason) > 20 for reason in config.disabled.values())
    for name in DATA_VALIDATORS:
        assert "download" in config.disabled[name]
    assert set(config.pack_attributes) == {
        "triage",
        "first_seen",
        "derived_fields",
        "suppression",
        "lint_exceptions",
    }
    # Everything else installed runs, SigmaHQ's included.
    running = set(installed_validators()) - set(config.disabled)
    assert {"sigmahq_title_end", "sigmahq_github_link", "identifier_uniqueness"} <= running


class NetworkUsed(AssertionError):
    """Raised by the patched urlopen."""


@pytest.fixture
def fresh_data_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The D3FEND and SigmaHQ data loaders with empty caches, default URLs, no network.

    pySigma keeps their settings in private attributes and offers no getter; they are set
    here with monkeypatch so that they come back after the test.
    """

    def refuse(url: object, *args: object, **kwargs: object) -> None:
        raise NetworkUsed(f"network access attempted: {url}")

    monkeypatch.setattr(pysigma_d3fend, "urlopen", refuse)
    monkeypatch.setattr(sigmahq_data, "urlopen", refuse)
    monkeypatch.setattr(pysigma_d3fend, "_cache", None)
    monkeypatch.setattr(pysigma_d3fend, "_custom_url", None)
    monkeypatch.setattr(pysigma_d3fend, "_custom_cache_dir", tmp_path / "d3fend")
    for module in (data_filename, data_taxonomy, data_windows_eventid, data_windows_provider):
        loader = module.set_url.__self__
        monkeypatch.setattr(loader, "_cache", None)
        monkeypatch.setattr(loader, "_custom_url", None)
        monkeypatch.setattr(loader, "_custom_cache_dir", tmp_path / module.__name__)


@pytest.mark.parametrize("name", DATA_VALIDATORS)
def test_disabled_data_validators_really_download(
    name: str, tmp_path: Path, fresh_data_caches: None
) -> None:
    path = write(
        tmp_path / "rules" / "win_proc_creation_example.yml",
        """\
        title: Example
        id: 5f0b1f5e-8a61-4a8a-9a34-3e0d1b1d2c3a
        status: test
        tags:
          - d3fend.d3-pa
        logsource:
          product: windows
          category: process_creation
        detection:
          sel:
            EventID: 4688
            Provider_Name: Microsoft-Windows-Security-Auditing
            Image|endswith: '\\x.exe'
          condition: sel
        level: low
        """,
    )
    [rule] = SigmaCollection.from_yaml(
        path.read_text(encoding="utf-8"), source=SigmaRuleLocation(path)
    ).rules
    validator = installed_validators()[name]()
    with pytest.raises(NetworkUsed):
        validator.validate(rule)


def test_config_refuses_unknown_validators_and_missing_reasons(tmp_path: Path) -> None:
    bad = write(tmp_path / "v.yml", "disabled:\n  no_such_validator: because\n")
    with pytest.raises(ValidatorConfigError, match="no_such_validator"):
        load_config(bad)
    empty = write(tmp_path / "w.yml", "disabled:\n  sigmahq_title_end: ''\n")
    with pytest.raises(ValidatorConfigError, match="needs a reason"):
        load_config(empty)
    extra = write(tmp_path / "x.yml", "enabled: [a]\n")
    with pytest.raises(ValidatorConfigError, match="unknown section"):
        load_config(extra)


# --------------------------------------------------------------------------- excuses

RULE = """\
title: Example
id: 5f0b1f5e-8a61-4a8a-9a34-3e0d1b1d2c3a
name: example
logsource: {{product: aws, service: cloudtrail}}
detection:
  sel:
    eventSource: ses.amazonaws.com
  condition: sel
level: low
{excuses}
"""


@pytest.mark.parametrize(
    ("excuses", "code", "fragment"),
    [
        ("lint_exceptions: sigmahq_title_end", "ses_bad_excuse", "non-empty list"),
        ("lint_exceptions:\n  - sigmahq_title_end", "ses_bad_excuse", "keys code and reason"),
        (
            "lint_exceptions:\n  - {code: x, reason: y, until: z}",
            "ses_bad_excuse",
            "keys code and reason",
        ),
        ("lint_exceptions:\n  - {reason: y}", "ses_bad_excuse", "without a code"),
        (
            "lint_exceptions:\n  - {code: x, reason: y}\n  - {code: x, reason: z}",
            "ses_bad_excuse",
            "x is excused twice",
        ),
        ("lint_exceptions:\n  - {code: x, reason: '  '}", "ses_excuse_without_reason", "x"),
        (
            "lint_exceptions:\n  - {code: ses_stale_excuse, reason: y}",
            "ses_bad_excuse",
            "cannot be excused",
        ),
    ],
)
def test_malformed_excuses(tmp_path: Path, excuses: str, code: str, fragment: str) -> None:
    write(tmp_path / "example.yml", RULE.format(excuses=excuses))
    pack = load_pack([tmp_path])
    valid, problems = read_excuses(pack)
    assert [p.code for p in problems] == [code]
    assert fragment in problems[0].message
    assert len(valid) == (1 if "twice" in fragment else 0)


# --------------------------------------------------------------------------- loading


def test_loading_keeps_what_loads(tmp_path: Path) -> None:
    """A broken file and a correlation over a missing rule each cost only themselves."""
    rules = tmp_path / "rules"
    for path in DEFAULT_RULES_DIR.glob("*.yml"):
        (rules / path.name).parent.mkdir(exist_ok=True)
        (rules / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    corr = rules / "aws_ses_identity_added_then_deleted.yml"
    corr.write_text(
        corr.read_text(encoding="utf-8").replace(
            "- aws_ses_identity_deleted", "- aws_ses_identity_gone"
        ),
        encoding="utf-8",
    )
    write(rules / "broken.yml", "title: x\nlevel: urgent\n")
    files = sorted(rules.glob("*.yml"))
    pack, problems = load_rules(files)
    assert pack is not None
    assert {(p.path.name, p.code) for p in problems} == {
        ("broken.yml", "sigma_load"),
        ("aws_ses_identity_added_then_deleted.yml", "ses_unknown_reference"),
    }
    assert len(pack) == len(files) - 2
    [ref] = [p for p in problems if p.code == "ses_unknown_reference"]
    assert ref.where == Where(keys=("correlation", "rules"), item="aws_ses_identity_gone")


def test_a_failing_validator_is_a_finding_per_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """A validator that raises costs only its own result, reported on each rule's file."""
    from sigma.validators.base import SigmaRuleValidator

    from ses_sigma.lint import validators

    class BoomValidator(SigmaRuleValidator):
        def validate(self, rule: object) -> list:
            raise RuntimeError("Failed to load data: no network")

    class QuietValidator(SigmaRuleValidator):
        def validate(self, rule: object) -> list:
            return []

    monkeypatch.setattr(
        validators, "installed_validators", lambda: {"boom": BoomValidator, "quiet": QuietValidator}
    )
    pack = load_pack()
    problems = validators.run_validators(
        list(pack), validators.ValidatorConfig(disabled={}, pack_attributes={})
    )
    assert {p.path for p in problems} == {r.source.path for r in pack}
    assert {p.code for p in problems} == {"validator_error"}
    assert all(
        p.message == "validator boom failed on this rule: RuntimeError: Failed to load data: "
        "no network"
        for p in problems
    )
