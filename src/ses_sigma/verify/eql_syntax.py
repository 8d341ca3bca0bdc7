"""Elasticsearch EQL syntax for :mod:`ses_sigma.verify.eql_run`: parsing and checks.

The query is parsed with ``eql``'s Elasticsearch syntax; string predicates are replaced by
functions with Elasticsearch's case sensitivity, wildcard and regex dialects and CIDR rules;
constructs Elasticsearch treats differently from the library raise ``UnsupportedEqlError``. The
table of differences is in :mod:`ses_sigma.verify.eql_run`.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Any

import eql
from eql import ast
from eql.errors import EqlError
from eql.optimizer import Optimizer
from eql.parser import LarkToEQL, lark_parser
from eql.types import NodeInfo, TypeHint
from eql.utils import ParserConfig, load_extensions, to_unicode
from lark.exceptions import LarkError

from ses_sigma.verify.lucene_patterns import (
    PatternError,
    compile_lucene_regex,
    compile_wildcard,
)

__all__ = [
    "ES_FUNCTIONS",
    "EqlRunError",
    "UnsupportedEqlError",
    "check_query",
    "event_queries",
    "parse_es_eql",
    "require_join_keys",
]


class EqlRunError(ValueError):
    """The query or the documents cannot be run with Elasticsearch's semantics."""


class UnsupportedEqlError(EqlRunError):
    """The query uses a construct this runner does not reproduce faithfully."""


# --- functions that replace the library's string predicates ----------------------------------

_WILDCARD = "__es_like"
_WILDCARD_CI = "__es_like_ci"
_REGEX = "__es_regex"
_REGEX_CI = "__es_regex_ci"
_IN_CI = "__es_in_ci"
_CIDR = "__es_cidr_match"


@functools.lru_cache(maxsize=1024)
def _wildcard(pattern: str, ci: bool) -> re.Pattern[str]:
    return compile_wildcard(pattern, case_insensitive=ci)


@functools.lru_cache(maxsize=1024)
def _regex(pattern: str, ci: bool) -> re.Pattern[str]:
    return compile_lucene_regex(pattern, ascii_case_insensitive=ci)


def _escape_wildcard(text: str) -> str:
    return re.sub(r"([\\*?])", r"\\\1", text)


def _string_predicate(compile_one: Any, ci: bool) -> Any:
    def predicate(source: Any, *patterns: Any) -> bool | None:
        if source is None:
            return None
        if not isinstance(source, str):
            return None
        return any(compile_one(p, ci).fullmatch(source) for p in patterns)

    return predicate


def _in_ci(source: Any, *values: Any) -> bool | None:
    if source is None:
        return None
    if not isinstance(source, str):
        return None
    return any(
        isinstance(v, str) and _wildcard(_escape_wildcard(v), True).fullmatch(source)
        for v in values
    )


def _cidr_match(source: Any, *cidrs: Any) -> bool | None:
    if source is None:
        return None
    try:
        addr = ipaddress.ip_address(source)
    except ValueError:
        raise EqlRunError(f"cidrMatch: {source!r} is not an IP address") from None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    for cidr in cidrs:
        net = ipaddress.ip_network(cidr, strict=False)
        if addr.version == net.version and addr in net:
            return True
    return False


ES_FUNCTIONS = {
    _WILDCARD: _string_predicate(_wildcard, False),
    _WILDCARD_CI: _string_predicate(_wildcard, True),
    _REGEX: _string_predicate(_regex, False),
    _REGEX_CI: _string_predicate(_regex, True),
    _IN_CI: _in_ci,
    _CIDR: _cidr_match,
}


# --- parsing -----------------------------------------------------------------------------------


