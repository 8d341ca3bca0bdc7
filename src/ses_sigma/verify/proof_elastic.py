"""Provers for the Elastic targets: Lucene on Apache Lucene, EQL on Elastic's ``eql`` engine.

Both run over the documents the Elastic AWS integration would index for each case's events
(:func:`ses_sigma.verify.ecs.to_ecs`, a replay of its ingest pipeline: the documented emulated
part). Lucene queries are parsed and executed by Lucene (:mod:`ses_sigma.verify.lucene`); EQL
by ``eql``'s PythonEngine with Elasticsearch's semantics put back (:mod:`ses_sigma.verify.eql_run`,
tiebreaker ``event.id`` as the Kibana rules set it).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from importlib.metadata import version

from ses_sigma.convert.elastic import eql_query, lucene_query
from ses_sigma.convert.elastic_common import Refused
from ses_sigma.harness import Case
from ses_sigma.pack import Pack, rule_key
from ses_sigma.verify.ecs import to_ecs
from ses_sigma.verify.proof import EngineUnavailable, Prover, RuleAlerts

__all__ = ["EqlProver", "LuceneProver"]


def _docs(case: Case) -> list[dict]:
    return [to_ecs(copy.deepcopy(e)) for e in case.events]


class LuceneProver(Prover):
    """``lucene`` queries on Apache Lucene (classic QueryParser, in-memory index)."""

    target = "lucene"

    def __init__(self) -> None:
        self._queries: dict = {}

    def engine(self) -> str:
        from ses_sigma.verify.lucene import LuceneUnavailable, lucene_version

        try:
            return lucene_version()
        except LuceneUnavailable as exc:
            raise EngineUnavailable(str(exc)) from None

    def prepare(self, pack: Pack) -> dict[str, str]:
        from ses_sigma.verify.lucene import compile_query

        refused = {}
        for rule in pack:
            try:
                self._queries[rule_key(rule)] = compile_query(lucene_query(pack, rule))
            except Refused as exc:
                refused[rule_key(rule)] = exc.reason
        return refused

    def run(self, cases: Sequence[Case]) -> list[RuleAlerts]:
        from ses_sigma.verify.lucene import LuceneIndex

        out = []
        for case in cases:
            index = LuceneIndex(_docs(case))
            out.append(
                {
                    name: [(doc["event"]["id"],) for doc in index.search(query)]
                    for name, query in self._queries.items()
                }
            )
        return out


class EqlProver(Prover):
    """``eql`` queries (events and sequences) on ``eql``'s PythonEngine."""

    target = "eql"

    def __init__(self) -> None:
        self._queries: dict[str, str] = {}

    def engine(self) -> str:
        return f"eql {version('eql')} (Elastic's reference engine, Elasticsearch semantics)"

    def prepare(self, pack: Pack) -> dict[str, str]:
        refused = {}
        for rule in pack:
            try:
                self._queries[rule_key(rule)] = eql_query(pack, rule)
            except Refused as exc:
                refused[rule_key(rule)] = exc.reason
        return refused

    def run(self, cases: Sequence[Case]) -> list[RuleAlerts]:
        from ses_sigma.verify.eql_run import run_eql

        out = []
        for case in cases:
            docs = _docs(case)
            out.append(
                {
                    name: [tuple(d["event"]["id"] for d in match) for match in run_eql(q, docs)]
                    for name, q in self._queries.items()
                }
            )
        return out
