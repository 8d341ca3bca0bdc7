"""Compile a Sigma rule's detection into a fast predicate over CloudTrail records.

pySigma parses the rule; this module walks pySigma's condition tree
(``rule.detection.parsed_condition[i].parsed``: ``ConditionAND/OR/NOT`` over
``ConditionFieldEqualsValueExpression`` and ``ConditionValueExpression``) once and turns it into
nested Python closures. Nothing is interpreted per record except those closures.

Semantics (docs/DESIGN.md, "Matching semantics", is the reference):

* plain strings match the whole value, case-insensitively; ``*`` and ``?`` are wildcards
  (pySigma has already resolved escapes and the contains/startswith/endswith modifiers into
  wildcards); ``|cased`` strings are case-sensitive;
* numbers and booleans in the record compare with their JSON text forms (``5`` matches ``'5'``,
  ``true`` matches ``'true'``); a Sigma number matches a JSON number or a numeric string of equal
  value; a Sigma boolean matches a JSON boolean or the string ``true``/``false`` in any case;
* ``|re`` searches the value's text (case-sensitive unless ``|i``; ``|m``, ``|s`` flags) with
  RE2, in time linear in the value (``match.regex``: PCRE's ASCII ``\\d``/``\\w``/``\\b``;
  a pattern RE2 cannot run with its meaning is a load error); wildcard patterns run on RE2 too;
* ``|cidr`` matches string values that parse as an IP address inside the network;
* ``|gt``/``|gte``/``|lt``/``|lte`` compare numerically; a non-numeric value never matches;
* ``|fieldref`` compares with the value(s) of another field of the same record, exactly
  (case-sensitive, text forms), honouring ``|startswith``/``|endswith`` combined with it;
* timestamp parts (``|minute`` ... ``|year``) read an ISO 8601 value and compare the part;
* ``null`` (and ``|exists: false``) means no non-null value at the path; ``|exists: true`` the
  opposite; an empty string is a value;
* a path that meets arrays matches when any element matches (``field_getter``);
* keywords (values without a field) match when any scalar anywhere in the record matches.

Anything else (``|expand`` placeholders left unresolved, query expressions, unknown value
types, a condition that is empty after processing) raises :class:`RuleCompileError` naming the
rule and the construct, when the pack is compiled: a rule is never silently false.
"""

from __future__ import annotations

import ipaddress
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
    TimestampPart,
)

from ses_sigma.match.errors import RuleCompileError
from ses_sigma.match.fields import field_getter, leaf_values
from ses_sigma.match.regex import RegexRefused, compile_regex, compile_wildcard, re2_literal
from ses_sigma.pack import rule_key

__all__ = [
    "CompiledDetection",
    "Predicate",
    "RuleCompileError",
    "ValueTest",
    "compile_condition",
    "compile_detection",
    "value_text",
]

#: A compiled detection: record dict -> does the rule's condition hold?
Predicate = Callable[[dict[str, Any]], bool]
#: A compiled value: one scalar field value -> does it match?
ValueTest = Callable[[Any], bool]

Node = Any  # a pySigma condition tree node


@dataclass(frozen=True, slots=True)
class CompiledDetection:
    """A single-event rule compiled for matching.

    ``event_sources`` / ``event_names``: lower-cased values one of which a record's
    ``eventSource`` / ``eventName`` must have for the rule to match, or None when the rule does
    not pin the field to plain values. The engine uses them to dispatch records to rules.
    """

    rule: SigmaRule
    predicate: Predicate
    event_sources: frozenset[str] | None
    event_names: frozenset[str] | None


class _Unsupported(Exception):
    """A construct the matcher cannot evaluate faithfully (becomes a RuleCompileError)."""


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


# --------------------------------------------------------------------------- field tests


def _fieldref_test(field: str, ref: SigmaFieldReference) -> Predicate:
    get = field_getter(field)
    get_ref = field_getter(ref.field)
    if ref.starts_with and ref.ends_with:
        rel: Callable[[str, str], bool] = lambda a, b: b in a  # noqa: E731
    elif ref.starts_with:
        rel = str.startswith
    elif ref.ends_with:
        rel = str.endswith
    else:
        rel = operator.eq

    def fieldref(data: dict[str, Any]) -> bool:
        others = [t for t in map(value_text, get_ref(data)) if t is not None]
        if not others:
            return False
        for v in get(data):
            t = value_text(v)
            if t is not None and any(rel(t, o) for o in others):
                return True
        return False

    return fieldref


def _field_test(node: ConditionFieldEqualsValueExpression) -> Predicate:
    field, value = node.field, node.value
    if isinstance(value, SigmaNull):
        get = field_getter(field)
        return lambda data: not get(data)
    if isinstance(value, SigmaExists):
        get = field_getter(field)
        want = bool(value.exists)
        return lambda data: bool(get(data)) is want
    if isinstance(value, SigmaFieldReference):
        return _fieldref_test(field, value)
    test = value_test(value)
    get = field_getter(field)

    def field_equals(data: dict[str, Any]) -> bool:
        for v in get(data):
            if test(v):
                return True
        return False

    return field_equals


