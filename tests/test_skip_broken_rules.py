"""``--skip-unsupported`` also leaves out rule files that do not load, with the reason.

Without it, one broken rule file stops ``scan`` and ``convert`` (exit 2, naming the file). With
it, the file is left out with a warning naming it and the reason, a correlation over a rule of
that file is left out in turn, and the other rules still scan and convert.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from ses_sigma.cli import main
from ses_sigma.pack import DEFAULT_RULES_DIR, PackLoadError
from ses_sigma.pack_skip import load_pack_skipping

ROOT = DEFAULT_RULES_DIR.parent
TRAIL = ROOT / "examples" / "logs" / "trail-export-2025-03-03_10.json"


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """The pack's rules with aws_ses_identity_created broken (a YAML syntax error)."""
    folder = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, folder)
    broken = folder / "aws_ses_identity_created.yml"
    broken.write_text(broken.read_text(encoding="utf-8") + "\nlevel: [unclosed\n")
    return folder


def test_library_leaves_out_the_file_and_the_correlation_over_it(rules: Path) -> None:
    pack, skipped = load_pack_skipping([rules])
    names = {r.name for r in pack}
    assert "aws_ses_identity_created" not in names
    assert "aws_ses_identity_added_then_deleted" not in names  # its reference is gone
    assert "aws_ses_identity_deleted" in names and len(names) == 11
    assert any("aws_ses_identity_created.yml" in s for s in skipped)
    assert any(
        "aws_ses_identity_added_then_deleted.yml" in s and "aws_ses_identity_created" in s
        for s in skipped
    )


def test_a_missing_path_is_still_an_error(tmp_path: Path) -> None:
    with pytest.raises(PackLoadError):
        load_pack_skipping([tmp_path / "nope"])


def test_scan(rules: Path) -> None:
    runner = CliRunner()
    stopped = runner.invoke(main, ["scan", "--rules", str(rules), str(TRAIL)])
    assert stopped.exit_code == 2
    assert "aws_ses_identity_created.yml" in stopped.stderr

    skipped = runner.invoke(main, ["scan", "--skip-unsupported", "--rules", str(rules), str(TRAIL)])
    assert skipped.exit_code == 0, skipped.stderr
    warnings = [line for line in skipped.stderr.splitlines() if line.startswith("warning: ")]
    assert any("aws_ses_identity_created.yml" in w for w in warnings)
    assert "; 2 rule file(s) left out" in skipped.stderr.splitlines()[-1]
    fired = {json.loads(line)["rule_name"] for line in skipped.stdout.splitlines()}
    assert fired and "aws_ses_identity_created" not in fired
    assert "aws_ses_identity_modification_attempt" in fired


def test_convert(rules: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "out"
    args = ["convert", "-t", "lucene", "--rules", str(rules), "-o", str(out)]
    stopped = runner.invoke(main, args)
    assert stopped.exit_code == 2
    assert "aws_ses_identity_created.yml" in stopped.stderr
    assert not out.exists()

    skipped = runner.invoke(main, [*args, "--skip-unsupported"])
    assert skipped.exit_code == 0, skipped.stderr
    assert "warning: skipped rule file:" in skipped.stderr
    assert "aws_ses_identity_created.yml" in skipped.stderr
    written = {p.name for p in out.iterdir()}
    assert "aws_ses_identity_deleted.lucene" in written
    assert "aws_ses_identity_created.lucene" not in written
