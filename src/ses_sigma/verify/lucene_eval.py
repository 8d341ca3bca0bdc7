"""Evaluate a Lucene ``query_string`` against ECS documents the way Elasticsearch does.

The query is parsed with luqum; its tree is then read with the rules of Elasticsearch's
``query_string`` query (Lucene's classic ``QueryParser`` as extended by Elasticsearch's
``QueryStringQueryParser``, ``default_operator: OR``) and the field types of the AWS CloudTrail
data stream (:mod:`ses_sigma.verify.mapping`). What this means, construct by construct:

Boolean structure
    Lucene's classic parser has no operator precedence: a parenthesis level is one flat list of
    clauses, each *required*, *optional* or *prohibited*. ``AND`` makes the clause before it and
    the one after it required, ``NOT``/``-`` prohibit the next clause, ``+`` requires it, ``OR``
    and the implicit operator leave it optional. A level matches when every required clause
    matches, no prohibited one does, and, if nothing is required, at least one optional clause
    does; a level with only prohibited clauses matches everything else (Elasticsearch adds a
    ``match_all`` to purely negative boolean queries, nested ones included). So ``a OR b AND c``
    means ``b AND c`` (``a`` is only scored), not luqum's ``a OR (b AND c)``. The evaluator
    rebuilds the flat clause list from luqum's tree and applies exactly these rules.

Implicit operators
    Between clauses they behave like ``OR`` (Elasticsearch's ``default_operator``). Two bare
    words in a row (``field:(a b)``) are different: Elasticsearch does not split on whitespace
    there and analyses ``"a b"`` as one multi-word term; that case raises. pySigma's backends
    always write explicit operators.

Terms
    Escapes are removed as Lucene's ``discardEscapeChar`` does (``\\uXXXX`` included). An
    unquoted term that then starts with ``>``, ``>=``, ``<`` or ``<=`` is a range query (even
    when the ``>`` was escaped: ``field:\\>5`` means ``field:>5``). A quoted phrase is one term on
    ``keyword`` fields (wildcards inside are literal). ``field:*`` and ``_exists_:field`` test
    that the field has an indexed value. ``term*`` is a prefix query, other unescaped ``*``/``?``
    make a wildcard query (escaped ones are literal), ``/.../`` a Lucene regular expression
    (:mod:`ses_sigma.verify.lucene_patterns`), ``[a TO b]``/``{a TO b}``/``*`` bounds a range.

Field types
    ``keyword``: exact, case-sensitive match of the whole value, wildcards and regexes
    case-sensitive too, ranges compare code points; values longer than ``ignore_above`` are not
    indexed. ``flattened`` keys: like keyword, but Elasticsearch rejects wildcard and regexp
    queries on them (raised here); prefix and range work. ``boolean``: ``true``/``false`` only.
    ``ip``: an address or a CIDR block (IPv4-mapped IPv6 equals IPv4). ``date``: ISO 8601 or
    epoch milliseconds, with Elasticsearch's rounding of partial dates. ``match_only_text``
    (``*.text``): the standard analyser (Unicode word segmentation, lowercase) for ASCII
    values; a term matches if any of its tokens occurs, a phrase needs them in a row.

Arrays match if any element matches; nested objects and dotted keys are both accepted.

Anything else (fuzzy ``~``, proximity, field wildcards, unbound terms without a field, fields
the data stream does not map or the emulation does not fill, Lucene regex operators, queries
Elasticsearch would reject) raises ``LuceneEvalError`` naming the construct; the evaluator never
answers ``False`` for something it cannot evaluate.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from luqum.exceptions import ParseError
from luqum.thread import parse as luqum_parse
from luqum.tree import (
    AndOperation,
    BaseOperation,
    Boost,
    FieldGroup,
    From,
    Fuzzy,
    Group,
    Item,
    Not,
    OrOperation,
    Phrase,
    Plus,
    Prohibit,
    Proximity,
    Range,
    Regex,
    SearchField,
    To,
    UnknownOperation,
    Word,
)

from ses_sigma.match.fields import leaf_values
from ses_sigma.verify.ecs import parse_es_iso8601
from ses_sigma.verify.java import java_scalar_to_string
from ses_sigma.verify.lucene_patterns import PatternError, compile_lucene_regex, compile_wildcard
from ses_sigma.verify.mapping import (
    FieldResolutionError,
    FieldSpec,
    object_fields,
    resolve_field,
)

__all__ = [
    "LuceneEvalError",
    "LuceneQuery",
    "UnsupportedQueryError",
    "compile_query",
    "matches",
]


class LuceneEvalError(ValueError):
    """A query (or document) the evaluator cannot give Elasticsearch's answer for."""


