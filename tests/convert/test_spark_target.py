"""The ``spark`` target's refusals and query shapes (no Spark needed; tests/verify/test_spark.py
runs the queries)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ses_sigma.convert.elastic_common import Refused
from ses_sigma.convert.spark import spark_query
from ses_sigma.pack import Pack, load_pack

SINGLE = """\
title: {name}
id: 00000000-0000-4000-8000-{n:012d}
name: {name}
status: experimental
description: test
author: test
date: 2026-11-25
level: low
logsource:
  product: aws
  service: cloudtrail
detection:
{body}
"""

CORR = """\
title: {name}
id: 00000000-0000-4000-8000-{n:012d}
name: {name}
status: experimental
description: test
author: test
date: 2026-11-25
level: high
correlation:
{body}
"""

SES = "  sel:\n    eventSource: ses.amazonaws.com\n    eventName: {}\n  condition: sel"
A = SES.format("CreateEmailIdentity")
B = SES.format("DeleteIdentity")
ANY = "  sel:\n    eventSource: ses.amazonaws.com\n  condition: sel"


def _pack(tmp: Path, singles: dict[str, str], corrs: dict[str, str]) -> Pack:
    n = 0
    for name, body in singles.items():
        n += 1
        (tmp / f"{name}.yml").write_text(SINGLE.format(name=name, n=n, body=body))
    for name, body in corrs.items():
        n += 1
        (tmp / f"{name}.yml").write_text(CORR.format(name=name, n=n, body=body))
    return load_pack([tmp])


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("  sel:\n    eventName|re: '^Get'\n  condition: sel", "regular expressions"),
        ("  sel:\n    sourceIPAddress|cidr: 10.0.0.0/8\n  condition: sel", "CIDR"),
        ("  sel:\n    eventName: 'Gét'\n  condition: sel", "non-ASCII letter"),
        ("  keywords:\n    - GetAccount\n  condition: keywords", "keyword"),
    ],
)
def test_values_the_target_refuses(tmp_path: Path, body: str, reason: str) -> None:
    pack = _pack(tmp_path, {"t_x": body}, {})
    with pytest.raises(Refused, match=reason):
        spark_query(pack, pack.get("t_x"))


def test_count_correlations_are_refused_with_the_reason(tmp_path: Path) -> None:
    body = (
        "  type: event_count\n  rules: [t_a]\n  group-by: [userIdentity.arn]\n"
        "  timespan: 1h\n  condition:\n    gte: 3"
    )
    pack = _pack(tmp_path, {"t_a": A}, {"t_count": body})
    with pytest.raises(Refused, match="clears the group's state"):
        spark_query(pack, pack.get("t_count"))


def test_ordered_steps_that_may_overlap_are_refused(tmp_path: Path) -> None:
    body = (
        "  type: temporal_ordered\n  rules: [t_a, t_any]\n  group-by: [userIdentity.arn]\n"
        "  timespan: 1h"
    )
    pack = _pack(tmp_path, {"t_a": A, "t_any": ANY}, {"t_seq": body})
    with pytest.raises(Refused, match="could match both"):
        spark_query(pack, pack.get("t_seq"))


def test_ordered_query_shape(tmp_path: Path) -> None:
    body = (
        "  type: temporal_ordered\n  rules: [t_a, t_b]\n  group-by: [userIdentity.arn]\n"
        "  timespan: 90m"
    )
    pack = _pack(tmp_path, {"t_a": A, "t_b": B}, {"t_seq": body})
    query = spark_query(pack, pack.get("t_seq"))
    assert "lag(step) OVER (PARTITION BY k0 ORDER BY `_time`, step, `_id`)" in query
    assert "<= 5400000000" in query  # 90 minutes, inclusive
    assert "FROM cloudtrail" in query
    partitioned = spark_query(pack, pack.get("t_seq"), partition=["_case"])
    assert "PARTITION BY _case, k0" in partitioned


def test_rule_text_cannot_leave_a_comment(tmp_path: Path) -> None:
    text = SINGLE.format(name="t_a", n=1, body=A).replace(
        "title: t_a", 'title: "x\\nDROP TABLE cloudtrail; --\\u2028y"'
    )
    (tmp_path / "t_a.yml").write_text(text)
    pack = load_pack([tmp_path])
    header, second = spark_query(pack, pack.get("t_a")).split("\n")[:2]
    assert header == "-- t_a: x\\u000aDROP TABLE cloudtrail; --\\u2028y"
    assert second.startswith("WITH ct AS")
