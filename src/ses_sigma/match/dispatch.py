"""Dispatch of records to single-event rules on (eventSource, eventName).

For each pair of lower-cased ``eventSource`` and ``eventName`` values a record may carry, the
plan is the list of rules that can match it, each with its predicate specialised for that pair
(``CompiledDetection.specialise``): the rule's comparisons of the two fields with plain strings
are decided once, so a rule that cannot match is not in the plan, and a rule that matches on
the two fields alone has no predicate left to run. A value that none of the pack's rules
compares with a plain string shares one key (``OTHER``), so there are at most (plain sources + 1)
x (plain names + 1) plans, built when first needed, whatever the input holds. Records whose
``eventSource`` or ``eventName`` is not a string (missing, null, a number, an array, an object)
take the generic plan: every rule with its whole predicate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from ses_sigma.match.detection import OTHER, CompiledDetection, Predicate

__all__ = ["Dispatch"]

T = TypeVar("T")
S = TypeVar("S")

_SOURCE = "eventSource"
_NAME = "eventName"
#: Distinct (eventSource, eventName) pairs, as written, whose plan is remembered (``plan``):
#: bounded, as the values are the input's.
RAW_LIMIT = 4096


class Dispatch(Generic[T, S]):
    """Plans of ``rules`` ((compiled detection, item) pairs, in evaluation order); a plan is
    a tuple of ``step(item, predicate or None)`` for the rules that can match (None: the rule
    matches every record of the plan)."""

    def __init__(
        self,
        rules: list[tuple[CompiledDetection, T]],
        step: Callable[[T, Predicate | None], S],
    ):
        """Prepare the dispatch of ``rules``; plans are built on first use."""
        self._rules = rules
        self._step = step
        self._sources = frozenset().union(*(c.plain_values[_SOURCE] for c, _ in rules))
        self._names = frozenset().union(*(c.plain_values[_NAME] for c, _ in rules))
        self._plans: dict[tuple[str | None, str | None], tuple[S, ...]] = {}
        #: Plans by the values as written (before lower() and the OTHER mapping), at most
        #: RAW_LIMIT of them: a pair already met costs one dict lookup.
        self._raw: dict[tuple[str, str], tuple[S, ...]] = {}
        self._specialised: dict[tuple[int, str | None, str | None], Predicate | bool] = {}
        #: Records whose eventSource or eventName is not a str: every rule, whole predicate.
        self.generic: tuple[S, ...] = tuple(step(item, c.predicate) for c, item in rules)

    def plan(self, data: dict[str, Any]) -> tuple[S, ...]:
        """The steps to run for the record ``data``."""
        src = data.get(_SOURCE)
        name = data.get(_NAME)
        if src.__class__ is not str or name.__class__ is not str:
            return self.generic
        found = self._raw.get((src, name))
        if found is not None:
            return found
        lower_src = src.lower()
        lower_name = name.lower()
        key = (
            lower_src if lower_src in self._sources else OTHER,
            lower_name if lower_name in self._names else OTHER,
        )
        found = self._plans.get(key)
        if found is None:
            found = self._plans[key] = self._build(key)
        if len(self._raw) < RAW_LIMIT:
            self._raw[(src, name)] = found
        return found

    @property
    def plan_count(self) -> int:
        """Plans built so far (bounded by the pack, not by the input)."""
        return len(self._plans)

    @property
    def specialised_count(self) -> int:
        """Rule predicates specialised so far (per rule, bounded by the values it names)."""
        return len(self._specialised)

    def _build(self, key: tuple[str | None, str | None]) -> tuple[S, ...]:
        steps = []
        for index, (compiled, item) in enumerate(self._rules):
            # A value this rule does not name is OTHER to it: one specialisation per rule and
            # pair of values it names, however many plans there are (a pack of many rules
            # over many names would otherwise compile rules x plans predicates).
            src, name = key
            if src not in compiled.plain_values[_SOURCE]:
                src = OTHER
            if name not in compiled.plain_values[_NAME]:
                name = OTHER
            own = (index, src, name)
            pred = self._specialised.get(own)
            if pred is None:
                pred = self._specialised[own] = compiled.specialise({_SOURCE: src, _NAME: name})
            if pred is False:
                continue
            steps.append(self._step(item, None if pred is True else pred))
        return tuple(steps)
