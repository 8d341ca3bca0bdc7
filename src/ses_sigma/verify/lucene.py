"""Run Lucene ``query_string`` queries on Apache Lucene itself, over ECS documents.

The query is parsed by Lucene's classic ``QueryParser`` (the parser Elasticsearch's
``query_string`` extends) and executed on an in-memory Lucene index of the documents, indexed
the way Elasticsearch maps the AWS integration's fields (:mod:`ses_sigma.verify.mapping`):

* ``keyword`` / ``constant_keyword``: one untokenized term per value (``KeywordAnalyzer``), not
  indexed above ``ignore_above``;
* ``flattened``: every leaf under the root is a term of the root field and of its keyed field
  ``root.key`` (Elasticsearch's ``_keyed`` field, addressed by name as ``query_string`` does);
* ``match_only_text`` (``*.text``): the parent's value through Lucene's ``StandardAnalyzer``.

Lucene comes from the Debian package ``liblucene8-java`` (Lucene 8.8.1 in Debian 12, though its jar
files are named 8.7.0; ``/usr/share/java``, another
directory with ``SES_SIGMA_LUCENE_JARS``), loaded in-process with JPype: documents and queries
cross as plain strings, and Lucene's own exceptions surface as ``LuceneQueryError``.

Elasticsearch-only parts, emulated here because plain Lucene does not have them (small and
explicit, as the proof must not rest on a home-made evaluator):

* ``_exists_:field`` is Elasticsearch syntax for an ``exists`` query, which reads the
  ``_field_names`` field. Each document gets an ``_exists_`` field with one term per indexed
  field and per object above it, so Lucene answers ``_exists_:f`` as a term query.
* Elasticsearch's ``query_string`` adds a ``match_all`` to every boolean query that has only
  prohibited clauses (``Queries.fixNegativeQueryIfNeeded``, nested ones included); plain
  Lucene's would match nothing. The parsed query is rewritten the same way.
* Elasticsearch rejects wildcard and regexp queries on ``flattened`` keys, and queries on
  unmapped fields match nothing: both raise ``LuceneQueryError`` here (read from luqum's parse of
  the same text), as does any term without a field.
* ``boolean`` fields take the terms ``true``/``false`` only (Elasticsearch indexes ``T``/``F``
  and parses the query's word). ``ip`` fields are indexed as Lucene ``InetAddressPoint`` values
  (malformed values skipped, as ``ignore_malformed`` does); a term on one is an address or a
  CIDR block and a range is an address range, which is how Elasticsearch's ``ip`` type turns
  the parsed term and range queries into point queries (rewritten here the same way). ``date``
  fields raise (no rule of the pack queries them).
"""

from __future__ import annotations

import glob
import ipaddress
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from luqum.exceptions import ParseError
from luqum.thread import parse as luqum_parse
from luqum.tree import From, Regex, SearchField, To, Word

from ses_sigma.verify.java import java_scalar_to_string
from ses_sigma.verify.mapping import (
    FLATTENED_ROOTS,
    FieldResolutionError,
    object_fields,
    resolve_field,
)

__all__ = [
    "LUCENE_JARS_ENV",
    "LuceneIndex",
    "LuceneQuery",
    "LuceneQueryError",
    "LuceneUnavailable",
    "compile_query",
    "lucene_version",
]

LUCENE_JARS_ENV = "SES_SIGMA_LUCENE_JARS"
_DEFAULT_DIR = "/usr/share/java"
_JARS = (
    "lucene-core",
    "lucene-queryparser",
    "lucene-analyzers-common",
    "lucene-misc",  # InetAddressPoint
)
_EXISTS = "_exists_"
_NO_FIELD = "_no_field_"
_ORD = "_ord_"
_INDEXED = {
    "keyword",
    "constant_keyword",
    "flattened",
    "flattened_key",
    "match_only_text",
    "ip",
}


class LuceneUnavailable(RuntimeError):
    """Lucene (its jars or JPype) cannot be loaded; the message says what is missing."""


class LuceneQueryError(ValueError):
    """A query Lucene rejects, or that Elasticsearch would answer differently than Lucene."""


def _jars() -> list[str]:
    where = os.environ.get(LUCENE_JARS_ENV, _DEFAULT_DIR)
    found = []
    for name in _JARS:
        hits = sorted(glob.glob(os.path.join(where, f"{name}-8*.jar")))
        if not hits:
            raise LuceneUnavailable(
                f"{name}-8*.jar not found in {where} (apt-get install liblucene8-java, or set "
                f"{LUCENE_JARS_ENV})"
            )
        found.append(hits[-1])
    return found


@cache
def _java() -> Any:
    """Start the JVM once per process with Lucene on the class path; the Java packages."""
    try:
        import jpype
        import jpype.imports
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise LuceneUnavailable(f"JPype is not installed ({exc})") from None
    jars = _jars()
    if not jpype.isJVMStarted():
        try:
            jpype.startJVM(classpath=jars, convertStrings=True)
        except OSError as exc:  # no JVM found
            raise LuceneUnavailable(f"cannot start a Java VM: {exc}") from None
    return jpype


