"""The stateful rules of one run: correlations and first-seen rules fed in time order.

``Engine.project`` turns a record matched by base rules of stateful rules into a small
``Payload``: per such rule, what its first-seen engine and each correlation over it need (value
tuples with their keys, value_count values), computed once where the record is matched (a
scan worker), so no record data travels further. A ``StatefulRunner`` holds fresh engines and
takes payloads in (eventTime, eventID) order; ``feed`` returns the alerts that are final at
that point, ``finish`` those of the end of input. Alerts come out in time order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ses_sigma.alerts import Alert
from ses_sigma.match.correlation import CorrelationEngine, CorrInput
from ses_sigma.match.first_seen import FirstSeenEngine, FirstSeenInput
from ses_sigma.match.projection import (
    FastProjection,
    PackedProjection,
    compile_packed,
    compile_projection,
    pack,
)
from ses_sigma.match.suppression import SuppressionSpec, group_of
from ses_sigma.records import Record

__all__ = ["PackedPayload", "Payload", "Projector", "StatefulRunner", "payload_item"]

#: Per stateful rule a record matched (in rule-name order): the rule's name, its first-seen
#: input (None unless a first-seen rule), the suppression group of its first-seen alerts (None
#: unless suppressing), and per correlation over it (``feeds`` order) its input or None.
PayloadItem = tuple[str, FirstSeenInput | None, Any, tuple[CorrInput | None, ...]]
Payload = tuple[PayloadItem, ...]
#: A payload as the scan carries it: marshal bytes (``Projector.project_packed``), or the
#: payload itself when marshal cannot write it.
PackedPayload = bytes | Payload

#: (alert, suppression group) pairs, kept when suppressing.
Groups = list[tuple[Alert, Any]]


def payload_item(
    name: str,
    first_seen: FirstSeenInput | None,
    suppression_group: Any,
    correlations: Sequence[CorrInput | None],
) -> PayloadItem:
    """One rule's part of a payload."""
    return (name, first_seen, suppression_group, tuple(correlations))


#: Per stateful rule: its name, its first-seen engine (None), its suppression spec (None) and
#: the correlations it feeds, in ``feeds`` order.
RuleParts = tuple[
    str, FirstSeenEngine | None, SuppressionSpec | None, tuple[CorrelationEngine, ...]
]

#: Distinct rule sets whose projection plan is kept (a pack has few).
_PLANS_KEPT = 4096

#: A plan: its rules in payload order, their fast projection, its packed form, and whether a
#: first-seen rule of it has a suppression spec (with suppression groups, the packed form
#: does not apply: ``project_packed``).
_Plan = tuple[list[RuleParts], FastProjection | None, PackedProjection | None, bool]


class Projector:
    """``Engine.project``: what a record brings to the stateful rules its base rules feed
    (engines used only for their pure ``project``). Per set of rule names, a plan is kept: its
    rules in payload order, and their generated fast projection (``match.projection``) when
    every field they read is read by a shared getter, in two forms: the payload, and its
    marshal bytes (``project_packed``, what a scan carries)."""

    def __init__(self, rules: Mapping[str, RuleParts]):
        """``rules``: the parts of every rule that feeds a stateful rule, by name."""
        self._rules = dict(rules)
        self._plans: dict[tuple[str, ...], _Plan] = {}

    @property
    def rule_names(self) -> list[str]:
        """The rules whose matches are projected (base rules of stateful rules), sorted."""
        return sorted(self._rules)

    def _plan(self, names: Sequence[str]) -> _Plan:
        key = tuple(names)
        entry = self._plans.get(key)
        if entry is None:
            if len(self._plans) >= _PLANS_KEPT:
                self._plans.clear()
            plan = [self._rules[n] for n in sorted(set(names))]
            grouped = any(fs is not None and sup is not None for _, fs, sup, _ in plan)
            entry = (plan, compile_projection(plan), compile_packed(plan), grouped)
            self._plans[key] = entry
        return entry

    def project(
        self, rec: Record, names: Sequence[str], suppress: bool = False, origins: bool = True
    ) -> Payload:
        """The payload of ``rec`` matched by rules ``names`` (module docstring): the fast
        projection's, or the reference's when the record's shape needs it."""
        entry = self._plans.get(tuple(names))
        if entry is None:
            entry = self._plan(names)
        fast = entry[1]
        if fast is not None:
            payload = fast(rec, suppress, origins)
            if payload is not None:
                return payload
        return self._project(entry[0], rec, suppress, origins)

    def project_packed(
        self, rec: Record, names: Sequence[str], suppress: bool = False, origins: bool = True
    ) -> PackedPayload:
        """``match.projection.pack`` of ``project``'s payload (the same bytes): the packed
        fast projection's, from its template, when the record has every value it reads as a
        str; else ``project``'s payload packed."""
        entry = self._plans.get(tuple(names))
        if entry is None:
            entry = self._plan(names)
        packed = entry[2]
        if packed is None or (suppress and entry[3]):
            return pack(self.project(rec, names, suppress, origins))
        out = packed(rec, suppress, origins)
        if out is not None:
            return out
        return pack(self._project(entry[0], rec, suppress, origins))

    def packed_path_taken(self, rec: Record, names: Sequence[str], origins: bool = True) -> bool:
        """True when ``project_packed`` (without suppression) takes its packed fast path."""
        packed = self._plan(names)[2]
        return packed is not None and packed(rec, False, origins) is not None

    def fast_path_taken(self, rec: Record, names: Sequence[str]) -> bool:
        """True when ``project`` takes its fast path for ``rec`` (for tests and benchmarks)."""
        fast = self._plan(names)[1]
        return fast is not None and fast(rec, False, False) is not None

    def project_reference(
        self, rec: Record, names: Sequence[str], suppress: bool = False, origins: bool = True
    ) -> Payload:
        """``project`` by the generic code (field getters, value lists, memo): the reference
        the fast path is tested against."""
        return self._project(self._plan(names)[0], rec, suppress, origins)

    @staticmethod
    def _project(plan: list[RuleParts], rec: Record, suppress: bool, origins: bool) -> Payload:
        data = rec.data
        memo: dict[Any, list[Any]] = {}  # field values shared by the rules of this record
        items = []
        for name, first_seen, suppression, correlations in plan:
            fs_input = None
            sup_group = None
            if first_seen is not None:
                fs_input = first_seen.project(rec, memo, origins)
                if suppress and suppression is not None:
                    sup_group = group_of(suppression, data)
            corr_inputs = tuple(c.project(name, data, memo) for c in correlations)
            items.append((name, fs_input, sup_group, corr_inputs))
        return tuple(items)


