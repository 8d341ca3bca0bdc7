"""Sigma correlation rules evaluated over a time-ordered stream of base-rule matches.

The engine (``match/engine.py``) feeds a ``CorrelationEngine`` the matches of the correlation's
base rules in ``(eventTime, eventID)`` order; the engine here keeps, per group, only what can
still take part in a window, and returns an alert at the event that completes one.

Semantics (docs/DESIGN.md, "Correlations"; each point is pinned by tests/match/test_correlation.py):

- Windows slide and are inclusive: events at ``t`` and ``t + timespan`` are in one window,
  ``t + timespan + 1s`` is not. There are no fixed buckets. Durations are pySigma's
  (``SigmaCorrelationTimespan.seconds``; ``M`` and ``y`` are its average month and year).
  Times compare exactly: two parsed eventTimes with the same fraction of a second differ, as
  floats, by exactly their whole-second difference (POSIX seconds from 2004 to 2038 share one
  float grid), so ``t + timespan`` stays on the edge with fractional seconds too (pinned by a
  test); no tolerance is needed.
- ``event_count``: an alert when a group has ``count`` events (``gte``) or ``count + 1`` (``gt``)
  within one window. The alert holds those events; the group's state is then cleared (one
  alert per burst).
- ``value_count``: the same, counting distinct values of ``condition.field``; the alert holds
  every event of the group in the window. An event without a value for the field does not take
  part. Values compare exactly (``"a"`` and ``"A"`` are two values; ``1`` and ``"1"`` too).
- ``temporal``: an alert when ``count`` (``gte``; ``gt``: ``count + 1``) distinct referenced
  rules matched within one window, any order (the default condition is all of them). The alert
  holds the most recent event of each rule; the group's state is then cleared. One event
  matched by two referenced rules counts for both (as a SIEM running each rule's search does).
- ``temporal_ordered``: an alert when the referenced rules matched in the listed order, the
  first event and the last at most ``timespan`` apart. **Tie rule**: each step needs an event
  of the same second or later than the step before, and a different event (one event never
  fills two steps). CloudTrail times have a 1-second resolution and eventIDs are random, so
  events of one eventTime are taken in the correlation's rule order (all of the first rule's,
  then the second's...; eventID only orders events of the same rule): the engine holds the
  events of the current eventTime and evaluates them in ``(step, eventID)`` order once a later
  time (or the end of input) arrives. The most recent event of each earlier step is used (the
  chain with the latest start, which is the one most likely to fit in the window); the
  group's state is cleared after an alert.
- ``group-by``: each name is looked up in a base rule's event through ``aliases`` when an alias
  of that name exists (the alias must then name every referenced rule), else as a field path
  (nested paths and arrays through ``match.fields.field_getter``). A name (or alias target)
  declared in the rule's ``derived_fields`` is that derived field's coalesced value
  (``match.derived``). An event without a scalar
  value for a group-by field does not take part (object values count as no value).
  **Several values** (an array, or a path through an array) put the event in one group per
  value (per combination, with several group-by fields), as SIEM ``stats ... by`` and terms
  aggregations do with multi-valued fields; duplicates in the array count once.
- An event fed twice to an ``event_count``/``value_count`` correlation (matched by two of its
  base rules, or delivered twice by CloudTrail with the same eventID and eventTime) counts once.
- Alerts: ``group`` is the group-by values in group-by order (named by the group-by names),
  ``time`` the completing event's time, ``event_ids`` the events that make it, in time order
  (``temporal_ordered``: in step order).

State stays bounded by the window: every feed drops the groups whose last event left the
window (groups are kept in order of last activity), and a group touched drops its own events
that left the window. So the state holds at most the events of the last two timespans (in
practice: of the last one), whatever the input size.

Refused (``RuleCompileError``, naming the rule): other correlation types (``value_sum``...),
extended (boolean string) conditions, operators other than ``gte``/``gt``, counts that can
never or always fire, correlations over correlations or unresolved references, the same rule
referenced twice, a missing or invalid timespan, bad or repeated group-by names, aliases that
do not name every referenced rule, that name a rule not referenced, or that are used neither in
group-by nor as the value_count field (a likely typo); likewise derived fields that nothing uses.
"""

from __future__ import annotations

import itertools
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import Sequence
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

from ses_sigma.alerts import Alert, make_alert
from ses_sigma.match.derived import derived_fields, value_getter
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.match.fields import FieldGetter
from ses_sigma.pack import rule_key
from ses_sigma.records import Record

__all__ = ["CorrelationEngine", "group_key", "group_tuples", "within"]

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


def _scalars(values: list[Any]) -> list[Any]:
    """The distinct scalar values, in order (objects are not values one can group on)."""
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
        values = _scalars(get(data))
        if not values:
            return []
        per_field.append(values)
    names = [name for name, _ in getters]
    return [tuple(zip(names, combo, strict=True)) for combo in itertools.product(*per_field)]


