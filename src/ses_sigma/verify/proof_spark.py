"""Prover for the ``spark`` target: the Spark SQL queries run on Apache Spark.

All cases go into one ``cloudtrail`` view (a ``_case`` column next to the ``record`` VARIANT,
parsed by Spark's ``parse_json``) and each rule's query runs once, converted with ``_case`` as
its partition column (``spark_query(..., partition=["_case"])``: every case its own groups and
``data_start``), so the proof costs one Spark job per rule, not per case.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from ses_sigma.convert.elastic_common import Refused
from ses_sigma.convert.spark import VIEW, alerts_on_its_own, spark_query
from ses_sigma.harness import Case
from ses_sigma.pack import Pack, rule_key
from ses_sigma.verify.proof import EngineUnavailable, Prover, RuleAlerts

__all__ = ["SparkProver"]

_PARTITION = "_case"


class SparkProver(Prover):
    """``spark`` queries on a Spark session (``local_session()`` unless one is given)."""

    target = "spark"

    def __init__(self, session: Any = None) -> None:
        self._session = session
        self._queries: dict[str, str] = {}
        self._silent: list[str] = []

    def _spark(self) -> Any:
        if self._session is None:
            from ses_sigma.verify.spark_session import SparkUnavailable, local_session

            try:
                self._session = local_session()
            except SparkUnavailable as exc:
                raise EngineUnavailable(str(exc)) from None
        return self._session

    def engine(self) -> str:
        from ses_sigma.verify.spark_session import spark_engine_name

        return spark_engine_name(self._spark())

    def prepare(self, pack: Pack) -> dict[str, str]:
        refused = {}
        for rule in pack:
            if not alerts_on_its_own(rule):
                self._silent.append(rule_key(rule))  # its alerts only through a correlation
                continue
            try:
                self._queries[rule_key(rule)] = spark_query(pack, rule, partition=[_PARTITION])
            except Refused as exc:
                refused[rule_key(rule)] = exc.reason
        return refused

    def run(self, cases: Sequence[Case]) -> list[RuleAlerts]:
        spark = self._spark()
        rows = [
            (str(i), orjson.dumps(event).decode())
            for i, case in enumerate(cases)
            for event in case.events
        ]
        frame = spark.createDataFrame(rows, f"{_PARTITION} string, value string")
        frame.selectExpr(_PARTITION, "parse_json(value) AS record").createOrReplaceTempView(VIEW)
        out: list[RuleAlerts] = [
            {name: [] for name in [*self._queries, *self._silent]} for _ in cases
        ]
        for name, query in self._queries.items():
            # only the ids: a timestamp such as 0001-01-01 does not convert to a Python datetime
            for row in spark.sql(query).select(_PARTITION, "event_ids").collect():
                out[int(row[_PARTITION])][name].append(tuple(row["event_ids"]))
        return out
