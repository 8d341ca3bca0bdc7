"""What a rule watches: its CloudTrail API calls (eventSource, eventName) and call outcome.

The matcher's own dispatch sets are the authority: ``compile_detection(rule).event_sources`` and
``.event_names`` (lower-cased values one of which a matching record must have). They do not say
which eventName goes with which eventSource (``servicequotas`` ``ListServiceQuotas`` next to
``ses`` ``GetAccount``), so the pairs are read from the same pySigma condition tree: each AND
branch pins a source and a name. The pairs must agree with the dispatch sets (every source and
name of a pair is in them); a rule that does not pin both fields to plain values cannot be
documented call by call and is a :class:`DocsError`, never a guess.

The outcome (success-only, refused-only, or any) is read from the ``errorCode`` conditions:
a rule whose condition implies ``errorCode`` is absent watches successful calls only
(``errorCode: null``), one that never mentions ``errorCode`` watches attempts (refused calls
too). Correlations watch the calls of the rules they reference.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule, SigmaRuleBase
from sigma.types import SigmaExists, SigmaNull, SigmaString

from ses_sigma.docs.errors import DocsError
from ses_sigma.match.detection import compile_detection
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.pack import rule_key

__all__ = [
    "ApiCall",
    "Condition",
    "Outcome",
    "WatchedCall",
    "base_rules",
    "other_conditions",
    "outcome",
    "rule_calls",
    "watched_calls",
]

SOURCE, NAME, ERROR = "eventSource", "eventName", "errorCode"

Node = Any  # a pySigma condition tree node


@dataclass(frozen=True, order=True)
class ApiCall:
    """One CloudTrail API call: ``eventSource`` and ``eventName`` as the rule spells them."""

    event_source: str
    event_name: str

    @property
    def key(self) -> tuple[str, str]:
        """Case-folded identity (CloudTrail values compare case-insensitively in Sigma)."""
        return (self.event_source.lower(), self.event_name.lower())


class Outcome(Enum):
    """Which outcomes of a call a rule counts."""

    SUCCESS = "successful calls only (the record has no errorCode)"
    REFUSED = "refused calls only (the record has an errorCode)"
    ANY = "successful and refused calls (attempts count)"

    @property
    def short(self) -> str:
        """A word for tables: success, refused, attempts."""
        return {"SUCCESS": "success", "REFUSED": "refused", "ANY": "attempts"}[self.name]


@dataclass(frozen=True)
class WatchedCall:
    """An API call a rule watches, through which single-event rule, with which outcome."""

    call: ApiCall
    via: str  # the single-event rule whose detection matches the call
    outcome: Outcome = Outcome.ANY


@dataclass(frozen=True)
class Condition:
    """A condition of a detection on a field other than eventSource/eventName/errorCode."""

    field: str | None  # None for a keyword (any value of the record)
    value: str
    negated: bool  # under an odd number of NOTs: the rule excludes what it describes


# --------------------------------------------------------------------------- condition trees


def _trees(rule: SigmaRule) -> list[Node]:
    try:
        return [cond.parsed for cond in rule.detection.parsed_condition]
    except Exception as exc:  # pySigma parse errors: the matcher reports the same at load
        raise DocsError(f"{rule_key(rule)}: condition cannot be parsed: {exc}") from None


def _plain(node: ConditionFieldEqualsValueExpression) -> str | None:
    value = node.value
    if isinstance(value, SigmaString) and all(isinstance(p, str) for p in value.s):
        return "".join(value.s)
    return None


_ANY: tuple[str | None, str | None] = (None, None)


def _merge(
    a: tuple[str | None, str | None], b: tuple[str | None, str | None]
) -> tuple[str | None, str | None] | None:
    out: list[str | None] = []
    for x, y in zip(a, b, strict=True):
        if x is not None and y is not None and x.lower() != y.lower():
            return None  # contradictory: no record has both values
        out.append(x if x is not None else y)
    return (out[0], out[1])


def _pairs(node: Node) -> set[tuple[str | None, str | None]]:
    """(source, name) combinations one of which a record must have for ``node`` to hold."""
    if isinstance(node, ConditionFieldEqualsValueExpression):
        text = _plain(node)
        if text is not None and node.field == SOURCE:
            return {(text, None)}
        if text is not None and node.field == NAME:
            return {(None, text)}
        return {_ANY}
    if isinstance(node, ConditionAND):
        acc: set[tuple[str | None, str | None]] = {_ANY}
        for arg in node.args:
            nxt = _pairs(arg)
            acc = {m for a in acc for b in nxt if (m := _merge(a, b)) is not None}
        return acc
    if isinstance(node, ConditionOR):
        return set().union(*(_pairs(a) for a in node.args))
    return {_ANY}  # NOT, keywords: no constraint on the call


def watched_calls(rule: SigmaRule) -> tuple[ApiCall, ...]:
    """The API calls a single-event rule matches, sorted; DocsError if it does not pin them."""
    name = rule_key(rule)
    try:
        compiled = compile_detection(rule)
    except RuleCompileError as exc:
        raise DocsError(str(exc)) from None
    if compiled.event_sources is None or compiled.event_names is None:
        raise DocsError(
            f"{name}: the detection does not pin eventSource and eventName to plain values, so "
            "the API calls it watches cannot be listed"
        )
    found: dict[tuple[str, str], ApiCall] = {}
    for tree in _trees(rule):
        # sorted: of two spellings of one call, the same one wins in every run
        for src, ev in sorted(_pairs(tree), key=lambda p: (p[0] or "", p[1] or "")):
            if src is None or ev is None:
                raise DocsError(
                    f"{name}: a branch of the condition does not pin both eventSource and "
                    "eventName, so the API calls it watches cannot be listed"
                )
            call = ApiCall(src, ev)
            found.setdefault(call.key, call)
    calls = tuple(sorted(found.values(), key=lambda c: (c.key, c)))
    sources = {c.key[0] for c in calls}
    names = {c.key[1] for c in calls}
    if not calls or not sources <= compiled.event_sources or not names <= compiled.event_names:
        raise DocsError(
            f"{name}: the API calls read from the condition ({_show(calls)}) disagree with the "
            f"matcher's dispatch (eventSource {sorted(compiled.event_sources)}, eventName "
            f"{sorted(compiled.event_names)})"
        )
    return calls


def _show(calls: Iterable[ApiCall]) -> str:
    return ", ".join(f"{c.event_source} {c.event_name}" for c in calls) or "none"


# --------------------------------------------------------------------------- outcome


def _implies(node: Node, polarity: bool, leaf: Any) -> bool:
    """True if ``node`` having truth value ``polarity`` implies ``leaf(field_node, polarity)``."""
    if isinstance(node, ConditionAND):
        check = any if polarity else all
        return check(_implies(a, polarity, leaf) for a in node.args)
    if isinstance(node, ConditionOR):
        check = all if polarity else any
        return check(_implies(a, polarity, leaf) for a in node.args)
    if isinstance(node, ConditionNOT):
        return _implies(node.args[0], not polarity, leaf)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return bool(leaf(node, polarity))
    return False


def _error_absent(node: ConditionFieldEqualsValueExpression, polarity: bool) -> bool:
    if node.field != ERROR:
        return False
    value = node.value
    if isinstance(value, SigmaNull):
        return polarity
    if isinstance(value, SigmaExists):
        return value.exists != polarity
    return False


def _error_present(node: ConditionFieldEqualsValueExpression, polarity: bool) -> bool:
    if node.field != ERROR:
        return False
    value = node.value
    if isinstance(value, SigmaNull):
        return not polarity
    if isinstance(value, SigmaExists):
        return value.exists == polarity
    return polarity  # a value for errorCode: it is present


def _fields(node: Node) -> Iterator[str]:
    if isinstance(node, ConditionFieldEqualsValueExpression):
        yield node.field
    elif isinstance(node, (ConditionAND, ConditionOR, ConditionNOT)):
        for arg in node.args:
            yield from _fields(arg)


def outcome(rule: SigmaRule) -> Outcome:
    """Which call outcomes a single-event rule counts; DocsError if that depends on more."""
    trees = _trees(rule)
    if all(_implies(t, True, _error_absent) for t in trees):
        return Outcome.SUCCESS
    if all(_implies(t, True, _error_present) for t in trees):
        return Outcome.REFUSED
    if not any(f == ERROR for t in trees for f in _fields(t)):
        return Outcome.ANY
    raise DocsError(
        f"{rule_key(rule)}: the errorCode conditions do not reduce to success-only, "
        "refused-only or any outcome; the docs cannot summarise them"
    )


# --------------------------------------------------------------------------- other conditions


def _conditions(node: Node, negated: bool) -> Iterator[Condition]:
    if isinstance(node, ConditionNOT):
        yield from _conditions(node.args[0], not negated)
    elif isinstance(node, (ConditionAND, ConditionOR)):
        for arg in node.args:
            yield from _conditions(arg, negated)
    elif isinstance(node, ConditionFieldEqualsValueExpression):
        if node.field not in (SOURCE, NAME, ERROR):
            yield Condition(node.field, _value_text(node.value), negated)
    elif isinstance(node, ConditionValueExpression):
        yield Condition(None, _value_text(node.value), negated)


def _value_text(value: Any) -> str:
    if isinstance(value, SigmaNull):
        return "null"
    if isinstance(value, SigmaExists):
        return "exists" if value.exists else "does not exist"
    return str(value)


def other_conditions(rule: SigmaRule) -> tuple[Condition, ...]:
    """Conditions on other fields, in condition order, without repeats (negated: excluded)."""
    seen: dict[Condition, None] = {}
    for tree in _trees(rule):
        for cond in _conditions(tree, False):
            seen.setdefault(cond, None)
    return tuple(seen)


# --------------------------------------------------------------------------- any rule


def base_rules(rule: SigmaRuleBase) -> tuple[SigmaRule, ...]:
    """The single-event rules behind a rule: itself, or a correlation's referenced rules."""
    if isinstance(rule, SigmaRule):
        return (rule,)
    if isinstance(rule, SigmaCorrelationRule):
        out: list[SigmaRule] = []
        for ref in rule.rules or []:
            target = ref.rule
            if isinstance(target, SigmaCorrelationRule):
                out.extend(r for r in base_rules(target) if r not in out)
            elif isinstance(target, SigmaRule):
                if target not in out:
                    out.append(target)
            else:
                raise DocsError(
                    f"{rule_key(rule)}: reference {ref.reference!r} is not resolved to a rule"
                )
        return tuple(out)
    raise DocsError(f"{rule_key(rule)}: unknown kind of rule {type(rule).__name__}")


def rule_calls(rule: SigmaRuleBase) -> tuple[WatchedCall, ...]:
    """Every API call a rule watches (a correlation: through its referenced rules), sorted."""
    out: set[WatchedCall] = set()
    for base in base_rules(rule):
        kind = outcome(base)
        out.update(WatchedCall(call, rule_key(base), kind) for call in watched_calls(base))
    return tuple(sorted(out, key=lambda w: (w.call.key, w.via)))
