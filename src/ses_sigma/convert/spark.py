"""The ``spark`` target: one Spark SQL query per rule (Apache Spark 4, also Databricks SQL).

Every query reads a view ``cloudtrail`` with one CloudTrail record per row in a ``VARIANT``
column ``record`` (``SELECT parse_json(value) AS record FROM ...``; ``scan --engine spark`` and
the README show how) and returns the rule's alerts as rows ``(rule_name, time, event_ids,
group_values)``: ``time`` the completing event's ``eventTime``, ``event_ids`` the events that
make the alert, in time order, ``group_values`` the group-by or first-seen values.

Fields are columns read from the record with ``variant_get(record, '$.a.b', 'string')``: absent
and JSON null are both NULL, as for the matcher. Where the matcher's field semantics go further
than one path (an array on the path or at its end, whose elements the matcher tries one by one;
an object where a value is expected; a key that itself contains dots, which the matcher prefers)
the query raises ``raise_error`` naming the field for that record, instead of answering for it.
Records without a parseable ``eventTime`` (``try_to_timestamp``: ISO 8601, UTC unless the value
says otherwise with the session time zone set to UTC) or without an ``eventID`` are left out;
the scanner rejects them with a message.

* single-event rules: ``WHERE`` over the field columns (``spark_backend``);
* ``temporal_ordered`` with two steps: both rules' matches, per group ordered by
  ``(eventTime, step, eventID)`` (the tie rule); an event of the second step alerts when the
  previous event of its group is of the first step and at most ``timespan`` earlier (``lag``
  over a window: sliding, inclusive). That is the matcher's chain (most recent first step;
  state cleared by an alert) when no event can match both steps, which is checked
  (``provably_disjoint``) or refused;
* first-seen rules: the matches per value tuple ordered by ``(eventTime, eventID)``; an event
  alerts when the previous one of its tuple is absent or more than ``forget_after`` earlier, and
  it is at least ``learning_period`` after the rule's first match (``data_start``); matches
  with an implausible ``eventTime`` (before November 2013, or a day ahead of the clock) take no
  part, as in the matcher;
* ``event_count``, ``value_count``, ``temporal``, longer sequences: refused with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from sigma.correlations import SigmaCorrelationRule, SigmaCorrelationType
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule, SigmaRuleBase

from ses_sigma.convert.base import ConversionOutput, Refusal, Target, register
from ses_sigma.convert.common import fresh_rule
from ses_sigma.convert.elastic_common import (
    Refused,
    alias_field_for,
    first_seen_spec,
    matcher_refusal,
    strip_rule_prefix,
)
from ses_sigma.convert.names import output_name
from ses_sigma.convert.spark_backend import SparkSqlBackend, column, sql_string
from ses_sigma.convert.splunk_correlation import provably_disjoint
from ses_sigma.match.derived import derived_fields
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.match.first_seen import EARLIEST_PLAUSIBLE, FUTURE_SLACK
from ses_sigma.pack import Pack, rule_key

__all__ = ["VIEW", "SparkTarget", "field_value", "spark_query"]

TARGET = "spark"
#: The view every query reads.
VIEW = "cloudtrail"
_TIME, _ID = "`_time`", "`_id`"
#: The matcher's plausible eventTimes for first-seen rules (match/first_seen.py): not before
#: CloudTrail existed, not more than a day ahead of the clock.
_PLAUSIBLE = (
    f"{_TIME} >= TIMESTAMP '{datetime.fromtimestamp(EARLIEST_PLAUSIBLE, UTC):%Y-%m-%d %H:%M:%S}' "
    f"AND {_TIME} <= current_timestamp() + make_dt_interval(0, 0, 0, {FUTURE_SLACK:g})"
)


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _path(parts: Sequence[str]) -> str:
    """A variant path: ``$.a.b``, keys other than identifiers as ``$["a.b"]``."""
    out = ["$"]
    for part in parts:
        if not part or any(c in part for c in "'\"\\") or not part.isprintable():
            raise Refused(f"field path segment {part!r} cannot be written as a variant path")
        out.append(f".{part}" if _IDENT.fullmatch(part) else f'["{part}"]')
    return "".join(out)


def field_value(field: str) -> str:
    """The expression of a field's value: a string, NULL, or an error where it is ambiguous."""
    parts = field.split(".")
    checks = []
    for i in range(1, len(parts)):
        checks.append(f"schema_of_variant(variant_get(record, '{_path(parts[:i])}')) LIKE 'ARRAY%'")
    end = f"schema_of_variant(variant_get(record, '{_path(parts)}'))"
    checks.append(f"{end} LIKE 'ARRAY%'")
    checks.append(f"{end} LIKE 'OBJECT%'")
    for i in range(len(parts)):
        for j in range(i + 2, len(parts) + 1):
            dotted = [*parts[:i], ".".join(parts[i:j])]
            checks.append(f"variant_get(record, '{_path(dotted)}') IS NOT NULL")
    message = sql_string(
        f"ses-sigma: {field} is an array, an object or under a dotted key in this record "
        "(not evaluated in SQL; the ses-sigma matcher does)"
    )
    value = f"variant_get(record, '{_path(parts)}', 'string')"
    return f"CASE WHEN {' OR '.join(checks)} THEN raise_error({message}) ELSE {value} END"


