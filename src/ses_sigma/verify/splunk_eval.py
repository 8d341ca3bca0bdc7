"""SPL ``eval``/``where`` expressions for :mod:`ses_sigma.verify.splunk_sim`.

Literals, fields, arithmetic, comparisons (numeric when both sides are numbers, else
case-sensitive strings), three-valued ``AND``/``OR``/``NOT``, and the functions the splunk
target emits; anything else raises ``SplError``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from ses_sigma.verify.splunk_search import (
    Row,
    SplError,
    Tok,
    Value,
    _Cursor,
    tokenize,
)

__all__ = ["Expr", "eval_expression"]

# ----------------------------------------------------------------------- eval expressions

Expr = Callable[[Row], Any]  # -> None (null), a value, or a list (multivalue), or bool


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or v is None or isinstance(v, list):
        return None
    if isinstance(v, int | float):
        return float(v)
    try:
        f = float(str(v).strip())
    except ValueError:
        return None
    return f if math.isfinite(f) else None


def _single(v: Any) -> Any:
    if isinstance(v, list):
        return v[0] if len(v) == 1 else (v or None)
    return v


def _compare(op: str, a: Any, b: Any) -> bool | None:
    a, b = _single(a), _single(b)
    if a is None or b is None:
        return None
    if isinstance(a, list) or isinstance(b, list):
        raise SplError("comparison of multivalue fields is not supported")
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None:
        x: Any = na
        y: Any = nb
    else:
        x, y = str(a), str(b)
    return {
        "=": x == y,
        "==": x == y,
        "!=": x != y,
        "<": x < y,
        ">": x > y,
        "<=": x <= y,
        ">=": x >= y,
    }[op]


def _truth(v: Any) -> bool | None:
    if v is None or isinstance(v, bool):
        return v
    raise SplError(f"not a boolean: {v!r}")


def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def _or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def _mvappend(*args: Any) -> Any:
    out: list[Value] = []
    for a in args:
        if a is None:
            continue
        out.extend(a if isinstance(a, list) else [a])
    return out or None


def _arith(op: str, a: Any, b: Any) -> Any:
    na, nb = _number(_single(a)), _number(_single(b))
    if na is None or nb is None:
        return None
    if op == "+":
        return na + nb
    if op == "-":
        return na - nb
    if op == "*":
        return na * nb
    return None if nb == 0 else na / nb


_FUNCS: dict[str, Callable[..., Any]] = {
    "null": lambda: None,
    "isnull": lambda v: v is None,
    "isnotnull": lambda v: v is not None,
    "mvappend": _mvappend,
    "tonumber": lambda v: _number(_single(v)),
    "tostring": lambda v: None if v is None else str(_single(v)),
    "lower": lambda v: None if v is None else str(_single(v)).lower(),
    "coalesce": lambda *vs: next((v for v in vs if v is not None), None),
    "nullif": lambda a, b: None if a is not None and _single(a) == _single(b) else a,
}


_COMPARISONS = ("=", "==", "!=", "<", ">", "<=", ">=")


class _EvalParser:
    """or := and (OR and)* ; and := not (AND not)* ; not := NOT not | cmp ;
    cmp := sum (op sum)? ; sum := term ((+|-) term)* ; term := atom ((*|/) atom)*."""

    def __init__(self, toks: list[Tok]):
        self.c = _Cursor(toks)

    def parse_all(self) -> Expr:
        expr = self.or_()
        if not self.c.done():
            raise SplError(f"unexpected {self.c.peek()} in expression")
        return expr

    def or_(self) -> Expr:
        left = self.and_()
        while self.c.accept("OR"):
            right = self.and_()
            left = (lambda a, b: lambda row: _or(_truth(a(row)), _truth(b(row))))(left, right)
        return left

    def and_(self) -> Expr:
        left = self.not_()
        while self.c.accept("AND"):
            right = self.not_()
            left = (lambda a, b: lambda row: _and(_truth(a(row)), _truth(b(row))))(left, right)
        return left

    def not_(self) -> Expr:
        if self.c.accept("NOT"):
            inner = self.not_()

            def neg(row: Row) -> bool | None:
                v = _truth(inner(row))
                return None if v is None else not v

            return neg
        return self.cmp()

    def cmp(self) -> Expr:
        left = self.sum_()
        tok = self.c.peek()
        if tok is not None and tok.kind == "op" and tok.text in _COMPARISONS:
            self.c.next()
            right = self.sum_()
            op = tok.text
            return lambda row: _compare(op, left(row), right(row))
        return left

    def sum_(self) -> Expr:
        left = self.term()
        while (tok := self.c.peek()) is not None and tok.kind == "op" and tok.text in "+-":
            self.c.next()
            right = self.term()
            left = (lambda a, b, o: lambda row: _arith(o, a(row), b(row)))(left, right, tok.text)
        return left

    def term(self) -> Expr:
        left = self.atom()
        while (tok := self.c.peek()) is not None and tok.kind == "op" and tok.text in "*/":
            self.c.next()
            right = self.atom()
            left = (lambda a, b, o: lambda row: _arith(o, a(row), b(row)))(left, right, tok.text)
        return left

    def atom(self) -> Expr:
        tok = self.c.next()
        if tok.kind == "op" and tok.text == "(":
            inner = self.or_()
            self.c.expect(")")
            return inner
        if tok.kind == "dq":
            text = tok.unquoted
            return lambda row: text
        if tok.kind == "sq":
            name = tok.unquoted
            return lambda row: _field(row, name)
        if tok.kind == "word":
            if self.c.peek() == Tok("op", "("):
                return self.call(tok.text)
            num = _number(tok.text)
            if num is not None and re.fullmatch(r"[0-9.]+", tok.text):
                return lambda row: num
            name = tok.text
            return lambda row: _field(row, name)
        raise SplError(f"unexpected {tok} in expression")

    def call(self, name: str) -> Expr:
        func = _FUNCS.get(name)
        self.c.expect("(")
        args: list[Expr] = []
        if not self.c.accept(")"):
            args.append(self.or_())
            while self.c.accept(","):
                args.append(self.or_())
            self.c.expect(")")
        if name == "if":
            if len(args) != 3:
                raise SplError("if() takes three arguments")
            cond, yes, no = args
            return lambda row: yes(row) if _truth(cond(row)) else no(row)
        if func is None:
            raise SplError(f"eval function {name}() is not supported")
        return lambda row: func(*(a(row) for a in args))


def _field(row: Row, name: str) -> Any:
    values = row.get(name)
    if not values:
        return None
    return values[0] if len(values) == 1 else list(values)


def eval_expression(text: str) -> Expr:
    """An eval/where expression."""
    return _EvalParser(tokenize(text)).parse_all()


def _assignments(text: str) -> list[tuple[str, Expr]]:
    """``a=expr, b=expr`` (commas inside parentheses belong to function calls)."""
    toks = tokenize(text)
    out: list[tuple[str, Expr]] = []
    start = 0
    depth = 0
    pieces: list[list[Tok]] = []
    for i, tok in enumerate(toks):
        if tok.kind == "op" and tok.text == "(":
            depth += 1
        elif tok.kind == "op" and tok.text == ")":
            depth -= 1
        elif tok.kind == "op" and tok.text == "," and depth == 0:
            pieces.append(toks[start:i])
            start = i + 1
    pieces.append(toks[start:])
    for piece in pieces:
        if len(piece) < 3 or piece[1] != Tok("op", "="):
            raise SplError(f"not an eval assignment: {piece}")
        out.append((piece[0].unquoted, _EvalParser(piece[2:]).parse_all()))
    return out


def _set(row: Row, name: str, value: Any) -> None:
    if isinstance(value, bool):
        raise SplError(f"eval of {name}: a boolean is not a field value")
    if value is None:
        row.pop(name, None)
    elif isinstance(value, list):
        row[name] = list(value)
    else:
        row[name] = [value]
