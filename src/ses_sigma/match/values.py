"""Sigma values compiled into tests of one scalar field value (``match.detection`` uses them).

Each Sigma value type (``sigma.types``) becomes a :data:`ValueTest`, a closure over one scalar
JSON value (the semantics are listed in ``match.detection`` and docs/DESIGN.md). These are the
reference tests. :func:`str_test` gives, for the string values and regular expressions that
make most of a pack, a test specialised for values already known to be ``str`` (the common
case in CloudTrail), equal to the reference test on every string; the fast field predicates of
``match.fast`` use it.
"""

from __future__ import annotations

import ipaddress
import operator
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExpansion,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
    TimestampPart,
)

from ses_sigma.match.regex import RegexRefused, compile_regex, compile_wildcard, re2_literal

__all__ = [
    "StrTest",
    "Unsupported",
    "ValueTest",
    "str_test",
    "string_shape",
    "value_test",
    "value_text",
]

#: A compiled value: one scalar field value -> does it match?
ValueTest = Callable[[Any], bool]
#: A compiled value for a value known to be a ``str``.
StrTest = Callable[[str], bool]


class Unsupported(Exception):
    """A construct the matcher cannot evaluate faithfully (becomes a RuleCompileError)."""


_Unsupported = Unsupported


# --------------------------------------------------------------------------- value text forms


def value_text(value: Any) -> str | None:
    """The text a scalar JSON value is compared as; None for objects and arrays.

    Strings are themselves, booleans ``true``/``false``, numbers their JSON form.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return None


_NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


def _as_number(value: Any) -> int | float | None:
    """A JSON number, or a string holding a decimal number; None otherwise (booleans too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        s = value.strip()
        if _NUMBER_RE.match(s):
            try:
                return int(s)
            except ValueError:
                return float(s)
    return None


# --------------------------------------------------------------------------- value tests


def _string_test(value: SigmaString) -> ValueTest:
    """Whole-value match of a Sigma string with ``*``/``?`` wildcards."""
    cased = isinstance(value, SigmaCasedString)
    parts = list(value.s)
    if any(isinstance(p, Placeholder) for p in parts):
        raise _Unsupported(
            f"placeholder %{next(p.name for p in parts if isinstance(p, Placeholder))}% "
            "(|expand) has no value: placeholders must be resolved by a processing pipeline"
        )

    def norm(s: str) -> str:
        return s if cased else s.lower()

    specials = [p for p in parts if isinstance(p, SpecialChars)]
    plain = [norm(p) for p in parts if isinstance(p, str)]

    if not specials:
        target = "".join(plain)

        def equals(v: Any) -> bool:
            t = value_text(v)
            return t is not None and norm(t) == target

        return equals

    multi = SpecialChars.WILDCARD_MULTI
    # Fast paths for the shapes contains/startswith/endswith produce.
    if all(p == multi for p in specials) and len(plain) == 1:
        needle = plain[0]
        if parts[0] == multi and parts[-1] == multi and len(parts) == 3:

            def contains(v: Any) -> bool:
                t = value_text(v)
                return t is not None and needle in norm(t)

            return contains
        if parts[-1] == multi and len(parts) == 2:

            def startswith(v: Any) -> bool:
                t = value_text(v)
                return t is not None and norm(t).startswith(needle)

            return startswith
        if parts[0] == multi and len(parts) == 2:

            def endswith(v: Any) -> bool:
                t = value_text(v)
                return t is not None and norm(t).endswith(needle)

            return endswith
    if len(parts) == 1 and parts[0] == multi:
        return lambda v: value_text(v) is not None

    pattern = "".join(
        ".*" if p == multi else "." if p == SpecialChars.WILDCARD_SINGLE else re2_literal(norm(p))
        for p in parts
    )
    try:
        fullmatch = compile_wildcard(pattern)  # RE2: linear in the value, whatever the pattern
    except RegexRefused as exc:
        raise _Unsupported(f"wildcard pattern {str(value)!r}: {exc}") from None

    def wildcard(v: Any) -> bool:
        t = value_text(v)
        return t is not None and fullmatch(norm(t))

    return wildcard


def _number_test(value: SigmaNumber) -> ValueTest:
    n = value.number

    def number(v: Any) -> bool:
        x = _as_number(v)
        return x is not None and x == n

    return number


def _bool_test(value: SigmaBool) -> ValueTest:
    b = value.boolean
    text = "true" if b else "false"

    def boolean(v: Any) -> bool:
        if isinstance(v, bool):
            return v is b
        return isinstance(v, str) and v.lower() == text

    return boolean


_RE_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: "i",
    SigmaRegularExpressionFlag.MULTILINE: "m",
    SigmaRegularExpressionFlag.DOTALL: "s",
}


def _regex_test(value: SigmaRegularExpression) -> ValueTest:
    """``|re``: an RE2 search (linear time; ``match.regex`` lists the semantics), or refused."""
    if value.contains_placeholder():
        raise _Unsupported("regular expression with an unresolved |expand placeholder")
    pattern = str(value.regexp)
    try:
        search = compile_regex(pattern, "".join(_RE_FLAGS[f] for f in value.flags))
    except RegexRefused as exc:
        raise _Unsupported(f"regular expression {pattern!r}: {exc}") from None

    def regex(v: Any) -> bool:
        t = value_text(v)
        return t is not None and search(t)

    return regex


