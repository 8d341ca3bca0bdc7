"""Value semantics of the Elastic targets, executed: every kind of Sigma value the targets
convert, on records that vary exactly where the semantics differ (case, missing fields, service
names, newlines), with the matcher's answer as the reference.

Lucene queries run on Apache Lucene (``ses_sigma.verify.lucene``), EQL queries in
``ses_sigma.verify.eql_run`` (PythonEngine with Elasticsearch's semantics), both over the ECS
documents of ``ses_sigma.verify.ecs.to_ecs``. ES|QL has no offline engine: its queries are
checked for the forms that make them case-insensitive and null-safe.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from ses_sigma.convert.elastic import eql_query, esql_query, lucene_query
from ses_sigma.harness import DEFAULT_FIXTURES_DIR, load_bases
from ses_sigma.match.detection import compile_detection
from ses_sigma.pack import Pack, load_pack
from ses_sigma.verify.ecs import to_ecs
from ses_sigma.verify.eql_run import run_eql
from ses_sigma.verify.lucene import LuceneIndex, compile_query

HEADER = """\
title: {name}
id: {id}
name: {name}
status: experimental
description: test rule
author: test
date: 2026-11-25
level: low
logsource:
  product: aws
  service: cloudtrail
"""

DETECTIONS: dict[str, str] = {
    "t_plain_lists": """
detection:
  selection:
    eventSource: SES.amazonaws.com
    eventName:
      - getaccount
      - GETSENDQUOTA
      - ListIdentities
  condition: selection
""",
    "t_wildcards": """
detection:
  selection:
    eventName|startswith: get
    userAgent|contains: 'BOTO3'
  other:
    eventName|endswith: 'IDENTITY'
    awsRegion: 'US-?AST-1'
  condition: selection or other
""",
    "t_negation_missing_fields": """
detection:
  selection:
    eventSource|endswith: '.amazonaws.COM'
  filter:
    - sourceIPAddress|endswith: '.amazonaws.com'
    - userIdentity.invokedBy|endswith: '.amazonaws.com'
    - userIdentity.type: awsservice
  condition: selection and not filter
""",
    "t_not_single": """
detection:
  selection:
    eventSource: ses.amazonaws.com
  filter:
    userIdentity.invokedBy: cloudformation.amazonaws.com
  condition: selection and not filter
""",
    "t_cased": """
detection:
  selection:
    eventName|cased: GetAccount
  condition: selection
""",
    "t_regex": """
detection:
  selection_agent:
    userAgent|re: '^aws-cli/2\\.'
  selection_name:
    eventName|re|i: 'get(account|sendquota)$'
  selection_arn:
    userIdentity.arn|re: 'user/(alice|svc-[a-z]+)$'
  condition: 1 of selection_*
""",
    "t_null_exists": """
detection:
  selection:
    eventSource: ses.amazonaws.com
    errorCode: null
    userIdentity.invokedBy|exists: false
  present:
    userIdentity.accessKeyId|exists: true
  condition: selection and present
""",
    "t_not_null": """
detection:
  selection:
    eventSource: ses.amazonaws.com
  failed:
    errorCode: null
  condition: selection and not failed
""",
    "t_cidr": """
detection:
  selection:
    sourceIPAddress|cidr: 203.0.113.0/24
  condition: selection
""",
    "t_all_of": """
detection:
  selection:
    userAgent|contains|all:
      - 'python'
      - 'BOTOCORE'
  condition: selection
""",
    "t_user_names": """
detection:
  role:
    userIdentity.sessionContext.sessionIssuer.userName: mailopsrole
  user:
    userIdentity.userName: ALICE
  condition: role or user
""",
    "t_not_of_and": """
detection:
  selection:
    eventSource: ses.amazonaws.com
  filter:
    userIdentity.type: IAMUser
    userIdentity.accessKeyId|startswith: asia
  condition: selection and not filter
""",
    "t_read_only": """
detection:
  selection:
    readOnly: 'TRUE'
    eventSource: ses.amazonaws.com
  condition: selection
""",
    "t_two_conditions": """
detection:
  a:
    eventName: DeleteIdentity
  b:
    eventName: VerifyEmailIdentity
  condition:
    - a
    - b
