"""Loading the pack with pySigma: every problem names its file."""

from __future__ import annotations

from pathlib import Path

import pytest

from ses_sigma.pack import PackLoadError, load_pack

BASE = """\
title: base
name: {name}
logsource: {{product: aws, service: cloudtrail}}
detection:
  sel:
    eventSource: ses.amazonaws.com
  condition: sel
"""

CORR = """\
title: corr
name: corr
correlation:
  type: temporal_ordered
  rules: [{a}, {b}]
  group-by: [userIdentity.arn]
  timespan: 1h
"""


def test_the_pack_loads_and_resolves_its_correlation() -> None:
    pack = load_pack()
    assert len(pack.correlations) == 8
    [seed] = [c for c in pack.correlations if c.name == "aws_ses_identity_added_then_deleted"]
    refs = [ref.rule.name for ref in seed.rules]
    assert refs == ["aws_ses_identity_created", "aws_ses_identity_deleted"]
    assert pack.file_of(pack.get("aws_ses_identity_deleted")).name == "aws_ses_identity_deleted.yml"


def test_unknown_reference_names_the_correlation_file(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(BASE.format(name="a"))
    (tmp_path / "corr.yml").write_text(CORR.format(a="a", b="missing"))
    with pytest.raises(PackLoadError) as err:
        load_pack([tmp_path])
    assert err.value.problems == [
        (
            str(tmp_path / "corr.yml"),
            "correlation 'corr' references rule 'missing', which is not in the pack",
        )
    ]


def test_duplicate_names_and_broken_yaml_are_all_reported(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(BASE.format(name="same"))
    (tmp_path / "b.yml").write_text(BASE.format(name="same"))
    (tmp_path / "c.yml").write_text("title: [unclosed\n")
    with pytest.raises(PackLoadError) as err:
        load_pack([tmp_path])
    files = [path for path, _ in err.value.problems]
    assert str(tmp_path / "b.yml") in files
    assert str(tmp_path / "c.yml") in files
    assert any("also used in" in message for _, message in err.value.problems)


def test_missing_path_is_reported(tmp_path: Path) -> None:
    with pytest.raises(PackLoadError, match="no such file"):
        load_pack([tmp_path / "nope"])
