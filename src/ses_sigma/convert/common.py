"""What every conversion target needs from a rule, independent of the target.

* :func:`fresh_pack`: pySigma backends and pipelines *mutate* the rules they convert (field
  names are rewritten in place, conversion results are stored on the rule), so a target converts
  each rule from a freshly loaded copy of the pack's files, never from the caller's objects.
* :data:`LEVELS`, :func:`level_rank`: the Sigma level of a rule as a rank 0..4, which each
  target maps onto its own severity scale.
* :class:`Schedule`, :func:`schedule_for`: how often a scheduled search/rule runs and how far
  back it must read so that every alert is evaluated exactly once, with all the events that
  decide it: look-back = interval + the rule's window (correlation timespan, first-seen
  ``forget_after``); alerts are then kept only when their completing event falls in the last
  interval, so consecutive runs neither miss nor repeat an alert. The end of every run lags
  real time by ``delay`` (CloudTrail delivers records minutes after the call).
"""

from __future__ import annotations

from dataclasses import dataclass

from sigma.correlations import SigmaCorrelationRule, SigmaCorrelationTimespan
from sigma.rule import SigmaRule, SigmaRuleBase

from ses_sigma.match.first_seen import FirstSeenSpec
from ses_sigma.pack import Pack, load_pack, rule_key

__all__ = [
    "DEFAULT_DELAY",
    "DEFAULT_INTERVAL",
    "LEVELS",
    "Schedule",
    "fresh_pack",
    "fresh_rule",
    "level_rank",
    "schedule_for",
]

#: Sigma levels, lowest first; a rule without a level counts as ``medium``.
LEVELS: tuple[str, ...] = ("informational", "low", "medium", "high", "critical")

#: Seconds between two runs of a scheduled search (15 minutes).
DEFAULT_INTERVAL = 900
#: Seconds every run lags behind real time: CloudTrail delivers a record about 5 minutes
#: (not guaranteed) after the call, and the SIEM's input polls on top of that.
DEFAULT_DELAY = 900


def fresh_pack(pack: Pack) -> Pack:
    """The same rule (and filter) files loaded again, with new (unconverted) rule objects.

    Raises ``ValueError`` for a pack that was not loaded from files (nothing to reload).
    """
    paths = pack.source_files()
    if not paths:
        raise ValueError("the pack has no rule files to reload")
    return load_pack(paths)


def fresh_rule(pack: Pack, rule: SigmaRuleBase) -> tuple[Pack, SigmaRuleBase]:
    """A fresh copy of ``pack`` and, in it, the rule named like ``rule``."""
    copy = fresh_pack(pack)
    return copy, copy.get(rule_key(rule))


def level_rank(rule: SigmaRuleBase) -> int:
    """The rule's level as an index into :data:`LEVELS` (``medium`` when it has none)."""
    if rule.level is None:
        return LEVELS.index("medium")
    return LEVELS.index(rule.level.name.lower())


@dataclass(frozen=True)
class Schedule:
    """When a scheduled detection runs and what it reads (all values in seconds).

    A run at time T reads events with time in ``[T - delay - lookback, T - delay)`` and
    alerts on completions in ``[T - delay - interval, T - delay)``.
    """

    interval: int
    delay: int
    window: int  # what an alert needs to see before its completing event (0: single event)

    @property
    def lookback(self) -> int:
        """How far back one run reads: the last interval plus the rule's window."""
        return self.interval + self.window


def _seconds(span: SigmaCorrelationTimespan) -> int:
    seconds = span.seconds
    if seconds != int(seconds):  # pragma: no cover - pySigma timespans are whole seconds
        raise ValueError(f"timespan {span} is not a whole number of seconds")
    return int(seconds)


def schedule_for(
    rule: SigmaRuleBase, interval: int = DEFAULT_INTERVAL, delay: int = DEFAULT_DELAY
) -> Schedule:
    """The schedule of ``rule``: its window is the correlation timespan, the first-seen
    ``forget_after`` or 0 for a plain single-event rule.

    Raises ``RuleCompileError`` (from :class:`FirstSeenSpec`) for a malformed first_seen
    attribute and ``ValueError`` for a correlation without a timespan.
    """
    window = 0
    if isinstance(rule, SigmaCorrelationRule):
        if not isinstance(rule.timespan, SigmaCorrelationTimespan):
            raise ValueError(f"{rule_key(rule)}: correlation without a timespan")
        window = _seconds(rule.timespan)
    elif isinstance(rule, SigmaRule):
        spec = FirstSeenSpec.from_rule(rule)
        if spec is not None:
            window = int(spec.forget_after)
    return Schedule(interval=interval, delay=delay, window=window)