""",
}


def write_pack(tmp: Path, detections: dict[str, str]) -> Pack:
    """A pack of test rules (one file each) under ``tmp``."""
    rules = tmp / "rules"
    rules.mkdir()
    for index, (name, detection) in enumerate(sorted(detections.items())):
        rule_id = f"00000000-0000-4000-8000-{index:012d}"
        (rules / f"{name}.yml").write_text(HEADER.format(name=name, id=rule_id) + detection)
    return load_pack([rules])


def _mangle(record: dict[str, Any], how: str) -> dict[str, Any]:
    out = copy.deepcopy(record)
    if how == "upper":
        out["eventName"] = out["eventName"].upper()
        out["eventSource"] = out["eventSource"].upper()
        out["awsRegion"] = out["awsRegion"].upper()
    elif how == "lower":
        out["eventName"] = out["eventName"].lower()
        out["userAgent"] = str(out.get("userAgent", "")).lower() or "x"
    elif how == "service":
        out["sourceIPAddress"] = "CloudFormation.amazonaws.com"
        out["userIdentity"] = dict(out["userIdentity"], invokedBy="cloudformation.amazonaws.com")
    elif how == "failed":
        out["errorCode"] = "AccessDenied"
        out["errorMessage"] = "denied"
    elif how == "no_agent":
        out.pop("userAgent", None)
    elif how == "newline":
        out["userAgent"] = "aws-cli/2.\nx"
        out["eventName"] = out["eventName"] + "\n"
    return out


VARIANTS = ("as_is", "upper", "lower", "service", "failed", "no_agent", "newline")


def records() -> list[dict[str, Any]]:
    """Every base record made by every principal, in every variant, with unique ids."""
    bases = load_bases(DEFAULT_FIXTURES_DIR / "_base.yml")
    out = []
    n = 0
    for rec_name in sorted(bases.records):
        for principal in [None, *sorted(bases.principals)]:
            record = copy.deepcopy(dict(bases.records[rec_name]))
            if principal is not None:
                record.update(copy.deepcopy(dict(bases.principals[principal])))
            for how in VARIANTS:
                n += 1
                variant = _mangle(record, how)
                variant["eventID"] = f"5e3a0000-0000-4000-8000-{n:012d}"
                variant["eventTime"] = (
                    f"2026-11-20T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z"
                )
                out.append(variant)
    return out


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Pack:
    return write_pack(tmp_path_factory.mktemp("semantics"), DETECTIONS)


@pytest.fixture(scope="module")
def corpus() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    raw = records()
    return raw, [to_ecs(copy.deepcopy(r)) for r in raw]


def _matcher_ids(pack: Pack, name: str, raw: list[dict[str, Any]]) -> list[str]:
    predicate = compile_detection(pack.get(name)).predicate
    return sorted(r["eventID"] for r in raw if predicate(r))


@pytest.fixture(scope="module")
def lucene_corpus(corpus: Any, lucene: str) -> LuceneIndex:
    return LuceneIndex(corpus[1])


@pytest.mark.parametrize("name", sorted(DETECTIONS))
def test_lucene_agrees_with_the_matcher(
    pack: Pack, corpus: Any, name: str, lucene_corpus: LuceneIndex
) -> None:
    raw, _docs = corpus
    expected = _matcher_ids(pack, name, raw)
    query = compile_query(lucene_query(pack, pack.get(name)))
    got = sorted(d["event"]["id"] for d in lucene_corpus.search(query))
    assert got == expected
    assert expected, f"{name}: no record matches, the comparison would prove nothing"
    assert len(expected) < len(raw), f"{name}: every record matches"


@pytest.mark.parametrize("name", sorted(DETECTIONS))
def test_eql_agrees_with_the_matcher(pack: Pack, corpus: Any, name: str) -> None:
    raw, docs = corpus
    expected = _matcher_ids(pack, name, raw)
    matches = run_eql(eql_query(pack, pack.get(name)), docs)
    assert all(len(m) == 1 for m in matches)
    got = sorted(m[0]["event"]["id"] for m in matches)
    assert got == expected


def test_the_corpus_exercises_case_and_missing_fields(corpus: Any) -> None:
    raw, docs = corpus
    assert any(r["eventName"] == "GETACCOUNT" for r in raw)
    assert any("userAgent" not in r for r in raw)
    assert any("invokedBy" in r["userIdentity"] for r in raw)
    assert len(docs) == len(raw) > 1000


def test_upstream_eql_negation_is_not_null_safe(pack: Pack, corpus: Any) -> None:
    """Without the guards, ``not (f : "x")`` drops events that lack ``f`` (proof the guard
    matters, and that the runner models Elasticsearch's three-valued logic)."""
    raw, docs = corpus
    query = eql_query(pack, pack.get("t_negation_missing_fields"))
    assert "aws.cloudtrail.user_identity.invoked_by != null and" in query
    unguarded = re.sub(r"\(([\w.@]+) != null and ([^()]*?)\)", r"(\2)", query)
    assert unguarded != query
    expected = _matcher_ids(pack, "t_negation_missing_fields", raw)
    got = sorted(m[0]["event"]["id"] for m in run_eql(unguarded, docs))
    assert got != expected
    assert set(got) < set(expected)


@pytest.mark.parametrize("name", sorted(DETECTIONS))
def test_esql_forms(pack: Pack, name: str) -> None:
    """ES|QL cannot be run offline: check the forms that carry the semantics instead."""
    query = esql_query(pack, pack.get(name))
    head, _, where = query.partition("\n| where ")
    assert head == "from logs-aws.cloudtrail-*, filebeat-* metadata _id, _index, _version"
    assert where.lstrip("(").startswith('event.dataset == "aws.cloudtrail"')
    assert "date_trunc" not in query and "stats" not in query
    # every case-insensitive comparison goes through to_lower with a lowered literal
    for field, _op, literal in re.findall(r'to_lower\(([\w.]+)\) (==|like) ("[^"]*")', where):
        assert literal == literal.lower(), (field, literal)
    for literal in re.findall(r"to_lower\([\w.]+\) in \(([^)]*)\)", where):
        assert literal == literal.lower()
    # no case-sensitive comparison of a plain string sneaks in
    bare = re.findall(r"(?<!to_lower\()\b([a-z_]+(?:\.[a-z_]+)+) (==|like|in) ", where)
    allowed = {"event.dataset", "aws.cloudtrail.read_only"}
    if name != "t_cased":
        assert {f for f, _ in bare} <= allowed, bare
    # negated comparisons are guarded against missing fields
    for negated in re.findall(r"not \(([^()]*(?:\([^()]*\)[^()]*)*)\)", where):
        for field in re.findall(r"to_lower\(([\w.]+)\)", negated):
            assert f"{field} is not null and" in negated, negated


def test_esql_examples(pack: Pack) -> None:
    cased = esql_query(pack, pack.get("t_cased"))
    assert cased.endswith('event.action == "GetAccount"')
    wild = esql_query(pack, pack.get("t_wildcards"))
    assert 'to_lower(event.action) like "get*"' in wild
    assert 'to_lower(cloud.region) like "us-?ast-1"' in wild
    neg = esql_query(pack, pack.get("t_not_single"))
    assert (
        "not (aws.cloudtrail.user_identity.invoked_by is not null and "
        'to_lower(aws.cloudtrail.user_identity.invoked_by) == "cloudformation.amazonaws.com")'
    ) in neg
    regex = esql_query(pack, pack.get("t_regex"))
    assert 'user_agent.original rlike "aws\\\\-cli\\\\/2\\\\..*"' in regex
    boolean = esql_query(pack, pack.get("t_read_only"))
    assert "aws.cloudtrail.read_only == true" in boolean
    cidr = esql_query(pack, pack.get("t_cidr"))
    assert "source.ip" in cidr


def test_lucene_examples(pack: Pack) -> None:
    plain = lucene_query(pack, pack.get("t_plain_lists"))
    assert "event.dataset:aws.cloudtrail" in plain  # the data source compares exactly
    assert "event.action:(/[gG][eE][tT][aA][cC][cC][oO][uU][nN][tT]/ OR " in plain
    cased = lucene_query(pack, pack.get("t_cased"))
    assert cased.endswith("event.action:GetAccount")
    regex = lucene_query(pack, pack.get("t_regex"))
    assert "user_agent.original:/aws\\-cli\\/2\\..*/" in regex
    assert "^" not in regex and "(?i)" not in regex
