"""Rule names are attacker input: no rule name writes a file outside the output folder.

A rule file from a pull request named ``../../x`` (or an absolute path, backslashes, NUL,
``..``, a very long or a unicode name) must never become a path: ``convert`` stops naming the
rule (exit 2), or with ``--skip-unsupported`` leaves it out with the reason; either way nothing
is written outside the output directory, and the other rules still convert.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from ses_sigma.cli import main
from ses_sigma.convert.build import write_output
from ses_sigma.convert.names import UnsafeRuleName, is_slug, output_name, safe_path
from ses_sigma.docs import DocsError
from ses_sigma.docs.build import DEFAULT_FIXTURES_DIR, REPO_ROOT
from ses_sigma.docs.model import collect
from ses_sigma.pack import DEFAULT_RULES_DIR, load_pack

GOOD = DEFAULT_RULES_DIR / "aws_ses_identity_deleted.yml"

HOSTILE_NAMES = [
    "../../x",
    "../escaped",
    "/tmp/absolute_x",
    "..",
    "a/../../b",
    "a\\\\..\\\\..\\\\b",  # YAML double-quoted: two backslashes each
    "nul\\0byte",  # YAML escape: a NUL character
    "x" * 300,
    "ünïcödé_rule",
    "CON",
    "line\\rbreak",
    "-leading-dash",
]


def hostile_rule(name: str) -> str:
    """The pack's deletion rule with another name and id (name as a YAML double-quoted text)."""
    text = GOOD.read_text(encoding="utf-8")
    text = text.replace("name: aws_ses_identity_deleted", f'name: "{name}"')
    return text.replace("be7f7a63-c9e1-4f11-9a0f-0f7277506925", str(uuid.uuid4()))


def tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """tmp/deep/er/out is the output folder; rules in tmp/rules; nothing else may appear."""
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "good.yml").write_text(GOOD.read_text(encoding="utf-8"))
    return tmp_path


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_name_writes_nothing_outside_and_is_named(workdir: Path, name: str) -> None:
    (workdir / "rules" / "hostile.yml").write_text(hostile_rule(name), encoding="utf-8")
    before = tree(workdir)
    out = workdir / "deep" / "er" / "out"
    runner = CliRunner()
    args = ["--rules", str(workdir / "rules"), "--output", str(out)]

    stopped = runner.invoke(main, ["convert", "--all", *args])
    assert stopped.exit_code == 2, stopped.output
    assert "hostile.yml" in stopped.stderr and "cannot be a file name" in stopped.stderr
    assert tree(workdir) == before  # nothing written at all

    skipped = runner.invoke(main, ["convert", "--all", "--skip-unsupported", *args])
    assert skipped.exit_code == 0, skipped.output
    assert "warning: skipped rule file:" in skipped.stderr and "hostile.yml" in skipped.stderr
    new = tree(workdir) - before
    assert new and all(p.startswith("deep/er/out") for p in new), sorted(new)
    assert "deep/er/out/lucene/query/aws_ses_identity_deleted.lucene" in new
    for target in ("splunk", "lucene", "eql", "esql", "kibana"):
        one = runner.invoke(
            main, ["convert", "-t", target, "--skip-unsupported", *args[:2], "-o", str(out / "t")]
        )
        assert one.exit_code == 0, one.output
    assert all(p.startswith("deep/er/out") for p in tree(workdir) - before)


def test_rule_without_a_name_is_named_by_its_id(tmp_path: Path) -> None:
    text = GOOD.read_text(encoding="utf-8").replace("name: aws_ses_identity_deleted\n", "")
    (tmp_path / "r.yml").write_text(text, encoding="utf-8")
    [rule] = list(load_pack([tmp_path / "r.yml"]))
    assert output_name(rule) == "be7f7a63-c9e1-4f11-9a0f-0f7277506925"


@pytest.mark.parametrize("name", ["aws_ses_x", "A-1.b", "x" * 100])
def test_slugs_accepted(name: str) -> None:
    assert is_slug(name)


@pytest.mark.parametrize("name", ["", "x" * 101, "a..b", ".hidden", "nul.txt", "a b", "é"])
def test_slugs_refused(name: str) -> None:
    assert not is_slug(name)


def test_write_output_refuses_paths_leaving_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    for rel in ("../x", "/abs", "a//b", "a\\b", "a/./b"):
        with pytest.raises(UnsafeRuleName):
            write_output({"ok.txt": "1", rel: "2"}, out)
    assert not out.exists()  # checked before anything is written
    with pytest.raises(UnsafeRuleName, match="differ only in case"):
        write_output({"Rule.spl": "1", "rule.spl": "2"}, out)


def test_symlink_inside_the_output_folder_cannot_lead_out(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (out / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafeRuleName, match="outside"):
        safe_path(out, "link/x.spl")


def test_docs_refuse_a_hostile_name(tmp_path: Path) -> None:
    (tmp_path / "hostile.yml").write_text(hostile_rule("../../x"), encoding="utf-8")
    pack = load_pack([tmp_path / "hostile.yml"])
    with pytest.raises(DocsError, match="cannot be a file name"):
        collect(pack, DEFAULT_FIXTURES_DIR, REPO_ROOT)
