"""Apache Spark: the ``spark`` target's SQL on Spark, and ``scan --engine spark``.

One local Spark session for the test process (``spark`` fixture, tests/conftest.py); the tests
are grouped (``xdist_group``) so only one xdist worker starts Spark.

* every fixture case of the pack through every rule's Spark SQL, against the matcher;
* the value semantics where SQL and the matcher could part (missing fields under NOT, literal
  ``%``/``_``, newlines, the KELVIN SIGN) and the fields the SQL refuses to guess (arrays,
  objects, dotted keys: ``raise_error``);
* ``scan --engine spark`` against the embedded scanner on a mixed directory.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from ses_sigma.cli import main
from ses_sigma.convert.spark import VIEW, spark_query
from ses_sigma.harness import load_fixtures
from ses_sigma.pack import Pack, load_pack, rule_key
from ses_sigma.scan import scan
from ses_sigma.scan_spark import scan_spark
from ses_sigma.verify.proof import prove
from ses_sigma.verify.proof_spark import SparkProver

pytestmark = [pytest.mark.xdist_group("spark")]

RULE = """\
title: {name}
id: 00000000-0000-4000-8000-{n:012d}
name: {name}
status: experimental
description: test rule
author: test
date: 2026-11-25
level: low
logsource:
  product: aws
  service: cloudtrail
