"""SPL search expressions for :mod:`ses_sigma.verify.splunk_sim`: events, tokens, search.

CloudTrail records as the Splunk Add-on for AWS extracts them (:func:`event_from_record`), the
tokenizer shared with eval, the pipeline splitter, and the search-expression predicate
(``field=value``, ``IN``, ``NOT``/``OR``/implicit ``AND`` with the search command's precedence).
The semantics are listed in :mod:`ses_sigma.verify.splunk_sim`.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ses_sigma.records import parse_event_time

__all__ = [
    "Row",
    "SplError",
    "Tok",
    "Value",
    "event_from_record",
    "search_predicate",
    "split_pipeline",
    "tokenize",
]

Value = str | float | int
#: A result: field -> list of values (one value: a single-valued field); absent = null.
Row = dict[str, list[Value]]


class SplError(Exception):
    """SPL this interpreter does not support (or that is malformed)."""


# ----------------------------------------------------------------------- events


def _json_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _flatten(prefix: str, value: Any, out: Row) -> None:
    if isinstance(value, dict):
        if not value and prefix:
            return
        for key, sub in value.items():
            _flatten(f"{prefix}.{key}" if prefix else key, sub, out)
    elif isinstance(value, list):
        for item in value:
            _flatten(prefix + "{}", item, out)
    else:
        out.setdefault(prefix, []).append(_json_text(value))


def event_from_record(record: dict[str, Any], sourcetype: str = "aws:cloudtrail") -> Row:
    """A CloudTrail record as Splunk's JSON extraction shows it (module docstring)."""
    row: Row = {}
    _flatten("", record, row)
    row["_time"] = [parse_event_time(record.get("eventTime"))]
    row["sourcetype"] = [sourcetype]
    return row


# ----------------------------------------------------------------------- tokenizing


def split_pipeline(spl: str) -> list[str]:
    """Split SPL at top-level ``|`` (outside quotes and ``[...]``) into stripped commands."""
    parts: list[str] = []
    buf: list[str] = []
    depth = 0
    quote: str | None = None
    i = 0
    while i < len(spl):
        c = spl[i]
        if quote:
            buf.append(c)
            if c == "\\" and i + 1 < len(spl):
                buf.append(spl[i + 1])
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'":
            quote = c
            buf.append(c)
        elif c == "[":
            depth += 1
            buf.append(c)
        elif c == "]":
            depth -= 1
            buf.append(c)
        elif c == "|" and depth == 0:
            parts.append("".join(buf).strip())
            buf = []
        else:
            buf.append(c)
        i += 1
    if quote or depth:
        raise SplError(f"unbalanced quotes or brackets in: {spl!r}")
    parts.append("".join(buf).strip())
    return parts


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<dq>"(?:[^"\\]|\\.)*")
      | (?P<sq>'(?:[^'\\]|\\.)*')
      | (?P<op><=|>=|!=|==|[=<>(),+\-*/\[\]])
      | (?P<word>[^\s=<>!(),"'\[\]+\-*/]+)
    )""",
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Tok:
    """A token: kind is ``dq`` (double-quoted), ``sq`` (single-quoted), ``op`` or ``word``."""

    kind: str
    text: str

    @property
    def unquoted(self) -> str:
        """The text of a quoted token with backslash escapes resolved."""
        if self.kind in ("dq", "sq"):
            return re.sub(r"\\(.)", r"\1", self.text[1:-1], flags=re.DOTALL)
        return self.text


def tokenize(text: str) -> list[Tok]:
    """Tokens of a search or eval expression."""
    out: list[Tok] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise SplError(f"cannot tokenize {text[pos:]!r}")
        kind = m.lastgroup
        assert kind is not None
        out.append(Tok(kind, m.group(kind)))
        pos = m.end()
    return out


class _Cursor:
    def __init__(self, toks: list[Tok]):
        self.toks = toks
        self.i = 0

    def peek(self, k: int = 0) -> Tok | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def next(self) -> Tok:
        tok = self.peek()
        if tok is None:
            raise SplError("unexpected end of expression")
        self.i += 1
        return tok

    def accept(self, text: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind in ("op", "word") and tok.text == text:
            self.i += 1
            return True
        return False

    def expect(self, text: str) -> None:
        if not self.accept(text):
            raise SplError(f"expected {text!r}, got {self.peek()}")

    def done(self) -> bool:
        return self.i >= len(self.toks)


# ----------------------------------------------------------------------- search expressions

Pred = Callable[[Row], bool]


def _value_matcher(pattern: str) -> Callable[[Value], bool]:
    """Splunk's field=value: case-insensitive whole value, ``*`` wildcard, or a CIDR."""
    if "/" in pattern and "*" not in pattern:
        try:
            net = ipaddress.ip_network(pattern, strict=False)
        except ValueError:
            net = None
        if net is not None:

            def in_net(v: Value) -> bool:
                try:
                    return ipaddress.ip_address(str(v)) in net
                except ValueError:
                    return False

            return in_net
    regex = re.compile(
        "".join(".*" if c == "*" else re.escape(c) for c in pattern), re.IGNORECASE | re.DOTALL
    )
    return lambda v: regex.fullmatch(str(v)) is not None


def _field_name(tok: Tok) -> str:
    return tok.unquoted


class _SearchParser:
    """search := and; and := or+ ; or := not (OR not)* ; not := NOT not | atom."""

    def __init__(self, text: str):
        self.c = _Cursor(tokenize(text))

    def parse(self) -> Pred:
        if self.c.done():
            return lambda row: True
        pred = self.and_()
        if not self.c.done():
            raise SplError(f"unexpected {self.c.peek()} in search")
        return pred

    def and_(self) -> Pred:
        preds = [self.or_()]
        while not self.c.done() and self.c.peek() != Tok("op", ")"):
            self.c.accept("AND")
            preds.append(self.or_())
        return lambda row: all(p(row) for p in preds)

    def or_(self) -> Pred:
        preds = [self.not_()]
        while self.c.accept("OR"):
            preds.append(self.not_())
        return preds[0] if len(preds) == 1 else (lambda row: any(p(row) for p in preds))

    def not_(self) -> Pred:
        if self.c.accept("NOT"):
            inner = self.not_()
            return lambda row: not inner(row)
        return self.atom()

    def atom(self) -> Pred:
        if self.c.accept("("):
            pred = self.and_()
            self.c.expect(")")
            return pred
        field_tok = self.c.next()
        if field_tok.kind not in ("word", "dq"):
            raise SplError(f"expected a field, got {field_tok}")
        field = _field_name(field_tok)
        if self.c.accept("IN"):
            self.c.expect("(")
            values = [self.c.next().unquoted]
            while self.c.accept(","):
                values.append(self.c.next().unquoted)
            self.c.expect(")")
            matchers = [_value_matcher(v) for v in values]
            return lambda row: any(m(v) for v in row.get(field, []) for m in matchers)
        op = self.c.next()
        if op.text != "=":
            raise SplError(f"search comparison {op.text!r} is not supported")
        value = self.c.next()
        if value.kind == "op" and value.text == "*":
            return lambda row: bool(row.get(field))
        if value.kind not in ("dq", "word"):
            raise SplError(f"unexpected value {value}")
        matcher = _value_matcher(value.unquoted)
        return lambda row: any(matcher(v) for v in row.get(field, []))


def search_predicate(text: str) -> Pred:
    """The predicate of a search expression (module docstring)."""
    return _SearchParser(text).parse()
