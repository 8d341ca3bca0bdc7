"""The ``suppression`` extension: one alert per group and period, where noise is repetition.

Not Sigma: a custom top-level attribute (other tools ignore it), in the spirit of Datadog's
signal grouping, Kibana's alert suppression and Splunk's alert throttling::

    suppression:
      fields: [userIdentity.accessKeyId]   # 1 to 3 fields; the values that make one group
      period: 1d                           # a Sigma timespan
      missing_fields: suppress             # or do_not_suppress (default: suppress)

Semantics (docs/DESIGN.md, "Suppression"; pinned by tests/match/test_suppression.py), applied
by ``ses-sigma scan --suppress`` (without it every match is an alert):

- An alert's group is the values of ``fields``: read from the alert's event for a single-event
  or first-seen rule (an array value is the list of its scalar values, as one value), from the
  alert's group for a correlation (whose ``fields`` must then be group-by names).
- Per rule and group, the first alert opens a window ``[t, t + period]`` (inclusive, event
  time); every later alert of the group in the window is merged into it: the output alert keeps
  the first alert's time and level, carries the event ids of every merged alert in order, and
  ``suppressed`` counts the merged ones. The next alert after the window opens a new one.
- An alert without a value for one of the fields is grouped with the others lacking it
  (``missing_fields: suppress``, Kibana's default) or is never suppressed
  (``do_not_suppress``).

Targets: Kibana ``alert_suppression`` (``group_by``, ``duration``, ``missing_fields_strategy``
``suppress`` / ``doNotSuppress``); Splunk ``alert.suppress = 1`` with ``alert.suppress.fields``
and ``alert.suppress.period`` (per-result alerting). They suppress in rule-run time, the matcher
in event time; the grouping and the period are the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sigma.correlations import SigmaCorrelationRule, SigmaCorrelationTimespan
from sigma.exceptions import SigmaTimespanError
from sigma.rule import SigmaRuleBase

from ses_sigma.alerts import Alert
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.match.fields import field_getter
from ses_sigma.pack import rule_key

__all__ = ["ATTRIBUTE", "MISSING", "SuppressionSpec", "Suppressor", "group_of"]

#: The custom attribute's name in the rule file.
ATTRIBUTE = "suppression"
#: ``missing_fields`` choices.
MISSING = ("suppress", "do_not_suppress")
#: Kibana's alert_suppression takes at most this many group_by fields.
MAX_FIELDS = 3

_KEYS = ("fields", "period", "missing_fields")
_SCALARS = (str, int, float, bool)

GroupValues = tuple[Any, ...]


@dataclass(frozen=True)
class SuppressionSpec:
    """A rule's validated ``suppression`` attribute; ``period`` in seconds."""

    fields: tuple[str, ...]
    period: float
    missing_fields: str = "suppress"

    @classmethod
    def from_rule(cls, rule: SigmaRuleBase) -> SuppressionSpec | None:
        """The rule's spec, None without the attribute; RuleCompileError naming the rule for a
        malformed one (or, on a correlation, fields that are not group-by names)."""
        if ATTRIBUTE not in rule.custom_attributes:
            return None
        raw = rule.custom_attributes[ATTRIBUTE]

        def fail(reason: str) -> RuleCompileError:
            return RuleCompileError(f"{rule_key(rule)}: {ATTRIBUTE}: {reason}")

        if not isinstance(raw, Mapping):
            raise fail(f"must be a mapping with keys fields, period (missing_fields), not {raw!r}")
        missing = [k for k in ("fields", "period") if k not in raw]
        if missing:
            raise fail(f"missing {', '.join(missing)}")
        unknown = sorted(str(k) for k in raw if k not in _KEYS)
        if unknown:
            raise fail(f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(_KEYS)})")
        fields = raw["fields"]
        if not isinstance(fields, list) or not 1 <= len(fields) <= MAX_FIELDS:
            raise fail(f"fields must be a list of 1 to {MAX_FIELDS} field names, not {fields!r}")
        for f in fields:
            if not isinstance(f, str) or not f.strip() or f.strip() != f:
                raise fail(f"field name {f!r} is not a field name")
        if len(set(fields)) != len(fields):
            raise fail(f"fields lists a field twice: {fields}")
        if isinstance(rule, SigmaCorrelationRule):
            strangers = [f for f in fields if f not in (rule.group_by or [])]
            if strangers:
                raise fail(
                    f"on a correlation the fields must be group-by names (the alert's group); "
                    f"{', '.join(strangers)} is not"
                )
        try:
            period = float(SigmaCorrelationTimespan(raw["period"]).seconds)
        except SigmaTimespanError as exc:
            raise fail(f"period: {exc} (a Sigma timespan such as 30m, 1h, 1d)") from None
        strategy = raw.get("missing_fields", "suppress")
        if strategy not in MISSING:
            raise fail(f"missing_fields must be one of {', '.join(MISSING)}, not {strategy!r}")
        return cls(fields=tuple(fields), period=period, missing_fields=strategy)


def group_of(spec: SuppressionSpec, data: Any) -> GroupValues:
    """The suppression group of an event: per field its value, a tuple for several, or None."""
    out: list[Any] = []
    for f in spec.fields:
        values = [v for v in field_getter(f)(data) if isinstance(v, _SCALARS)]
        out.append(None if not values else values[0] if len(values) == 1 else tuple(values))
    return tuple((type(v).__name__, v) for v in out)


@dataclass
class _Window:
    first: Alert
    until: float
    event_ids: dict[str, None]  # ordered set
    merged: int


class Suppressor:
    """Applies the rules' suppression specs to a run's alerts (module docstring)."""

    def __init__(self, specs: Mapping[str, SuppressionSpec]):
        self.specs = dict(specs)

    def apply(self, alerts: Iterable[tuple[Alert, GroupValues | None]]) -> list[Alert]:
        """Suppressed alerts, sorted as the engine sorts them.

        Each item is an alert and its group (``group_of`` of its event; None: take it from
        the alert's group, as for a correlation). Alerts of rules without a spec pass as they
        are.
        """
        out: list[Alert] = []
        windows: dict[tuple[str, GroupValues], _Window] = {}
        for alert, group in sorted(alerts, key=lambda item: item[0].sort_key):
            spec = self.specs.get(alert.rule_name)
            if spec is None:
                out.append(alert)
                continue
            if group is None:
                named = dict(alert.group)
                group = tuple((type(named.get(f)).__name__, named.get(f)) for f in spec.fields)
            if spec.missing_fields == "do_not_suppress" and any(v is None for _, v in group):
                out.append(replace(alert, suppressed=0))
                continue
            key = (alert.rule_name, group)
            window = windows.get(key)
            if window is not None and alert.time <= window.until:
                window.event_ids.update(dict.fromkeys(alert.event_ids))
                window.merged += 1
                continue
            if window is not None:
                out.append(_close(window))
            ids = dict.fromkeys(alert.event_ids)
            windows[key] = _Window(alert, alert.time + spec.period, ids, 0)
        out.extend(_close(w) for w in windows.values())
        out.sort(key=lambda a: a.sort_key)
        return out


def _close(window: _Window) -> Alert:
    return replace(window.first, event_ids=tuple(window.event_ids), suppressed=window.merged)
