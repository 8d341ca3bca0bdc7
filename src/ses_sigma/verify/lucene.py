"""Run Lucene ``query_string`` queries on Apache Lucene itself, over ECS documents.

The query is parsed by Lucene's classic ``QueryParser`` (the parser Elasticsearch's
``query_string`` extends) and executed on an in-memory Lucene index of the documents, indexed
the way Elasticsearch maps the AWS integration's fields (:mod:`ses_sigma.verify.mapping`):

* ``keyword`` / ``constant_keyword``: one untokenized term per value (``KeywordAnalyzer``), not
  indexed above ``ignore_above``;
* ``flattened``: every leaf under the root is a term of the root field and of its keyed field
  ``root.key`` (Elasticsearch's ``_keyed`` field, addressed by name as ``query_string`` does);
* ``match_only_text`` (``*.text``): the parent's value through Lucene's ``StandardAnalyzer``.

Lucene itself is loaded by :mod:`ses_sigma.verify.lucene_jvm` (the Debian package's jars, JPype);
what Elasticsearch does on top of Lucene (``_exists_``, purely negative groups, ``ip`` and
``boolean`` fields, what it rejects) is in :mod:`ses_sigma.verify.lucene_es`, small and explicit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cache
from typing import Any

from ses_sigma.verify.java import java_scalar_to_string
from ses_sigma.verify.lucene_es import EXISTS, check_query, es_rewrite, inet, ip_value, is_ip_field
from ses_sigma.verify.lucene_jvm import (
    LUCENE_JARS_ENV,
    LuceneQueryError,
    LuceneUnavailable,
    _java,
    _lucene,
    lucene_version,
)
from ses_sigma.verify.mapping import (
    FLATTENED_ROOTS,
    FieldResolutionError,
    field_types,
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

_NO_FIELD = "_no_field_"
_ORD = "_ord_"

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
            if ip_value(text) is None:
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
                if is_ip_field(field):
                    document.add(point(field, inet(text)))
                elif analysed:
                    document.add(text_field(field, text, no))
                else:
                    document.add(string_field(field, text, no))
            for name in sorted(names):
                document.add(string_field(EXISTS, name, no))
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
    check_query(text)
    lucene = _lucene()
    parser = lucene.parser_class(_NO_FIELD, lucene.per_field(lucene.keyword, _text_analyzers()))
    parser.setAllowLeadingWildcard(True)
    jpype = _java()
    try:
        query = parser.parse(text)
    except jpype.JException as exc:
        raise LuceneQueryError(f"Lucene rejects the query: {exc.getMessage()}") from None
    return LuceneQuery(text, es_rewrite(query))


def _text_analyzers() -> Any:
    jpype = _java()
    lucene = _lucene()
    mapping = jpype.JClass("java.util.HashMap")()
    for name, spec in field_types().items():
        if spec.type == "match_only_text":
            mapping.put(name, lucene.standard)
    return mapping
