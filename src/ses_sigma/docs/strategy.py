"""How a rule works, in words: its kind, and its correlation or first-seen logic.

The wording follows the matcher's semantics (docs/DESIGN.md): sliding inclusive windows,
``(eventTime, eventID)`` order, state cleared after a correlation alert, first-seen learning
period and forget time. Only the constructs the matcher evaluates are described; anything else
is a :class:`DocsError` (the matcher refuses it at load, so a page describing it would be
wrong).
"""

from __future__ import annotations

from enum import Enum

from sigma.correlations import (
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
)
from sigma.rule import SigmaRule, SigmaRuleBase

from ses_sigma.docs.errors import DocsError
from ses_sigma.match.derived import derived_fields
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.match.first_seen import FirstSeenSpec
from ses_sigma.pack import rule_key

__all__ = [
    "RuleKind",
    "correlation_text",
    "duration_text",
    "first_seen_spec",
    "first_seen_text",
    "rule_kind",
]


class RuleKind(Enum):
    """The three kinds of rule in the pack (the index's ``type`` column)."""

    SINGLE = "single"
    CORRELATION = "correlation"
    FIRST_SEEN = "first-seen"


def first_seen_spec(rule: SigmaRuleBase) -> FirstSeenSpec | None:
    """The rule's validated ``first_seen`` attribute (None without one); DocsError if bad."""
    if not isinstance(rule, SigmaRule):
        return None
    try:
        return FirstSeenSpec.from_rule(rule)
    except RuleCompileError as exc:
        raise DocsError(str(exc)) from None


def rule_kind(rule: SigmaRuleBase) -> RuleKind:
    """Single-event, correlation or first-seen."""
    if isinstance(rule, SigmaCorrelationRule):
        return RuleKind.CORRELATION
    if first_seen_spec(rule) is not None:
        return RuleKind.FIRST_SEEN
    return RuleKind.SINGLE


_UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))


def duration_text(seconds: float) -> str:
    """``604800`` -> ``7 days``; ``5400`` -> ``90 minutes``; fractions stay in seconds."""
    if seconds != int(seconds) or seconds <= 0:
        return f"{seconds:g} seconds"
    whole = int(seconds)
    for size, unit in _UNITS:
        if whole % size == 0:
            count = whole // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    raise AssertionError("unreachable: 1 divides every integer")


def _derived_text(spec: FirstSeenSpec) -> str:
    parts = [
        f"`{d.name}` is the first of {', '.join(f'`{x}`' for x in d.sources)} that has a value. "
        for d in spec.derived
    ]
    return "".join(parts)


def first_seen_text(rule: SigmaRule, spec: FirstSeenSpec) -> str:
    """The first-seen logic of a rule in words (Markdown)."""
    fields = ", ".join(f"`{f}`" for f in spec.fields)
    what = "value" if len(spec.fields) == 1 else "combination of values"
    return (
        f"First-seen rule: a matching event alerts only when its {what} of {fields} is new, that "
        f"is, not seen in a matching event within the last {duration_text(spec.forget_after)} "
        f"(forget time; exactly {duration_text(spec.forget_after)} ago still counts as seen). "
        f"Learning period: {duration_text(spec.learning_period)} from the rule's first match "
        "(or the saved baseline of `scan --state`); during it values are only remembered, never "
        "alerted on; an event dated before CloudTrail existed or in the future takes no part. "
        f"{_derived_text(spec)}Every matching event "
        "refreshes its value's last-seen time; an event without a value for "
        f"{'the field' if len(spec.fields) == 1 else 'one of the fields'} does not take part. "
        "Values compare exactly (case-sensitive). Events are taken in (eventTime, eventID) "
        "order, so the result does not depend on the order CloudTrail delivers them in."
    )


