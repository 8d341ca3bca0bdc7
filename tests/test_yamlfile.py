"""The one YAML reader of rule and fixture files (``ses_sigma.yamlfile``), and that every
command goes through it: duplicate keys, anchors and aliases, size and depth."""

from __future__ import annotations

import datetime
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from ses_sigma.cli import main
from ses_sigma.harness import DEFAULT_FIXTURES_DIR, collect_fixtures
from ses_sigma.pack import DEFAULT_RULES_DIR, PackLoadError, load_pack
from ses_sigma.yamlfile import (
    MAX_BYTES,
    MAX_DEPTH,
    YamlRefused,
    compose_documents,
    error_line,
    load_documents,
    load_single,
    read_text,
)

RULE = "aws_ses_identity_deleted"

#: 9 levels of 9 aliases: 9**9 (387 million) scalars for anything that walks the data.
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_duplicate_keys_are_refused_with_both_lines() -> None:
    with pytest.raises(YamlRefused) as info:
        load_documents("title: a\nlevel: low\nlevel: high\n")
    assert "duplicate key 'level' (first at line 2)" in str(info.value)
    assert error_line(info.value) == 3


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("a: &x 1\nb: *x\n", 1, "anchor &x"),
        ("a:\n  - 1\n  - &y [2]\n", 3, "anchor &y"),
        (ALIAS_BOMB, 1, "anchor &a"),
    ],
)
def test_anchors_and_aliases_are_refused(text: str, line: int, what: str) -> None:
    for read in (load_documents, compose_documents, lambda t: load_single(t)):
        with pytest.raises(YamlRefused) as info:
            read(text)
        assert what in str(info.value) and "not allowed" in str(info.value)
        assert error_line(info.value) == line


def test_depth_and_size_are_bounded(tmp_path: Path) -> None:
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert load_documents(ok)
    with pytest.raises(YamlRefused, match=f"deeper than {MAX_DEPTH}"):
        load_documents("x:\n  " + "[" * MAX_DEPTH + "]" * MAX_DEPTH)
    big = tmp_path / "big.yml"
    big.write_text("# " + "x" * MAX_BYTES + "\n", encoding="utf-8")
    with pytest.raises(YamlRefused, match=f"larger than {MAX_BYTES} bytes"):
        read_text(big)


def test_rules_keep_yaml_dates_and_fixtures_keep_strings() -> None:
    """Rules read as pySigma's ``yaml.safe_load`` reads them; fixtures keep eventTime text."""
    text = "date: 2026-11-20\neventTime: 2026-11-20T10:00:00Z\n"
    (rule,) = load_documents(text)
    assert rule == yaml.safe_load(text)
    assert rule["date"] == datetime.date(2026, 11, 20)
    fixture, _ = load_single(text, timestamps=False)
    assert fixture == {"date": "2026-11-20", "eventTime": "2026-11-20T10:00:00Z"}


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """A copy of the bundled rules with a duplicated key appended to one rule."""
    rules = Path(shutil.copytree(DEFAULT_RULES_DIR, tmp_path / "rules"))
    with (rules / f"{RULE}.yml").open("a", encoding="utf-8") as handle:
        handle.write("level: low\n")
    return rules


def test_load_pack_refuses_a_duplicated_key(rules: Path) -> None:
    lines = (rules / f"{RULE}.yml").read_text(encoding="utf-8").count("\n")
    with pytest.raises(PackLoadError) as info:
        load_pack([rules])
    # The file, and the correlation over the rule it no longer provides.
    problems = dict(info.value.problems)
    message = problems[str(rules / f"{RULE}.yml")]
    assert (
        message.startswith(f"line {lines}: invalid YAML: ") and "duplicate key 'level'" in message
    )


@pytest.mark.parametrize(
    "args",
    [["scan", "--rules", "RULES", "-"], ["convert", "-t", "splunk", "--rules", "RULES"]],
)
def test_scan_and_convert_reject_a_duplicated_key(rules: Path, args: list[str]) -> None:
    args = [str(rules) if a == "RULES" else a for a in args]
    result = CliRunner().invoke(main, args, input=b"")
    assert result.exit_code == 2, result.output
    lines = (rules / f"{RULE}.yml").read_text(encoding="utf-8").count("\n")
    assert f"{rules / RULE}.yml: line {lines}: invalid YAML" in result.output
    assert "duplicate key 'level'" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_fixtures_refuse_aliases_with_file_and_line(tmp_path: Path) -> None:
    fixtures = Path(shutil.copytree(DEFAULT_FIXTURES_DIR, tmp_path / "fixtures"))
    path = fixtures / f"{RULE}.yml"
    path.write_text("cases: &c []\n", encoding="utf-8")
    names = [p.stem for p in DEFAULT_RULES_DIR.glob("*.yml")]
    _, problems = collect_fixtures(fixtures, names)
    (problem,) = problems
    assert problem.file == str(path) and problem.line == 1
    assert "anchor &c" in problem.message


def test_check_answers_an_alias_bomb_with_a_finding(tmp_path: Path) -> None:
    """A 342-byte alias bomb: a yaml_syntax finding at its first anchor, no traceback. Run
    as a process with a generous bound: expanding the aliases would not finish at all."""
    bomb = tmp_path / "rules" / "bomb.yml"
    bomb.parent.mkdir()
    bomb.write_text(ALIAS_BOMB, encoding="utf-8")
    assert len(ALIAS_BOMB) < 500
    result = subprocess.run(
        [sys.executable, "-m", "ses_sigma.cli", "check", str(bomb.parent)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    assert "rules/bomb.yml:1: yaml_syntax: invalid YAML: YAML anchor &a refused" in result.stdout
    assert "Traceback" not in result.stderr
