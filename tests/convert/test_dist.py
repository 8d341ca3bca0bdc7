"""The committed dist/ folder is what `make convert` writes from the current rules.

A pull request that changes a rule must show the query change next to it: this test fails
when dist/ is stale, listing the files to regenerate.
"""

from __future__ import annotations

import pytest

from ses_sigma.convert.build import DistBuild, build_dist, stale_files
from ses_sigma.pack import DEFAULT_RULES_DIR, load_pack

DIST = DEFAULT_RULES_DIR.parent / "dist"


@pytest.fixture(scope="module")
def built() -> DistBuild:
    return build_dist(load_pack())


def test_dist_is_current(built: DistBuild) -> None:
    problems = stale_files(built.files, DIST)
    assert not problems, "dist/ is stale; run `make convert` and commit:\n" + "\n".join(problems)


def test_dist_build_is_deterministic(built: DistBuild) -> None:
    again = build_dist(load_pack())
    assert again.files == built.files
    assert again.refusals == built.refusals


def test_every_refusal_is_in_the_matrix(built: DistBuild) -> None:
    matrix = built.files["MATRIX.md"]
    assert built.refusals, "the pack has rules some targets cannot express"
    for refusal in built.refusals:
        line = next(line for line in matrix.splitlines() if f"`{refusal.rule}`" in line)
        assert "refused: " + refusal.reason.replace("|", "\\|") in line


def test_matrix_lists_every_rule_and_target(built: DistBuild) -> None:
    matrix = built.files["MATRIX.md"]
    for rule in load_pack():
        assert f"| `{rule.name}` |" in matrix
    header = matrix.splitlines()[1]
    for target in ("splunk", "lucene", "eql", "esql", "kibana"):
        assert f" {target} " in header