@dataclass(frozen=True)
class _Lucene:
    parser_class: Any
    keyword: Any
    standard: Any
    per_field: Any


@cache
def _lucene() -> _Lucene:
    jpype = _java()
    keyword = jpype.JClass("org.apache.lucene.analysis.core.KeywordAnalyzer")()
    standard = jpype.JClass("org.apache.lucene.analysis.standard.StandardAnalyzer")()
    return _Lucene(
        parser_class=jpype.JClass("org.apache.lucene.queryparser.classic.QueryParser"),
        keyword=keyword,
        standard=standard,
        per_field=jpype.JClass("org.apache.lucene.analysis.miscellaneous.PerFieldAnalyzerWrapper"),
    )


def lucene_version() -> str:
    """``Apache Lucene <version>`` as the loaded jar reports it (``Version.LATEST``)."""
    jpype = _java()
    return f"Apache Lucene {jpype.JClass('org.apache.lucene.util.Version').LATEST}"


# --- documents ---------------------------------------------------------------------------------


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """(dotted path, scalar) for every non-null leaf; arrays give one pair per element."""
    if value is None:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item, path)
    else:
        yield path, value


def _parents(name: str) -> Iterator[str]:
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        yield ".".join(parts[:i])


def _flattened_root(path: str) -> str | None:
    for root in FLATTENED_ROOTS:
        if path == root or path.startswith(root + "."):
            return root
    return None


def index_terms(doc: dict[str, Any]) -> tuple[list[tuple[str, str, bool]], set[str]]:
    """What Elasticsearch indexes for ``doc``: (field, value, analysed) terms and field names.

    Fields the mapping does not know are skipped (Elasticsearch would index them dynamically,
    but a query on them raises here, so they cannot affect a verdict).
    """
    terms: list[tuple[str, str, bool]] = []
    names: set[str] = set()
    for path, value in _leaves(doc, ""):
        text = java_scalar_to_string(value)
        root = _flattened_root(path)
        if root is not None:
            terms.append((root, text, False))
            terms.append((path, text, False))
            names.update(_parents(path))
            continue
        try:
            spec = resolve_field(path)
        except FieldResolutionError:
            continue
        if spec.type in ("keyword", "constant_keyword"):
            if spec.ignore_above is not None and len(text) > spec.ignore_above:
                continue
            terms.append((path, text, False))
        elif spec.type == "ip":
            if _ip(text) is None:
                continue  # ignore_malformed: not indexed
            terms.append((path, text, False))
        elif spec.type == "boolean":
            if text not in ("true", "false"):  # Elasticsearch indexes T/F; queries say true/false
                continue
            terms.append((path, text, False))
        else:
            terms.append((path, text, False))  # typed field: present, queries on it refused
        names.update(_parents(path))
        text_field = f"{path}.text"
        if _text_field(text_field):
            terms.append((text_field, text, True))
    return terms, names


@cache
def _text_field(name: str) -> bool:
    try:
        return resolve_field(name).type == "match_only_text"
    except FieldResolutionError:
        return False


class LuceneIndex:
    """Documents in one in-memory Lucene index (``ByteBuffersDirectory``), searched together."""

    def __init__(self, docs: Iterable[dict[str, Any]]):
        jpype = _java()
        cls = jpype.JClass
        self.docs = list(docs)
        lucene = _lucene()
        self._dir = cls("org.apache.lucene.store.ByteBuffersDirectory")()
        analyzer = lucene.per_field(lucene.keyword, _text_analyzers())
        writer = cls("org.apache.lucene.index.IndexWriter")(
            self._dir, cls("org.apache.lucene.index.IndexWriterConfig")(analyzer)
        )
        string_field, text_field = (
            cls("org.apache.lucene.document.StringField"),
            cls("org.apache.lucene.document.TextField"),
        )
        no = cls("org.apache.lucene.document.Field$Store").NO
        point = cls("org.apache.lucene.document.InetAddressPoint")
        stored = cls("org.apache.lucene.document.StoredField")
        for ordinal, doc in enumerate(self.docs):
            document = cls("org.apache.lucene.document.Document")()
            document.add(stored(_ORD, ordinal))
            terms, names = index_terms(doc)
            for field, text, analysed in terms:
                if _is_ip_field(field):
                    document.add(point(field, _inet(text)))
                elif analysed:
                    document.add(text_field(field, text, no))
                else:
                    document.add(string_field(field, text, no))
            for name in sorted(names):
                document.add(string_field(_EXISTS, name, no))
            writer.addDocument(document)
        writer.close()
        self._searcher = cls("org.apache.lucene.search.IndexSearcher")(
            cls("org.apache.lucene.index.DirectoryReader").open(self._dir)
        )

    def search(self, query: LuceneQuery) -> list[dict[str, Any]]:
        """The documents ``query`` matches, in their order."""
        if not self.docs:
            return []
        hits = self._searcher.search(query.lucene_query, len(self.docs)).scoreDocs
        ords = sorted(int(self._searcher.doc(hit.doc).get(_ORD)) for hit in hits)
        return [self.docs[i] for i in ords]


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _inet(text: str) -> Any:
    """A ``java.net.InetAddress`` from an address Python accepts (never a DNS look-up)."""
    address = _ip(text)
    if address is None:
        raise LuceneQueryError(f"{text!r} is not an IP address")
    jpype = _java()
    raw = jpype.JArray(jpype.JByte)([b - 256 if b > 127 else b for b in address.packed])
    return jpype.JClass("java.net.InetAddress").getByAddress(raw)


