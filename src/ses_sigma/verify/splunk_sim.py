"""A small SPL interpreter for the searches the splunk target emits, to check them offline.

Splunk cannot run here, so the emitted SPL is *executed* by this module over CloudTrail
records: it parses the search text stage by stage and runs each command with Splunk's
documented semantics, never a restatement of a rule's logic. Tests run every pack rule's SPL
over every fixture case and compare the results with the matcher's alerts.

Supported (exactly what the target emits; anything else raises :class:`SplError`):

* search expressions (the implicit first ``search``, ``| search``, multisearch subsearches):
  ``field=value`` (case-insensitive whole value, ``*`` wildcard, CIDR values, any value of a
  multivalue field), ``field=*``, ``field IN (...)``, ``NOT``, ``OR``, ``AND`` (implicit),
  parentheses; precedence NOT > OR > AND (the search command's);
* commands ``multisearch``, ``search``, ``eval``, ``where``, ``regex``, ``stats`` (``max``,
  ``min``, ``count``, ``values`` ``by`` fields; multivalue by-fields split), ``fillnull``,
  ``sort`` (``0``, ``num()``/``str()``), ``streamstats`` (``current``, ``window``, ``global``;
  ``last``/``first``/``count``/``max``/``min`` ``by``), ``mvexpand``, ``rename``, ``table``,
  ``fields -``, ``addinfo``;
* eval/where expressions: literals, ``'field'`` and bare field names, ``+ - * /``, comparisons
  (numeric when both sides are numbers, else case-sensitive strings), ``AND``/``OR``/``NOT``
  (three-valued with null), ``if``, ``null``, ``isnull``, ``isnotnull``, ``mvappend``,
  ``tonumber``, ``tostring``, ``lower``.

Records become Splunk events as the Splunk Add-on for AWS extracts CloudTrail JSON
(:func:`event_from_record`): nested keys joined with ``.``, arrays as ``name{}`` (multivalue),
booleans ``true``/``false``, numbers in their JSON text, **JSON null as the string "null"**
(Splunk's JSON extraction keeps null values as that text), ``_time`` from ``eventTime``,
``sourcetype=aws:cloudtrail``.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ses_sigma.records import parse_event_time

__all__ = ["Row", "SplError", "event_from_record", "run_spl", "split_pipeline"]

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


# ----------------------------------------------------------------------- commands


@dataclass
class Context:
    """What ``addinfo`` reports: the search's time range."""

    min_time: float = 0.0
    max_time: float = float("inf")


def _words(text: str) -> list[str]:
    return [t.unquoted for t in tokenize(text)]


def _by_split(args: str) -> tuple[str, list[str]]:
    m = re.search(r"\sby\s", " " + args + " ")
    if m is None:
        return args, []
    head = (" " + args)[: m.start()]
    return head.strip(), _words((" " + args)[m.end() :])


def _key(row: Row, fields: Sequence[str]) -> tuple[Any, ...] | None:
    values = []
    for f in fields:
        v = row.get(f)
        if not v or len(v) != 1:
            return None
        values.append(v[0])
    return tuple(values)


_AGG = re.compile(r"(\w+)(?:\(([^)]*)\))?(?:\s+as\s+(\S+))?")


def _aggregations(text: str) -> list[tuple[str, str, str]]:
    out = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _AGG.match(text, pos)
        if m is None:
            raise SplError(f"cannot read aggregation at {text[pos:]!r}")
        func, arg, alias = m.group(1), (m.group(2) or "").strip(), m.group(3)
        if m.group(2) is None and func != "count":
            raise SplError(f"aggregation {func} without a field")
        default = func if m.group(2) is None else f"{func}({arg})"
        out.append((func, arg, alias or default))
        pos = m.end()
        while pos < len(text) and text[pos] in " ,":
            pos += 1
    return out


def _aggregate(func: str, values: list[Value]) -> Any:
    if func == "count":
        return len(values)
    if not values:
        return None
    if func == "values":
        return sorted({str(v) for v in values})
    if func in ("max", "min"):
        nums = [_number(v) for v in values]
        if all(n is not None for n in nums):
            return (max if func == "max" else min)(nums)  # type: ignore[type-var]
        strs = [str(v) for v in values]
        return max(strs) if func == "max" else min(strs)
    if func == "last":
        return values[-1]
    if func == "first":
        return values[0]
    raise SplError(f"aggregation {func}() is not supported")