def _sources(rule: SigmaRuleBase, name: str) -> tuple[str, ...]:
    """The record fields behind a group-by or first-seen name (a derived field's sources)."""
    derived = derived_fields(rule).get(name)
    return derived.sources if derived is not None else (name,)


def _value_and_key(sources: Sequence[str]) -> tuple[str, str]:
    """SQL for a (possibly derived) value: the first source with a value, and its JSON text
    (the group key: ``"1"`` and ``1`` stay apart, as in the matcher)."""
    if len(sources) == 1:
        (only,) = sources
        return column(only), f"to_json(variant_get(record, '{_path(only.split('.'))}'))"
    value = f"coalesce({', '.join(column(f) for f in sources)})"
    whens = " ".join(
        f"WHEN {column(f)} IS NOT NULL THEN to_json(variant_get(record, '{_path(f.split('.'))}'))"
        for f in sources
    )
    return value, f"CASE {whens} END"


def _fields_cte(fields: Sequence[str], partition: Sequence[str]) -> str:
    cols = [
        "record",
        *partition,
        f"try_to_timestamp(variant_get(record, '$.eventTime', 'string')) AS {_TIME}",
        f"variant_get(record, '$.eventID', 'string') AS {_ID}",
        *(f"{field_value(f)} AS {column(f)}" for f in sorted(set(fields))),
    ]
    body = ",\n    ".join(cols)
    return f"ct AS (\n  SELECT\n    {body}\n  FROM {VIEW}\n)"


def _output(name: str, partition: Sequence[str]) -> str:
    return ", ".join([*partition, f"{sql_string(name)} AS rule_name"])


_NO_GROUP = "CAST(map() AS MAP<STRING, STRING>) AS group_values"


def _single(rule: SigmaRule) -> tuple[str, set[str]]:
    backend = SparkSqlBackend()
    captured: list[str] = []

    def capture(_rule: object, _fmt: object, _index: int, _cond: object, result: object) -> object:
        if isinstance(result, str):
            captured.append(result)
        return result

    backend.convert_rule(rule, callback=capture)
    if not captured:
        raise Refused("the backend produced no condition")
    cond = captured[0] if len(captured) == 1 else " OR ".join(f"({c})" for c in captured)
    return cond, backend.fields