class UnsupportedQueryError(LuceneEvalError):
    """The query uses a construct that is not emulated or that Elasticsearch rejects."""


# --- clauses -----------------------------------------------------------------------------------

_MUST, _SHOULD, _MUST_NOT = "must", "should", "must_not"
_CONJ_NONE, _CONJ_AND, _CONJ_OR = "none", "and", "or"
_MOD_NONE, _MOD_REQ, _MOD_NOT = "none", "req", "not"

Predicate = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class _Bool:
    must: tuple[Predicate, ...] = ()
    should: tuple[Predicate, ...] = ()
    must_not: tuple[Predicate, ...] = ()

    def __call__(self, doc: dict[str, Any]) -> bool:
        if any(not p(doc) for p in self.must):
            return False
        if any(p(doc) for p in self.must_not):
            return False
        if self.must or not self.should:
            # with required clauses the optional ones only score; a purely negative query gets
            # Elasticsearch's match_all (Queries.fixNegativeQueryIfNeeded)
            return True
        return any(p(doc) for p in self.should)


def _add_clause(clauses: list[list[Any]], conj: str, mods: str, query: Predicate) -> None:
    """Lucene's ``QueryParserBase.addClause`` with ``default_operator`` OR."""
    if clauses and conj == _CONJ_AND and clauses[-1][0] != _MUST_NOT:
        clauses[-1][0] = _MUST
    prohibited = mods == _MOD_NOT
    required = mods == _MOD_REQ or (conj == _CONJ_AND and not prohibited)
    if prohibited:
        clauses.append([_MUST_NOT, query])
    elif required:
        clauses.append([_MUST, query])
    else:
        clauses.append([_SHOULD, query])


# --- values of a field in a document -----------------------------------------------------------


def _scalars(values: Iterable[Any], spec: FieldSpec) -> list[Any]:
    out = []
    for value in values:
        if isinstance(value, dict):
            if spec.type in ("flattened", "flattened_key"):
                continue  # an inner object: only leaves are indexed
            raise LuceneEvalError(
                f"the document holds an object where {spec.name!r} ({spec.type}) is mapped: "
                "Elasticsearch would reject it"
            )
        out.append(value)
    return out


def _walk(node: Any, parts: tuple[str, ...], out: list[Any]) -> None:
    """Every value at a dotted path, as Elasticsearch indexes ``_source``.

    Objects may spell a path nested (``{"a": {"b": 1}}``) or with dotted keys (``{"a.b": 1}``),
    even both at once: every split is followed. Arrays are followed element by element; nulls
    are not indexed.
    """
    if node is None:
        return
    if isinstance(node, list):
        for item in node:
            _walk(item, parts, out)
        return
    if not parts:
        out.append(node)
        return
    if not isinstance(node, dict):
        return
    for i in range(1, len(parts) + 1):
        key = ".".join(parts[:i])
        if key in node:
            _walk(node[key], parts[i:], out)


