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

from collections import OrderedDict
from typing import Any

from sigma.correlations import SigmaCorrelationRule, SigmaCorrelationType

from ses_sigma.alerts import Alert
from ses_sigma.match.correlation_feed import CorrelationFeeding, CorrInput
from ses_sigma.match.correlation_plan import (
    GroupKey,
    Memo,
    compile_plan,
    field_values,
    group_key,
    group_tuples,
    group_value_keys,
    key_values,
    within,
)
from ses_sigma.match.correlation_state import (
    CountState,
    Event,
    OrderedState,
    State,
    TemporalState,
)
from ses_sigma.match.fields import FieldGetter
from ses_sigma.pack import rule_key
from ses_sigma.records import Record

__all__ = ["CorrInput", "CorrelationEngine", "group_key", "group_tuples", "within"]

_INF = float("inf")


class CorrelationEngine(CorrelationFeeding):
    """One correlation rule's streaming state for one run (see the module docstring; its feed
    side: ``match.correlation_feed``)."""

    def __init__(self, corr: SigmaCorrelationRule):
        self.rule = corr
        self._plan = compile_plan(corr)
        plan = self._plan
        self._steps = {name: i for i, name in enumerate(plan.steps)}
        self._ordered = plan.kind is SigmaCorrelationType.TEMPORAL_ORDERED
        self._counting = plan.kind in (
            SigmaCorrelationType.EVENT_COUNT,
            SigmaCorrelationType.VALUE_COUNT,
        )
        self._groups: OrderedDict[GroupKey, State] = OrderedDict()
        self._now = float("-inf")
        self._current: Event | None = None
        self._current_groups: set[GroupKey] = set()
        self._held: list[tuple[int, Event, str, CorrInput]] = []
        #: The last step-0 event evaluated as it came (temporal_ordered, see ``feeder``).
        self._first_done: Event | None = None
        #: Held events are all of one step (temporal_ordered of two steps or fewer: step 0
        #: is evaluated as it comes, see ``feeder``), so they need no sort.
        self._one_held_step = len(plan.steps) <= 2
        #: The eventTime of the held events (temporal_ordered), +inf when none is held.
        self.held_time = _INF
        #: A lower bound of the latest event time of the least recently touched group (groups
        #: are kept in order of last activity, so of every group's).
        self._oldest = -_INF
        self._alert_head = (
            str(corr.id) if corr.id else "",
            rule_key(corr),
            corr.title,
            corr.level.name.lower() if corr.level else "",
        )

    @staticmethod
    def check(corr: SigmaCorrelationRule) -> None:
        """Raise RuleCompileError (message starting with the rule name) unless the matcher can
        evaluate ``corr`` with the semantics above."""
        compile_plan(corr)

    @property
    def ordered(self) -> bool:
        """True for temporal_ordered (events of one eventTime are held, see ``advance``)."""
        return self._ordered

    def project(self, rule_name: str, data: Any, memo: Memo | None = None) -> CorrInput | None:
        """What a match of base rule ``rule_name`` with record ``data`` brings to this
        correlation, or None when it takes no part (no group-by or value_count value). Pure:
        it can run where the record is matched (a worker), ahead of ``feed_event``. ``memo``
        shares field values between the correlations a record feeds."""
        plan = self._plan
        values: tuple[Any, ...] = ()
        if plan.values:
            found = field_values(plan.values[rule_name], data, memo)
            values = tuple((type(v).__name__, v) for v in found)
            if not values:
                return None
        groups = group_value_keys(plan.groups[rule_name], data, memo)
        return (values, groups) if groups else None

    def getters(self, rule_name: str) -> tuple[FieldGetter | None, tuple[FieldGetter, ...]]:
        """What ``project`` reads for base rule ``rule_name``: its value_count field's getter
        (None unless value_count) and its group-by getters, in group-by order."""
        plan = self._plan
        return plan.values.get(rule_name), tuple(get for _, get in plan.groups[rule_name])

    def feed(self, rule_name: str, record: Record) -> list[Alert]:
        """A match of base rule ``rule_name``; records must come in (eventTime, eventID) order.

        Returns the alerts this event completes. For ``temporal_ordered`` the events of one
        eventTime are held until a later time (or :meth:`flush`) and then evaluated in the
        correlation's rule order (the tie rule): their alerts come with that later feed.
        """
        self._step(rule_name)
        found = self.project(rule_name, record.data)
        return self.feed_event(rule_name, record.sort_key, found)

    def _step(self, rule_name: str) -> int:
        step = self._steps.get(rule_name)
        if step is None:
            raise ValueError(
                f"{self._plan.name}: fed a match of {rule_name!r}, not a referenced rule"
            )
        return step

    def feed_event(self, rule_name: str, event: Event, found: CorrInput | None) -> list[Alert]:
        """``feed`` with the record already projected (``project``); ``event`` is its
        (eventTime, eventID). A match that takes no part (``found`` None) only moves time on."""
        current = self._current
        if event != current and current is not None and event < current:
            raise ValueError(
                f"{self._plan.name}: record {event[1]} fed out of (eventTime, eventID) order"
            )
        alerts = self.advance(event[0]) if self._ordered else []
        if self._ordered:  # (the counting feeders keep it themselves)
            self._current = event
        found_alerts = self.feeder(rule_name)(event, found)
        if found_alerts:
            alerts.extend(found_alerts)
        return alerts

    def _alert(self, events: list[Event], key: GroupKey) -> Alert:
        """The alert made by ``events`` (a temporal_ordered chain keeps its step order)."""
        if not self._ordered:
            events = sorted(events)
        rule_id, name, title, level = self._alert_head
        return Alert(
            rule_id=rule_id,
            rule_name=name,
            title=title,
            level=level,
            time=max(e[0] for e in events),
            event_ids=tuple(e[1] for e in events),
            group=tuple(zip(self._plan.group_by, key_values(key), strict=True)),
        )

    def flush(self) -> list[Alert]:
        """End of input: evaluate the held events (temporal_ordered), then drop the state."""
        alerts = self._drain() if self._held else []
        self._groups.clear()
        self._oldest = -_INF
        self._current = None
        self._first_done = None
        self._current_groups = set()
        return alerts

    def _new_state(self, group: GroupKey) -> State:
        if self._plan.kind is SigmaCorrelationType.TEMPORAL:
            return TemporalState(group)
        if self._ordered:
            return OrderedState(group, len(self._plan.steps))
        return CountState(group)

    @property
    def group_count(self) -> int:
        """Groups with state (for tests and stats)."""
        return len(self._groups)

    @property
    def state_size(self) -> int:
        """Events held across all groups (for tests and stats)."""
        return sum(s.size() for s in self._groups.values())
