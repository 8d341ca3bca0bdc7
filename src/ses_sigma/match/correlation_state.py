"""Per-group state of the correlation stream engine (``match/correlation.py``).

An event is its sort key ``(eventTime, eventID)``: that is all an alert needs (its time and
event ids), so the state holds no record data and stays small.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ses_sigma.match.correlation_plan import GroupKey, Plan

__all__ = ["CountState", "Event", "OrderedState", "State", "TemporalState"]

_INF = float("inf")

#: An event as the state keeps it: (eventTime, eventID).
Event = tuple[float, str]


class State:
    """One group's state (``group``: its key). ``last`` is the time of its latest event."""

    __slots__ = ("group", "last")

    def __init__(self, group: GroupKey):
        self.group = group
        self.last = float("-inf")

    def add(
        self, step: int, rule: str, event: Event, values: tuple[Any, ...], plan: Plan
    ) -> list[Event] | None:
        """Add an event (of step ``step``, rule ``rule``, with its value_count ``values``);
        the events of the alert when it completes one."""
        raise NotImplementedError

    def size(self) -> int:
        """Events held."""
        raise NotImplementedError


class CountState(State):
    """event_count / value_count: the group's events in the window (time order)."""

    __slots__ = ("events", "values")

    def __init__(self, group: GroupKey):
        self.group = group  # State.__init__, inline (one state per new group)
        self.last = -_INF
        self.events: deque[tuple[Event, tuple[Any, ...]]] = deque()
        #: value -> events of the window holding it (a plain dict: Counter.update is slow).
        self.values: dict[tuple[str, Any], int] = {}

    def add(
        self, step: int, rule: str, event: Event, values: tuple[Any, ...], plan: Plan
    ) -> list[Event] | None:
        """Add an event; the window's events when it fires."""
        now = event[0]
        span = plan.span
        events = self.events
        counts = self.values
        while events and now - events[0][0][0] > span:
            _, old = events.popleft()
            for v in old:
                n = counts[v] - 1
                if n:
                    counts[v] = n
                else:
                    del counts[v]
        events.append((event, values))
        if plan.values:
            for v in values:
                counts[v] = counts.get(v, 0) + 1
            reached = len(counts)
        else:
            reached = len(events)
        return [e for e, _ in events] if reached >= plan.threshold else None

    def size(self) -> int:
        return len(self.events)


class TemporalState(State):
    """temporal: the most recent event of each referenced rule."""

    __slots__ = ("latest",)

    def __init__(self, group: GroupKey):
        super().__init__(group)
        self.latest: dict[str, Event] = {}

    def add(
        self, step: int, rule: str, event: Event, values: tuple[Any, ...], plan: Plan
    ) -> list[Event] | None:
        """Add an event of ``rule``; the most recent event of each rule when it fires."""
        now = event[0]
        for name in [n for n, e in self.latest.items() if now - e[0] > plan.span]:
            del self.latest[name]
        self.latest[rule] = event
        if len(self.latest) < plan.threshold:
            return None
        return list(dict.fromkeys(self.latest.values()))

    def size(self) -> int:
        return len(self.latest)


class OrderedState(State):
    """temporal_ordered: per step, the chain with the latest start that ends at that step.

    ``chains[i]`` is the event sequence matching steps ``0..i``; ``prev[i]`` the chain it
    replaced. Events of one eventTime arrive in step order, so an event matching steps ``i``
    and ``i + 1`` finds its own chain in ``chains[i]``: it then extends ``prev[i]``, the
    latest chain ending at another event (one event never fills two steps).
    """

    __slots__ = ("chains", "oldest", "prev")

    def __init__(self, group: GroupKey, steps: int):
        self.group = group  # State.__init__, inline (one state per new group)
        self.last = -_INF
        self.chains: list[tuple[Event, ...] | None] = [None] * steps
        self.prev: list[tuple[Event, ...] | None] = [None] * steps
        #: At most the earliest start of the chains held (+inf: none held), so the chains
        #: need no look while it is within the window.
        self.oldest = _INF

    def add(
        self, step: int, rule: str, event: Event, values: tuple[Any, ...], plan: Plan
    ) -> list[Event] | None:
        """Add an event of step ``step``; the chain (in step order) when it completes one."""
        now = event[0]
        span = plan.span
        if now - self.oldest > span:  # some chain may have left the window (floats
            self.expire(now, span)  # subtract monotonically: none starts before ``oldest``)
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
        if now < self.oldest:  # a new chain (one extended keeps its start)
            self.oldest = now
        return None

    def expire(self, now: float, span: float) -> None:
        """Drop the chains that started more than ``span`` before ``now``."""
        oldest = _INF
        for chains in (self.chains, self.prev):
            for i, chain in enumerate(chains):
                if chain is not None:
                    start = chain[0][0]
                    if now - start > span:
                        chains[i] = None
                    elif start < oldest:
                        oldest = start
        self.oldest = oldest

    def size(self) -> int:
        return sum(len(c) for cs in (self.chains, self.prev) for c in cs if c is not None)