@dataclass
class _Field:
    """A resolved field and how to read its indexed values from a document."""

    spec: FieldSpec
    parts: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.parts = tuple(self.spec.source_path.split("."))

    def getter(self, doc: Any) -> list[Any]:
        out: list[Any] = []
        _walk(doc, self.parts, out)
        return out

    def raw(self, doc: dict[str, Any]) -> list[Any]:
        if self.spec.type == "flattened":
            return [leaf for node in self.getter(doc) for leaf in leaf_values(node)]
        return _scalars(self.getter(doc), self.spec)

    def strings(self, doc: dict[str, Any]) -> list[str]:
        """Indexed keyword terms (JSON scalars as Elasticsearch renders them)."""
        out = []
        for value in self.raw(doc):
            text = value if isinstance(value, str) else java_scalar_to_string(value)
            if self.spec.ignore_above is not None and len(text) > self.spec.ignore_above:
                continue
            out.append(text)
        return out


_KEYWORDISH = ("keyword", "constant_keyword", "flattened_key", "flattened")


# --- per-type leaf queries ---------------------------------------------------------------------


def _parse_bool_text(text: str, name: str) -> bool:
    if text == "true":
        return True
    if text == "false":
        return False
    raise UnsupportedQueryError(
        f"{name}: {text!r} is not a boolean (Elasticsearch accepts only 'true' or 'false')"
    )


def _doc_bools(fld: _Field, doc: dict[str, Any]) -> list[bool]:
    out = []
    for value in fld.raw(doc):
        if isinstance(value, bool):
            out.append(value)
        elif value in ("true", "false"):
            out.append(value == "true")
        else:
            raise LuceneEvalError(f"{fld.spec.name}: {value!r} is not a boolean value")
    return out


def _mapped_ip(text: str) -> ipaddress.IPv6Address:
    addr = ipaddress.ip_address(text)
    if isinstance(addr, ipaddress.IPv4Address):
        return ipaddress.IPv6Address(b"\x00" * 10 + b"\xff\xff" + addr.packed)
    return addr


def _ip_query(text: str, name: str) -> Callable[[ipaddress.IPv6Address], bool]:
    try:
        if "/" in text:
            net = ipaddress.ip_network(text, strict=False)
            if isinstance(net, ipaddress.IPv4Network):
                base = _mapped_ip(str(net.network_address))
                net6 = ipaddress.IPv6Network(f"{base}/{net.prefixlen + 96}", strict=False)
            else:
                net6 = net
            return lambda a: a in net6
        target = _mapped_ip(text)
    except ValueError:
        raise UnsupportedQueryError(
            f"{name}: {text!r} is not an IP address or CIDR block (Elasticsearch rejects it)"
        ) from None
    return lambda a: a == target


def _doc_ips(fld: _Field, doc: dict[str, Any]) -> list[ipaddress.IPv6Address]:
    out = []
    for value in fld.raw(doc):
        try:
            out.append(_mapped_ip(str(value)))
        except ValueError:
            continue  # malformed: not indexed (ignore_malformed, see ses_sigma.verify.mapping)
    return out


_PARTIAL_DATE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?)?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)


def _date_millis(text: str, round_up: bool, name: str) -> int:
    """Parse a query date like ``strict_date_optional_time||epoch_millis``, with rounding."""
    if re.fullmatch(r"-?\d{1,13}", text) and not re.fullmatch(r"\d{4}", text):
        return int(text)
    if "now" in text or "||" in text:
        raise UnsupportedQueryError(f"{name}: date math {text!r} is not emulated")
    m = _PARTIAL_DATE.match(text)
    if m is None:
        raise UnsupportedQueryError(f"{name}: {text!r} is not a date Elasticsearch would parse")
    year, month, day, hour, minute, second, frac, zone = m.groups()
    month_v = int(month) if month else (12 if round_up else 1)
    if day:
        day_v = int(day)
    elif round_up:
        following = datetime(int(year) + (month_v == 12), month_v % 12 + 1, 1, tzinfo=UTC)
        day_v = (following - datetime(int(year), month_v, 1, tzinfo=UTC)).days
    else:
        day_v = 1
    hour_v = int(hour) if hour else (23 if round_up else 0)
    minute_v = int(minute) if minute else (59 if round_up else 0)
    second_v = int(second) if second else (59 if round_up else 0)
    millis = int(frac.ljust(3, "0")[:3]) if frac else (999 if round_up else 0)
    try:
        dt = datetime(int(year), month_v, day_v, hour_v, minute_v, second_v, tzinfo=UTC)
    except ValueError:
        raise UnsupportedQueryError(f"{name}: {text!r} is not a valid date") from None
    ms = int(dt.timestamp()) * 1000 + millis
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        ms -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60) * 1000
    return ms


