"""The Elasticsearch-only parts of running ``query_string`` on plain Lucene (small, explicit).

* ``_exists_:field`` reads an ``_exists_`` field the index holds one term per field name in
  (Elasticsearch's ``_field_names``); ``_exists_`` of an object needs every field below it
  emulated by :mod:`ses_sigma.verify.ecs`;
* purely negative boolean queries get a ``match_all`` filter (``fixNegativeQueryIfNeeded``);
* ``ip`` fields: terms become ``InetAddressPoint`` exact or CIDR prefix queries, ranges range
  queries; ``boolean`` fields take ``true``/``false`` only; ``date`` fields raise;
* checks (on luqum's parse of the same text) for what Elasticsearch answers differently or
  rejects: wildcard/regexp on ``flattened`` keys, unmapped fields, terms without a field, its
  ``>``/``<`` range syntax, Lucene 9 regexp classes (``\\d``...).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from functools import cache
from typing import Any

from luqum.exceptions import ParseError
from luqum.thread import parse as luqum_parse
from luqum.tree import From, Regex, SearchField, To, Word

from ses_sigma.verify.lucene_jvm import LuceneQueryError, _java
from ses_sigma.verify.mapping import FieldResolutionError, object_fields, resolve_field

__all__ = ["EXISTS", "check_query", "es_rewrite", "inet", "ip_value", "is_ip_field"]

EXISTS = "_exists_"
_INDEXED = {
    "keyword",
    "constant_keyword",
    "flattened",
    "flattened_key",
    "match_only_text",
    "ip",
}


def ip_value(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def inet(text: str) -> Any:
    """A ``java.net.InetAddress`` from an address Python accepts (never a DNS look-up)."""
    address = ip_value(text)
    if address is None:
        raise LuceneQueryError(f"{text!r} is not an IP address")
    jpype = _java()
    raw = jpype.JArray(jpype.JByte)([b - 256 if b > 127 else b for b in address.packed])
    return jpype.JClass("java.net.InetAddress").getByAddress(raw)


@cache
def is_ip_field(name: str) -> bool:
    try:
        return resolve_field(name).type == "ip"
    except FieldResolutionError:
        return False


def _ip_query(query: Any) -> Any:
    """Elasticsearch's ``ip`` field query for a parsed term or range on an ip field."""
    jpype = _java()
    point = jpype.JClass("org.apache.lucene.document.InetAddressPoint")
    term_query = jpype.JClass("org.apache.lucene.search.TermQuery")
    range_query = jpype.JClass("org.apache.lucene.search.TermRangeQuery")
    if isinstance(query, term_query):
        field, text = str(query.getTerm().field()), str(query.getTerm().text())
        if "/" in text:
            try:
                net = ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise LuceneQueryError(f"{field}:{text} is not a CIDR block") from None
            return point.newPrefixQuery(field, inet(str(net.network_address)), net.prefixlen)
        return point.newExactQuery(field, inet(text))
    if isinstance(query, range_query):
        field = str(query.getField())
        low, high = query.getLowerTerm(), query.getUpperTerm()
        lo = ip_value(low.utf8ToString()) if low is not None else None
        hi = ip_value(high.utf8ToString()) if high is not None else None
        if (low is not None and lo is None) or (high is not None and hi is None):
            raise LuceneQueryError(f"{field}: range bounds are not IP addresses")
        lo_v = lo or ipaddress.ip_address("::")
        hi_v = hi or ipaddress.ip_address("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
        if low is not None and not query.includesLower():
            lo_v = lo_v + 1
        if high is not None and not query.includesUpper():
            hi_v = hi_v - 1
        return point.newRangeQuery(field, inet(str(lo_v)), inet(str(hi_v)))
    raise LuceneQueryError(f"{query}: only terms, CIDR blocks and ranges on an ip field")


# --- queries -----------------------------------------------------------------------------------


def check_query(text: str) -> None:
    """Raise for what Elasticsearch would answer differently from plain Lucene (module doc)."""
    try:
        tree = luqum_parse(text)
    except ParseError as exc:
        raise LuceneQueryError(f"query does not parse: {exc}") from None
    bound: set[int] = set()
    for node in _walk(tree):
        if not isinstance(node, SearchField):
            continue
        for sub in _walk(node.expr):
            bound.add(id(sub))
        if node.name == EXISTS:
            _check_exists(node.expr)
            continue
        if "*" in node.name or "?" in node.name:
            raise LuceneQueryError(f"field name pattern {node.name!r} is not supported")
        try:
            spec = resolve_field(node.name)
        except FieldResolutionError as exc:
            raise LuceneQueryError(str(exc)) from None
        if spec.type == "boolean":
            _check_boolean(node.name, node.expr)
            continue
        if spec.type not in _INDEXED:
            raise LuceneQueryError(
                f"{node.name} is a {spec.type} field: Elasticsearch indexes it as points, "
                "which this proof does not reproduce"
            )
        for sub in _walk(node.expr):
            _check_term(node.name, sub)
        if spec.type == "flattened_key":
            for sub in _walk(node.expr):
                if isinstance(sub, Regex) or (isinstance(sub, Word) and _not_prefix(sub.value)):
                    raise LuceneQueryError(
                        f"{node.name} is a key of a flattened field: Elasticsearch rejects "
                        f"wildcard and regexp queries on it ({sub})"
                    )
    for node in _walk(tree):
        if isinstance(node, Word | Regex) and id(node) not in bound:
            raise LuceneQueryError(f"term {node} has no field (no default field is searched)")


def _check_boolean(field: str, expr: Any) -> None:
    """A boolean field takes the terms ``true`` and ``false`` only (Elasticsearch's parsing)."""
    for sub in _walk(expr):
        if isinstance(sub, Word | Regex) and sub.value not in ("true", "false"):
            raise LuceneQueryError(f"{field}:{sub}: a boolean field takes true or false only")
        if isinstance(sub, From | To) or type(sub).__name__ in ("Range", "Fuzzy", "Proximity"):
            raise LuceneQueryError(f"{field}:{sub}: only terms on a boolean field")


def _check_exists(expr: Any) -> None:
    """``_exists_:object`` is judged from the fields below it, which must all be emulated."""
    name = str(expr)
    try:
        resolve_field(name)
    except FieldResolutionError:
        try:
            object_fields(name)
        except FieldResolutionError as exc:
            raise LuceneQueryError(str(exc)) from None


def _check_term(field: str, node: Any) -> None:
    """Syntax Elasticsearch reads differently from Lucene 8's classic parser."""
    if isinstance(node, From | To) or (
        isinstance(node, Word) and node.value.lstrip("\\")[:1] in ("<", ">")
    ):
        raise LuceneQueryError(
            f"{field}:{node}: Elasticsearch reads a leading < or > as a range "
            "(query_string syntax Lucene's classic parser does not have)"
        )
    if isinstance(node, Regex) and any(f"\\{c}" in node.value for c in "dDsSwW"):
        raise LuceneQueryError(
            f"{field}:{node.value}: character class escapes (\\d, \\s, \\w) exist in the "
            "Lucene 9 regexp syntax of Elasticsearch 8, not in Lucene 8"
        )


def _not_prefix(text: str) -> bool:
    """Whether a term has a wildcard other than one final ``*`` (a prefix query)."""
    escaped = False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "?" or (ch == "*" and i != len(text) - 1):
            return True
    return False


def _walk(node: Any) -> Iterator[Any]:
    yield node
    for child in getattr(node, "children", ()):
        yield from _walk(child)


def _query_field(query: Any) -> str | None:
    for getter in ("getField", "getTerm"):
        if hasattr(query, getter):
            value = getattr(query, getter)()
            return str(value.field() if getter == "getTerm" else value)
    return None


def es_rewrite(query: Any) -> Any:
    """Elasticsearch's ``fixNegativeQueryIfNeeded`` on every boolean query, ip fields as points."""
    jpype = _java()
    boolean = jpype.JClass("org.apache.lucene.search.BooleanQuery")
    boost = jpype.JClass("org.apache.lucene.search.BoostQuery")
    if isinstance(query, boost):
        return boost(es_rewrite(query.getQuery()), query.getBoost())
    if not isinstance(query, boolean):
        field = _query_field(query)
        return _ip_query(query) if field is not None and is_ip_field(field) else query
    occur = jpype.JClass("org.apache.lucene.search.BooleanClause$Occur")
    builder = jpype.JClass("org.apache.lucene.search.BooleanQuery$Builder")()
    builder.setMinimumNumberShouldMatch(query.getMinimumNumberShouldMatch())
    only_negative = True
    for clause in query.clauses():
        builder.add(es_rewrite(clause.getQuery()), clause.getOccur())
        only_negative = only_negative and clause.getOccur() == occur.MUST_NOT
    if only_negative and len(query.clauses()) > 0:
        builder.add(jpype.JClass("org.apache.lucene.search.MatchAllDocsQuery")(), occur.FILTER)
    return builder.build()
