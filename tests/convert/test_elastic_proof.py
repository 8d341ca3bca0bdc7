"""Proof of the Elastic conversions over every fixture case of every rule.

For each case (``ses_sigma.harness``), the case's events are turned into the documents the
Elastic AWS integration indexes (``ses_sigma.verify.ecs.to_ecs``) and every converted rule of
the pack runs over them:

* EQL (single events; every correlation is refused): parsed by ``eql`` with Elasticsearch
  syntax and executed with its PythonEngine (``ses_sigma.verify.eql_run``); each match's
  ``event.id`` list must equal the event ids of one of the matcher's alerts of that rule, case
  by case;
* Lucene (single-event rules): parsed and executed by Apache Lucene
  (``ses_sigma.verify.lucene``); the matched documents must be the matcher's alerts;
* the kibana new_terms rule's query (the first-seen rule's detection) must match exactly the
  events the matcher's detection of that rule matches (its alerts are a subset: the first
  sightings after learning, which Kibana decides from its history window).

The matcher's alerts come from one ``Engine.run`` of the whole pack per case, as
``ses-sigma test`` runs them; a case with ``filters`` runs the filtered pack in the matcher and
in every query (site tuning). Rules a target refuses are listed here explicitly; a new refusal
(or a rule that stops being refused) fails the test.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ses_sigma.alerts import Alert
from ses_sigma.convert.elastic import eql_query, esql_query, lucene_query
from ses_sigma.convert.elastic_common import Refused
from ses_sigma.harness import Case, FixtureError, filtered_engine, load_fixtures
from ses_sigma.match.detection import compile_detection
from ses_sigma.match.engine import Engine
from ses_sigma.pack import Pack, PackLoadError, load_pack, rule_key
from ses_sigma.records import Record
from ses_sigma.verify.ecs import to_ecs
from ses_sigma.verify.eql_run import run_eql
from ses_sigma.verify.lucene import LuceneIndex, LuceneQuery, compile_query

FIRST_SEEN = "aws_ses_enumeration_new_principal"
CORRELATION = "aws_ses_identity_added_then_deleted"

#: Single-event rules that test keys of requestParameters (``flattened`` in Elastic).
FLATTENED_KEYS = (
    "aws_ses_feedback_forwarding_disabled",
    "aws_ses_production_access_requested",
    "aws_ses_quota_increase_requested",
    "aws_ses_sending_enabled",
)

#: Rules each target refuses, and a word of the reason.
REFUSED: dict[str, dict[str, str]] = {
    "lucene": {FIRST_SEEN: "first-seen", CORRELATION: "Lucene query matches single documents"},
    "eql": {
        FIRST_SEEN: "first-seen",
        CORRELATION: "not in the correlation's rule order",
        **{n: "unsupported type [flattened]" for n in FLATTENED_KEYS},
    },
    "esql": {
        FIRST_SEEN: "first-seen",
        CORRELATION: "date_trunc",
        **{n: "ES|QL cannot read" for n in FLATTENED_KEYS},
    },
}


def _cases() -> list[Any]:
    """Every fixture case; a pack or fixture that does not load is one failing test (below),
    not a collection error."""
    try:
        pack = load_pack()
        cases = load_fixtures(rule_names=[rule_key(r) for r in pack])
    except (PackLoadError, FixtureError):
        return []
    return [pytest.param(case, id=case.id) for case in cases]


CASES = _cases()


def test_the_pack_and_fixtures_load() -> None:
    pack = load_pack()
    assert load_fixtures(rule_names=[rule_key(r) for r in pack])
    assert CASES


@pytest.fixture(scope="module")
def pack() -> Pack:
    return load_pack()


@pytest.fixture(scope="module")
def engine(pack: Pack) -> Engine:
    return Engine(pack)


@pytest.fixture(scope="module")
def eql_queries(pack: Pack) -> dict[str, str]:
    return {rule_key(r): eql_query(pack, r) for r in pack if rule_key(r) not in REFUSED["eql"]}


@pytest.fixture(scope="module")
def lucene_queries(pack: Pack, lucene: str) -> dict[str, LuceneQuery]:
    return {
        rule_key(r): compile_query(lucene_query(pack, r))
        for r in pack
        if rule_key(r) not in REFUSED["lucene"]
    }


def _run(engine: Engine, case: Case) -> tuple[list[Alert], list[dict[str, Any]]]:
    """The matcher's alerts (with the case's filters; unsuppressed: suppression is Kibana's
    run-time alert_suppression, not the query's) and the ECS documents."""
    records = [Record.from_dict(copy.deepcopy(e)) for e in case.events]
    docs = [to_ecs(copy.deepcopy(e)) for e in case.events]
    if case.filters:
        engine = filtered_engine(engine, case.filters)
    return engine.run(records), docs


