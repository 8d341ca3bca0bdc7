"""Predicates of single detection items (``field: value``, keywords) over record dicts.

Each item has a reference predicate, the literal reading of the semantics: every value at the
path (``fields.field_getter``: arrays followed, dotted keys, null dropped) through the value's
test (``match.values``). With ``fast`` (the default), the predicate first tries the shape
almost every CloudTrail record has: one ``str`` or nothing at the path, read without building
lists (``fields.scalar_getter``) and tested by the value's string test; anything else (arrays,
numbers, booleans, objects, dotted keys) goes to the reference predicate, so both give the same
answer on every record (tests/match/test_fast_paths.py checks it on generated records).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from sigma.conditions import ConditionFieldEqualsValueExpression, ConditionValueExpression
from sigma.types import SigmaExists, SigmaFieldReference, SigmaNull

from ses_sigma.match.fields import MULTI, field_getter, leaf_values, scalar_getter
from ses_sigma.match.values import StrTest, Unsupported, str_test, value_test, value_text

__all__ = ["Predicate", "eq_predicate", "field_predicate", "in_predicate", "keyword_predicate"]

#: A compiled detection: record dict -> does the rule's condition hold?
Predicate = Callable[[dict[str, Any]], bool]


# --------------------------------------------------------------------------- reference


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


def _set_test(field: str, wanted: frozenset[str]) -> Predicate:
    """Several plain case-insensitive strings on one field (``field: [a, b, c]``): a set lookup."""
    get = field_getter(field)

    def field_in(data: dict[str, Any]) -> bool:
        for v in get(data):
            t = value_text(v)
            if t is not None and t.lower() in wanted:
                return True
        return False

    return field_in


def _eq_test(field: str, text: str) -> Predicate:
    get = field_getter(field)

    def field_eq(data: dict[str, Any]) -> bool:
        for v in get(data):
            t = value_text(v)
            if t is not None and t.lower() == text:
                return True
        return False

    return field_eq


# --------------------------------------------------------------------------- fast paths


def _fast_str(field: str, test: StrTest, reference: Predicate) -> Predicate:
    """``reference``, with a str (or nothing) at ``field`` tested directly."""
    one = scalar_getter(field)

    def fast_field(data: dict[str, Any]) -> bool:
        v = one(data)
        if v.__class__ is str:
            return test(v)
        if v is None:
            return False
        return reference(data)

    return fast_field


def _fast_null(field: str, reference: Predicate) -> Predicate:
    """``field: null``: no value at the path (a str is a value)."""
    one = scalar_getter(field)

    def fast_null(data: dict[str, Any]) -> bool:
        v = one(data)
        if v is None:
            return True
        if v is MULTI:
            return reference(data)
        return False

    return fast_null


def _fast_eq(field: str, text: str, reference: Predicate) -> Predicate:
    if "." in field:
        return _fast_str(field, lambda s: s.lower() == text, reference)

    def fast_eq(data: dict[str, Any]) -> bool:  # top-level key: the getter inlined
        v = data.get(field) if data.__class__ is dict else MULTI
        if v.__class__ is str:
            return v.lower() == text
        if v is None:
            return False
        return reference(data)

    return fast_eq


def _fast_in(field: str, wanted: frozenset[str], reference: Predicate) -> Predicate:
    if "." in field:
        return _fast_str(field, lambda s: s.lower() in wanted, reference)

    def fast_in(data: dict[str, Any]) -> bool:  # top-level key: the getter inlined
        v = data.get(field) if data.__class__ is dict else MULTI
        if v.__class__ is str:
            return v.lower() in wanted
        if v is None:
            return False
        return reference(data)

    return fast_in


# --------------------------------------------------------------------------- public


def eq_predicate(field: str, text: str, fast: bool = True) -> Predicate:
    """``field`` equals the lower-cased plain ``text``, case-insensitively."""
    reference = _eq_test(field, text)
    return _fast_eq(field, text, reference) if fast else reference


def in_predicate(field: str, texts: list[str], fast: bool = True) -> Predicate:
    """``field`` equals one of the lower-cased plain ``texts``, case-insensitively."""
    wanted = frozenset(texts)
    reference = _set_test(field, wanted)
    return _fast_in(field, wanted, reference) if fast else reference


def field_predicate(node: ConditionFieldEqualsValueExpression, fast: bool = True) -> Predicate:
    """Any ``field: value`` item (null, exists, field references, every value type)."""
    field, value = node.field, node.value
    if isinstance(value, SigmaNull):
        get = field_getter(field)
        reference: Predicate = lambda data: not get(data)  # noqa: E731
        return _fast_null(field, reference) if fast else reference
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

    return _fast_str(field, str_test(value, test), field_equals) if fast else field_equals


def keyword_predicate(node: ConditionValueExpression) -> Predicate:
    """A value without a field: any scalar anywhere in the record matches."""
    value = node.value
    if isinstance(value, SigmaNull | SigmaExists | SigmaFieldReference):
        raise Unsupported(f"{type(value).__name__} without a field")
    test = value_test(value)

    def keyword(data: dict[str, Any]) -> bool:
        return any(test(v) for v in leaf_values(data))

    return keyword
