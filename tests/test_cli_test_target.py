"""``ses-sigma test --target T``: fixture cases through the converted rules on T's engine."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ses_sigma.cli import cmd_test_target, main
from ses_sigma.harness import DEFAULT_FIXTURES_DIR, Case, load_fixtures
from ses_sigma.pack import DEFAULT_RULES_DIR, Pack, load_pack, rule_key
from ses_sigma.verify.proof import EngineUnavailable, Prover, RuleAlerts, prove
from ses_sigma.verify.proof_splunk import SplunkProver


def run(*args: str) -> Result:
    return CliRunner(env={"COLUMNS": None}).invoke(main, ["test", *args])


def test_lucene_target_on_the_pack_names_lucene(lucene: str) -> None:
    # one rule's cases (every case of the pack runs in tests/convert/test_elastic_proof.py)
    result = run("--target", "lucene", "aws_ses_enumeration_new_principal")
    assert result.exit_code == 0, result.output
    assert "target lucene on Apache Lucene 8." in result.stdout
    assert "24 rule(s) compared with the matcher in each, 12 refused" in result.stdout
    assert " 0 disagree" in result.stdout
    assert "refused by lucene: aws_ses_enumeration_new_principal: first-seen" in result.stderr


def test_eql_and_splunk_targets_name_their_engines() -> None:
    eql = run("--target", "eql", "aws_ses_identity_added_then_deleted")
    assert eql.exit_code == 0, eql.output
    assert "on eql 1.0.1 (Elastic's reference engine" in eql.stdout
    splunk = run("--target", "splunk", "aws_ses_identity_added_then_deleted")
    assert splunk.exit_code == 0, splunk.output
    assert "on SPL simulator (not Splunk)" in splunk.stdout


def test_the_users_own_pack(tmp_path: Path, lucene: str) -> None:
    rules, fixtures = tmp_path / "rules", tmp_path / "fixtures"
    rules.mkdir()
    fixtures.mkdir()
    shutil.copy(DEFAULT_RULES_DIR / "aws_ses_smtp_user_created.yml", rules)
    shutil.copy(DEFAULT_FIXTURES_DIR / "aws_ses_smtp_user_created.yml", fixtures)
    shutil.copy(DEFAULT_FIXTURES_DIR / "_base.yml", fixtures)
    result = run("--target", "lucene", "--rules", str(rules), "--fixtures", str(fixtures))
    assert result.exit_code == 0, result.output
    assert "1 rule(s) compared with the matcher in each, 0 refused" in result.stdout


class _DropsAlerts(Prover):
    """A prover whose engine loses every correlation alert: the proof must catch it."""

    target = "splunk"

    def __init__(self) -> None:
        self.real = SplunkProver()

    def engine(self) -> str:
        return "a broken engine"

    def prepare(self, pack: Pack) -> dict[str, str]:
        return self.real.prepare(pack)

    def run(self, cases: Sequence[Case]) -> list[RuleAlerts]:
        out = self.real.run(cases)
        for got in out:
            for name in got:
                if name.startswith("aws_ses_identity_added_then_deleted"):
                    got[name] = []
        return out


def test_a_disagreement_is_reported_and_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    pack = load_pack()
    cases = load_fixtures(rule_names=[rule_key(r) for r in pack])
    report = prove(_DropsAlerts(), pack, cases)
    failed = [c for c in report.cases if not c.passed]
    assert failed and not report.passed
    assert all(
        set(c.differences)
        <= {
            "aws_ses_identity_added_then_deleted",
            "aws_ses_identity_added_then_deleted (scheduled)",
        }
        for c in failed
    )
    monkeypatch.setattr(cmd_test_target, "get_prover", lambda target: _DropsAlerts())
    result = run("--target", "splunk", "aws_ses_identity_added_then_deleted")
    assert result.exit_code == 1
    assert "FAIL aws_ses_identity_added_then_deleted: matcher" in result.stdout
    own = [c for c in failed if c.case.rule == "aws_ses_identity_added_then_deleted"]
    assert f"{len(own)} disagree" in result.stdout


def test_a_missing_engine_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    class _Missing(SplunkProver):
        def engine(self) -> str:
            raise EngineUnavailable("not installed here")

    monkeypatch.setattr(cmd_test_target, "get_prover", lambda target: _Missing())
    result = run("--target", "splunk")
    assert result.exit_code == 2
    assert "the splunk engine is not available: not installed here" in result.stderr


def test_targets_without_an_engine_are_not_offered() -> None:
    result = run("--target", "esql")
    assert result.exit_code == 2
    assert "Invalid value for '--target'" in result.output