def _doc_dates(fld: _Field, doc: dict[str, Any]) -> list[int]:
    out = []
    for value in fld.raw(doc):
        if isinstance(value, int) and not isinstance(value, bool):
            out.append(value)
            continue
        try:
            dt = parse_es_iso8601(value)
        except ValueError:
            raise LuceneEvalError(f"{fld.spec.name}: {value!r} is not a date") from None
        out.append(int(dt.timestamp()) * 1000 + dt.microsecond // 1000)
    return out


# standard analyser (ASCII subset of UAX #29 word segmentation, then lowercase) -------------------


def _wb_class(c: str) -> str:
    if c.isascii() and c.isalpha():
        return "L"
    if c.isdigit() and c.isascii():
        return "N"
    if c == "_":
        return "X"
    if c == ":":
        return "ML"
    if c in ".'":
        return "MNL"
    if c in ",;":
        return "MN"
    return "O"


def _standard_tokens(text: str, name: str) -> list[str]:
    if not text.isascii():
        raise UnsupportedQueryError(
            f"{name}: standard-analyser tokenisation of non-ASCII text is not emulated"
        )
    classes = [_wb_class(c) for c in text]
    n = len(text)

    def joined(i: int) -> bool:  # no break between i-1 and i
        a, b = classes[i - 1], classes[i]
        nxt = classes[i + 1] if i + 1 < n else None
        prv = classes[i - 2] if i >= 2 else None
        if a == "L" and b == "L":
            return True
        if a == "L" and b in ("ML", "MNL") and nxt == "L":
            return True
        if a in ("ML", "MNL") and b == "L" and prv == "L":
            return True
        if (a, b) in (("N", "N"), ("L", "N"), ("N", "L")):
            return True
        if a == "N" and b in ("MN", "MNL") and nxt == "N":
            return True
        if a in ("MN", "MNL") and b == "N" and prv == "N":
            return True
        if a in ("L", "N", "X") and b == "X":
            return True
        return a == "X" and b in ("L", "N")

    tokens = []
    start = 0
    for i in range(1, n + 1):
        if i == n or not joined(i):
            segment = text[start:i]
            if any(c.isalnum() for c in segment):
                for j in range(0, len(segment), 255):
                    tokens.append(segment[j : j + 255].lower())
            start = i
    return tokens


# --- term-level query builders -----------------------------------------------------------------


def _unsupported(spec: FieldSpec, what: str) -> UnsupportedQueryError:
    if spec.type == "flattened_key" and what in ("wildcard", "regexp"):
        return UnsupportedQueryError(
            f"{what} query on {spec.name!r}: Elasticsearch rejects it ('[{what}] queries are "
            "not currently supported on keyed [flattened] fields')"
        )
    return UnsupportedQueryError(
        f"{what} query on {spec.name!r} ({spec.type}): not supported by Elasticsearch for this "
        "field type, or not emulated"
    )


def _term(fld: _Field, text: str) -> Predicate:
    spec = fld.spec
    if spec.type in _KEYWORDISH:
        return lambda doc: text in fld.strings(doc)
    if spec.type == "boolean":
        wanted = _parse_bool_text(text, spec.name)
        return lambda doc: wanted in _doc_bools(fld, doc)
    if spec.type == "ip":
        test = _ip_query(text, spec.name)
        return lambda doc: any(test(a) for a in _doc_ips(fld, doc))
    if spec.type == "date":
        low = _date_millis(text, False, spec.name)
        high = _date_millis(text, True, spec.name)
        return lambda doc: any(low <= v <= high for v in _doc_dates(fld, doc))
    if spec.type == "match_only_text":
        wanted = set(_standard_tokens(text, spec.name))
        if not wanted:
            return lambda doc: False  # zero_terms_query: none
        return lambda doc: any(
            wanted & set(_standard_tokens(v, spec.name)) for v in fld.strings(doc)
        )
    raise _unsupported(spec, "term")


def _phrase(fld: _Field, text: str) -> Predicate:
    spec = fld.spec
    if spec.type != "match_only_text":
        return _term(fld, text)  # keyword analyser: one token, the whole phrase
    wanted = _standard_tokens(text, spec.name)
    if not wanted:
        return lambda doc: False

    def check(doc: dict[str, Any]) -> bool:
        for value in fld.strings(doc):
            tokens = _standard_tokens(value, spec.name)
            for i in range(len(tokens) - len(wanted) + 1):
                if tokens[i : i + len(wanted)] == wanted:
                    return True
        return False

    return check


def _exists(fld: _Field) -> Predicate:
    spec = fld.spec
    if spec.type in _KEYWORDISH or spec.type == "match_only_text":
        return lambda doc: bool(fld.strings(doc))
    if spec.type == "ip":
        return lambda doc: bool(_doc_ips(fld, doc))
    return lambda doc: bool(fld.raw(doc))


def _prefix(fld: _Field, text: str) -> Predicate:
    if fld.spec.type not in _KEYWORDISH or fld.spec.type == "flattened":
        raise _unsupported(fld.spec, "prefix")
    return lambda doc: any(s.startswith(text) for s in fld.strings(doc))


def _wildcard(fld: _Field, raw: str) -> Predicate:
    if fld.spec.type not in ("keyword", "constant_keyword"):
        raise _unsupported(fld.spec, "wildcard")
    pattern = compile_wildcard(raw)
    return lambda doc: any(pattern.fullmatch(s) for s in fld.strings(doc))


def _regexp(fld: _Field, body: str, literal_anchors: bool) -> Predicate:
    if fld.spec.type not in ("keyword", "constant_keyword"):
        raise _unsupported(fld.spec, "regexp")
    try:
        pattern = compile_lucene_regex(body, literal_anchors=literal_anchors)
    except PatternError as exc:
        raise UnsupportedQueryError(str(exc)) from None
    return lambda doc: any(pattern.fullmatch(s) for s in fld.strings(doc))


def _range(
    fld: _Field, low: str | None, high: str | None, include_low: bool, include_high: bool
) -> Predicate:
    spec = fld.spec
    if low is None and high is None:
        return _exists(fld)
    if spec.type in _KEYWORDISH and spec.type != "flattened":

        def in_range_str(s: str) -> bool:
            if low is not None and (s < low or (s == low and not include_low)):
                return False
            return not (high is not None and (s > high or (s == high and not include_high)))

        return lambda doc: any(in_range_str(s) for s in fld.strings(doc))
    if spec.type == "date":
        # Elasticsearch rounds an exclusive lower bound and an inclusive upper bound up.
        lo = _date_millis(low, not include_low, spec.name) if low is not None else None
        hi = _date_millis(high, include_high, spec.name) if high is not None else None

        def in_range_ms(v: int) -> bool:
            if lo is not None and (v < lo or (v == lo and not include_low)):
                return False
            return not (hi is not None and (v > hi or (v == hi and not include_high)))

        return lambda doc: any(in_range_ms(v) for v in _doc_dates(fld, doc))
    if spec.type == "ip":
        try:
            lo_ip = _mapped_ip(low) if low is not None else None
            hi_ip = _mapped_ip(high) if high is not None else None
        except ValueError:
            raise UnsupportedQueryError(f"{spec.name}: range bounds are not IP addresses") from None

        def in_range_ip(a: ipaddress.IPv6Address) -> bool:
            if lo_ip is not None and (a < lo_ip or (a == lo_ip and not include_low)):
                return False
            return not (hi_ip is not None and (a > hi_ip or (a == hi_ip and not include_high)))

        return lambda doc: any(in_range_ip(a) for a in _doc_ips(fld, doc))
    raise _unsupported(spec, "range")


# --- escapes -----------------------------------------------------------------------------------


def discard_escape_char(text: str) -> str:
    """Lucene's ``QueryParserBase.discardEscapeChar`` (``\\x`` -> ``x``, ``\\uXXXX`` -> char)."""
    out: list[str] = []
    i = 0
    units: list[int] = []
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text):
                raise UnsupportedQueryError(f"term {text!r} ends with an escape character")
            nxt = text[i + 1]
            if nxt == "u":
                hexdigits = text[i + 2 : i + 6]
                if len(hexdigits) < 4 or not re.fullmatch(r"[0-9A-Fa-f]{4}", hexdigits):
                    raise UnsupportedQueryError(f"term {text!r}: truncated unicode escape")
                units.append(int(hexdigits, 16))
                i += 6
                continue
            _flush_units(units, out)
            out.append(nxt)
            i += 2
            continue
        _flush_units(units, out)
        out.append(c)
        i += 1
    _flush_units(units, out)
    return "".join(out)