def _set_test(field: str, values: list[str]) -> Predicate:
    """Several plain case-insensitive strings on one field (``field: [a, b, c]``): a set lookup."""
    get = field_getter(field)
    wanted = frozenset(values)

    def field_in(data: dict[str, Any]) -> bool:
        for v in get(data):
            t = value_text(v)
            if t is not None and t.lower() in wanted:
                return True
        return False

    return field_in


def _keyword_test(node: ConditionValueExpression) -> Predicate:
    value = node.value
    if isinstance(value, SigmaNull | SigmaExists | SigmaFieldReference):
        raise _Unsupported(f"{type(value).__name__} without a field")
    test = value_test(value)

    def keyword(data: dict[str, Any]) -> bool:
        return any(test(v) for v in leaf_values(data))

    return keyword


# --------------------------------------------------------------------------- condition tree


def _plain_string(node: Node) -> str | None:
    """The lower-cased text of a plain (no wildcard, not cased) string value, else None."""
    if not isinstance(node, ConditionFieldEqualsValueExpression):
        return None
    value = node.value
    if type(value) is not SigmaString:  # SigmaCasedString is a subclass: excluded
        return None
    if not all(isinstance(p, str) for p in value.s):
        return None
    return "".join(value.s).lower()


def _compile_or(args: list[Node]) -> Predicate:
    # Merge plain-string tests on the same field into one set lookup; keep the rest in order.
    by_field: dict[str, list[str]] = {}
    rest: list[Node] = []
    for arg in args:
        text = _plain_string(arg)
        if text is None:
            rest.append(arg)
        else:
            by_field.setdefault(arg.field, []).append(text)
    preds: list[Predicate] = []
    for field, values in by_field.items():
        preds.append(_eq_test(field, values[0]) if len(values) == 1 else _set_test(field, values))
    preds.extend(compile_condition(a) for a in rest)
    if len(preds) == 1:
        return preds[0]
    tup = tuple(preds)

    def any_of(data: dict[str, Any]) -> bool:
        for p in tup:
            if p(data):
                return True
        return False

    return any_of


def _eq_test(field: str, text: str) -> Predicate:
    get = field_getter(field)

    def field_eq(data: dict[str, Any]) -> bool:
        for v in get(data):
            t = value_text(v)
            if t is not None and t.lower() == text:
                return True
        return False

    return field_eq


def compile_condition(node: Node) -> Predicate:
    """Compile a pySigma condition tree node into a predicate over record dicts."""
    if isinstance(node, ConditionAND):
        preds = tuple(compile_condition(a) for a in node.args)

        def all_of(data: dict[str, Any]) -> bool:
            for p in preds:
                if not p(data):
                    return False
            return True

        return all_of
    if isinstance(node, ConditionOR):
        return _compile_or(list(node.args))
    if isinstance(node, ConditionNOT):
        inner = compile_condition(node.args[0])
        return lambda data: not inner(data)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        text = _plain_string(node)
        if text is not None:
            return _eq_test(node.field, text)
        return _field_test(node)
    if isinstance(node, ConditionValueExpression):
        return _keyword_test(node)
    if node is None:
        raise _Unsupported("a condition that is empty after processing")
    raise _Unsupported(f"condition element {type(node).__name__}")


def _required_values(node: Node, field: str) -> frozenset[str] | None:
    """Lower-cased plain values one of which ``field`` must hold for ``node`` to be true.

    None when the node does not constrain the field to a finite set of plain values. Used only
    to dispatch records to rules, so a superset is always safe, a subset never.
    """
    if isinstance(node, ConditionFieldEqualsValueExpression):
        if node.field != field:
            return None
        value = node.value
        if isinstance(value, SigmaString) and all(isinstance(p, str) for p in value.s):
            return frozenset(["".join(value.s).lower()])
        return None
    if isinstance(node, ConditionAND):
        found = [r for r in (_required_values(a, field) for a in node.args) if r is not None]
        if not found:
            return None
        return frozenset.intersection(*found)
    if isinstance(node, ConditionOR):
        found = [_required_values(a, field) for a in node.args]
        if any(r is None for r in found):
            return None
        return frozenset().union(*found)  # type: ignore[arg-type]
    return None  # NOT, keywords: no constraint derivable


def compile_detection(rule: SigmaRule) -> CompiledDetection:
    """Compile a single-event Sigma rule once; RuleCompileError if it cannot be evaluated."""
    name = rule_key(rule)
    try:
        trees = [cond.parsed for cond in rule.detection.parsed_condition]
    except SigmaError as exc:
        raise RuleCompileError(f"{name}: condition cannot be parsed: {exc}") from None
    try:
        preds = [compile_condition(tree) for tree in trees]
    except _Unsupported as exc:
        raise RuleCompileError(f"{name}: not supported by the matcher: {exc}") from None
    if not preds:
        raise RuleCompileError(f"{name}: the rule has no condition")
    if len(preds) == 1:
        predicate = preds[0]
    else:  # several conditions: the rule matches when any of them does
        tup = tuple(preds)

        def predicate(data: dict[str, Any]) -> bool:
            return any(p(data) for p in tup)

    def required(field: str) -> frozenset[str] | None:
        sets = [_required_values(t, field) for t in trees]
        if any(s is None for s in sets):
            return None
        return frozenset().union(*sets)  # type: ignore[arg-type]

    return CompiledDetection(
        rule=rule,
        predicate=predicate,
        event_sources=required("eventSource"),
        event_names=required("eventName"),
    )
