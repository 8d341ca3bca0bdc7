"""The ``first_seen`` extension: alert when a rule matches with a value tuple not seen before.

A rule carries a custom top-level attribute (not Sigma; other tools see a plain rule)::

    first_seen:
      fields: [userIdentity.arn]   # the value tuple that must be new
      learning_period: 7d          # no alerts until data_start + learning_period
      forget_after: 30d            # a value not seen for longer than this is new again

Semantics (docs/DESIGN.md, "First-seen extension"; pinned by tests/match/test_first_seen.py):

- The engine feeds the rule's matches in ``(eventTime, eventID)`` order. ``data_start`` is the
  earliest eventTime of the run.
- A match whose value tuple is unknown (never seen, or last seen more than ``forget_after``
  before: exactly ``forget_after`` is still known) alerts if its time is
  ``>= data_start + learning_period``; during learning it is only remembered. Every match
  refreshes its tuple's last-seen time, alerting or not.
- Values come from ``match.fields.field_getter`` (nested paths, arrays). An event without a
  scalar value for one of the fields does not take part. **Several values** (an array) make
  several tuples (the cartesian product over the fields); each is looked up and refreshed on
  its own, and each new one makes its own alert (its ``group`` names it). Values compare
  exactly (case-sensitive; ``1`` and ``"1"`` differ).
- Durations are Sigma timespans parsed by pySigma (``SigmaCorrelationTimespan``: a positive
  count and one of ``s m h d w M y``); times compare exactly (see ``match.correlation``).

State: the tuples seen within the last ``forget_after``, in order of last sighting; tuples
that fall out are dropped as time advances (dropping one is the same as forgetting it), so
memory follows the number of distinct tuples of one ``forget_after``, not the input size.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sigma.correlations import SigmaCorrelationTimespan
from sigma.exceptions import SigmaTimespanError
from sigma.rule import SigmaRule

from ses_sigma.alerts import Alert, make_alert
from ses_sigma.match.correlation import group_key, group_tuples, within
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.match.fields import field_getter
from ses_sigma.pack import rule_key
from ses_sigma.records import Record

__all__ = ["ATTRIBUTE", "FirstSeenEngine", "FirstSeenSpec"]

#: The custom attribute's name in the rule file.
ATTRIBUTE = "first_seen"

_KEYS = ("fields", "learning_period", "forget_after")


@dataclass(frozen=True)
class FirstSeenSpec:
    """A rule's validated ``first_seen`` attribute; durations in seconds."""

    fields: tuple[str, ...]
    learning_period: float
    forget_after: float

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

        return cls(
            fields=tuple(fields),
            learning_period=duration("learning_period"),
            forget_after=duration("forget_after"),
        )


class FirstSeenEngine:
    """One first-seen rule's state for one run (see the module docstring)."""

    def __init__(self, rule: SigmaRule, spec: FirstSeenSpec, data_start: float):
        self.rule = rule
        self.spec = spec
        self.data_start = data_start
        self._getters = tuple((f, field_getter(f)) for f in spec.fields)
        # value-tuple key -> last-seen time; least recently seen first.
        self._seen: OrderedDict[tuple[tuple[str, Any], ...], float] = OrderedDict()
        self._now = float("-inf")

    def feed(self, record: Record) -> list[Alert]:
        """A match of the rule, in (eventTime, eventID) order; returns its alerts."""
        now = record.time
        if now < self._now:
            raise ValueError(f"{rule_key(self.rule)}: record {record.event_id} fed out of order")
        self._now = now
        seen = self._seen
        forget = self.spec.forget_after
        while seen:
            key, last = next(iter(seen.items()))
            if within(last, now, forget):
                break
            del seen[key]  # not seen for longer than forget_after: forgotten
        learning = now - self.data_start < self.spec.learning_period  # exact, see within()
        alerts: list[Alert] = []
        for group in group_tuples(self._getters, record.data):
            key = group_key(group)
            known = key in seen
            seen[key] = now
            seen.move_to_end(key)
            if not known and not learning:
                alerts.append(make_alert(self.rule, [record], group))
        return alerts

    @property
    def state_size(self) -> int:
        """Value tuples remembered (for tests and stats)."""
        return len(self._seen)