def _count_text(rule: SigmaCorrelationRule) -> tuple[int, str]:
    cond = rule.condition
    op = cond.op if cond is not None else None
    if cond is None or op not in (
        SigmaCorrelationConditionOperator.GTE,
        SigmaCorrelationConditionOperator.GT,
    ):
        raise DocsError(
            f"{rule_key(rule)}: correlation condition {op!r} is not evaluated by the matcher "
            "(only gte and gt)"
        )
    need = cond.count if op == SigmaCorrelationConditionOperator.GTE else cond.count + 1
    return need, f"`{op.name.lower()}: {cond.count}`"


def correlation_text(rule: SigmaCorrelationRule) -> str:
    """The correlation logic of a rule in words (Markdown)."""
    refs = [r.reference for r in rule.rules or []]
    names = ", ".join(f"`{r}`" for r in refs)
    span = rule.timespan
    if span is None:
        raise DocsError(f"{rule_key(rule)}: correlation without a timespan")
    window = f"{duration_text(span.seconds)} (`timespan: {span.spec}`)"
    group = (
        "the same " + ", ".join(f"`{g}`" for g in rule.group_by)
        if rule.group_by
        else "all events together (no group-by)"
    )
    kind = rule.type
    if kind == SigmaCorrelationType.TEMPORAL_ORDERED:
        steps = ", then ".join(f"`{r}`" for r in refs)
        text = (
            f"Correlation `temporal_ordered`: an alert when {steps} match in this order for "
            f"{group}, the first event and the last at most {window} apart. Each step needs "
            "another event of the same second or later than the step before (CloudTrail times "
            "have 1-second resolution: events of one second are taken in the rule order, "
            "whatever their eventIDs); the most recent event of each earlier step is used, and "
            "the group's state is cleared after an alert."
        )
    elif kind == SigmaCorrelationType.TEMPORAL:
        need, cond = _count_text(rule)
        text = (
            f"Correlation `temporal`: an alert when {need} of the rules {names} match, in any "
            f"order, for {group} within {window} (condition {cond}). The alert holds the most "
            "recent event of each rule; the group's state is cleared after an alert."
        )
    elif kind == SigmaCorrelationType.EVENT_COUNT:
        need, cond = _count_text(rule)
        text = (
            f"Correlation `event_count`: an alert when {need} events of {names} occur for "
            f"{group} within {window} (condition {cond}). The alert holds those events; the "
            "group's state is then cleared (one alert per burst)."
        )
    elif kind == SigmaCorrelationType.VALUE_COUNT:
        need, cond = _count_text(rule)
        field = rule.condition.fieldref if rule.condition is not None else None
        text = (
            f"Correlation `value_count`: an alert when the events of {names} for {group} "
            f"within {window} hold {need} distinct values of `{field}` (condition {cond}). "
            "An event without a value for the field does not take part; the group's state is "
            "cleared after an alert."
        )
    else:
        raise DocsError(
            f"{rule_key(rule)}: correlation type {kind.name.lower()} is not evaluated by the "
            "matcher"
        )
    text += (
        " The window slides and is inclusive (events exactly one timespan apart are in one "
        "window); there are no fixed buckets. An event without a value for a group-by field "
        "does not take part; group values compare exactly."
    )
    try:
        derived = derived_fields(rule)
    except RuleCompileError as exc:
        raise DocsError(str(exc)) from None
    for d in derived.values():
        sources = ", ".join(f"`{x}`" for x in d.sources)
        text += f" `{d.name}` is the first of {sources} that has a value (a derived field)."
    aliases = getattr(rule.aliases, "aliases", None) or {}
    for alias in sorted(aliases):
        mapping = aliases[alias].mapping
        per_rule = ", ".join(f"`{mapping[ref]}` in `{ref.reference}`" for ref in mapping)
        text += f" Group-by alias `{alias}`: {per_rule}."
    if rule.generate:
        text += " `generate: true`: the referenced rules also alert on their own."
    else:
        text += " The referenced rules alert only through this correlation (`generate` is not set)."
    return text
