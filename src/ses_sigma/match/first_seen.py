"""The ``first_seen`` extension: alert when a rule matches with a value tuple not seen before.

A rule carries a custom top-level attribute (not Sigma; other tools see a plain rule)::

    first_seen:
      fields: [sesPrincipal]       # the value tuple that must be new (fields or derived fields)
      learning_period: 7d          # no alerts until learning_start + learning_period
      forget_after: 30d            # a value not seen for longer than this is new again

Semantics (docs/DESIGN.md, "First-seen extension"; pinned by tests/match/test_first_seen.py):

- The engine feeds the rule's matches in ``(eventTime, eventID)`` order. ``learning_start``
  is the time of the **first match of the rule** (not of any record: the learning period
  starts at the data that matters), carried over from a saved baseline when there is one
  (``match/baseline.py``).
- **Implausible times** take no part: a match dated before 2013-11-01 (CloudTrail did not
  exist; 0001-01-01 is a common null date) or more than one day after the wall clock when it
  is fed (read when the engine is made, and again only when a match passes that bound: a
  stream that runs for days moves the bound with it) cannot start (and so end) the learning
  period, refresh a value or forget the state. They are listed in ``implausible`` (the scan
  reports them), never silently dropped.
- A match whose value tuple is unknown (never seen, or last seen more than ``forget_after``
  before: exactly ``forget_after`` is still known) alerts if its time is
  ``>= learning_start + learning_period``; during learning it is only remembered. Every match
  refreshes its tuple's last-seen time, alerting or not. A value whose saved last sighting is
  later than the match (a baseline from newer logs) is known.
- Values come from ``match.fields.field_getter`` (nested paths, arrays), or from a derived
  field of the rule (``derived_fields``, ``match/derived.py``: e.g. the role of an assumed-role
  session rather than its session ARN). An event without a scalar value for one of the fields
  does not take part. **Several values** (an array) make several tuples (the cartesian product
  over the fields); each is looked up and refreshed on its own, and each new one makes its own
  alert (its ``group`` names it). Values compare exactly (case-sensitive; ``1`` and ``"1"``
  differ).
- Durations are Sigma timespans parsed by pySigma (``SigmaCorrelationTimespan``: a positive
  count and one of ``s m h d w M y``); times compare exactly (see ``match.correlation``).

State: the tuples seen within the last ``forget_after``, in order of last sighting; tuples
that fall out are dropped as time advances (dropping one is the same as forgetting it), so
memory follows the number of distinct tuples of one ``forget_after``, not the input size.
"""

from __future__ import annotations

import time as _time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sigma.correlations import SigmaCorrelationTimespan
from sigma.exceptions import SigmaTimespanError
from sigma.rule import SigmaRule

from ses_sigma.alerts import Alert
from ses_sigma.match.correlation_plan import (
    GroupKey,
    Memo,
    key_values,
    shared_getter,
    typed_keys,
)
from ses_sigma.match.derived import DerivedField, derived_fields
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.match.fields import FieldGetter
from ses_sigma.pack import rule_key
from ses_sigma.records import Record, parse_event_time

__all__ = [
    "ATTRIBUTE",
    "EARLIEST_PLAUSIBLE",
    "FUTURE_SLACK",
    "FirstSeenEngine",
    "FirstSeenInput",
    "FirstSeenSpec",
    "FirstSeenState",
]

#: The custom attribute's name in the rule file.
ATTRIBUTE = "first_seen"

_KEYS = ("fields", "learning_period", "forget_after")

#: CloudTrail launched on 2013-11-13: an eventTime before this is a broken or forged record.
EARLIEST_PLAUSIBLE = parse_event_time("2013-11-01T00:00:00Z")
#: How far after the wall clock an eventTime may be (clock skew), in seconds.
FUTURE_SLACK = 86400.0

_INF = float("inf")
_NONE: tuple[Alert, ...] = ()  # the alerts of a feed that makes none (shared)


#: What one match brings to a first-seen rule (``FirstSeenEngine.project``): the keys of its
#: value tuples (``correlation_plan.group_key``), and, when its time may be implausible, its
#: raw eventTime and its origin (for the implausible-time warning), else None and "".
FirstSeenInput = tuple[tuple[GroupKey, ...], Any, str]


