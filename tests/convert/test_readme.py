"""The README's conversion table says what the converter does: converted or refused, per cell."""

from __future__ import annotations

import re

import pytest

from ses_sigma.convert.build import build_dist
from ses_sigma.pack import DEFAULT_RULES_DIR, load_pack

README = DEFAULT_RULES_DIR.parent / "README.md"


def _readme_table() -> dict[tuple[str, str], str]:
    text = README.read_text(encoding="utf-8")
    block = re.search(
        r"<!-- conversion-table:.*?-->\n(.*?)<!-- end conversion-table -->", text, re.S
    )
    assert block, "README has no conversion table"
    lines = [line for line in block.group(1).splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    cells: dict[tuple[str, str], str] = {}
    for line in lines[2:]:
        row = [cell.strip() for cell in line.strip("|").split("|")]
        rule = row[0].strip("`")
        for target, cell in zip(header[1:], row[1:], strict=True):
            cells[(rule, target)] = cell
    return cells


@pytest.fixture(scope="module")
def refused() -> set[tuple[str, str]]:
    return {(r.rule, r.target) for r in build_dist(load_pack()).refusals}


def test_readme_table_covers_every_rule_and_target(refused: set[tuple[str, str]]) -> None:
    table = _readme_table()
    rules = {rule.name for rule in load_pack()}
    targets = {"splunk", "lucene", "eql", "esql", "kibana", "spark"}
    assert {rule for rule, _ in table} == rules
    assert {target for _, target in table} == targets


def test_readme_table_agrees_with_the_converter(refused: set[tuple[str, str]]) -> None:
    wrong = [
        f"{rule} x {target}: README says {cell!r}"
        for (rule, target), cell in sorted(_readme_table().items())
        if cell.startswith("refused") != ((rule, target) in refused)
    ]
    assert not wrong, "README conversion table is out of date:\n" + "\n".join(wrong)
