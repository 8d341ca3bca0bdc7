"""Run Elasticsearch EQL over ECS documents with the ``eql`` library's ``PythonEngine``.

``run_eql(query, docs)`` parses the query with ``eql.parser.elasticsearch_syntax`` and streams
the documents, sorted by ``@timestamp`` (then by ``tiebreaker``, ``event.id`` by default),
through ``eql.PythonEngine``. It returns the matches: one list per match, holding the matched
document for an event query or the documents of each sequence, in the order the engine completes
them.

The library implements Endgame EQL. Where its semantics differ from Elasticsearch's EQL (read
from elastic/elasticsearch ``docs/reference/eql/syntax.asciidoc`` at commit
000e09334c6ca44d02b9668c8b33a7c79c427dab and the EQL QA spec
``x-pack/plugin/eql/qa/common/src/main/resources/test_queries.toml``), this module puts
Elasticsearch's behaviour back or refuses:

==============================  ===========================  ====================================
construct                       eql PythonEngine             here (= Elasticsearch)
==============================  ===========================  ====================================
``==``, ``!=``, ``<`` ... on    case-insensitive             case-sensitive
strings
``in (...)``                    case-insensitive             case-sensitive; ``in~`` insensitive
``like`` / ``like~``            both insensitive, only ``*`` ``like`` sensitive, ``like~`` not;
                                is a wildcard, ``re.match``  ``*`` and ``?``; whole value
``:``                           = ``like``                   = ``like~`` (``:`` is insensitive)
``regex`` / ``regex~``          Python ``re``, insensitive,  Lucene regex dialect, whole value;
                                anchored at the start only   ``regex~`` ASCII-insensitive
``sequence ... by k``           join keys compared           exact (case-sensitive) keys; events
                                case-insensitively; a null   whose non-optional (no ``?``) key is
                                key joins other nulls        null take no part
``with maxspan=1500ms``         truncated to whole seconds   exact milliseconds (inclusive bound,
                                                             as in both)
``cidrMatch(null, ...)``        false (so ``not`` is true)   null; IPv4-mapped IPv6 handled
multi-valued fields             the list compared as a       refused (Elasticsearch: "array
                                whole                        fields are not supported")
``keyword`` number/boolean      compared as JSON types       compared as the indexed string
values
functions other than            eql's (case-insensitive)     refused
``cidrMatch``
pipes, ``until``, ``join``,     partly supported             refused
``sample``, ``fork``, runs
==============================  ===========================  ====================================

Shared by both and kept: a sequence stage holds one pending sequence per join key and a newer
match overwrites it (Elasticsearch documents the same state machine); a later stage takes the
pending sequence of the stage before it, so one event never fills two stages of one sequence and
``[A] [A]`` over A1 A2 A3 gives (A1, A2) and (A2, A3); ``maxspan`` is inclusive (events exactly
``maxspan`` apart match); ``null`` compared with anything is null, and ``not null`` is null.

Not modelled: Elasticsearch's result size limit (``size``, 10 by default; detection rules use
``max_signals``), and its ordering of events with equal timestamp and tiebreaker (index order).
Fields are typed with :mod:`ses_sigma.verify.mapping`; fields it does not map raise, except
optional ``?fields``, which Elasticsearch turns into ``null`` when unmapped.
"""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

import eql
from eql import ast
from eql.errors import EqlError

from ses_sigma.verify.ecs import parse_es_iso8601
from ses_sigma.verify.eql_syntax import (
    ES_FUNCTIONS,
    EqlRunError,
    UnsupportedEqlError,
    check_query,
    event_queries,
    parse_es_eql,
    require_join_keys,
)
from ses_sigma.verify.java import java_scalar_to_string
from ses_sigma.verify.mapping import FieldResolutionError, FieldSpec, resolve_field

__all__ = ["EqlRunError", "UnsupportedEqlError", "parse_es_eql", "run_eql"]


# --- documents -----------------------------------------------------------------------------------