@dataclass(frozen=True)
class FirstSeenSpec:
    """A rule's validated ``first_seen`` attribute; durations in seconds."""

    fields: tuple[str, ...]
    learning_period: float
    forget_after: float
    #: The rule's derived fields that ``fields`` names (match/derived.py).
    derived: tuple[DerivedField, ...] = ()

    @classmethod
    def from_rule(cls, rule: SigmaRule) -> FirstSeenSpec | None:
        """The rule's spec, None when the rule has no ``first_seen`` attribute.

        Raises RuleCompileError (message starting with the rule name) for a malformed spec:
        not a mapping, missing or unknown keys, fields not a non-empty list of distinct
        non-empty strings, durations that are not positive Sigma timespans.
        """
        if ATTRIBUTE not in rule.custom_attributes:
            return None
        raw = rule.custom_attributes[ATTRIBUTE]
        name = rule_key(rule)

        def fail(reason: str) -> RuleCompileError:
            return RuleCompileError(f"{name}: {ATTRIBUTE}: {reason}")

        if not isinstance(raw, Mapping):
            raise fail(f"must be a mapping with keys {', '.join(_KEYS)}, not {raw!r}")
        missing = [k for k in _KEYS if k not in raw]
        if missing:
            raise fail(f"missing {', '.join(missing)}")
        unknown = sorted(str(k) for k in raw if k not in _KEYS)
        if unknown:
            raise fail(f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(_KEYS)})")
        fields = raw["fields"]
        if not isinstance(fields, list) or not fields:
            raise fail(f"fields must be a non-empty list of field names, not {fields!r}")
        for f in fields:
            if not isinstance(f, str) or not f.strip() or f.strip() != f:
                raise fail(f"field name {f!r} is not a field name")
        if len(set(fields)) != len(fields):
            raise fail(f"fields lists a field twice: {fields}")

        def duration(key: str) -> float:
            value = raw[key]
            try:
                return float(SigmaCorrelationTimespan(value).seconds)
            except SigmaTimespanError as exc:
                raise fail(f"{key}: {exc} (a Sigma timespan such as 30s, 15m, 1h, 7d)") from None

        derived = derived_fields(rule)
        unused = sorted(set(derived) - set(fields))
        if unused:
            raise fail(f"derived field(s) {', '.join(unused)} not used in fields")
        return cls(
            fields=tuple(fields),
            learning_period=duration("learning_period"),
            forget_after=duration("forget_after"),
            derived=tuple(derived[f] for f in fields if f in derived),
        )

    def fingerprint(self) -> dict[str, Any]:
        """What saved state depends on: the value tuple's definition and forget_after."""
        return {
            "fields": list(self.fields),
            "derived": {d.name: list(d.sources) for d in self.derived},
            "forget_after": self.forget_after,
        }


@dataclass
class FirstSeenState:
    """One first-seen rule's state across runs: when learning started, what was seen when.

    ``seen`` maps a value-tuple key (``correlation_plan.group_key``) to its last sighting,
    least recently seen first. A ``Baseline`` (match/baseline.py) saves and loads it.
    """

    learning_start: float | None = None
    seen: OrderedDict[tuple[tuple[str, Any], ...], float] = field(default_factory=OrderedDict)


def _plausible(box: list[Any], clock: Callable[[], float], now: float) -> bool:
    """EARLIEST_PLAUSIBLE <= ``now`` <= the latest plausible time (``box[2]``). Past that
    bound the wall clock is read again and the bound moved up (never down): an engine fed a
    live stream for days finds its new records plausible, as it did its first ones."""
    if not now >= EARLIEST_PLAUSIBLE:
        return False
    if now <= box[2]:
        return True
    bound = clock() + FUTURE_SLACK
    if bound > box[2]:
        box[2] = bound
    return now <= bound