def _stats(rows: list[Row], args: str) -> list[Row]:
    head, by = _by_split(args)
    aggs = _aggregations(head)
    groups: dict[tuple[Any, ...], list[Row]] = {}
    for row in rows:
        combos: list[tuple[Any, ...]] = [()]
        for f in by:
            vals = list(dict.fromkeys(row.get(f, [])))
            combos = [(*c, v) for c in combos for v in vals]
        for combo in combos:
            groups.setdefault(combo, []).append(row)
    out = []
    for combo in sorted(groups, key=lambda c: tuple(str(v) for v in c)):
        members = groups[combo]
        res: Row = {f: [v] for f, v in zip(by, combo, strict=True)}
        for func, arg, alias in aggs:
            values = [v for r in members for v in r.get(arg, [])] if arg else []
            _set(res, alias, _aggregate(func, values if arg else [0] * len(members)))
        out.append(res)
    return out


def _options(text: str, names: Iterable[str]) -> tuple[dict[str, str], str]:
    opts: dict[str, str] = {}
    rest = text
    pattern = re.compile(r"^\s*(" + "|".join(names) + r")=(\S+)")
    while (m := pattern.match(rest)) is not None:
        opts[m.group(1)] = m.group(2)
        rest = rest[m.end() :]
    return opts, rest.strip()


def _flag(opts: dict[str, str], name: str, default: bool) -> bool:
    v = opts.get(name)
    if v is None:
        return default
    return v.lower() in ("t", "true", "1")


def _streamstats(rows: list[Row], args: str) -> list[Row]:
    opts, rest = _options(args, ("current", "window", "global"))
    current = _flag(opts, "current", True)
    window = int(opts.get("window", "0"))
    global_window = _flag(opts, "global", True)
    if window and global_window:
        raise SplError("streamstats window with global=true is not supported")
    head, by = _by_split(rest)
    aggs = _aggregations(head)
    history: dict[tuple[Any, ...], list[Row]] = {}
    out = []
    for row in rows:
        key = _key(row, by) if by else ()
        res = dict(row)
        if key is not None:
            seen = history.setdefault(key, [])
            pool = [*seen, row] if current else list(seen)
            if window:
                pool = pool[-window:]
            for func, arg, alias in aggs:
                values = [v for r in pool for v in r.get(arg, [])[-1:]] if arg else [0] * len(pool)
                _set(res, alias, _aggregate(func, values))
            seen.append(row)
        out.append(res)
    return out


def _sort(rows: list[Row], args: str) -> list[Row]:
    words = args.split()
    if words and words[0].isdigit():
        if words[0] != "0":
            raise SplError("sort with a limit other than 0 is not supported")
        words = words[1:]
    keys: list[tuple[str, str]] = []
    for w in words:
        m = re.fullmatch(r"(num|str)\((.+)\)", w)
        keys.append((m.group(1), m.group(2)) if m else ("auto", w))

    def sort_key(row: Row) -> tuple[Any, ...]:
        out: list[Any] = []
        for kind, f in keys:
            v = row.get(f, [None])[0]
            if kind == "str":
                out.append((v is None, "" if v is None else str(v)))
            else:
                n = _number(v)
                out.append((n is None, n if n is not None else 0.0))
        return tuple(out)

    return sorted(rows, key=sort_key)


def _multisearch(events: list[Row], args: str, ctx: Context) -> list[Row]:
    subs = re.findall(r"\[((?:[^\[\]\"']|\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')*)\]", args)
    if not subs:
        raise SplError("multisearch without subsearches")
    out: list[Row] = []
    for sub in subs:
        text = sub.strip()
        if not text.startswith("search "):
            raise SplError(f"multisearch subsearch must start with search: {text!r}")
        out.extend(run_spl(text[len("search ") :], events, ctx))
    return out


def _rename(rows: list[Row], args: str) -> list[Row]:
    pairs = []
    for part in args.split(","):
        words = _words(part)
        if len(words) != 3 or words[1] != "as":
            raise SplError(f"rename: {part!r}")
        pairs.append((words[0], words[2]))
    out = []
    for row in rows:
        res = dict(row)
        for old, new in pairs:
            if old in res:
                res[new] = res.pop(old)
            else:
                res.pop(new, None)
        out.append(res)
    return out


