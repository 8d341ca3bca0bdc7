"""The feed side of the correlation stream engine (``match/correlation.py``): the feeders
``StatefulRunner`` calls, ``advance``, and the per-group work behind them.

``CorrelationFeeding`` is a base class of ``CorrelationEngine``, which makes the state these
methods use (its ``__init__``) and holds the semantics (the module docstring of
``match/correlation.py``). The feeders are closures with the engine's settings bound once;
event_count / value_count and the first step of temporal_ordered run their group update inline.
``match/feed_reference.py`` keeps the code before the fast path, which
``tests/match/test_feed_fast.py`` and ``tests/match/test_stateful_feeders.py`` compare with it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from ses_sigma.alerts import Alert
from ses_sigma.match.correlation_plan import GroupKey, Plan
from ses_sigma.match.correlation_state import CountState, Event, OrderedState, State

__all__ = ["CorrInput", "CorrelationFeeding"]

_INF = float("inf")
_NONE: tuple[Alert, ...] = ()  # the alerts of a feed that completes nothing (shared)
_step_of = itemgetter(0)

#: What one base-rule match brings to one correlation (``CorrelationEngine.project``): its
#: value_count values (typed) and the keys of its groups (``correlation_plan.value_key``).
CorrInput = tuple[tuple[Any, ...], tuple[GroupKey, ...]]


class CorrelationFeeding:
    """The feeding of one correlation's stream state (a base of ``CorrelationEngine``, whose
    ``__init__`` sets the attributes below and which has ``_step``, ``_alert`` and
    ``_new_state``)."""

    _plan: Plan
    _ordered: bool
    _counting: bool
    _groups: OrderedDict[GroupKey, State]
    _now: float
    _current: Event | None
    _current_groups: set[GroupKey]
    _held: list[tuple[int, Event, str, CorrInput]]
    _first_done: Event | None
    _one_held_step: bool
    held_time: float
    _oldest: float

    def _step(self, rule_name: str) -> int:
        raise NotImplementedError

    def _alert(self, events: list[Event], key: GroupKey) -> Alert:
        raise NotImplementedError

    def _new_state(self, group: GroupKey) -> State:
        raise NotImplementedError

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
        """``_process`` of a temporal_ordered correlation (the same steps, fewer tests), for
        the held events (``_drain``): a later step, or the one step of a one-step
        correlation (the first step of a longer one is fed by ``_first_step_feeder``)."""
        now = event[0]
        plan = self._plan
        if now > self._now:
            self._now = now
            if now - self._oldest > plan.span:  # see _process
                self._expire(now)
        alerts: list[Alert] = []
        states = self._groups
        for key in found[1]:
            state = states.get(key)
            if state is None:
                if step:  # no chain to extend: the reference made an empty state, which a
                    continue  # later step-0 event finds just as it would a fresh one
                state = states[key] = OrderedState(key, len(plan.steps))
            else:
                states.move_to_end(key)  # the most recently touched last: see _process
            state.last = now
            done = state.add(step, rule_name, event, (), plan)
            if done is not None:  # one alert per burst: the group starts over
                del states[key]
                alerts.append(self._alert(done, key))
        return alerts

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