class StatefulRunner:
    """Fresh stateful engines for one run (first-seen ones from their saved state)."""

    def __init__(
        self,
        first_seen: Mapping[str, FirstSeenEngine],
        feeds: Mapping[str, Sequence[CorrelationEngine]],
        groups: Groups | None = None,
    ):
        """``first_seen``: engine per first-seen rule; ``feeds``: per base rule, the
        correlation engines it feeds (in the order of the payload's correlation inputs);
        ``groups``: where (alert, suppression group) pairs go when suppressing."""
        self.first_seen = dict(first_seen)
        self.feeds = {name: tuple(engines) for name, engines in feeds.items()}
        unique = {id(e): e for engines in self.feeds.values() for e in engines}
        self.correlations = list(unique.values())
        self._ordered = [e for e in self.correlations if e.ordered]
        self._groups = groups
        # Per base rule: its first-seen engine's feeder (None) and its correlations'
        # feeders (their step looked up once) with the index of their input in the payload.
        # A rule feeding one correlation (the usual case) has it as ``single`` instead.
        self._routes: dict[str, tuple[Any, Any, tuple[tuple[Any, int], ...]]] = {}
        for name, engines in self.feeds.items():
            feeders = tuple((e.feeder(name), i) for i, e in enumerate(engines))
            self._routes[name] = (
                self.first_seen[name].feeder() if name in self.first_seen else None,
                feeders[0][0] if len(feeders) == 1 else None,
                feeders if len(feeders) > 1 else (),
            )
        self._time = float("-inf")  # (the last time fed to a reference runner, which feeds
        # by its own method: match.feed_reference)
        self._feed = self._make_feed()
        if type(self).feed is StatefulRunner.feed:
            # The instance's feed is the closure itself: one call less per record.
            self.feed = self._feed  # type: ignore[method-assign]

    def feed(self, time: float, event_id: str, payload: Payload) -> list[Alert]:
        """One matched record, in (eventTime, eventID) order; the alerts final now. (An
        instance's ``feed`` is ``_make_feed``'s function, which this calls.)"""
        return self._feed(time, event_id, payload)

    def _make_feed(self) -> Callable[[float, str, Payload], list[Alert]]:
        """``feed`` as a function with the runner's state in its closure (cells are cheaper
        than attributes): the time and eventID fed last, the routes. (No count of payloads
        fed: an int past 256 is a new object per increment, 3 % of the feeding.)"""
        routes = self._routes
        ordered = tuple(self._ordered)
        groups = self._groups
        last_time = float("-inf")
        last_id = ""

        def feed(time: float, event_id: str, payload: Payload) -> list[Alert]:
            nonlocal last_time, last_id
            out: list[Alert] = []
            if time > last_time:
                last_time = time
                last_id = event_id
                for engine in ordered:
                    if engine.held_time < time:  # what advance() tests, without the call
                        found = engine.advance(time)
                        if found:
                            out.extend(found)
                            if groups is not None:
                                groups.extend((a, None) for a in found)
            elif time != last_time or event_id < last_id:
                # The engines' feeders rely on the order (CorrelationEngine.feeder).
                raise ValueError(f"record {event_id} fed out of (eventTime, eventID) order")
            else:
                last_id = event_id
            event = (time, event_id)
            for name, fs_input, sup_group, corr_inputs in payload:
                feed_first_seen, single, feeders = routes[name]
                if fs_input is not None:
                    found = feed_first_seen(event, fs_input)
                    if found:
                        out.extend(found)
                        if groups is not None:
                            groups.extend((a, sup_group) for a in found)
                if single is not None:
                    found = single(event, corr_inputs[0])
                    if found:
                        out.extend(found)
                        if groups is not None:
                            groups.extend((a, None) for a in found)
                elif feeders:  # (no zip: its iterator costs more than two calls)
                    for feeder, index in feeders:
                        found = feeder(event, corr_inputs[index])
                        if found:
                            out.extend(found)
                            if groups is not None:
                                groups.extend((a, None) for a in found)
            return out

        return feed

    def finish(self) -> list[Alert]:
        """End of input: the alerts still held (temporal_ordered events of the last second)."""
        out: list[Alert] = []
        for engine in self.correlations:
            found = engine.flush()
            out.extend(found)
            if self._groups is not None:
                self._groups.extend((a, None) for a in found)
        return out

    def implausible(self) -> list[tuple[str, str, str]]:
        """First-seen matches left out for an implausible eventTime: (rule name, record
        origin or eventID, eventTime)."""
        return [
            (name, r.origin or r.event_id, str(r.data.get("eventTime", "")))
            for name, fs in self.first_seen.items()
            for r in fs.implausible
        ]
