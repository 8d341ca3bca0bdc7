"""``ses-sigma docs``: writing, ``--check`` (staleness), reproducibility, and the committed docs
being current (the test that fails when someone changes a rule or a target without
``make docs``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ses_sigma.cli import main
from ses_sigma.docs.build import DEFAULT_DOCS_DIR, build_docs, stale_docs, write_docs
from ses_sigma.pack import load_pack


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs")
    result = CliRunner().invoke(main, ["docs", "--output", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    """The pack's docs as the library builds them (once: a build converts every rule to every
    target); the tests of the command itself run it."""
    return build_docs(load_pack())


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _check(out: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["docs", "--check", "--output", str(out)])
    return result.exit_code, result.output


def test_committed_docs_are_current(files: dict[str, str]) -> None:
    problems = stale_docs(files, DEFAULT_DOCS_DIR)
    assert problems == [], "docs are stale; run `make docs` and commit:\n" + "\n".join(problems)


def test_generation_is_byte_for_byte_reproducible(generated: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["docs", "--output", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert _tree(tmp_path) == _tree(generated)
    assert len(_tree(generated)) >= 4


def test_generation_does_not_depend_on_hash_seeds(generated: Path, tmp_path: Path) -> None:
    """A fresh process with another string hash seed than this one writes the same bytes
    (``generated`` was written here, with this process's seed)."""
    ours = os.environ.get("PYTHONHASHSEED", "")
    seed = "2" if ours == "1" else "1"  # unset: this process's seed is random, not 1
    out = tmp_path / "other-seed"
    subprocess.run(
        [sys.executable, "-c", "from ses_sigma.cli import main; main()", "docs", "-o", out],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONHASHSEED": seed},
    )
    assert _tree(out) == _tree(generated), seed


def test_check_passes_right_after_generation(generated: Path) -> None:
    code, output = _check(generated)
    assert code == 0, output
    assert "up to date" in output


def _copy(src: Path, dst: Path) -> Path:
    for rel, data in _tree(src).items():
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        (dst / rel).write_bytes(data)
    return dst


def test_check_finds_a_hand_edited_page(
    generated: Path, files: dict[str, str], tmp_path: Path
) -> None:
    out = _copy(generated, tmp_path)
    page = out / "rules" / "aws_ses_identity_deleted.md"
    page.write_text(page.read_text(encoding="utf-8") + "edited\n", encoding="utf-8")
    assert stale_docs(files, out) == ["rules/aws_ses_identity_deleted.md: differs"]


def test_check_finds_a_missing_page_and_a_leftover_one(generated: Path, tmp_path: Path) -> None:
    out = _copy(generated, tmp_path)
    (out / "rules" / "aws_ses_identity_created.md").unlink()
    (out / "rules" / "aws_ses_old_rule.md").write_text("old\n", encoding="utf-8")
    (out / "coverage.md").unlink()
    code, output = _check(out)
    assert code == 3
    assert f"stale: {out}/rules/aws_ses_identity_created.md: missing" in output
    assert f"stale: {out}/coverage.md: missing" in output
    assert f"stale: {out}/rules/aws_ses_old_rule.md: not generated any more" in output


def test_hand_written_docs_are_neither_stale_nor_removed(
    generated: Path, files: dict[str, str], tmp_path: Path
) -> None:
    out = _copy(generated, tmp_path)
    (out / "DESIGN.md").write_text("# hand-written\n", encoding="utf-8")
    assert stale_docs(files, out) == []
    (out / "rules" / "aws_ses_old_rule.md").write_text("old\n", encoding="utf-8")
    write_docs(files, out)
    assert (out / "DESIGN.md").read_text(encoding="utf-8") == "# hand-written\n"
    assert not (out / "rules" / "aws_ses_old_rule.md").exists()
    assert stale_docs(files, out) == []


def test_check_on_an_empty_directory_lists_every_file(
    files: dict[str, str], tmp_path: Path
) -> None:
    code, output = _check(tmp_path)
    assert code == 3
    for rel in files:
        assert f"stale: {tmp_path}/{rel}: missing" in output


def test_a_rule_with_a_lone_surrogate_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A title written with YAML's "\\ud800" escape is not Unicode text: no page can carry it.
    The command says which rule and why (exit 1), with no traceback, and writes nothing."""
    source = Path(__file__).resolve().parents[2]
    (tmp_path / "rules").mkdir()
    (tmp_path / "fixtures").mkdir()
    rule = (source / "rules" / "aws_ses_identity_deleted.yml").read_text(encoding="utf-8")
    lines = [ln for ln in rule.splitlines() if not ln.startswith("title:")]
    (tmp_path / "rules" / "aws_ses_identity_deleted.yml").write_text(
        'title: "Broken \\ud800 title"\n' + "\n".join(lines) + "\n", encoding="utf-8"
    )
    for name in ("_base.yml", "aws_ses_identity_deleted.yml"):
        (tmp_path / "fixtures" / name).write_bytes((source / "fixtures" / name).read_bytes())
    (tmp_path / "ses-sigma.toml").write_text(
        'rules = ["rules"]\nfixtures = ["fixtures"]\ninclude_bundled = false\n', encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["docs", "--output", str(tmp_path / "docs")])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "aws_ses_identity_deleted" in result.output
    assert "lone surrogate" in result.output
    assert not (tmp_path / "docs").exists()