detection:
{detection}
"""


def _pack(tmp: Path, detections: dict[str, str]) -> Pack:
    (tmp / "rules").mkdir()
    for n, (name, det) in enumerate(detections.items(), start=1):
        (tmp / "rules" / f"{name}.yml").write_text(RULE.format(name=name, n=n, detection=det))
    return load_pack([tmp / "rules"])


def _run(spark: Any, pack: Pack, name: str, records: list[dict[str, Any]]) -> list[str]:
    rows = [(orjson.dumps(r).decode(),) for r in records]
    frame = spark.createDataFrame(rows, "value string")
    frame.selectExpr("parse_json(value) AS record").createOrReplaceTempView(VIEW)
    return sorted(r["event_ids"][0] for r in spark.sql(spark_query(pack, pack.get(name))).collect())


def _rec(n: int, **fields: Any) -> dict[str, Any]:
    return {"eventID": f"e{n}", "eventTime": f"2026-11-20T10:00:{n:02d}Z", **fields}


def test_every_fixture_case_on_spark_equals_the_matcher(spark: Any) -> None:
    pack = load_pack()
    cases = load_fixtures(rule_names=[rule_key(r) for r in pack])
    report = prove(SparkProver(spark), pack, cases)
    assert report.engine.startswith("Apache Spark 4.")
    # The counting correlations are refused (dist/MATRIX.md gives the reason); the rest compare.
    assert set(report.refused) == {
        "aws_ses_account_details_multi_region",
        "aws_ses_recon_multi_region",
        "aws_ses_setup_refused_burst",
        "aws_ses_sending_volume_long_term_key",
    }
    assert len(report.compared) == len(pack) - 4 and len(report.cases) > 100
    assert [c.differences for c in report.cases if not c.passed] == []


def test_value_semantics_on_spark(spark: Any, tmp_path: Path) -> None:
    pack = _pack(
        tmp_path,
        {
            "t_not": "  sel:\n    userAgent: x\n  condition: not sel",
            "t_like": "  sel:\n    userAgent|contains: '50%_'\n  condition: sel",
            "t_star": "  sel:\n    userAgent: 'a*b'\n  condition: sel",
            "t_k": "  sel:\n    userAgent: 'kit'\n  condition: sel",
            "t_cased": "  sel:\n    userAgent|cased: 'Kit'\n  condition: sel",
        },
    )
    records = [
        _rec(1),  # no userAgent
        _rec(2, userAgent="X"),
        _rec(3, userAgent="50%_off"),
        _rec(4, userAgent="50%x"),
        _rec(5, userAgent="a\nb"),
        _rec(6, userAgent="\u212ait"),  # KELVIN SIGN: str.lower() gives "kit"
        _rec(7, userAgent="Kit", errorCode=None),
    ]
    from ses_sigma.match.detection import compile_detection

    for name in ("t_not", "t_like", "t_star", "t_k", "t_cased"):
        predicate = compile_detection(pack.get(name)).predicate
        expected = sorted(r["eventID"] for r in records if predicate(r))
        assert _run(spark, pack, name, records) == expected, name
        assert expected, name


@pytest.mark.parametrize(
    ("record", "word"),
    [
        ({"userIdentity": [{"arn": "a"}]}, "array"),  # an array on the path
        ({"userIdentity": {"arn": ["a"]}}, "array"),  # an array at the end
        ({"userIdentity": {"arn": {"x": 1}}}, "object"),
        ({"userIdentity.arn": "a", "userIdentity": {"arn": "b"}}, "dotted key"),
    ],
)
def test_ambiguous_fields_raise_instead_of_answering(
    spark: Any, tmp_path: Path, record: dict[str, Any], word: str
) -> None:
    pack = _pack(tmp_path, {"t_arn": "  sel:\n    userIdentity.arn: a\n  condition: sel"})
    with pytest.raises(
        Exception, match=r"userIdentity\.arn is an array, an object or under a dotted"
    ):
        _run(spark, pack, "t_arn", [_rec(1, **record)])
    assert word in "an array, an object, a dotted key"


def _scenario(tmp: Path) -> Path:
    """Fixture events of every case (correlations, first-seen...) spread over input files:
    two S3 objects sharing the records, JSON Lines, a bad line, a file that is not a log."""
    pack = load_pack()
    cases = load_fixtures(rule_names=[rule_key(r) for r in pack])
    events = []
    for i, case in enumerate(cases):
        for event in case.events:
            events.append({**event, "eventID": f"{i:04d}-{event['eventID']}"})
    random.Random(7).shuffle(events)
    third = len(events) // 3
    root = tmp / "logs"
    (root / "s3" / "2026" / "11").mkdir(parents=True)
    for k, part in enumerate((events[:third], events[third : 2 * third])):
        body = json.dumps({"Records": part}).encode()
        (root / "s3" / "2026" / "11" / f"object{k}.json.gz").write_bytes(gzip.compress(body))
    lines = [json.dumps(e) for e in events[2 * third :]]
    lines.insert(3, '{"eventID": "broken"')
    (root / "events.jsonl").write_text("\n".join(lines) + "\n")
    (root / "notes.txt").write_text("not a log\n")
    return root


def test_scan_engine_spark_equals_the_embedded_scan(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _scenario(tmp_path)
    monkeypatch.chdir(tmp_path)  # a relative path: rejections must name files the same way
    embedded = scan(["logs"])
    distributed = scan_spark(["logs"], session=spark)
    assert [a.to_dict() for a in distributed.alerts] == [a.to_dict() for a in embedded.alerts]
    kinds = {a.rule_name for a in embedded.alerts}
    assert {"aws_ses_identity_added_then_deleted", "aws_ses_enumeration_new_principal"} <= kinds
    assert len(embedded.alerts) > 50
    assert (distributed.read.files, distributed.read.records) == (
        embedded.read.files,
        embedded.read.records,
    )
    assert [str(r) for r in distributed.read.rejections] == [
        str(r) for r in embedded.read.rejections
    ]
    assert [str(s) for s in distributed.read.skipped] == [str(s) for s in embedded.read.skipped]


def test_scan_cli_engine_spark(spark: Any, tmp_path: Path) -> None:
    root = _scenario(tmp_path)
    runner = CliRunner()
    spark_run = runner.invoke(main, ["scan", "--engine", "spark", str(root)])
    # A reorder window wider than the scenario: no record is late, so no streamed correlation
    # alert is withdrawn later (with late records stdout holds those too, listed on stderr).
    embedded_run = runner.invoke(main, ["scan", "--reorder-window", "3650d", str(root)])
    assert spark_run.exit_code == embedded_run.exit_code == 1  # the broken line
    assert "withdrawn" not in embedded_run.stderr
    # The embedded engine streams alerts in the order it finds them (files, workers); the same
    # alerts byte for byte, in any order.
    assert sorted(spark_run.stdout.splitlines()) == sorted(embedded_run.stdout.splitlines())
    assert spark_run.stdout.count("\n") > 50
