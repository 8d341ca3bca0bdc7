"""The parsed-files cache of ``load_pack`` (``pack._documents``): each load its own documents,
a changed file parsed again, errors never cached."""

from __future__ import annotations

from pathlib import Path

import pytest

from ses_sigma import pack as pack_module
from ses_sigma.pack import PackLoadError, load_pack, rule_key

RULE = """title: Test rule
id: 0e7c1f4a-3d55-4a8e-9a61-0b7b2a1d9c01
name: aws_ses_test_rule
status: test
description: a test
logsource:
  product: aws
  service: cloudtrail
detection:
  selection:
    eventSource: ses.amazonaws.com
    eventName: {name}
  condition: selection
level: low
"""


def _write(tmp_path: Path, name: str) -> Path:
    path = tmp_path / "aws_ses_test_rule.yml"
    path.write_text(RULE.format(name=name), encoding="utf-8")
    return path


def _event_names(path: Path) -> list[str]:
    rule = load_pack([path]).get("aws_ses_test_rule")
    item = rule.detection.detections["selection"].detection_items[1]
    return [str(v) for v in item.value]


def test_each_load_gets_its_own_documents(tmp_path: Path) -> None:
    path = _write(tmp_path, "GetAccount")
    text = path.read_text(encoding="utf-8")
    first = pack_module._documents(text)
    first[0]["detection"]["selection"]["eventName"] = "Changed"
    assert pack_module._documents(text)[0]["detection"]["selection"]["eventName"] == "GetAccount"
    assert _event_names(path) == ["GetAccount"]


def test_a_changed_file_is_parsed_again(tmp_path: Path) -> None:
    path = _write(tmp_path, "GetAccount")
    assert _event_names(path) == ["GetAccount"]
    _write(tmp_path, "ListIdentities")
    assert _event_names(path) == ["ListIdentities"]


def test_a_bad_file_fails_every_time(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("title: [unclosed\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(PackLoadError, match="invalid YAML"):
            load_pack([path])


def test_the_cache_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pack_module, "_PARSED", type(pack_module._PARSED)())
    monkeypatch.setattr(pack_module, "_PARSED_MAX_FILES", 2)
    for i in range(4):
        pack_module._documents(f"a: {i}\n")
    assert list(pack_module._PARSED) == ["a: 2\n", "a: 3\n"]
    monkeypatch.setattr(pack_module, "_PARSED_MAX_CHARS", 3)
    pack_module._documents("b: 1\n")  # longer than the bound: parsed, not kept
    assert "b: 1\n" not in pack_module._PARSED


def test_the_bundled_pack_loads_the_same_twice() -> None:
    first, second = load_pack(), load_pack()
    assert [rule_key(r) for r in first.rules] == [rule_key(r) for r in second.rules]
    assert all(a is not b for a, b in zip(first.rules, second.rules, strict=True))