class _EsWalker(LarkToEQL):
    """eql's Lark walker, keeping what Elasticsearch distinguishes and the library drops."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.optional_paths: set[tuple[Any, ...]] = set()
        self.required_paths: set[tuple[Any, ...]] = set()

    def _update_field_info(self, node_info: Any, optional_syntax: bool = False) -> Any:
        node = node_info.node if isinstance(node_info, NodeInfo) else node_info
        if isinstance(node, ast.Field):
            path = (node.base, *node.path)
            (self.optional_paths if optional_syntax else self.required_paths).add(path)
        return super()._update_field_info(node_info, optional_syntax=optional_syntax)

    def string_predicate(self, node: Any) -> NodeInfo:
        predicate = str(node["STRING_PREDICATE"])
        name = {
            ":": _WILDCARD_CI,
            "like~": _WILDCARD_CI,
            "like": _WILDCARD,
            "regex~": _REGEX_CI,
            "regex": _REGEX,
        }.get(predicate)
        if name is None:
            raise self._error(node, f"unknown string predicate {predicate}")
        children = self.visit(node.child_trees)
        for child in children:
            if not child.validate_type(TypeHint.String):
                raise self._type_error(child, TypeHint.String)
        patterns = children[1:]
        for pattern in patterns:
            if not isinstance(pattern.node, ast.String):
                raise self._error(node, f"the patterns of {predicate} must be string literals")
            try:
                if name in (_REGEX, _REGEX_CI):
                    _regex(pattern.node.value, name == _REGEX_CI)
                else:
                    _wildcard(pattern.node.value, name == _WILDCARD_CI)
            except PatternError as exc:
                raise UnsupportedEqlError(f"{predicate} {pattern.node}: {exc}") from None
        call = ast.FunctionCall(name, [child.node for child in children])
        return NodeInfo(call, TypeHint.Boolean)

    def in_set(self, node: Any) -> NodeInfo:
        info = super().in_set(node)
        if node.get("IN") == "in~":
            term = info.node
            if not all(isinstance(item, ast.String) for item in term.container):
                raise UnsupportedEqlError("in~ needs string literals")
            for item in term.container:
                _wildcard(_escape_wildcard(item.value), True)  # raises on non-ASCII letters
            info.node = ast.FunctionCall(_IN_CI, [term.expression, *term.container])
        return info

    def function_call(self, node: Any, prev_node: Any = None, prev_arg: Any = None) -> NodeInfo:
        info = super().function_call(node, prev_node, prev_arg)
        call = info.node
        if isinstance(call, ast.FunctionCall) and call.name == "cidrMatch":
            for arg in call.arguments[1:]:
                if not isinstance(arg, ast.String):
                    raise UnsupportedEqlError("cidrMatch needs CIDR string literals")
            info.node = ast.FunctionCall(_CIDR, list(call.arguments))
            return info
        name = call.name if isinstance(call, ast.FunctionCall) else type(call).__name__
        raise UnsupportedEqlError(
            f"function {name}: eql's implementation differs from Elasticsearch's (case "
            "sensitivity, nulls) and is not reproduced here"
        )


def parse_es_eql(query: str) -> tuple[Any, set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    """Parse Elasticsearch EQL; returns (AST, optional field paths, required field paths).

    Mirrors ``eql.parser._parse`` with the walker above, under
    ``eql.parser.elasticsearch_syntax``.
    """
    if not query.strip():
        raise EqlRunError("empty EQL query")
    text = to_unicode(query)
    if not text.endswith("\n"):
        text += "\n"
    with eql.parser.elasticsearch_syntax, ParserConfig(preprocessor=None):
        load_extensions(force=False)
        walker = _EsWalker(text)
        try:
            tree = lark_parser.parse(text, start="piped_query")
        except LarkError as exc:
            raise EqlRunError(f"EQL syntax error in {query!r}: {exc}") from None
        try:
            node = walker.visit(tree)
        except EqlError as exc:
            raise EqlRunError(f"EQL error in {query!r}: {exc}") from None
        if isinstance(node, NodeInfo):
            node = node.node
        node = Optimizer(recursive=True).walk(node)
    return node, walker.optional_paths, walker.required_paths


# --- checking the query ------------------------------------------------------------------------


def event_queries(first: Any) -> list[Any]:
    if isinstance(first, ast.EventQuery):
        return [first]
    if isinstance(first, ast.Sequence):
        return [sub.query for sub in first.queries]
    raise UnsupportedEqlError(f"{type(first).__name__} queries are not supported")


def check_query(node: Any, optional: set[tuple[Any, ...]], required: set[tuple[Any, ...]]) -> None:
    if not isinstance(node, ast.PipedQuery):
        raise UnsupportedEqlError(f"unexpected EQL node {type(node).__name__}")
    if node.pipes:
        raise UnsupportedEqlError(
            "pipes are not supported (Elasticsearch's head/tail apply to "
            "its sorted, size-limited results)"
        )
    first = node.first
    if isinstance(first, ast.Sequence):
        if first.close is not None:
            raise UnsupportedEqlError("sequence ... until is not supported")
        for sub in first.queries:
            params = sub.params.kv if sub.params is not None else {}
            if params.get("fork") is not None and params["fork"].value:
                raise UnsupportedEqlError("fork is not supported")
            if params.get("is_negated") is not None and params["is_negated"].value:
                raise UnsupportedEqlError("missing-event stages (![...]) are not supported")
            for value in sub.join_values:
                if not isinstance(value, ast.Field):
                    raise UnsupportedEqlError(f"join key {value} is not a plain field")
    for query in event_queries(first):
        for item in query.query:
            if isinstance(item, ast.NamedSubquery):
                raise UnsupportedEqlError(f"{item.query_type} of [...] is not supported")
            if isinstance(item, ast.Field) and any(isinstance(p, int) for p in item.path):
                raise UnsupportedEqlError(f"array index in {item} is not supported")
    both = optional & required
    if both:
        raise UnsupportedEqlError(
            f"field(s) {sorted('.'.join(map(str, p)) for p in both)} used both with and without '?'"
        )


def require_join_keys(first: Any, optional: set[tuple[Any, ...]]) -> None:
    """Elasticsearch: events whose non-optional join key is null take no part in a sequence."""
    if not isinstance(first, ast.Sequence):
        return
    for sub in first.queries:
        needed = [
            ast.IsNotNull(value)
            for value in sub.join_values
            if (value.base, *value.path) not in optional
        ]
        if needed:
            sub.query.query = ast.And([sub.query.query, *needed])
