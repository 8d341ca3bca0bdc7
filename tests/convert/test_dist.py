"""The committed dist/ folder is what `make convert` writes from the current rules.

A pull request that changes a rule must show the query change next to it: this test fails
when dist/ is stale, listing the files to regenerate.
"""

from __future__ import annotations

from pathlib import Path

from ses_sigma.convert.build import build_dist, stale_files
from ses_sigma.pack import DEFAULT_RULES_DIR, load_pack

DIST = DEFAULT_RULES_DIR.parent / "dist"


def test_dist_is_current() -> None:
    built = build_dist(load_pack())
    problems = stale_files(built.files, DIST)
    assert not problems, "dist/ is stale; run `make convert` and commit:\n" + "\n".join(problems)


def test_dist_build_is_deterministic() -> None:
    first = build_dist(load_pack())
    second = build_dist(load_pack())
    assert first.files == second.files
    assert first.refusals == second.refusals


def test_every_refusal_is_in_the_matrix() -> None:
    built = build_dist(load_pack())
    matrix = built.files["MATRIX.md"]
    assert built.refusals, "the pack has rules some targets cannot express"
    for refusal in built.refusals:
        line = next(line for line in matrix.splitlines() if f"`{refusal.rule}`" in line)
        assert "refused: " + refusal.reason.replace("|", "\\|") in line


def test_matrix_lists_every_rule_and_target(tmp_path: Path) -> None:
    built = build_dist(load_pack())
    matrix = built.files["MATRIX.md"]
    for rule in load_pack():
        assert f"| `{rule.name}` |" in matrix
    header = matrix.splitlines()[1]
    for target in ("splunk", "lucene", "eql", "esql", "kibana"):
        assert f" {target} " in header
