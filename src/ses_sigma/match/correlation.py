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
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from sigma.correlations import SigmaCorrelationRule, SigmaCorrelationType

from ses_sigma.alerts import Alert
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
_NONE: tuple[Alert, ...] = ()  # the alerts of a feed that completes nothing (shared)
_step_of = itemgetter(0)

#: What one base-rule match brings to one correlation (``CorrelationEngine.project``): its
#: value_count values (typed) and the keys of its groups (``correlation_plan.value_key``).
CorrInput = tuple[tuple[Any, ...], tuple[GroupKey, ...]]


class CorrelationEngine:
    """One correlation rule's streaming state for one run (see the module docstring)."""

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

    def feeder(self, rule_name: str) -> Callable[[Event, CorrInput | None], Sequence[Alert]]:
        """``feed_event`` for base rule ``rule_name`` as ``StatefulRunner`` calls it, its step
        looked up once: the caller feeds in (eventTime, eventID) order and calls ``advance``
        (temporal_ordered) whenever the eventTime grows, so neither is checked here. The
        alerts come as a sequence, empty ones shared: do not change it."""
        step = self._step(rule_name)

        if self._ordered:
            # Events of one eventTime are evaluated in (step, eventID) order and arrive in
            # eventID order, so a step-0 event can be evaluated as it comes (the held events
            # of an earlier time were evaluated by ``advance``): no event of its time comes
            # before it. It completes nothing (there are two steps or more), so the alerts
            # are the same, and so is the sequence of evaluations. Later steps are held until
            # the time passes.
            if step == 0 and len(self._plan.steps) > 1:
                return self._first_step_feeder()

            def feed_ordered(event: Event, found: CorrInput | None) -> Sequence[Alert]:
                if found is not None:
                    if not self._held:
                        self.held_time = event[0]
                    self._held.append((step, event, rule_name, found))
                return _NONE

            return feed_ordered

        if self._counting:
            return self._count_feeder()
        process = self._process

        def feed_counted(event: Event, found: CorrInput | None) -> Sequence[Alert]:
            if event != self._current:
                self._current = event
                self._current_groups = set()
            if found is None:
                return _NONE
            return process(step, rule_name, event, found)

        return feed_counted

    def _count_feeder(self) -> Callable[[Event, CorrInput | None], Sequence[Alert]]:
        """The feeder of an event_count / value_count correlation (see ``feeder``):
        ``_process`` and ``CountState.add`` inline (the same steps)."""
        states = self._groups
        move_to_end = states.move_to_end
        plan = self._plan
        span = plan.span
        threshold = plan.threshold
        by_values = bool(plan.values)
        alert = self._alert

        def feed_count(event: Event, found: CorrInput | None) -> Sequence[Alert]:
            if event != self._current:
                self._current = event
                current = self._current_groups = set()
            else:
                current = self._current_groups
            if found is None:
                return _NONE
            now = event[0]
            if now > self._now:
                self._now = now
                if now - self._oldest > span:  # see _process
                    self._expire(now)
            values, keys = found
            alerts: list[Alert] | None = None
            for key in keys:
                if key in current:
                    continue  # the same event again: it counts once
                current.add(key)
                state = states.get(key)
                if state is None:
                    state = states[key] = CountState(key)
                else:
                    move_to_end(key)  # the most recently touched last: see _process
                state.last = now
                # CountState.add, inline
                events = state.events
                counts = state.values
                while events and now - events[0][0][0] > span:
                    for v in events.popleft()[1]:
                        n = counts[v] - 1
                        if n:
                            counts[v] = n
                        else:
                            del counts[v]
                events.append((event, values))
                if by_values:
                    for v in values:
                        counts[v] = counts.get(v, 0) + 1
                    if len(counts) < threshold:
                        continue
                elif len(events) < threshold:
                    continue
                del states[key]  # one alert per burst: the group starts over
                if alerts is None:
                    alerts = []
                alerts.append(alert([e for e, _ in events], key))
            return _NONE if alerts is None else alerts

        return feed_count

    def _first_step_feeder(self) -> Callable[[Event, CorrInput | None], Sequence[Alert]]:
        """The feeder of step 0 of a temporal_ordered correlation of two steps or more (see
        ``feeder``): ``_process_ordered(0, ...)`` of each event as it comes, inline (it
        completes nothing), a repeat of the last event skipped (it counts once)."""
        states = self._groups
        move_to_end = states.move_to_end
        span = self._plan.span
        steps = len(self._plan.steps)
        new_state = OrderedState.__new__

        def feed_first(event: Event, found: CorrInput | None) -> Sequence[Alert]:
            if found is None or event == self._first_done:
                return _NONE
            self._first_done = event
            now = event[0]
            if now > self._now:
                self._now = now
                if now - self._oldest > span:  # see _process
                    self._expire(now)
            for key in found[1]:
                state = states.get(key)
                if state is None:
                    # OrderedState(key, steps) and the step below, inline: one chain, the
                    # event (a Python __init__ call is half the cost of a new group).
                    state = states[key] = new_state(OrderedState)
                    state.group = key
                    state.last = state.oldest = now
                    chains: list[tuple[Event, ...] | None] = [None] * steps
                    chains[0] = (event,)
                    state.chains = chains
                    state.prev = [None] * steps
                    continue
                move_to_end(key)  # the most recently touched last: see _process
                state.last = now
                if now - state.oldest > span:  # OrderedState.add of a first step, inline
                    state.expire(now, span)
                chains = state.chains
                state.prev[0] = chains[0]
                chains[0] = (event,)
                if now < state.oldest:
                    state.oldest = now
            return _NONE

        return feed_first

    def advance(self, now: float) -> list[Alert]:
        """Time has reached ``now`` (every event before it was fed): evaluate the held events
        of an earlier eventTime (temporal_ordered), whose alerts are then final."""
        if self.held_time < now:
            return self._drain()
        return []

    def _drain(self) -> list[Alert]:
        """Evaluate the held events of one eventTime in (step, eventID) order: they were fed
        in (eventTime, eventID) order, so a stable sort on the step is that order, and a
        repeat (the same event delivered twice) sits next to its first copy."""
        held, self._held = self._held, []
        self.held_time = _INF
        process = self._process_ordered
        if len(held) == 1:
            step, event, rule_name, found = held[0]
            return process(step, rule_name, event, found)
        alerts: list[Alert] = []
        if self._one_held_step:  # already in (step, eventID) order
            last_id = None
            for step, event, rule_name, found in held:
                if event[1] == last_id:
                    continue  # the same event delivered twice: it counts once
                last_id = event[1]
                found_alerts = process(step, rule_name, event, found)
                if found_alerts:
                    alerts.extend(found_alerts)
            return alerts
        held.sort(key=_step_of)
        last: tuple[int, str] | None = None
        for step, event, rule_name, found in held:
            if (step, event[1]) == last:
                continue  # the same event delivered twice: it counts once
            last = (step, event[1])
            found_alerts = process(step, rule_name, event, found)
            if found_alerts:
                alerts.extend(found_alerts)
        return alerts

    def _process(self, step: int, rule_name: str, event: Event, found: CorrInput) -> list[Alert]:
        plan = self._plan
        now = event[0]
        if now > self._now:
            self._now = now
            # _oldest is at most the latest event of the least recently touched group, so the
            # walk of _expire can only drop something when it is that old (floats subtract
            # monotonically: the test below is the one _expire makes, on a lower bound).
            if now - self._oldest > plan.span:
                self._expire(now)
        values, groups = found
        alerts: list[Alert] = []
        states = self._groups
        counting = self._counting
        for key in groups:
            if counting:
                current = self._current_groups
                if key in current:
                    continue  # the same event again: it counts once
                current.add(key)
            # The most recently touched group last: get and move_to_end (an OrderedDict pop
            # and set free and make a node: slower).
            state = states.get(key)
            if state is None:
                state = states[key] = self._new_state(key)
            else:
                states.move_to_end(key)
            state.last = now
            done = state.add(step, rule_name, event, values, plan)
            if done is not None:  # one alert per burst: the group starts over
                del states[key]
                alerts.append(self._alert(done, key))
        return alerts

    def _process_ordered(
        self, step: int, rule_name: str, event: Event, found: CorrInput
    ) -> list[Alert]:
        """``_process`` of a temporal_ordered correlation (the same steps, fewer tests)."""
        now = event[0]
        if now > self._now:
            self._now = now
            if now - self._oldest > self._plan.span:  # see _process
                self._expire(now)
        alerts: list[Alert] = []
        states = self._groups
        plan = self._plan
        span = plan.span
        steps = len(plan.steps)
        for key in found[1]:
            state = states.get(key)
            if state is None:
                if step:  # no chain to extend: the reference made an empty state, which a
                    continue  # later step-0 event finds just as it would a fresh one
                state = states[key] = OrderedState(key, steps)
            else:
                states.move_to_end(key)  # the most recently touched last: see _process
            state.last = now
            if not step and steps > 1:  # OrderedState.add of a first step, inline
                if now - state.oldest > span:
                    state.expire(now, span)
                state.prev[0] = state.chains[0]
                state.chains[0] = (event,)
                if now < state.oldest:
                    state.oldest = now
                continue
            done = state.add(step, rule_name, event, (), plan)
            if done is not None:  # one alert per burst: the group starts over
                del states[key]
                alerts.append(self._alert(done, key))
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

    def _expire(self, now: float) -> None:
        """Drop the groups whose latest event left the window ending at ``now`` (one walk
        from the least recently touched group; ``_oldest`` becomes the first one kept)."""
        groups = self._groups
        span = self._plan.span
        gone = 0
        oldest = _INF
        for state in groups.values():
            if now - state.last <= span:
                oldest = state.last
                break
            gone += 1
        for _ in range(gone):  # the first ones: popitem needs no hash of the key (del does)
            groups.popitem(last=False)
        # No group left: any group made from now on has its latest event at ``now`` or later.
        self._oldest = oldest if groups else now

    @property
    def group_count(self) -> int:
        """Groups with state (for tests and stats)."""
        return len(self._groups)

    @property
    def state_size(self) -> int:
        """Events held across all groups (for tests and stats)."""
        return sum(s.size() for s in self._groups.values())