def _run_command(rows: list[Row], cmd: str, ctx: Context, events: list[Row]) -> list[Row]:
    m = re.match(r"(\S+)\s*(.*)", cmd, re.DOTALL)
    if m is None:
        raise SplError("empty command")
    name, args = m.group(1), m.group(2).strip()
    if name == "search":
        pred = search_predicate(args)
        return [r for r in rows if pred(r)]
    if name == "multisearch":
        return _multisearch(events, args, ctx)
    if name == "eval":
        assigns = _assignments(args)
        out = []
        for row in rows:
            res = dict(row)
            for field, expr in assigns:
                _set(res, field, expr(res))
            out.append(res)
        return out
    if name == "where":
        expr = eval_expression(args)
        return [r for r in rows if _truth(expr(r)) is True]
    if name == "regex":
        m = re.fullmatch(r"(\S+?)(!?=)\"((?:[^\"\\]|\\.)*)\"", args, re.DOTALL)
        if m is None:
            raise SplError(f"regex: {args!r}")
        field, op = m.group(1), m.group(2)
        if op != "=":
            raise SplError("regex != is not supported")
        pattern = re.compile(re.sub(r"\\([\\\"])", r"\1", m.group(3)))
        return [r for r in rows if any(pattern.search(str(v)) for v in r.get(field, [])[:1])]
    if name == "stats":
        return _stats(rows, args)
    if name == "streamstats":
        return _streamstats(rows, args)
    if name == "fillnull":
        opts, rest = _options(args, ("value",))
        value = opts.get("value", "0")
        fields = _words(rest)
        return [{**r, **{f: [value] for f in fields if f not in r}} for r in rows]
    if name == "sort":
        return _sort(rows, args)
    if name == "mvexpand":
        [field] = _words(args)
        out = []
        for row in rows:
            for v in row.get(field, []):
                out.append({**row, field: [v]})
        return out
    if name == "rename":
        return _rename(rows, args)
    if name == "table":
        fields = _words(args.replace(",", " "))
        return [{f: r[f] for f in fields if f in r} for r in rows]
    if name == "fields":
        words = _words(args)
        if not words or words[0] != "-":
            raise SplError("only `fields - ...` is supported")
        drop = set(words[1:])
        return [{f: v for f, v in r.items() if f not in drop} for r in rows]
    if name == "addinfo":
        info = {
            "info_min_time": [ctx.min_time],
            "info_max_time": [ctx.max_time],
            "info_search_time": [ctx.max_time],
            "info_sid": ["sim"],
        }
        return [{**r, **info} for r in rows]
    raise SplError(f"command {name!r} is not supported")


def run_spl(spl: str, events: Sequence[Row], ctx: Context | None = None) -> list[Row]:
    """Run ``spl`` over ``events`` (already restricted to the search's time range)."""
    ctx = ctx or Context()
    base = [dict(e) for e in events]
    commands = split_pipeline(spl)
    first, rest = commands[0], commands[1:]
    rows = base if not first else _run_command(base, "search " + first, ctx, base)
    if not first and (not rest or not rest[0].startswith("multisearch")):
        raise SplError("a search must start with a search expression or multisearch")
    for cmd in rest:
        rows = _run_command(rows, cmd, ctx, base)
    return rows


# ----------------------------------------------------------------------- results as alerts


@dataclass(frozen=True, order=True)
class SimAlert:
    """One result row read as an alert: the completing time, the event ids, the group."""

    time: float
    event_ids: tuple[str, ...]
    group: tuple[tuple[str, str], ...] = ()


def result_alerts(rows: Iterable[Row], group_fields: Sequence[str] = ()) -> list[SimAlert]:
    """Result rows of a converted rule as alerts, sorted.

    The event ids are ``sigma_event_ids`` (correlations) or ``eventID``; ``group`` the values of
    ``group_fields`` (correlation group-by names, first-seen fields) in that order.
    """
    out = []
    for row in rows:
        ids = row.get("sigma_event_ids") or row.get("eventID")
        if not ids or "_time" not in row:
            raise SplError(f"result without _time or event ids: {row}")
        missing = [f for f in group_fields if len(row.get(f, [])) != 1]
        if missing:
            raise SplError(f"result without one value of {missing}: {row}")
        group = tuple((f, str(row[f][0])) for f in group_fields)
        out.append(SimAlert(float(row["_time"][0]), tuple(str(i) for i in ids), group))
    return sorted(out)


def run_scheduled(spl: str, events: Sequence[Row], interval: int, lookback: int) -> list[Row]:
    """Every run of a saved search that has something to judge, results concatenated.

    A run's window ends at a multiple of ``interval`` (cron ``*/N`` with
    ``dispatch.latest_time = -<delay>m@m``, the delay a multiple of the interval); the run
    ending at ``end`` reads the events with ``_time`` in ``[end - lookback, end)`` and
    ``addinfo`` reports ``info_max_time = end``. Only runs whose last interval holds an event
    are made (the others can only return nothing: every result is an event of that interval).
    """
    times = [float(e["_time"][0]) for e in events]
    rows: list[Row] = []
    for end in sorted({(math.floor(t / interval) + 1) * interval for t in times}):
        start = end - lookback
        window = [e for e in events if start <= float(e["_time"][0]) < end]
        rows.extend(run_spl(spl, window, Context(min_time=start, max_time=end)))
    return rows