def _cidr_test(value: SigmaCIDRExpression) -> ValueTest:
    network = value.network

    def cidr(v: Any) -> bool:
        if not isinstance(v, str):
            return False
        try:
            addr = ipaddress.ip_address(v.strip())
        except ValueError:
            return False
        return addr.version == network.version and addr in network

    return cidr


_COMPARE = {
    CompareOperators.LT: operator.lt,
    CompareOperators.LTE: operator.le,
    CompareOperators.GT: operator.gt,
    CompareOperators.GTE: operator.ge,
    CompareOperators.NEQ: operator.ne,
}


def _compare_test(value: SigmaCompareExpression) -> ValueTest:
    op = _COMPARE.get(value.op)
    if op is None:
        raise _Unsupported(f"comparison operator {value.op!r}")
    n = value.number.number

    def compare(v: Any) -> bool:
        x = _as_number(v)
        return x is not None and op(x, n)

    return compare


def _timestamp_part(ts: datetime, part: TimestampPart) -> int:
    if part is TimestampPart.MINUTE:
        return ts.minute
    if part is TimestampPart.HOUR:
        return ts.hour
    if part is TimestampPart.DAY:
        return ts.day
    if part is TimestampPart.WEEK:
        return ts.isocalendar().week
    if part is TimestampPart.MONTH:
        return ts.month
    return ts.year


def _timestamp_test(value: SigmaTimestampPart) -> ValueTest:
    part, n = value.timestamp_part, value.number

    def timestamp(v: Any) -> bool:
        if not isinstance(v, str):
            return False
        try:
            ts = datetime.fromisoformat(v.strip().replace("Z", "+00:00"))
        except ValueError:
            return False
        if ts.tzinfo is not None:
            ts = ts.astimezone(UTC)
        return _timestamp_part(ts, part) == n

    return timestamp


def value_test(value: Any) -> ValueTest:
    """Compile one Sigma value (from ``sigma.types``) into a test of one scalar field value."""
    if isinstance(value, SigmaString):
        return _string_test(value)
    if isinstance(value, SigmaTimestampPart):  # before SigmaNumber: it is a subclass
        return _timestamp_test(value)
    if isinstance(value, SigmaNumber):
        return _number_test(value)
    if isinstance(value, SigmaBool):
        return _bool_test(value)
    if isinstance(value, SigmaRegularExpression):
        return _regex_test(value)
    if isinstance(value, SigmaCIDRExpression):
        return _cidr_test(value)
    if isinstance(value, SigmaCompareExpression):
        return _compare_test(value)
    if isinstance(value, SigmaExpansion):  # base64offset, windash: OR of the variants
        tests = [value_test(v) for v in value.values]
        return lambda v: any(t(v) for t in tests)
    raise _Unsupported(f"value type {type(value).__name__} ({value!r})")


# --------------------------------------------------------------------------- str fast paths


def string_shape(value: Any) -> tuple[str, bool, str] | None:
    """(kind, cased, text) of a Sigma string whose shape has a direct ``str`` form: kind
    ``eq`` (no wildcard), ``contains`` (``*text*``), ``startswith`` (``text*``) or
    ``endswith`` (``*text``); ``text`` lower-cased unless ``cased``. None for anything else
    (other wildcards, placeholders, other value types)."""
    if not isinstance(value, SigmaString):
        return None
    cased = isinstance(value, SigmaCasedString)
    parts = list(value.s)
    specials = [p for p in parts if isinstance(p, SpecialChars)]
    plain = [p if cased else p.lower() for p in parts if isinstance(p, str)]
    if len(plain) != len(parts) - len(specials):
        return None  # placeholders: refused by value_test
    multi = SpecialChars.WILDCARD_MULTI
    if not specials:
        return ("eq", cased, "".join(plain))
    if not all(p == multi for p in specials) or len(plain) != 1:
        return None
    if len(parts) == 3 and parts[0] == multi and parts[-1] == multi:
        return ("contains", cased, plain[0])
    if len(parts) == 2 and parts[-1] == multi:
        return ("startswith", cased, plain[0])
    if len(parts) == 2 and parts[0] == multi:
        return ("endswith", cased, plain[0])
    return None


def _shape_test(kind: str, cased: bool, text: str) -> StrTest:
    if kind == "eq":
        return text.__eq__ if cased else lambda s: s.lower() == text
    if kind == "contains":
        return (lambda s: text in s) if cased else lambda s: text in s.lower()
    if kind == "startswith":
        return (lambda s: s.startswith(text)) if cased else lambda s: s.lower().startswith(text)
    return (lambda s: s.endswith(text)) if cased else lambda s: s.lower().endswith(text)


def str_test(value: Any, reference: ValueTest) -> StrTest:
    """A test of ``value`` for ``str`` field values, equal to ``reference`` (its
    ``value_test``) on every string: specialised for the common string shapes, else
    ``reference`` itself (every value test takes strings)."""
    shape = string_shape(value)
    if shape is not None:
        return _shape_test(*shape)
    return reference