def _flush_units(units: list[int], out: list[str]) -> None:
    if units:
        data = b"".join(u.to_bytes(2, "big") for u in units)
        try:
            out.append(data.decode("utf-16-be"))
        except UnicodeDecodeError:
            raise UnsupportedQueryError("\\u escapes form a lone surrogate") from None
        units.clear()


def _unescaped_positions(raw: str, chars: str) -> list[int]:
    found = []
    i = 0
    while i < len(raw):
        if raw[i] == "\\":
            i += 2
            continue
        if raw[i] in chars:
            found.append(i)
        i += 1
    return found


# --- compiling luqum's tree --------------------------------------------------------------------


@dataclass
class _Compiler:
    extra_fields: dict[str, FieldSpec] | None
    literal_anchors: bool
    source: str

    def field(self, name: str) -> _Field:
        try:
            return _Field(resolve_field(name, self.extra_fields))
        except FieldResolutionError as exc:
            raise UnsupportedQueryError(str(exc)) from None

    def compile(self, node: Item, fld: str | None) -> Predicate:
        if isinstance(node, BaseOperation):
            return self.boolean(node, fld)
        if isinstance(node, Group | FieldGroup):
            return self.compile(node.expr, fld)
        if isinstance(node, Not | Prohibit | Plus):
            return self.boolean(UnknownOperation(node), fld)
        if isinstance(node, SearchField):
            return self.search_field(node, fld)
        if isinstance(node, Boost):
            return self.compile(node.expr, fld)  # boosts only change scores
        if isinstance(node, Fuzzy):
            raise UnsupportedQueryError(f"fuzzy query {node} is not emulated")
        if isinstance(node, Proximity):
            raise UnsupportedQueryError(f"proximity query {node} is not emulated")
        if isinstance(node, Word):
            self.check_word(node.value)
        if fld is None:
            raise UnsupportedQueryError(
                f"term {node} has no field: Elasticsearch would search its default fields "
                "(index.query.default_field), which is not emulated"
            )
        if fld == "_exists_":
            return self.exists(node)
        if isinstance(node, Word):
            return self.word(node, self.field(fld))
        if isinstance(node, Phrase):
            return _phrase(self.field(fld), discard_escape_char(node.value[1:-1]))
        if isinstance(node, Regex):
            body = node.value[1:-1]
            if "\\\\/" in body:
                raise UnsupportedQueryError(
                    f"regex {node}: '\\\\' before '/' is tokenised differently by luqum and Lucene"
                )
            return _regexp(self.field(fld), body, self.literal_anchors)
        if isinstance(node, Range):
            return _range(
                self.field(fld),
                self.bound(node.low),
                self.bound(node.high),
                node.include_low,
                node.include_high,
            )
        if isinstance(node, From | To):
            bound = self.bound(node.a)
            if isinstance(node, From):
                return _range(self.field(fld), bound, None, node.include, True)
            return _range(self.field(fld), None, bound, True, node.include)
        raise UnsupportedQueryError(f"construct {type(node).__name__} ({node}) is not supported")

    def bound(self, node: Item) -> str | None:
        if isinstance(node, Phrase):
            return discard_escape_char(node.value[1:-1])
        if isinstance(node, Prohibit) and isinstance(node.a, Word):
            return "-" + discard_escape_char(node.a.value)
        if isinstance(node, Word):
            if node.value == "*":
                return None
            return discard_escape_char(node.value)
        raise UnsupportedQueryError(f"range bound {node} is not supported")

    def search_field(self, node: SearchField, outer: str | None) -> Predicate:
        name = node.name
        if _unescaped_positions(name, "*?"):
            raise UnsupportedQueryError(f"field name pattern {name!r} is not emulated")
        name = discard_escape_char(name)
        if isinstance(node.expr, Not | Prohibit | Plus | SearchField):
            raise UnsupportedQueryError(
                f"{node}: Lucene does not accept an operator or another field right after 'field:'"
            )
        return self.compile(node.expr, name)

    def exists(self, node: Item) -> Predicate:
        if isinstance(node, Word | Phrase):
            raw = node.value if isinstance(node, Word) else node.value[1:-1]
            if _unescaped_positions(raw, "*?"):
                raise UnsupportedQueryError(
                    f"_exists_ with a field pattern ({raw}) is not emulated"
                )
            name = discard_escape_char(raw)
            try:
                spec = resolve_field(name, self.extra_fields)
            except FieldResolutionError as exc:
                try:
                    specs = object_fields(name, self.extra_fields)
                except FieldResolutionError as inner:
                    raise UnsupportedQueryError(str(inner)) from None
                if not specs:
                    raise UnsupportedQueryError(str(exc)) from None
                preds = [_exists(_Field(s)) for s in specs]
                return lambda doc: any(p(doc) for p in preds)
            return _exists(_Field(spec))
        raise UnsupportedQueryError(f"_exists_:{node} is not supported")

    def word(self, node: Word, fld: _Field) -> Predicate:
        raw = node.value
        if raw == "*":
            return _exists(fld)
        wild = _unescaped_positions(raw, "*?")
        if wild:
            if wild == [len(raw) - 1] and raw.endswith("*"):
                return _prefix(fld, discard_escape_char(raw[:-1]))
            return _wildcard(fld, raw)
        text = discard_escape_char(raw)
        if len(text) > 1 and text[0] in "<>":
            # QueryStringQueryParser.getFieldQuery: an unquoted >x, >=x, <x, <=x is a range
            inclusive = len(text) > 2 and text[1] == "="
            bound = text[2:] if inclusive else text[1:]
            if text[0] == ">":
                return _range(fld, bound, None, inclusive, True)
            return _range(fld, None, bound, True, inclusive)
        return _term(fld, text)

    def check_word(self, raw: str) -> None:
        if raw in ("&&", "||"):
            raise UnsupportedQueryError(
                f"{raw!r} is an operator in Lucene but a word to luqum; write AND/OR"
            )
        bad = _unescaped_positions(raw, '/"!:')
        if bad:
            c = raw[bad[0]]
            raise UnsupportedQueryError(
                f"unescaped {c!r} inside the term {raw!r}: Lucene tokenises it differently "
                "from luqum; escape it"
            )

    # -- boolean levels -------------------------------------------------------------------------
    def linearize(self, node: Item, conj: str) -> list[tuple[str, Item]]:
        if isinstance(node, BaseOperation):
            op = {
                AndOperation: _CONJ_AND,
                OrOperation: _CONJ_OR,
                UnknownOperation: _CONJ_NONE,
            }.get(type(node))
            if op is None:
                raise UnsupportedQueryError(f"operation {type(node).__name__} is not supported")
            out: list[tuple[str, Item]] = []
            for i, operand in enumerate(node.operands):
                out.extend(self.linearize(operand, conj if i == 0 else op))
            return out
        return [(conj, node)]

    def boolean(self, node: Item, fld: str | None) -> Predicate:
        items = self.linearize(node, _CONJ_NONE)
        clauses: list[list[Any]] = []
        first_plain: Predicate | None = None
        previous: Item | None = None
        for index, (conj, item) in enumerate(items):
            mods = _MOD_NONE
            inner = item
            if isinstance(item, Not | Prohibit):
                mods, inner = _MOD_NOT, item.a
            elif isinstance(item, Plus):
                mods, inner = _MOD_REQ, item.a
            if isinstance(inner, Not | Prohibit | Plus):
                raise UnsupportedQueryError(
                    f"{item}: Lucene accepts one modifier (+, -, NOT) before a clause"
                )
            if (
                conj == _CONJ_NONE
                and index > 0
                and mods == _MOD_NONE
                and self.bare_word(inner)
                and previous is not None
                and self.bare_word(previous)
            ):
                raise UnsupportedQueryError(
                    f"implicit operator between the bare words {previous} and {inner}: "
                    "Elasticsearch's query_string analyses consecutive bare words as one "
                    "multi-word term; write AND/OR explicitly"
                )
            query = self.compile(inner, fld)
            _add_clause(clauses, conj, mods, query)
            if index == 0 and mods == _MOD_NONE:
                first_plain = query
            previous = item
        if len(clauses) == 1 and first_plain is not None:
            return first_plain
        return _Bool(
            must=tuple(q for occur, q in clauses if occur == _MUST),
            should=tuple(q for occur, q in clauses if occur == _SHOULD),
            must_not=tuple(q for occur, q in clauses if occur == _MUST_NOT),
        )

    @staticmethod
    def bare_word(node: Item) -> bool:
        return isinstance(node, Word) and not _unescaped_positions(node.value, "*?")


