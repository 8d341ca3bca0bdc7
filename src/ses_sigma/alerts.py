"""What the matcher reports: one Alert per rule firing."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sigma.rule import SigmaRuleBase

from ses_sigma.pack import rule_key
from ses_sigma.records import Record, format_time

__all__ = ["Alert", "alert_of_rule", "alert_rule", "make_alert", "single_alert_maker"]


@dataclass(frozen=True, slots=True, init=False)  # __init__: _fast_init, below
class Alert:
    """One firing of one rule.

    ``time`` is the eventTime (POSIX seconds) of the event that completed the detection;
    ``group`` holds the group-by (correlations) or first-seen field values, empty for
    single-event rules; ``event_ids`` are the eventIDs of the events that make the alert,
    in time order (a temporal_ordered chain: in step order, which is time order with events of
    one second in the correlation's rule order).
    """

    rule_id: str
    rule_name: str
    title: str
    level: str
    time: float
    event_ids: tuple[str, ...]
    group: tuple[tuple[str, Any], ...] = field(default=())
    #: With suppression applied (``scan --suppress``): how many later alerts of the same
    #: group and period were merged into this one (their event ids are in ``event_ids``).
    suppressed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form printed by ``ses-sigma scan`` (``suppressed`` only when applied)."""
        out: dict[str, Any] = {
            "rule_id": self.rule_id,
            "rule_name": self.rule_name,
            "title": self.title,
            "level": self.level,
            "time": format_time(self.time),
            "group": dict(self.group),
            "event_ids": list(self.event_ids),
        }
        if self.suppressed is not None:
            out["suppressed"] = self.suppressed
        return out

    @property
    def sort_key(self) -> tuple[float, str, tuple[str, ...]]:
        """Deterministic output order: time, rule name, event ids."""
        return (self.time, self.rule_name, self.event_ids)


def make_alert(
    rule: SigmaRuleBase,
    records: Iterable[Record],
    group: tuple[tuple[str, Any], ...] = (),
    *,
    keep_order: bool = False,
) -> Alert:
    """An alert of ``rule`` made by ``records`` (timed by the latest of them).

    The event ids are sorted by (eventTime, eventID), unless ``keep_order``: a
    temporal_ordered chain keeps its step order (time order, ties in rule order).
    """
    recs = list(records) if keep_order else sorted(records, key=lambda r: r.sort_key)
    return Alert(
        rule_id=str(rule.id) if rule.id else "",
        rule_name=rule_key(rule),
        title=rule.title,
        level=rule.level.name.lower() if rule.level else "",
        time=max(r.time for r in recs),
        event_ids=tuple(r.event_id for r in recs),
        group=group,
    )


# A frozen dataclass's generated __init__ sets each of its 8 fields through
# object.__setattr__, about twice the cost of setting the slots directly (measured: 0.93 vs
# 0.49 us per alert on the benchmark machine). Alert's __init__ (_fast_init) and
# single_alert_maker set them directly, through the slots' member descriptors;
# tests/match/test_fast_paths.py checks the results against the dataclass's and make_alert's.
_new = object.__new__
_SET_FIELDS = tuple(
    getattr(Alert, name).__set__
    for name in (
        "rule_id",
        "rule_name",
        "title",
        "level",
        "time",
        "event_ids",
        "group",
        "suppressed",
    )
)


def _fast_init() -> Callable[..., None]:
    """The dataclass's __init__ (same parameters and defaults), setting the slots directly
    (0.50 instead of 0.90 us per ``Alert(*fields)``, measured: a parent process rebuilds
    every alert its workers send that way); tests/match/test_fast_paths.py checks it against
    the generated one."""
    s_id, s_name, s_title, s_level, s_time, s_events, s_group, s_suppressed = _SET_FIELDS

    def __init__(
        self: Alert,
        rule_id: str,
        rule_name: str,
        title: str,
        level: str,
        time: float,
        event_ids: tuple[str, ...],
        group: tuple[tuple[str, Any], ...] = (),
        suppressed: int | None = None,
    ) -> None:
        s_id(self, rule_id)
        s_name(self, rule_name)
        s_title(self, title)
        s_level(self, level)
        s_time(self, time)
        s_events(self, event_ids)
        s_group(self, group)
        s_suppressed(self, suppressed)

    __init__.__qualname__ = "Alert.__init__"
    return __init__


Alert.__init__ = _fast_init()  # type: ignore[method-assign]


def alert_rule(rule: SigmaRuleBase) -> tuple[str, str, str, str]:
    """The rule's part of its alerts, as ``make_alert`` writes it: (rule_id, rule_name,
    title, level)."""
    return (
        str(rule.id) if rule.id else "",
        rule_key(rule),
        rule.title,
        rule.level.name.lower() if rule.level else "",
    )


def alert_of_rule(rule: tuple[str, str, str, str], time: float, event_id: str) -> Alert:
    """The single-event alert of ``rule`` (``alert_rule``) made by the record of ``time`` and
    ``event_id``: what ``single_alert_maker(rule)(record)`` makes."""
    alert = _new(Alert)
    s_id, s_name, s_title, s_level, s_time, s_events, s_group, s_suppressed = _SET_FIELDS
    s_id(alert, rule[0])
    s_name(alert, rule[1])
    s_title(alert, rule[2])
    s_level(alert, rule[3])
    s_time(alert, time)
    s_events(alert, (event_id,))
    s_group(alert, ())
    s_suppressed(alert, None)
    return alert


def single_alert_maker(rule: SigmaRuleBase) -> Callable[[Record], Alert]:
    """``make_alert(rule, [record])`` as a function of the record, the rule's part (id, name,
    title, level) computed once."""
    rule_id, rule_name, title, level = alert_rule(rule)
    s_id, s_name, s_title, s_level, s_time, s_events, s_group, s_suppressed = _SET_FIELDS

    def alert_of(record: Record) -> Alert:
        alert = _new(Alert)
        s_id(alert, rule_id)
        s_name(alert, rule_name)
        s_title(alert, title)
        s_level(alert, level)
        s_time(alert, record.time)
        s_events(alert, (record.event_id,))
        s_group(alert, ())
        s_suppressed(alert, None)
        return alert

    return alert_of