def _filtered_queries(
    engine: Engine, case: Case, queries: dict[str, Any], convert: Any
) -> dict[str, Any]:
    """The queries converted from the pack with the case's filters (site tuning)."""
    if not case.filters:
        return queries
    pack = filtered_engine(engine, case.filters).pack
    return {name: convert(pack, pack.get(name)) for name in queries}


def _alerts(alerts: list[Alert], rule: str) -> list[tuple[str, ...]]:
    return sorted(a.event_ids for a in alerts if a.rule_name == rule)


def test_refusals_are_exactly_the_listed_ones(pack: Pack) -> None:
    convert = {"lucene": lucene_query, "eql": eql_query, "esql": esql_query}
    for target, fn in convert.items():
        refused = {}
        for rule in pack:
            try:
                fn(pack, rule)
            except Refused as exc:
                refused[rule_key(rule)] = exc.reason
        assert set(refused) == set(REFUSED[target]), target
        for name, word in REFUSED[target].items():
            assert word in refused[name], (target, name, refused[name])


@pytest.mark.parametrize("case", CASES)
def test_eql_alerts_equal_the_matcher(
    case: Case, engine: Engine, eql_queries: dict[str, str]
) -> None:
    alerts, docs = _run(engine, case)
    for name, query in _filtered_queries(engine, case, eql_queries, eql_query).items():
        got = sorted(tuple(doc["event"]["id"] for doc in match) for match in run_eql(query, docs))
        assert got == _alerts(alerts, name), name


@pytest.mark.parametrize("case", CASES)
def test_lucene_alerts_equal_the_matcher(
    case: Case, engine: Engine, lucene_queries: dict[str, LuceneQuery]
) -> None:
    queries = _filtered_queries(
        engine, case, lucene_queries, lambda p, r: compile_query(lucene_query(p, r))
    )
    alerts, docs = _run(engine, case)
    index = LuceneIndex(docs)
    for name, query in queries.items():
        got = sorted((doc["event"]["id"],) for doc in index.search(query))
        assert got == _alerts(alerts, name), name


@pytest.mark.parametrize("case", CASES)
def test_new_terms_query_matches_the_first_seen_detection(
    case: Case, pack: Pack, lucene: str
) -> None:
    rule = pack.get(FIRST_SEEN)
    query = compile_query(lucene_query(pack, rule, allow_first_seen=True))
    predicate = compile_detection(rule).predicate
    docs = [to_ecs(copy.deepcopy(e)) for e in case.events]
    got = sorted(doc["event"]["id"] for doc in query.filter(docs))
    assert got == sorted(e["eventID"] for e in case.events if predicate(e))


def test_the_proof_is_not_vacuous(
    pack: Pack,
    engine: Engine,
    eql_queries: dict[str, str],
    lucene_queries: dict[str, LuceneQuery],
) -> None:
    """Every converted rule fires in some case and stays quiet in another."""
    cases = [p.values[0] for p in CASES]
    fired: dict[str, int] = {}
    quiet: dict[str, int] = {}
    for case in cases:
        alerts, _ = _run(engine, case)
        for name in set(eql_queries) | set(lucene_queries):
            bucket = fired if _alerts(alerts, name) else quiet
            bucket[name] = bucket.get(name, 0) + 1
    for name in set(eql_queries) | set(lucene_queries):
        assert fired.get(name, 0) > 0 and quiet.get(name, 0) > 0, name
    assert len(cases) > 100