def _nest(doc: dict[str, Any]) -> dict[str, Any]:
    """A deep copy with dotted keys expanded into nested objects."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        value = _nest(value) if isinstance(value, dict) else copy.deepcopy(value)
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise EqlRunError(f"document key {key!r} clashes with a non-object value")
            node = child
        last = parts[-1]
        if last in node and isinstance(node[last], dict) and isinstance(value, dict):
            node[last].update(value)
        elif last in node:
            raise EqlRunError(f"document key {key!r} is given twice")
        else:
            node[last] = value
    return out


def _single(value: Any, where: str) -> Any:
    if isinstance(value, list):
        kept = [v for v in value if v is not None]
        if len(kept) > 1:
            raise EqlRunError(
                f"{where} holds several values {kept!r}: Elasticsearch EQL does not support "
                "multi-valued fields (inconsistent results), so this runner refuses them"
            )
        return kept[0] if kept else None
    return value


def _resolve_path(data: dict[str, Any], path: tuple[Any, ...], where: str) -> Any:
    """Walk a field path, unwrapping single-element arrays in place; None if absent."""
    node: Any = data
    for i, part in enumerate(path):
        if not isinstance(node, dict):
            return None
        value = _single(node.get(part), f"{where}: {'.'.join(map(str, path[: i + 1]))}")
        if part in node:
            node[part] = value
        if value is None:
            return None
        node = value
    return node


def _typed(value: Any, spec: FieldSpec, where: str) -> Any:
    """The value as Elasticsearch EQL sees the indexed field."""
    if value is None:
        return None
    if isinstance(value, dict):
        raise EqlRunError(f"{where} is an object, not a value of the {spec.type} field")
    kind = spec.type
    if kind in ("keyword", "constant_keyword", "flattened_key"):
        text = value if isinstance(value, str) else java_scalar_to_string(value)
        if spec.ignore_above is not None and len(text) > spec.ignore_above:
            return None
        return text
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        raise EqlRunError(f"{where}: {value!r} is not a boolean")
    if kind == "long":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise EqlRunError(f"{where}: {value!r} is not an integer")
    if kind == "ip":
        try:
            ipaddress.ip_address(str(value))
        except ValueError:
            return None  # malformed: not indexed (see ses_sigma.verify.mapping)
        return str(value)
    raise UnsupportedEqlError(f"{where}: EQL on {spec.type} fields is not supported here")


def _timestamp_ms(doc: dict[str, Any], index: int) -> int:
    value = _single(doc.get("@timestamp"), f"document {index} @timestamp")
    if value is None:
        raise EqlRunError(f"document {index} has no @timestamp (EQL needs a timestamp field)")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        dt = parse_es_iso8601(value)
    except ValueError as exc:
        raise EqlRunError(f"document {index}: {exc}") from None
    return int(dt.timestamp()) * 1000 + dt.microsecond // 1000


def _category(data: dict[str, Any], index: int) -> str:
    value = _single(
        (data.get("event") or {}).get("category") if isinstance(data.get("event"), dict) else None,
        f"document {index}: event.category",
    )
    return value if isinstance(value, str) else ""


def _field_specs(
    paths: set[tuple[Any, ...]],
    optional: set[tuple[Any, ...]],
    extra_fields: dict[str, FieldSpec] | None,
) -> dict[tuple[Any, ...], FieldSpec | None]:
    """The mapping of every field the query uses (None: an unmapped optional ``?field``)."""
    specs: dict[tuple[Any, ...], FieldSpec | None] = {}
    for path in sorted(paths, key=str):
        name = ".".join(map(str, path))
        try:
            spec = resolve_field(name, extra_fields)
        except FieldResolutionError as exc:
            if path in optional:
                specs[path] = None  # Elasticsearch turns an unmapped ?field into null
                continue
            raise UnsupportedEqlError(str(exc)) from None
        if spec.type in ("date", "match_only_text", "flattened"):
            raise UnsupportedEqlError(f"EQL on {name} ({spec.type}) is not supported here")
        specs[path] = spec
    return specs


def _prepare(
    docs: list[dict[str, Any]],
    specs: dict[tuple[Any, ...], FieldSpec | None],
    tiebreaker: str | None,
    uses_categories: bool,
) -> list[tuple[int, eql.Event]]:
    prepared = []
    for index, doc in enumerate(docs):
        if not isinstance(doc, dict):
            raise EqlRunError(f"document {index} is not an object")
        data = _nest(doc)
        for path, spec in specs.items():
            where = f"document {index}: {'.'.join(map(str, path))}"
            value = _resolve_path(data, path, where)
            typed = None if spec is None else _typed(value, spec, where)
            _put(data, path, typed)
        category = _category(data, index) if uses_categories else "any"
        event = eql.Event(category, _timestamp_ms(doc, index), data)
        prepared.append((index, event))
    if tiebreaker is not None:
        tie = tuple(tiebreaker.split("."))
        keys = {}
        for index, event in prepared:
            value = _resolve_path(copy.deepcopy(event.data), tie, f"document {index}: {tiebreaker}")
            keys[index] = "" if value is None else java_scalar_to_string(value)
        prepared.sort(key=lambda item: (item[1].time, keys[item[0]]))
    else:
        prepared.sort(key=lambda item: item[1].time)
    return prepared


def _put(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            if value is None:
                return
            child = node[part] = {}
        node = child
    if value is None:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value


# --- the engine ----------------------------------------------------------------------------------


def _type_key(value: Any) -> tuple[str, Any]:
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("num", value)
    return (type(value).__name__, value)


class _EsPythonEngine(eql.PythonEngine):
    """PythonEngine with Elasticsearch's case sensitivity, join keys and time spans."""

    def _convert_comparison(self, node: Any) -> Any:
        get_left = self.convert(node.left)
        get_right = self.convert(node.right)
        compare = self.check_types(node.function)

        def callback(scope: Any) -> Any:
            return compare(get_left(scope), get_right(scope))

        return callback

    def _convert_in_set(self, node: Any) -> Any:
        if not all(isinstance(item, ast.Literal) for item in node.container):
            raise UnsupportedEqlError("in (...) with non-literal values is not supported")
        values = {_type_key(item.value) for item in node.container}
        get_value = self.convert(node.expression)

        def callback(scope: Any) -> bool | None:
            value = get_value(scope)
            if value is None:
                return None
            return _type_key(value) in values

        return callback

    def _convert_key(
        self, args: Any, scoped: bool = True, piped: bool = False, insensitive: bool = True
    ) -> Any:
        return super()._convert_key(args, scoped=scoped, piped=piped, insensitive=False)

    def convert_time_range(self, node: Any) -> int:
        return int(node.as_milliseconds())  # event times are in milliseconds


