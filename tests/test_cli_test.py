"""``ses-sigma test`` end to end through click's CliRunner."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ses_sigma.cli import main
from ses_sigma.harness import DEFAULT_FIXTURES_DIR, Case, load_fixtures
from ses_sigma.pack import DEFAULT_RULES_DIR, load_pack, rule_key


@pytest.fixture(scope="module")
def rules() -> list[str]:
    return [rule_key(r) for r in load_pack()]


@pytest.fixture(scope="module")
def cases(rules: list[str]) -> list[Case]:
    return load_fixtures(DEFAULT_FIXTURES_DIR, rules)


DELETED = "aws_ses_identity_deleted"


def run(*args: str) -> Result:
    # COLUMNS unset: the table takes its natural width, so no cell is folded.
    return CliRunner(env={"COLUMNS": None}).invoke(main, ["test", *args])


@pytest.fixture
def fixtures(tmp_path: Path) -> Path:
    """A writable copy of the pack's fixtures."""
    return Path(shutil.copytree(DEFAULT_FIXTURES_DIR, tmp_path / "fixtures"))


def summary(result: Result) -> str:
    return result.stdout.strip().splitlines()[-1]


def test_the_pack_passes(rules: list[str], cases: list[Case]) -> None:
    result = run()
    assert result.exit_code == 0, result.output
    assert summary(result) == (
        f"{len(cases)} case(s) of {len(rules)} rule(s): {len(cases)} passed, 0 failed"
    )
    for case in cases:
        assert case.name in result.stdout
    # Only the pack line: which pack (the repository's ses-sigma.toml) and how many rules.
    pack_line = rf"pack: .+ses-sigma\.toml, {len(rules)} rule\(s\)(, filters from .+)?\n"
    assert re.fullmatch(pack_line, result.stderr)


def test_selected_rules_only(cases: list[Case]) -> None:
    result = run(DELETED)
    mine = [c for c in cases if c.rule == DELETED]
    assert result.exit_code == 0, result.output
    assert summary(result) == f"{len(mine)} case(s) of 1 rule(s): {len(mine)} passed, 0 failed"
    rows = [line for line in result.stdout.splitlines() if re.match(r"│ aws_ses_\w+", line)]
    assert len(rows) >= len(mine)
    assert all(line.startswith(f"│ {DELETED} ") for line in rows)


def test_unknown_rule_is_a_usage_error() -> None:
    result = run("aws_ses_nope")
    assert result.exit_code == 2
    assert "no rule named 'aws_ses_nope'" in result.stderr


def test_wrong_expectation_fails(fixtures: Path) -> None:
    path = fixtures / f"{DELETED}.yml"
    text = path.read_text(encoding="utf-8")
    # The first case's deletion does fire; claim it must not.
    first_expect = "    expect:\n      - event_ids: [de1e7ed0-0001-4000-8000-000000000001]\n"
    assert first_expect in text
    path.write_text(text.replace(first_expect, "    expect: []\n", 1), encoding="utf-8")
    result = run("--fixtures", str(fixtures), DELETED)
    assert result.exit_code == 1
    assert "FAIL (given, reversed, shuffled)" in result.stdout
    assert ", 1 failed" in summary(result)


def test_malformed_fixture_is_reported_and_the_rest_still_runs(
    fixtures: Path, cases: list[Case]
) -> None:
    path = fixtures / f"{DELETED}.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("base: ses_delete_identity\n", "base: ses_nope\n", 1), "utf-8")
    result = run("--fixtures", str(fixtures))
    assert result.exit_code == 1
    assert f"fixture error: {path}:" in result.stderr
    assert "case 'v1 DeleteIdentity succeeds': event #1: unknown base 'ses_nope'" in result.stderr
    assert "1 fixture problem(s)" in summary(result)
    assert f"{len(cases) - 1} passed, 0 failed" in summary(result)


def test_rule_without_fixtures_is_a_coverage_gap(fixtures: Path) -> None:
    (fixtures / f"{DELETED}.yml").unlink()
    result = run("--fixtures", str(fixtures))
    assert result.exit_code == 1
    assert f"coverage: {DELETED}: no fixture cases" in result.stderr
    assert "1 coverage gap(s)" in summary(result)


def test_rules_without_fixtures_dir_match(
    tmp_path: Path, rules: list[str], cases: list[Case]
) -> None:
    subset = tmp_path / "rules"
    subset.mkdir()
    shutil.copy(DEFAULT_RULES_DIR / f"{DELETED}.yml", subset)
    result = run("--rules", str(subset))
    assert result.exit_code == 1
    # Every other rule's fixture file names a rule this pack does not have.
    assert result.stderr.count("no rule named") == len(rules) - 1
    mine = [c for c in cases if c.rule == DELETED]
    assert summary(result).startswith(f"{len(mine)} case(s) of 1 rule(s): {len(mine)} passed")


def test_broken_rule_pack_exits_2(tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text("title: [unclosed\n", encoding="utf-8")
    result = run("--rules", str(tmp_path))
    assert result.exit_code == 2
    assert "the rule pack does not load" in result.stderr
