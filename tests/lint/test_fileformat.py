"""The layout check of rule and fixture files (``ses-sigma check-format``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ses_sigma.cli import main as cli
from ses_sigma.lint.fileformat import check_file, check_paths, check_text

PROJECT = Path(__file__).resolve().parents[2]

GOOD = """\
title: x
tags:
  - attack.t1070
detection:
  selection:
    eventName:
      - A
  condition: selection
list:
  - name: one
    events:
      - eventID: e1
description: |
  free text, its own
     indentation is free
flow: {a: 1,
   b: 2}
"""


def codes(text: str) -> list[tuple[int, str]]:
    return [(f.line, f.code) for f in check_text("x.yml", text)]


def test_the_pack_is_in_format() -> None:
    findings, count = check_paths([PROJECT / "rules", PROJECT / "fixtures"])
    assert count >= 12
    assert findings == []


def test_good_layout_has_no_findings() -> None:
    assert codes(GOOD) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("  - attack.t1070\n", "- attack.t1070\n", [(3, "fmt_indent")]),
        (
            "  selection:\n    eventName:\n      - A\n  condition: selection\n",
            "    selection:\n      eventName:\n        - A\n    condition: selection\n",
            [(5, "fmt_indent")],
        ),
        (
            "  - name: one\n    events:\n      - eventID: e1\n",
            "  -   name: one\n      events:\n        - eventID: e1\n",
            [(10, "fmt_indent")],
        ),
        ("title: x\n", "title: x  \n", [(1, "fmt_trailing_space")]),
        ("title: x\n", "title: x\r\n", [(1, "fmt_crlf")]),
        ("free text, its own\n", "free\ttext\n", [(14, "fmt_tab")]),
        ("   b: 2}\n", "   b: 2}", [(17, "fmt_final_newline")]),
        ("title: x\n", "title: [x\n", [(2, "fmt_yaml")]),
    ],
    ids=["indentless", "four", "dash-spaces", "trailing", "crlf", "tab", "newline", "yaml"],
)
def test_each_layout_problem(old: str, new: str, expected: list[tuple[int, str]]) -> None:
    assert GOOD.count(old) == 1
    assert codes(GOOD.replace(old, new)) == expected


def test_encoding(tmp_path: Path) -> None:
    latin = tmp_path / "latin.yml"
    latin.write_bytes(b"title: x\ndescription: caf\xe9\n")
    [finding] = check_file(latin)
    assert (finding.line, finding.code) == (2, "fmt_encoding")
    bom = tmp_path / "bom.yml"
    bom.write_bytes(b"\xef\xbb\xbftitle: x\n")
    assert [f.code for f in check_file(bom)] == ["fmt_encoding"]


def test_command_exit_codes(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "good.yml").write_text(GOOD, encoding="utf-8")
    runner = CliRunner()
    ok = runner.invoke(cli, ["check-format", str(tmp_path / "rules")])
    assert ok.exit_code == 0 and ok.stdout == ""
    assert "0 finding(s) in 1 file(s)" in ok.stderr
    (tmp_path / "rules" / "bad.yaml").write_text("title: x \n", encoding="utf-8")
    (tmp_path / "rules" / "notes.txt").write_text("not checked \n", encoding="utf-8")
    bad = runner.invoke(cli, ["check-format", str(tmp_path / "rules")])
    assert bad.exit_code == 1
    assert (
        bad.stdout
        == f"{tmp_path / 'rules' / 'bad.yaml'}:1: fmt_trailing_space: trailing whitespace\n"
    )