def _literal_type_checks(first: Any, specs: dict[str, FieldSpec]) -> None:
    for query in event_queries(first):
        for item in query.query:
            if isinstance(item, ast.Comparison):
                pairs = [(item.left, item.right), (item.right, item.left)]
            elif isinstance(item, ast.InSet):
                pairs = [(item.expression, lit) for lit in item.container]
            else:
                continue
            for fld, lit in pairs:
                if not isinstance(fld, ast.Field) or not isinstance(lit, ast.Literal):
                    continue
                spec = specs.get(".".join(map(str, (fld.base, *fld.path))))
                if spec is None or isinstance(lit, ast.Null):
                    continue
                keywordish = spec.type in ("keyword", "constant_keyword", "flattened_key", "ip")
                if keywordish and not isinstance(lit, ast.String):
                    raise UnsupportedEqlError(
                        f"{item}: {spec.name} is a {spec.type} field, "
                        f"compared with the non-string {lit}"
                    )
                if spec.type == "long" and not isinstance(lit, ast.Number):
                    raise UnsupportedEqlError(
                        f"{item}: {spec.name} is numeric, compared with {lit}"
                    )
                if spec.type == "boolean" and not isinstance(lit, ast.Boolean):
                    raise UnsupportedEqlError(
                        f"{item}: {spec.name} is boolean, compared with {lit}"
                    )


def run_eql(
    query: str,
    docs: list[dict[str, Any]],
    *,
    tiebreaker: str | None = "event.id",
    extra_fields: dict[str, FieldSpec] | None = None,
) -> list[list[dict[str, Any]]]:
    """Run an Elasticsearch EQL query over ECS documents (see the module docstring).

    Returns one list per match: ``[doc]`` for event queries, the documents of the sequence in
    order for sequences. The documents are the objects passed in. Raises ``EqlRunError``
    (``UnsupportedEqlError`` for constructs) rather than answer for what it cannot reproduce.
    """
    node, optional, required = parse_es_eql(query)
    check_query(node, optional, required)
    first = node.first
    require_join_keys(first, optional)
    specs = _field_specs(optional | required, optional, extra_fields)
    _literal_type_checks(first, {".".join(map(str, p)): s for p, s in specs.items() if s})
    uses_categories = any(q.event_type != "any" for q in event_queries(first))
    prepared = _prepare(list(docs), specs, tiebreaker, uses_categories)

    engine = _EsPythonEngine({"flatten": False})
    for name, fn in ES_FUNCTIONS.items():
        engine.add_custom_function(name, fn)
    outputs: list[Any] = []
    engine.add_output_hook(outputs.append)
    try:
        engine.add_query(node)
    except EqlError as exc:
        raise EqlRunError(f"eql cannot compile {query!r}: {exc}") from None
    by_event = {id(event): index for index, event in prepared}
    engine.stream_events(event for _, event in prepared)
    return [[docs[by_event[id(event)]] for event in out.events] for out in outputs]