def _comment(text: str) -> str:
    """Text for a ``--`` comment: anything that is not printable (line breaks) as an escape."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


def _header(rule: SigmaRuleBase) -> str:
    return f"-- {_comment(rule_key(rule))}: {_comment(rule.title or '')}\n"


def _single_query(rule: SigmaRule, partition: Sequence[str]) -> str:
    cond, fields = _single(rule)
    spec = first_seen_spec(rule)
    if spec is None:
        return (
            f"{_header(rule)}WITH {_fields_cte(fields, partition)}\n"
            f"SELECT {_output(rule_key(rule), partition)}, {_TIME} AS time, "
            f"array({_ID}) AS event_ids, {_NO_GROUP}\n"
            f"FROM ct\nWHERE {_TIME} IS NOT NULL AND {_ID} IS NOT NULL AND ({cond})"
        )
    keys = list(spec.fields)
    sources = [_sources(rule, k) for k in keys]
    exprs = [_value_and_key(src) for src in sources]
    key_json = [key for _, key in exprs]
    window = ", ".join([*partition, *(f"k{i}" for i in range(len(keys)))])
    present = " AND ".join(f"{value} IS NOT NULL" for value, _ in exprs)
    groups = ", ".join(
        f"{sql_string(k)}, {value}" for k, (value, _) in zip(keys, exprs, strict=True)
    )
    data_start = (
        f"min({_TIME}) OVER ({'PARTITION BY ' + ', '.join(partition) if partition else ''})"
    )
    return (
        f"{_header(rule)}-- first seen: {_comment(', '.join(keys))}; "
        f"learning {spec.learning_period:g}s, forget after {spec.forget_after:g}s\n"
        f"WITH {_fields_cte([*fields, *(f for src in sources for f in src)], partition)},\n"
        f"timed AS (\n  SELECT *, {data_start} AS data_start\n  FROM ct\n"
        f"  WHERE {_TIME} IS NOT NULL AND {_ID} IS NOT NULL AND {_PLAUSIBLE} AND ({cond})\n),\n"
        f"matches AS (\n  SELECT *, {', '.join(f'{j} AS k{i}' for i, j in enumerate(key_json))}\n"
        f"  FROM timed\n  WHERE {present}\n),\n"
        f"seen AS (\n  SELECT *, lag({_TIME}) OVER (PARTITION BY {window} "
        f"ORDER BY {_TIME}, {_ID}) AS previous\n  FROM matches\n)\n"
        f"SELECT {_output(rule_key(rule), partition)}, {_TIME} AS time, array({_ID}) AS event_ids, "
        f"map({groups}) AS group_values\n"
        f"FROM seen\n"
        f"WHERE (previous IS NULL OR unix_micros({_TIME}) - unix_micros(previous) > "
        f"{_micros(spec.forget_after)})\n"
        f"  AND unix_micros({_TIME}) - unix_micros(data_start) >= {_micros(spec.learning_period)}"
    )


def _micros(seconds: float) -> int:
    micros = round(seconds * 1_000_000)
    if micros != seconds * 1_000_000:
        raise Refused(f"time span {seconds}s is not a whole number of microseconds")
    return micros


def _ordered_query(corr: SigmaCorrelationRule, partition: Sequence[str]) -> str:
    if corr.type != SigmaCorrelationType.TEMPORAL_ORDERED:
        raise Refused(
            f"{corr.type.name.lower()} correlation: after each alert the matcher clears the "
            "group's state, so each window depends on the earlier alerts (a recursive "
            "computation SQL window functions do not express)"
        )
    if len(corr.rules) != 2:
        raise Refused("temporal_ordered over more than two rules is not converted")
    if corr.condition is not None and getattr(corr.condition, "fieldref", None):
        raise Refused("a condition on a field")
    steps = []
    for ref in corr.rules:
        base = ref.rule
        if not isinstance(base, SigmaRule) or first_seen_spec(base) is not None:
            raise Refused(f"correlation over {rule_key(base)!r}, not a plain single-event rule")
        steps.append(base)
    first, second = steps
    if provably_disjoint(first, second) is None:
        raise Refused(
            f"an event could match both {rule_key(first)!r} and {rule_key(second)!r}; the "
            "previous-event chain is the matcher's only when no event matches both steps"
        )
    group_by = list(corr.group_by or [])
    fields: set[str] = set()
    selects = []
    for number, base in enumerate(steps, start=1):
        cond, used = _single(base)
        fields |= used
        cols = [*partition, _TIME, _ID, f"{number} AS step"]
        present = ""
        for i, name in enumerate(group_by):
            srcs = _sources(corr, alias_field_for(corr, name, base))
            fields.update(srcs)
            value, key = _value_and_key(srcs)
            cols.append(f"{value} AS g{i}")
            cols.append(f"{key} AS k{i}")
            present += f" AND {value} IS NOT NULL"
        selects.append(
            f"  SELECT {', '.join(cols)}\n  FROM ct\n  WHERE {_TIME} IS NOT NULL AND "
            f"{_ID} IS NOT NULL{present} AND ({cond})"
        )
    window = ", ".join([*partition, *(f"k{i}" for i in range(len(group_by)))])
    # the tie rule: events of one second are in the correlation's step order
    over = f"OVER ({'PARTITION BY ' + window + ' ' if window else ''}ORDER BY {_TIME}, step, {_ID})"
    groups = ", ".join(f"{sql_string(n)}, g{i}" for i, n in enumerate(group_by))
    group_expr = f"map({groups}) AS group_values" if group_by else _NO_GROUP
    span = _micros(corr.timespan.seconds)
    return (
        f"{_header(corr)}-- temporal_ordered: {_comment(rule_key(first))} then "
        f"{_comment(rule_key(second))} within {corr.timespan.seconds}s by "
        f"{_comment(', '.join(group_by)) or '(no group)'}\n"
        f"WITH {_fields_cte(sorted(fields), partition)},\n"
        f"steps AS (\n{chr(10).join([selects[0], '  UNION ALL', selects[1]])}\n),\n"
        f"chained AS (\n  SELECT *, lag(step) {over} AS previous_step,\n"
        f"    lag({_TIME}) {over} AS previous_time,\n    lag({_ID}) {over} AS previous_id\n"
        f"  FROM steps\n)\n"
        f"SELECT {_output(rule_key(corr), partition)}, {_TIME} AS time, "
        f"array(previous_id, {_ID}) AS event_ids, {group_expr}\n"
        f"FROM chained\nWHERE step = 2 AND previous_step = 1\n"
        f"  AND unix_micros({_TIME}) - unix_micros(previous_time) <= {span}"
    )


def spark_query(pack: Pack, rule: SigmaRuleBase, partition: Sequence[str] = ()) -> str:
    """The rule as a Spark SQL query over the ``cloudtrail`` view, or ``Refused``.

    ``partition``: extra columns of the view that split it into independent runs (each its own
    ``data_start`` and groups); the fixture proof runs every case at once with one.
    """
    name = rule_key(rule)
    reason = matcher_refusal(rule)
    if reason is not None:
        raise Refused(reason)
    _, fresh = fresh_rule(pack, rule)
    try:
        if isinstance(fresh, SigmaCorrelationRule):
            return _ordered_query(fresh, partition)
        if isinstance(fresh, SigmaRule):
            return _single_query(fresh, partition)
        raise Refused(f"unknown rule kind {type(fresh).__name__}")
    except Refused:
        raise
    except (SigmaError, NotImplementedError, RuleCompileError) as exc:
        raise Refused(strip_rule_prefix(name, str(exc))) from None


def alerts_on_its_own(rule: SigmaRuleBase) -> bool:
    """False for a base rule of a correlation that does not generate its own alerts."""
    return isinstance(rule, SigmaCorrelationRule) or bool(rule._output)


class SparkTarget(Target):
    """Spark SQL (Apache Spark 4 / Databricks SQL) over a VARIANT column of CloudTrail records."""

    name = TARGET
    formats = ("sql",)
    description = "Spark SQL over a `cloudtrail` view of VARIANT records (Spark 4, Databricks)"

    def convert(self, pack: Pack, rules: Sequence[SigmaRuleBase], fmt: str) -> ConversionOutput:
        out = ConversionOutput()
        for rule in sorted(rules, key=rule_key):
            if not alerts_on_its_own(rule):
                continue
            try:
                out.files[f"{output_name(rule)}.sql"] = spark_query(pack, rule) + "\n"
            except Refused as exc:
                out.refusals.append(Refusal(rule_key(rule), TARGET, exc.reason))
        return out


register(SparkTarget())