def group_key(group: Group) -> GroupKey:
    """A hashable key that keeps ``True``, ``1`` and ``1.0`` apart."""
    return tuple((type(v).__name__, v) for _, v in group)


# --------------------------------------------------------------------------- compile


@dataclass(frozen=True)
class _Plan:
    """A correlation rule reduced to what the stream engine needs."""

    name: str
    kind: SigmaCorrelationType
    span: float
    steps: tuple[str, ...]  # referenced rule names, listed order
    threshold: int  # events / values / rules needed
    groups: dict[str, tuple[tuple[str, FieldGetter], ...]]  # rule name -> group-by getters
    values: dict[str, FieldGetter]  # rule name -> value_count field getter


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


def _compile(corr: SigmaCorrelationRule) -> _Plan:
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
        rule_key(r): tuple((g, value_getter(field_for(g, r), derived)) for g in group_by)
        for r in rules
    }
    values: dict[str, FieldGetter] = {}
    if kind is SigmaCorrelationType.VALUE_COUNT:
        values = {
            rule_key(r): value_getter(field_for(str(cond.fieldref), r), derived) for r in rules
        }
    return _Plan(name, kind, span, steps, threshold, groups, values)


# --------------------------------------------------------------------------- per-group state


class _State:
    """One group's state. ``last`` is the time of its latest event."""

    __slots__ = ("group", "last")

    def __init__(self, group: Group):
        self.group = group
        self.last = float("-inf")

    def size(self) -> int:
        """Records held."""
        raise NotImplementedError


class _CountState(_State):
    """event_count / value_count: the group's events in the window (time order)."""

    __slots__ = ("events", "values")

    def __init__(self, group: Group):
        super().__init__(group)
        self.events: deque[tuple[Record, tuple[Any, ...]]] = deque()
        self.values: Counter[tuple[str, Any]] = Counter()

    def add(self, record: Record, values: tuple[Any, ...], plan: _Plan) -> list[Record] | None:
        now = record.time
        while self.events and not within(self.events[0][0].time, now, plan.span):
            _, old = self.events.popleft()
            for v in old:
                self.values[v] -= 1
                if not self.values[v]:
                    del self.values[v]
        self.events.append((record, values))
        self.values.update(values)
        reached = len(self.values) if plan.values else len(self.events)
        return [r for r, _ in self.events] if reached >= plan.threshold else None

    def size(self) -> int:
        return len(self.events)


class _TemporalState(_State):
    """temporal: the most recent event of each referenced rule."""

    __slots__ = ("latest",)

    def __init__(self, group: Group):
        super().__init__(group)
        self.latest: dict[str, Record] = {}

    def add(self, rule: str, record: Record, plan: _Plan) -> list[Record] | None:
        now = record.time
        for name in [n for n, r in self.latest.items() if not within(r.time, now, plan.span)]:
            del self.latest[name]
        self.latest[rule] = record
        if len(self.latest) < plan.threshold:
            return None
        unique = {r.sort_key: r for r in self.latest.values()}
        return list(unique.values())

    def size(self) -> int:
        return len(self.latest)


class _OrderedState(_State):
    """temporal_ordered: per step, the chain with the latest start that ends at that step.

    ``chains[i]`` is the event sequence matching steps ``0..i``; ``prev[i]`` the chain it
    replaced. Events of one eventTime arrive in step order, so an event matching steps ``i``
    and ``i + 1`` finds its own chain in ``chains[i]``: it then extends ``prev[i]``, the
    latest chain ending at another event (one event never fills two steps).
    """

    __slots__ = ("chains", "prev")

    def __init__(self, group: Group, steps: int):
        super().__init__(group)
        self.chains: list[tuple[Record, ...] | None] = [None] * steps
        self.prev: list[tuple[Record, ...] | None] = [None] * steps

    def add(self, step: int, record: Record, plan: _Plan) -> list[Record] | None:
        now = record.time
        key = record.sort_key
        for chains in (self.chains, self.prev):
            for i, chain in enumerate(chains):
                if chain is not None and not within(chain[0].time, now, plan.span):
                    chains[i] = None
        if step == 0:
            new: tuple[Record, ...] | None = (record,)
        else:
            base = self.chains[step - 1]
            if base is not None and base[-1].sort_key == key:
                base = self.prev[step - 1]
            new = None if base is None else (*base, record)
        if new is None:
            return None
        if step == len(self.chains) - 1:
            return list(new)
        self.prev[step] = self.chains[step]
        self.chains[step] = new
        return None

    def size(self) -> int:
        return sum(len(c) for cs in (self.chains, self.prev) for c in cs if c is not None)


# --------------------------------------------------------------------------- engine