class FirstSeenEngine:
    """One first-seen rule's state for one run (see the module docstring).

    ``data_start``: the learning start to use when the state has none (tests); by default the
    first plausible match starts learning. ``state``: carried over between runs (updated in
    place). ``clock``: the wall clock, for the far-future bound. ``note_after``: see the
    attribute (the wall clock now by default).
    """

    def __init__(
        self,
        rule: SigmaRule,
        spec: FirstSeenSpec,
        data_start: float | None = None,
        state: FirstSeenState | None = None,
        clock: Callable[[], float] = _time.time,
        note_after: float | None = None,
    ):
        self.rule = rule
        self.spec = spec
        #: [state, time of the last plausible match, latest plausible time]: what the feeder
        #: shares with the engine (``state``, ``_now``, the bound ``plausible`` moves), so that
        #: it holds no reference to the engine (no cycle).
        self._box: list[Any] = [
            state if state is not None else FirstSeenState(),
            -_INF,
            clock() + FUTURE_SLACK,
        ]
        self._clock = clock
        if self.state.learning_start is None:
            self.state.learning_start = data_start
        derived = {d.name: d for d in spec.derived}
        self._getters = tuple((f, shared_getter(f, derived)) for f in spec.fields)
        self._alert = _alert_maker(rule, spec.fields)
        #: ``project`` leaves out the raw eventTime and origin of a match dated from
        #: EARLIEST_PLAUSIBLE to this (by default the wall clock when the engine was made): an
        #: engine fed it, made no more than FUTURE_SLACK before that, finds the time
        #: plausible. ``Engine`` passes its own making time, before any runner of its.
        self.note_after = self._box[2] - FUTURE_SLACK if note_after is None else note_after
        self._forget = spec.forget_after
        self._learning_period = spec.learning_period
        #: Matches that took no part because of an implausible eventTime.
        self.implausible: list[Record] = []
        self._feed = self._make_feeder()

    @property
    def state(self) -> FirstSeenState:
        """The rule's state across runs (updated in place; may be replaced)."""
        return self._box[0]  # type: ignore[no-any-return]

    @state.setter
    def state(self, value: FirstSeenState) -> None:
        self._box[0] = value

    @property
    def _now(self) -> float:
        """The time of the last plausible match fed (-inf: none)."""
        return self._box[1]  # type: ignore[no-any-return]

    @_now.setter
    def _now(self, value: float) -> None:
        self._box[1] = value

    def plausible(self, now: float) -> bool:
        """Whether a match dated ``now`` takes part: from EARLIEST_PLAUSIBLE to FUTURE_SLACK
        after the wall clock (read again when ``now`` passes the bound it gave last)."""
        return _plausible(self._box, self._clock, now)

    @property
    def data_start(self) -> float | None:
        """When learning started (None until the first plausible match)."""
        return self.state.learning_start

    @property
    def getters(self) -> tuple[FieldGetter, ...]:
        """What ``project`` reads: the getters of ``spec.fields``, in order."""
        return tuple(get for _, get in self._getters)

    def project(
        self, record: Record, memo: Memo | None = None, origin: bool = True
    ) -> FirstSeenInput:
        """What a match brings to this rule (pure: it can run where the record is matched);
        ``origin``: with the record's origin (for the implausible-time warning). The raw
        eventTime and origin only travel with a time that an engine fed the match may find
        implausible (``note_after``): the rest of the input depends on the values alone,
        so payloads of records with the same values are the same (``match.projection``)."""
        data = record.data
        keys = typed_keys(self._getters, data, memo)
        if EARLIEST_PLAUSIBLE <= record.time <= self.note_after:
            return (keys, None, "")
        return (keys, data.get("eventTime"), record.origin if origin else "")

    def feed(self, record: Record) -> list[Alert]:
        """A match of the rule, in (eventTime, eventID) order; returns its alerts."""
        return self.feed_event(record.sort_key, self.project(record))

    def feed_event(self, event: tuple[float, str], found: FirstSeenInput) -> list[Alert]:
        """``feed`` with the match already projected; ``event`` is its (eventTime, eventID)."""
        if event[0] < self._now:
            raise ValueError(f"{rule_key(self.rule)}: record {event[1]} fed out of order")
        return list(self._feed(event, found))

    def feeder(self) -> Callable[[tuple[float, str], FirstSeenInput], Sequence[Alert]]:
        """``feed_event`` as ``StatefulRunner`` calls it: the caller feeds in (eventTime,
        eventID) order, so the order is not checked. The alerts come as a sequence, empty ones
        shared: do not change it. One function per engine (its state is the engine's)."""
        return self._feed

    def _make_feeder(self) -> Callable[[tuple[float, str], FirstSeenInput], Sequence[Alert]]:
        """The engine's feeding (``feeder``), its settings bound once. The work that depends
        on the time alone is done once per eventTime: the plausibility test and the learning
        test (once learning is over, it stays over: times only grow; a state replaced is
        tested again). The walk that forgets old tuples is skipped while the first tuple it
        kept is unchanged and still known. Every tuple of every match is still looked up and
        refreshed."""
        forget = self._forget
        period = self._learning_period
        clock = self._clock
        implausible = self.implausible
        alert = self._alert
        box = self._box  # (not self: the engine holds this function)
        # As of the last plausible match: its time, whether learning, the ``seen`` map the
        # walk ran over, and (key, last sighting) of the first tuple it kept (None: walk next
        # time).
        last_now = -_INF
        learning = True
        walked: Any = None
        move_to_end: Any = None  # walked.move_to_end
        first: tuple[GroupKey, float] | None = None

        def feed(event: tuple[float, str], found: FirstSeenInput) -> Sequence[Alert]:
            nonlocal last_now, learning, walked, move_to_end, first
            now = event[0]
            seen = box[0].seen
            if now != last_now or seen is not walked:
                if not (EARLIEST_PLAUSIBLE <= now <= box[2] or _plausible(box, clock, now)):
                    raw_time = found[1]
                    note = {"eventTime": raw_time} if raw_time is not None else {}
                    implausible.append(Record(note, now, event[1], found[2]))
                    return _NONE
                last_now = box[1] = now
                state = box[0]
                if learning or seen is not walked:  # (a state replaced: its own learning)
                    if state.learning_start is None:
                        state.learning_start = now
                    learning = now - state.learning_start < period  # exact, see within()
            # The walk starts at the least recently seen tuple and stops at the first one
            # still known; while that first tuple is unchanged and still known, it would stop
            # at once, so it is skipped.
            if first is None or seen is not walked or not now - first[1] <= forget:
                move_to_end = seen.move_to_end
                first = None
                gone: list[GroupKey] = []
                for key, last in seen.items():
                    if now - last <= forget:
                        first = (key, last)
                        break
                    gone.append(key)
                for key in gone:
                    del seen[key]  # not seen for longer than forget_after: forgotten
                walked = seen
            alerts: list[Alert] | None = None
            for key in found[0]:
                # get, move_to_end and (when the time grows) set: cheaper than pop and set
                # (an OrderedDict pop frees its node, a set makes a new one).
                last = seen.get(key)
                if last is None:
                    seen[key] = now
                    if not learning:
                        if alerts is None:
                            alerts = []
                        alerts.append(alert(now, event[1], key))
                    continue
                if first is not None and last is first[1]:
                    # The first tuple moves: walk next time. (Its sighting is the very object
                    # the walk read, so no key comparison is needed; another tuple refreshed
                    # by the same match may share it, and then the walk merely runs again.)
                    first = None
                move_to_end(key)  # most recently seen last
                if now > last:
                    seen[key] = now  # max(last, now)
                if not learning and not now - last <= forget:  # not within(last, now, forget)
                    if alerts is None:
                        alerts = []
                    alerts.append(alert(now, event[1], key))
            return _NONE if alerts is None else alerts

        return feed

    @property
    def state_size(self) -> int:
        """Value tuples remembered (for tests and stats)."""
        return len(self.state.seen)


def _alert_maker(
    rule: SigmaRule, fields: tuple[str, ...]
) -> Callable[[float, str, GroupKey], Alert]:
    """The alert of a new value tuple of ``rule`` (a function of the rule's fields alone)."""
    rule_id = str(rule.id) if rule.id else ""
    name = rule_key(rule)
    title = rule.title
    level = rule.level.name.lower() if rule.level else ""

    def alert(now: float, event_id: str, key: GroupKey) -> Alert:
        return Alert(
            rule_id=rule_id,
            rule_name=name,
            title=title,
            level=level,
            time=now,
            event_ids=(event_id,),
            group=tuple(zip(fields, key_values(key), strict=True)),
        )

    return alert