@cache
def _is_ip_field(name: str) -> bool:
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
            return point.newPrefixQuery(field, _inet(str(net.network_address)), net.prefixlen)
        return point.newExactQuery(field, _inet(text))
    if isinstance(query, range_query):
        field = str(query.getField())
        low, high = query.getLowerTerm(), query.getUpperTerm()
        lo = _ip(low.utf8ToString()) if low is not None else None
        hi = _ip(high.utf8ToString()) if high is not None else None
        if (low is not None and lo is None) or (high is not None and hi is None):
            raise LuceneQueryError(f"{field}: range bounds are not IP addresses")
        lo_v = lo or ipaddress.ip_address("::")
        hi_v = hi or ipaddress.ip_address("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
        if low is not None and not query.includesLower():
            lo_v = lo_v + 1
        if high is not None and not query.includesUpper():
            hi_v = hi_v - 1
        return point.newRangeQuery(field, _inet(str(lo_v)), _inet(str(hi_v)))
    raise LuceneQueryError(f"{query}: only terms, CIDR blocks and ranges on an ip field")


# --- queries -----------------------------------------------------------------------------------


def _check_fields(text: str) -> None:
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
        if node.name == _EXISTS:
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


class LuceneQuery:
    """A parsed query (``lucene_query``), run by ``LuceneIndex.search`` or the helpers here."""

    def __init__(self, text: str, query: Any):
        self.text = text
        self.lucene_query = query

    def __str__(self) -> str:
        return str(self.lucene_query.toString())

    def matches(self, doc: dict[str, Any]) -> bool:
        """Whether Lucene finds ``doc`` (an ECS document) for this query."""
        return bool(LuceneIndex([doc]).search(self))

    def filter(self, docs: Iterable[dict[str, Any]] | LuceneIndex) -> list[dict[str, Any]]:
        """The documents the query matches, in their order (``docs`` indexed once, or an index)."""
        index = docs if isinstance(docs, LuceneIndex) else LuceneIndex(docs)
        return index.search(self)


def compile_query(text: str) -> LuceneQuery:
    """Parse ``text`` with Lucene's classic QueryParser as Elasticsearch's query_string sets it.

    ``default_operator: OR``, leading wildcards allowed, no default field. Raises
    ``LuceneQueryError`` (Lucene's parse error, or an Elasticsearch-only difference) and
    ``LuceneUnavailable``.
    """
    _check_fields(text)
    lucene = _lucene()
    parser = lucene.parser_class(_NO_FIELD, lucene.per_field(lucene.keyword, _text_analyzers()))
    parser.setAllowLeadingWildcard(True)
    jpype = _java()
    try:
        query = parser.parse(text)
    except jpype.JException as exc:
        raise LuceneQueryError(f"Lucene rejects the query: {exc.getMessage()}") from None
    return LuceneQuery(text, _fix_negative(query))


def _query_field(query: Any) -> str | None:
    for getter in ("getField", "getTerm"):
        if hasattr(query, getter):
            value = getattr(query, getter)()
            return str(value.field() if getter == "getTerm" else value)
    return None


def _fix_negative(query: Any) -> Any:
    """Elasticsearch's ``fixNegativeQueryIfNeeded`` on every boolean query, ip fields as points."""
    jpype = _java()
    boolean = jpype.JClass("org.apache.lucene.search.BooleanQuery")
    boost = jpype.JClass("org.apache.lucene.search.BoostQuery")
    if isinstance(query, boost):
        return boost(_fix_negative(query.getQuery()), query.getBoost())
    if not isinstance(query, boolean):
        field = _query_field(query)
        return _ip_query(query) if field is not None and _is_ip_field(field) else query
    occur = jpype.JClass("org.apache.lucene.search.BooleanClause$Occur")
    builder = jpype.JClass("org.apache.lucene.search.BooleanQuery$Builder")()
    builder.setMinimumNumberShouldMatch(query.getMinimumNumberShouldMatch())
    only_negative = True
    for clause in query.clauses():
        builder.add(_fix_negative(clause.getQuery()), clause.getOccur())
        only_negative = only_negative and clause.getOccur() == occur.MUST_NOT
    if only_negative and len(query.clauses()) > 0:
        builder.add(jpype.JClass("org.apache.lucene.search.MatchAllDocsQuery")(), occur.FILTER)
    return builder.build()


def _text_analyzers() -> Any:
    jpype = _java()
    lucene = _lucene()
    mapping = jpype.JClass("java.util.HashMap")()
    from ses_sigma.verify.mapping import field_types

    for name, spec in field_types().items():
        if spec.type == "match_only_text":
            mapping.put(name, lucene.standard)
    return mapping