@dataclass(frozen=True)
class LuceneQuery:
    """A compiled query: ``query.matches(doc)`` gives Elasticsearch's answer for one document."""

    text: str
    predicate: Predicate

    def matches(self, doc: dict[str, Any]) -> bool:
        """Whether Elasticsearch's ``query_string`` query matches the document."""
        return bool(self.predicate(doc))

    def filter(self, docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The documents the query matches, in their order."""
        return [doc for doc in docs if self.predicate(doc)]


def compile_query(
    text: str,
    *,
    extra_fields: dict[str, FieldSpec] | None = None,
    literal_anchors: bool = False,
) -> LuceneQuery:
    """Parse and check a Lucene query string once; ``LuceneEvalError`` names what fails.

    ``extra_fields`` adds or overrides field mappings (name -> ``FieldSpec``);
    ``literal_anchors`` lets an unescaped ``^``/``$`` in a regex be the literal character
    Elasticsearch reads it as, instead of raising.
    """
    if not text.strip():
        raise UnsupportedQueryError("empty query")
    try:
        tree = luqum_parse(text)
    except ParseError as exc:
        raise UnsupportedQueryError(f"luqum cannot parse {text!r}: {exc}") from None
    compiler = _Compiler(extra_fields, literal_anchors, text)
    return LuceneQuery(text, compiler.compile(tree, None))


def matches(query: str, doc: dict[str, Any], **kwargs: Any) -> bool:
    """One-shot: whether ``query`` matches ``doc`` (see ``compile_query`` for the options)."""
    return compile_query(query, **kwargs).matches(doc)
