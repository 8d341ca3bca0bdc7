"""The conversion orchestration and the ``convert`` command, on a stand-in target.

The real targets have their own tests; these pin what every target gets from the framework:
rule selection, refusals and exit codes, ``--all`` layout, MATRIX.md and the staleness check.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRuleBase

from ses_sigma.cli import main
from ses_sigma.convert import base
from ses_sigma.convert.base import ConversionOutput, Refusal, Target
from ses_sigma.convert.build import build_dist, convert_rules, select_rules, stale_files
from ses_sigma.pack import Pack, load_pack, rule_key


class TitleTarget(Target):
    """Writes each rule's title; refuses correlations (as a target without them would)."""

    name = "zz_title"
    formats = ("txt", "upper")
    description = "test target"

    def convert(self, pack: Pack, rules: Sequence[SigmaRuleBase], fmt: str) -> ConversionOutput:
        out = ConversionOutput()
        for rule in rules:
            if isinstance(rule, SigmaCorrelationRule):
                out.refusals.append(Refusal(rule_key(rule), self.name, "no correlations here"))
                continue
            text = rule.title.upper() if fmt == "upper" else rule.title
            out.files[f"{rule_key(rule)}.txt"] = text + "\n"
        out.files["blob.bin"] = b"\x00\x01"
        return out


@pytest.fixture
def only_title_target(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(base, "TARGETS", {"zz_title": TitleTarget()})
    monkeypatch.setattr(base, "BUILTIN_TARGET_MODULES", [])
    yield


@pytest.fixture(scope="module")
def pack() -> Pack:
    return load_pack()


def test_select_rules_by_name_and_unknown(pack: Pack) -> None:
    assert [rule_key(r) for r in select_rules(pack, ["aws_ses_identity_deleted"])] == [
        "aws_ses_identity_deleted"
    ]
    assert len(select_rules(pack, [])) == len(pack)
    with pytest.raises(KeyError, match="no_such_rule"):
        select_rules(pack, ["no_such_rule"])


def test_convert_rules_rejects_unknown_format(pack: Pack, only_title_target: None) -> None:
    with pytest.raises(ValueError, match="no format 'nope'"):
        convert_rules(pack, "zz_title", "nope")
    out = convert_rules(pack, "zz_title", None, ["aws_ses_identity_deleted"])
    assert out.files["aws_ses_identity_deleted.txt"] == "AWS SES Sender Identity Deleted\n"


def test_build_dist_layout_and_matrix(pack: Pack, only_title_target: None) -> None:
    dist = build_dist(pack)
    assert "zz_title/txt/aws_ses_identity_deleted.txt" in dist.files
    assert dist.files["zz_title/upper/aws_ses_identity_deleted.txt"].startswith("AWS SES SENDER")
    assert dist.refusals == [
        Refusal(name, "zz_title", "no correlations here")
        for name in sorted(rule_key(c) for c in pack.correlations)
    ]
    assert len(dist.refusals) == 8
    matrix = dist.files["MATRIX.md"]
    assert "| `aws_ses_identity_deleted` | converted |" in matrix
    assert "| `aws_ses_identity_added_then_deleted` | refused: no correlations here |" in matrix


def test_stale_files_finds_missing_changed_and_extra(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {"a/x.txt": "one\n", "b.bin": b"\x01"}
    (tmp_path / "a").mkdir()
    (tmp_path / "a/x.txt").write_text("one\n")
    (tmp_path / "b.bin").write_bytes(b"\x01")
    assert stale_files(files, tmp_path) == []
    (tmp_path / "a/x.txt").write_text("two\n")
    (tmp_path / "old.txt").write_text("")
    assert stale_files(files, tmp_path) == [
        "a/x.txt: differs",
        "old.txt: not generated any more",
    ]
    (tmp_path / "b.bin").unlink()
    assert "b.bin: missing" in stale_files(files, tmp_path)


def test_cli_refusal_exits_1_and_skip_unsupported_exits_0(
    only_title_target: None, tmp_path: Path
) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["convert", "-t", "zz_title", "-o", str(tmp_path / "o")])
    assert res.exit_code == 1, res.output
    assert "error: aws_ses_identity_added_then_deleted: cannot convert to zz_title" in res.output
    assert (tmp_path / "o/aws_ses_identity_deleted.txt").is_file()
    res = runner.invoke(
        main, ["convert", "-t", "zz_title", "--skip-unsupported", "-o", str(tmp_path / "p")]
    )
    assert res.exit_code == 0, res.output
    assert "warning: skipped: aws_ses_identity_added_then_deleted" in res.output


def test_cli_prints_text_and_refuses_binary_on_stdout(only_title_target: None) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["convert", "-t", "zz_title", "aws_ses_identity_deleted"])
    assert res.exit_code == 2  # blob.bin is binary: needs --output
    assert "binary output needs --output" in res.output


def test_cli_all_writes_then_check_detects_staleness(
    only_title_target: None, tmp_path: Path
) -> None:
    runner = CliRunner()
    out = tmp_path / "dist"
    res = runner.invoke(main, ["convert", "--all", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "MATRIX.md").is_file()
    res = runner.invoke(main, ["convert", "--all", "--check", "-o", str(out)])
    assert res.exit_code == 0, res.output
    (out / "zz_title/txt/aws_ses_identity_deleted.txt").write_text("edited by hand\n")
    res = runner.invoke(main, ["convert", "--all", "--check", "-o", str(out)])
    assert res.exit_code == 3
    assert "zz_title/txt/aws_ses_identity_deleted.txt: differs" in res.output


def test_cli_usage_errors(only_title_target: None) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["convert"]).exit_code == 2
    assert runner.invoke(main, ["convert", "-t", "nope"]).exit_code == 2
    assert runner.invoke(main, ["convert", "-t", "zz_title", "no_such_rule"]).exit_code == 2
    assert runner.invoke(main, ["convert", "--all"]).exit_code == 2


def test_cli_rules_that_do_not_load_exit_2(only_title_target: None, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("title: [unclosed\n")
    res = CliRunner().invoke(main, ["convert", "-t", "zz_title", "--rules", str(bad)])
    assert res.exit_code == 2
    assert str(bad) in res.output
