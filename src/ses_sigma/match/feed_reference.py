"""The stateful engines' feeding as it was before the fast path: the reference it is tested
against (tests/match/test_feed_fast.py, ``python -m ses_sigma.bench_feed``).

``ReferenceRunner`` is ``StatefulRunner`` with every hot path of the feed side kept as written
first: each ordered correlation asked to ``advance`` at every new eventTime, the held events of
one second sorted by (step, eventID) with a set for the repeats, a state created for every
group an event reaches, every chain of a temporal_ordered state checked on every event, the
window expiry walking the groups one iterator per group, the first-seen engine as before.
Semantics are the spec of ``match.correlation`` and ``match.first_seen``; the only thing that
may differ from the fast engines is speed (and ``group_count`` / ``state_size``, which count a
temporal_ordered group an event of a later step reached without a chain to extend).
``Engine.stateful_runner(reference=True)`` builds one.
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

from sigma.correlations import SigmaCorrelationType

from ses_sigma.alerts import Alert
from ses_sigma.match.correlation import CorrelationEngine, CorrInput
from ses_sigma.match.correlation_plan import GroupKey, Plan, within
from ses_sigma.match.correlation_state import Event, State
from ses_sigma.match.first_seen import FirstSeenEngine, FirstSeenInput
from ses_sigma.match.stateful import Payload, StatefulRunner
from ses_sigma.pack import rule_key
from ses_sigma.records import Record

__all__ = ["ReferenceCorrelation", "ReferenceFirstSeen", "ReferenceRunner"]


class _CountState(State):
    __slots__ = ("events", "values")

    def __init__(self, group: GroupKey):
        super().__init__(group)
        self.events: deque[tuple[Event, tuple[Any, ...]]] = deque()
        self.values: Counter[tuple[str, Any]] = Counter()

    def add(
        self, step: int, rule: str, event: Event, values: tuple[Any, ...], plan: Plan
    ) -> list[Event] | None:
        now = event[0]
        span = plan.span
        events = self.events
        while events and now - events[0][0][0] > span:
            _, old = events.popleft()
            for v in old:
                self.values[v] -= 1
                if not self.values[v]:
                    del self.values[v]
        events.append((event, values))
        if plan.values:
            self.values.update(values)
            reached = len(self.values)
        else:
            reached = len(events)
        return [e for e, _ in events] if reached >= plan.threshold else None

    def size(self) -> int:
        return len(self.events)


class _TemporalState(State):
    __slots__ = ("latest",)

    def __init__(self, group: GroupKey):
        super().__init__(group)
        self.latest: dict[str, Event] = {}

    def add(
        self, step: int, rule: str, event: Event, values: tuple[Any, ...], plan: Plan
    ) -> list[Event] | None:
        now = event[0]
        for name in [n for n, e in self.latest.items() if now - e[0] > plan.span]:
            del self.latest[name]
        self.latest[rule] = event
        if len(self.latest) < plan.threshold:
            return None
        return list(dict.fromkeys(self.latest.values()))

    def size(self) -> int:
        return len(self.latest)


class _OrderedState(State):
    __slots__ = ("chains", "prev")

    def __init__(self, group: GroupKey, steps: int):
        super().__init__(group)
        self.chains: list[tuple[Event, ...] | None] = [None] * steps
        self.prev: list[tuple[Event, ...] | None] = [None] * steps

    def add(
        self, step: int, rule: str, event: Event, values: tuple[Any, ...], plan: Plan
    ) -> list[Event] | None:
        now = event[0]
        span = plan.span
        for chains in (self.chains, self.prev):
            for i, chain in enumerate(chains):
                if chain is not None and now - chain[0][0] > span:
                    chains[i] = None
        if step == 0:
            new: tuple[Event, ...] | None = (event,)
        else:
            base = self.chains[step - 1]
            if base is not None and base[-1] == event:
                base = self.prev[step - 1]
            new = None if base is None else (*base, event)
        if new is None:
            return None
        if step == len(self.chains) - 1:
            return list(new)
        self.prev[step] = self.chains[step]
        self.chains[step] = new
        return None

    def size(self) -> int:
        return sum(len(c) for cs in (self.chains, self.prev) for c in cs if c is not None)


class ReferenceCorrelation(CorrelationEngine):
    """``CorrelationEngine`` with its feed side as first written (module docstring)."""

    def feed_event(self, rule_name: str, event: Event, found: CorrInput | None) -> list[Alert]:
        """``CorrelationEngine.feed_event``, reference code."""
        step = self._step(rule_name)
        if event != self._current:
            if self._current is not None and event < self._current:
                raise ValueError(
                    f"{self._plan.name}: record {event[1]} fed out of (eventTime, eventID) order"
                )
            self._current = event
            if self._counting:
                self._current_groups = set()
        if self._ordered:
            held = self._held
            alerts = self._drain() if held and held[0][1][0] != event[0] else []
            if found is not None:
                self._held.append((step, event, rule_name, found))
            return alerts
        if found is None:
            return []
        return self._process(step, rule_name, event, found)

    def advance(self, now: float) -> list[Alert]:
        """``CorrelationEngine.advance``, reference code."""
        if self._held and self._held[0][1][0] < now:
            return self._drain()
        return []

    def _drain(self) -> list[Alert]:
        held, self._held = self._held, []
        if len(held) == 1:
            step, event, rule_name, found = held[0]
            return self._process(step, rule_name, event, found)
        alerts: list[Alert] = []
        done: set[tuple[int, str]] = set()
        for step, event, rule_name, found in sorted(held, key=lambda h: (h[0], h[1][1])):
            if (step, event[1]) in done:
                continue  # the same event delivered twice: it counts once
            done.add((step, event[1]))
            alerts.extend(self._process(step, rule_name, event, found))
        return alerts

    def _process(self, step: int, rule_name: str, event: Event, found: CorrInput) -> list[Alert]:
        plan = self._plan
        now = event[0]
        if now > self._now:
            self._expire(now)
        values, groups = found
        alerts: list[Alert] = []
        states = self._groups
        for key in groups:
            if self._counting:
                if key in self._current_groups:
                    continue  # the same event again: it counts once
                self._current_groups.add(key)
            state = states.get(key)
            if state is None:
                state = self._new_state(key)
                states[key] = state
            else:
                states.move_to_end(key)
            state.last = now
            done = state.add(step, rule_name, event, values, plan)
            if done is not None:
                del states[key]  # one alert per burst: the group starts over
                alerts.append(self._alert(done, key))
        return alerts

    def flush(self) -> list[Alert]:
        """``CorrelationEngine.flush``, reference code."""
        alerts = self._drain() if self._held else []
        self._groups.clear()
        self._current = None
        self._current_groups = set()
        return alerts

    def _new_state(self, group: GroupKey) -> State:
        if self._plan.kind is SigmaCorrelationType.TEMPORAL:
            return _TemporalState(group)
        if self._ordered:
            return _OrderedState(group, len(self._plan.steps))
        return _CountState(group)

    def _expire(self, now: float) -> None:
        self._now = now
        groups = self._groups
        span = self._plan.span
        while groups:
            key, state = next(iter(groups.items()))
            if now - state.last <= span:
                break
            del groups[key]


class ReferenceFirstSeen(FirstSeenEngine):
    """``FirstSeenEngine`` with ``feed_event`` as first written."""

    def feed_event(self, event: tuple[float, str], found: FirstSeenInput) -> list[Alert]:
        """``FirstSeenEngine.feed_event``, reference code."""
        now, event_id = event
        if now < self._now:
            raise ValueError(f"{rule_key(self.rule)}: record {event_id} fed out of order")
        groups, raw_time, origin = found
        if not self.plausible(now):
            note = {"eventTime": raw_time} if raw_time is not None else {}
            self.implausible.append(Record(note, now, event_id, origin))
            return []
        self._now = now
        state = self.state
        if state.learning_start is None:
            state.learning_start = now
        seen = state.seen
        forget = self.spec.forget_after
        while seen:
            key, last = next(iter(seen.items()))
            if now - last <= forget:
                break
            del seen[key]
        learning = now - state.learning_start < self.spec.learning_period
        alerts: list[Alert] = []
        for key in groups:
            last = seen.get(key)
            known = last is not None and within(last, now, forget)
            seen[key] = now if last is None else max(last, now)
            seen.move_to_end(key)
            if not known and not learning:
                alerts.append(self._alert(now, event_id, key))
        return alerts


class ReferenceRunner(StatefulRunner):
    """``StatefulRunner`` with ``feed`` and ``finish`` as first written, over reference
    engines (``ReferenceCorrelation``, ``ReferenceFirstSeen``)."""

    def feed(self, time: float, event_id: str, payload: Payload) -> list[Alert]:
        """``StatefulRunner.feed``, reference code."""
        out: list[Alert] = []
        groups = self._groups
        if time > self._time:
            self._time = time
            for engine in self._ordered:
                found = engine.advance(time)
                if found:
                    out.extend(found)
                    if groups is not None:
                        groups.extend((a, None) for a in found)
        event = (time, event_id)
        for name, fs_input, sup_group, corr_inputs in payload:
            if fs_input is not None:
                found = self.first_seen[name].feed_event(event, fs_input)
                if found:
                    out.extend(found)
                    if groups is not None:
                        groups.extend((a, sup_group) for a in found)
            for engine, corr_input in zip(self.feeds[name], corr_inputs):  # noqa: B905
                found = engine.feed_event(name, event, corr_input)
                if found:
                    out.extend(found)
                    if groups is not None:
                        groups.extend((a, None) for a in found)
        return out

    def finish(self) -> list[Alert]:
        """``StatefulRunner.finish``, reference code."""
        out: list[Alert] = []
        for engine in self.correlations:
            found = engine.flush()
            out.extend(found)
            if self._groups is not None:
                self._groups.extend((a, None) for a in found)
        return out
