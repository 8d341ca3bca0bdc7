"""Correlation rules compiled for the stream engine: checks, group-by getters, value tuples.

``compile_plan`` refuses what the matcher cannot evaluate faithfully (``RuleCompileError``
naming the rule; the list is in ``match/correlation.py``) and reduces a correlation to a
``Plan``: its kind, window, steps, threshold and, per referenced rule, the getters of its
group-by fields (aliases and derived fields resolved) and of its value_count field.
``group_tuples`` / ``group_key`` turn a record into the value tuples it belongs to (also used
by the first-seen rules and their baseline).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationTimespan,
    SigmaCorrelationType,
    SigmaRuleReference,
)
from sigma.rule import SigmaRule, SigmaRuleBase

from ses_sigma.match.derived import (
    DerivedField,
    derived_fields,
    scalar_value_getter,
    value_getter,
)
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.match.fields import FieldGetter, ScalarGetter
from ses_sigma.pack import rule_key

__all__ = [
    "Group",
    "GroupKey",
    "Plan",
    "compile_plan",
    "field_values",
    "group_key",
    "group_tuples",
    "group_value_keys",
    "key_values",
    "scalar_of",
    "scalars",
    "shared_getter",
    "sources_of",
    "typed_keys",
    "value_key",
    "within",
]

Group = tuple[tuple[str, Any], ...]
GroupKey = tuple[tuple[str, Any], ...]

_SCALARS = (str, int, float, bool)
_SUPPORTED = (
    SigmaCorrelationType.EVENT_COUNT,
    SigmaCorrelationType.VALUE_COUNT,
    SigmaCorrelationType.TEMPORAL,
    SigmaCorrelationType.TEMPORAL_ORDERED,
)


def within(earlier: float, later: float, span: float) -> bool:
    """True when ``later`` is at most ``span`` seconds after ``earlier`` (inclusive edge)."""
    return later - earlier <= span


def scalars(values: list[Any]) -> list[Any]:
    """The distinct scalar values, in order (objects are not values one can group on). The
    result may be ``values`` itself: never change it."""
    if len(values) < 2:  # the usual case: one value, or none
        return values if not values or isinstance(values[0], _SCALARS) else []
    out: list[Any] = []
    seen: set[tuple[str, Any]] = set()
    for v in values:
        if isinstance(v, _SCALARS):
            k = (type(v).__name__, v)  # True == 1 in Python; keep them apart
            if k not in seen:
                seen.add(k)
                out.append(v)
    return out


def group_tuples(getters: Sequence[tuple[str, FieldGetter]], data: Any) -> list[Group]:
    """Every value tuple ``((name, value), ...)`` of ``data`` for the named getters.

    Empty when a getter yields no scalar value (the event does not take part); several tuples
    (the cartesian product) when getters yield several values.
    """
    per_field: list[list[Any]] = []
    for _, get in getters:
        values = scalars(get(data))
        if not values:
            return []
        per_field.append(values)
    names = [name for name, _ in getters]
    return [tuple(zip(names, combo, strict=True)) for combo in itertools.product(*per_field)]


def group_key(group: Group) -> GroupKey:
    """A hashable key that keeps ``True``, ``1`` and ``1.0`` apart."""
    return tuple((type(v).__name__, v) for _, v in group)


#: Per record, the values a getter gave (getters shared across rules: ``shared_getter``).
Memo = dict[FieldGetter, list[Any]]

_SHARED: dict[tuple[str, tuple[str, ...] | None], FieldGetter] = {}
#: The ``scalar_value_getter`` of each shared getter (the projection's fast path).
_SCALAR: dict[FieldGetter, ScalarGetter] = {}
#: The field paths of each shared getter: its field, or its derived field's sources in order.
_SOURCES: dict[FieldGetter, tuple[str, ...]] = {}


def shared_getter(name: str, derived: Mapping[str, DerivedField]) -> FieldGetter:
    """``value_getter(name, derived)``, one object per field (or derived field definition),
    so that the rules reading one field share its values in a ``Memo``."""
    spec = derived.get(name)
    key = (name, spec.sources if spec is not None else None)
    getter = _SHARED.get(key)
    if getter is None:
        getter = _SHARED[key] = value_getter(name, derived)
        _SCALAR[getter] = scalar_value_getter(name, derived)
        _SOURCES[getter] = spec.sources if spec is not None else (name,)
    return getter


def scalar_of(get: FieldGetter) -> ScalarGetter | None:
    """The scalar getter (``derived.scalar_value_getter``) of a ``shared_getter``; None for
    any other getter (which then has no fast path)."""
    return _SCALAR.get(get)


def sources_of(get: FieldGetter) -> tuple[str, ...] | None:
    """The field paths a ``shared_getter`` reads (its derived field's sources, in coalesce
    order, or its one field); None for any other getter."""
    return _SOURCES.get(get)


def field_values(get: FieldGetter, data: Any, memo: Memo | None = None) -> list[Any]:
    """The distinct scalar values ``get`` finds in ``data`` (looked up in ``memo`` first)."""
    if memo is None:
        return scalars(get(data))
    found = memo.get(get)
    if found is None:
        found = memo[get] = scalars(get(data))
    return found


def _combos(
    getters: Sequence[tuple[str, FieldGetter]], data: Any, memo: Memo | None
) -> list[tuple[Any, ...]]:
    per_field: list[list[Any]] = []
    for _, get in getters:
        values = field_values(get, data, memo)
        if not values:
            return []
        per_field.append(values)
    if len(per_field) == 1:
        return [(v,) for v in per_field[0]]
    return list(itertools.product(*per_field))


def value_key(values: tuple[Any, ...]) -> GroupKey:
    """A hashable key of a value tuple: the values themselves when all are strings (the usual
    case), else ``(type name, value)`` pairs, which keep ``True``, ``1`` and ``1.0`` apart (the
    two forms never compare equal: their elements are strings, or pairs)."""
    for v in values:
        if type(v) is not str:
            return tuple((type(v).__name__, v) for v in values)
    return values


def key_values(key: GroupKey) -> tuple[Any, ...]:
    """The values of a ``value_key`` or ``group_key``."""
    if key and type(key[0]) is tuple:
        return tuple(v for _, v in key)
    return key


def group_value_keys(
    getters: Sequence[tuple[str, FieldGetter]], data: Any, memo: Memo | None = None
) -> tuple[GroupKey, ...]:
    """The ``value_key`` of every value tuple of ``data`` (what ``group_tuples`` gives, without
    the names): computed where the record is matched, so the stream engines only look up."""
    return tuple(value_key(c) for c in _combos(getters, data, memo))


def typed_keys(
    getters: Sequence[tuple[str, FieldGetter]], data: Any, memo: Memo | None = None
) -> tuple[GroupKey, ...]:
    """The ``group_key`` of every value tuple of ``data`` (the form a baseline saves)."""
    return tuple(tuple((type(v).__name__, v) for v in c) for c in _combos(getters, data, memo))


# --------------------------------------------------------------------------- compile


@dataclass(frozen=True)
class Plan:
    """A correlation rule reduced to what the stream engine needs."""

    name: str
    kind: SigmaCorrelationType
    span: float
    steps: tuple[str, ...]  # referenced rule names, listed order
    threshold: int  # events / values / rules needed
    groups: dict[str, tuple[tuple[str, FieldGetter], ...]]  # rule name -> group-by getters
    values: dict[str, FieldGetter]  # rule name -> value_count field getter
    group_by: tuple[str, ...] = ()  # the group-by names, in order


def _ref_names(ref: SigmaRuleReference, rule: SigmaRuleBase) -> bool:
    """True when an alias reference string designates ``rule`` (by UUID or by name)."""
    resolved = getattr(ref, "rule", None)
    if resolved is not None:
        return resolved is rule
    # pySigma 1.5.1 resolves the correlation's rules but not the alias mappings' references;
    # resolve them like SigmaCollection.__getitem__ does: a UUID is an id, anything else a name.
    try:
        return uuid.UUID(ref.reference) == rule.id
    except ValueError:
        return ref.reference == rule.name


def compile_plan(corr: SigmaCorrelationRule) -> Plan:
    name = rule_key(corr)

    def fail(reason: str) -> RuleCompileError:
        return RuleCompileError(f"{name}: {reason}")

    if corr.errors:
        raise fail("correlation has errors: " + "; ".join(str(e) for e in corr.errors))
    if corr.type not in _SUPPORTED:
        kind = getattr(corr.type, "name", corr.type)
        raise fail(f"correlation type {str(kind).lower()!r} is not supported by the matcher")
    kind = corr.type
    kind_name = kind.name.lower()
    if not isinstance(corr.timespan, SigmaCorrelationTimespan):
        raise fail("correlation without a valid timespan")
    span = float(corr.timespan.seconds)

    # Referenced rules: resolved single-event rules, each at most once.
    if not corr.rules:
        raise fail("correlation without a rules list (extended conditions are not supported)")
    rules: list[SigmaRule] = []
    for ref in corr.rules:
        target = getattr(ref, "rule", None)
        if target is None:
            raise fail(f"reference {ref.reference!r} is not resolved")
        if not isinstance(target, SigmaRule):
            raise fail(
                f"correlation over {rule_key(target)!r}, which is not a single-event rule "
                "(correlations over correlations are not supported)"
            )
        if any(target is r for r in rules):
            raise fail(f"rule {rule_key(target)!r} is referenced twice")
        rules.append(target)
    steps = tuple(rule_key(r) for r in rules)

    # Condition.
    cond = corr.condition
    if not isinstance(cond, SigmaCorrelationCondition):
        raise fail("extended (boolean) correlation conditions are not supported")
    ops = {SigmaCorrelationConditionOperator.GTE: 0, SigmaCorrelationConditionOperator.GT: 1}
    if cond.op not in ops:
        raise fail(
            f"condition operator {cond.op.name.lower()!r} is not supported "
            "(only gte and gt have one meaning over a sliding window)"
        )
    threshold = cond.count + ops[cond.op]
    if threshold < 1:
        raise fail(f"condition {cond.to_dict()} holds without any event")
    if kind in (SigmaCorrelationType.TEMPORAL, SigmaCorrelationType.TEMPORAL_ORDERED):
        if cond.fieldref is not None:
            raise fail(f"condition field {cond.fieldref!r} means nothing for {kind_name}")
        if threshold > len(rules):
            raise fail(
                f"condition {cond.to_dict()} needs more distinct rules than the "
                f"{len(rules)} referenced"
            )
        if kind is SigmaCorrelationType.TEMPORAL_ORDERED and threshold != len(rules):
            raise fail(
                f"condition {cond.to_dict()}: temporal_ordered needs every referenced rule "
                f"(gte {len(rules)})"
            )
    elif kind is SigmaCorrelationType.EVENT_COUNT and cond.fieldref is not None:
        raise fail(f"condition field {cond.fieldref!r} means nothing for event_count")
    if kind is SigmaCorrelationType.VALUE_COUNT and (
        not isinstance(cond.fieldref, str) or not cond.fieldref
    ):
        raise fail(f"value_count condition field must be one field name, not {cond.fieldref!r}")

    # Group-by and aliases.
    group_by = corr.group_by or []
    for g in group_by:
        if not isinstance(g, str) or not g or g.strip() != g:
            raise fail(f"group-by name {g!r} is not a field or alias name")
    if len(set(group_by)) != len(group_by):
        raise fail(f"group-by lists a name twice: {group_by}")
    aliases = {a.alias: a for a in corr.aliases} if corr.aliases is not None else {}
    used = set(group_by)
    if kind is SigmaCorrelationType.VALUE_COUNT:
        used.add(str(cond.fieldref))
    for alias_name, alias in aliases.items():
        if alias_name not in used:
            raise fail(f"alias {alias_name!r} is not used in group-by or the condition field")
        for ref, field_name in alias.mapping.items():
            if not any(_ref_names(ref, r) for r in rules):
                raise fail(f"alias {alias_name!r} names {ref.reference!r}, not a referenced rule")
            if not isinstance(field_name, str) or not field_name:
                raise fail(f"alias {alias_name!r} maps {ref.reference!r} to {field_name!r}")

    def field_for(alias_or_field: str, rule: SigmaRule) -> str:
        alias = aliases.get(alias_or_field)
        if alias is None:
            return alias_or_field
        for ref, field_name in alias.mapping.items():
            if _ref_names(ref, rule):
                return field_name
        raise fail(f"alias {alias_or_field!r} has no field for rule {rule_key(rule)!r}")

    try:
        derived = derived_fields(corr)
    except RuleCompileError as exc:
        raise fail(str(exc).removeprefix(f"{name}: ")) from None
    targets = {field_for(g, r) for g in used for r in rules}
    unused = sorted(set(derived) - targets)
    if unused:
        raise fail(f"derived field(s) {', '.join(unused)} not used in group-by or the condition")
    groups = {
        rule_key(r): tuple((g, shared_getter(field_for(g, r), derived)) for g in group_by)
        for r in rules
    }
    values: dict[str, FieldGetter] = {}
    if kind is SigmaCorrelationType.VALUE_COUNT:
        values = {
            rule_key(r): shared_getter(field_for(str(cond.fieldref), r), derived) for r in rules
        }
    return Plan(name, kind, span, steps, threshold, groups, values, tuple(group_by))