class CorrelationEngine:
    """One correlation rule's streaming state for one run (see the module docstring)."""

    def __init__(self, corr: SigmaCorrelationRule):
        self.rule = corr
        self._plan = _compile(corr)
        self._steps = {name: i for i, name in enumerate(self._plan.steps)}
        self._groups: OrderedDict[GroupKey, _State] = OrderedDict()
        self._now = float("-inf")
        self._current: tuple[float, str] | None = None
        self._current_groups: set[GroupKey] = set()
        self._held: list[tuple[int, Record, str]] = []

    @staticmethod
    def check(corr: SigmaCorrelationRule) -> None:
        """Raise RuleCompileError (message starting with the rule name) unless the matcher can
        evaluate ``corr`` with the semantics above."""
        _compile(corr)

    def feed(self, rule_name: str, record: Record) -> list[Alert]:
        """A match of base rule ``rule_name``; records must come in (eventTime, eventID) order.

        Returns the alerts this event completes. For ``temporal_ordered`` the events of one
        eventTime are held until a later time (or :meth:`flush`) and then evaluated in the
        correlation's rule order (the tie rule): their alerts come with that later feed.
        """
        plan = self._plan
        step = self._steps.get(rule_name)
        if step is None:
            raise ValueError(f"{plan.name}: fed a match of {rule_name!r}, not a referenced rule")
        if record.sort_key != self._current:
            if self._current is not None and record.sort_key < self._current:
                raise ValueError(
                    f"{plan.name}: record {record.event_id} fed out of (eventTime, eventID) order"
                )
            self._current = record.sort_key
            self._current_groups = set()
        if plan.kind is SigmaCorrelationType.TEMPORAL_ORDERED:
            alerts = self._drain() if self._held and self._held[0][1].time != record.time else []
            self._held.append((step, record, rule_name))
            return alerts
        return self._process(step, rule_name, record)

    def _drain(self) -> list[Alert]:
        """Evaluate the held events of one eventTime in (step, eventID) order."""
        held, self._held = self._held, []
        alerts: list[Alert] = []
        done: set[tuple[int, str]] = set()
        for step, record, rule_name in sorted(held, key=lambda h: (h[0], h[1].event_id)):
            if (step, record.event_id) in done:
                continue  # the same event delivered twice: it counts once
            done.add((step, record.event_id))
            alerts.extend(self._process(step, rule_name, record))
        return alerts

    def _process(self, step: int, rule_name: str, record: Record) -> list[Alert]:
        plan = self._plan
        self._expire(record.time)
        counting = plan.kind in (SigmaCorrelationType.EVENT_COUNT, SigmaCorrelationType.VALUE_COUNT)
        values: tuple[Any, ...] = ()
        if plan.kind is SigmaCorrelationType.VALUE_COUNT:
            values = tuple(
                (type(v).__name__, v) for v in _scalars(plan.values[rule_name](record.data))
            )
            if not values:
                return []
        alerts: list[Alert] = []
        for group in group_tuples(plan.groups[rule_name], record.data):
            key = group_key(group)
            if counting:
                if key in self._current_groups:
                    continue  # the same event again: it counts once
                self._current_groups.add(key)
            state = self._groups.get(key)
            if state is None:
                state = self._new_state(group)
                self._groups[key] = state
            else:
                self._groups.move_to_end(key)
            state.last = record.time
            if isinstance(state, _CountState):
                done = state.add(record, values, plan)
            elif isinstance(state, _TemporalState):
                done = state.add(rule_name, record, plan)
            else:
                assert isinstance(state, _OrderedState)
                done = state.add(step, record, plan)
            if done is not None:
                del self._groups[key]  # one alert per burst: the group starts over
                ordered = plan.kind is SigmaCorrelationType.TEMPORAL_ORDERED
                alerts.append(make_alert(self.rule, done, group, keep_order=ordered))
        return alerts

    def flush(self) -> list[Alert]:
        """End of input: evaluate the held events (temporal_ordered), then drop the state."""
        alerts = self._drain() if self._held else []
        self._groups.clear()
        self._current = None
        self._current_groups = set()
        return alerts

    def _new_state(self, group: Group) -> _State:
        if self._plan.kind is SigmaCorrelationType.TEMPORAL:
            return _TemporalState(group)
        if self._plan.kind is SigmaCorrelationType.TEMPORAL_ORDERED:
            return _OrderedState(group, len(self._plan.steps))
        return _CountState(group)

    def _expire(self, now: float) -> None:
        """Drop the groups whose latest event left the window ending at ``now``."""
        if now <= self._now:
            return
        self._now = now
        groups = self._groups
        while groups:
            key, state = next(iter(groups.items()))
            if within(state.last, now, self._plan.span):
                break
            del groups[key]

    @property
    def group_count(self) -> int:
        """Groups with state (for tests and stats)."""
        return len(self._groups)

    @property
    def state_size(self) -> int:
        """Records held across all groups (for tests and stats)."""
        return sum(s.size() for s in self._groups.values())
