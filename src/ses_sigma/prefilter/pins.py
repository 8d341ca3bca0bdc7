"""What a single-event rule needs of a record's raw line: its pins, derived from pySigma.

A ``Pin`` is one condition of a rule (a rule with several conditions has several): the
``eventSource`` values one of which the record must hold, the ``eventName`` values (or None:
any), and the literals that must occur in the line (lower-cased). Derived from the rule's
parsed condition trees, after filters are applied (a filter only adds ``and not ...``, which
never adds a requirement), so a superset of what the matcher accepts: a pin may let through
records that do not match, never hold back one that does.

Literals come from positive, AND-ed detection items with plain string values (contains,
startswith, endswith, equals: the text runs between wildcards), kept only when made of
printable ASCII that no JSON writer must escape (no ``"``, ``\\``, control bytes) and when
they could not be part of a number's text (``1E2`` is compared as ``100.0``): such a literal
is a byte string of the raw line whenever the line holds no backslash. A value under ``NOT``,
one of several ``OR`` branches (unless every branch needs it, or a longer text holding
it), a regular expression, a
placeholder, a field reference, a number, boolean or null gives no literal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionOR,
)
from sigma.rule import SigmaRule
from sigma.types import SigmaString, SpecialChars

__all__ = ["Pin", "rule_pins"]

#: Characters of a number's text form (repr of a float: digits, sign, exponent, inf, nan).
_NUMERIC = frozenset("0123456789.+-eEinfaINFA")
_PRINTABLE = frozenset(chr(c) for c in range(0x20, 0x7F)) - {'"', "\\"}


@dataclass(frozen=True, slots=True)
class Pin:
    """One rule condition's requirements on a raw line (all values lower-cased)."""

    sources: frozenset[str]
    names: frozenset[str] | None
    literals: tuple[str, ...]


def _plain(value: Any) -> str | None:
    """The text of a SigmaString without wildcards or placeholders, else None."""
    if isinstance(value, SigmaString) and all(isinstance(p, str) for p in value.s):
        return "".join(value.s)
    return None


def _required(node: Any, field: str) -> frozenset[str] | None:
    """Lower-cased plain values one of which ``field`` must equal for ``node`` to hold; None
    when the node does not constrain the field to such a finite set."""
    if isinstance(node, ConditionFieldEqualsValueExpression):
        text = _plain(node.value) if node.field == field else None
        return None if text is None else frozenset([text.lower()])
    if isinstance(node, ConditionAND):
        found = [r for r in (_required(a, field) for a in node.args) if r is not None]
        return frozenset.intersection(*found) if found else None
    if isinstance(node, ConditionOR):
        branches = [_required(a, field) for a in node.args]
        if not branches or any(r is None for r in branches):
            return None
        return frozenset().union(*branches)  # type: ignore[arg-type]
    return None  # NOT, keywords: no constraint derivable


def _segments(value: Any) -> set[str]:
    """The lower-cased runs of plain text between the wildcards of a SigmaString."""
    if not isinstance(value, SigmaString):
        return set()
    runs: list[str] = []
    current = ""
    for part in value.s:
        if isinstance(part, str):
            current += part
            continue
        if part not in (SpecialChars.WILDCARD_MULTI, SpecialChars.WILDCARD_SINGLE):
            return set()  # a placeholder or anything else: no literal from this value
        runs.append(current)
        current = ""
    runs.append(current)
    return {r.lower() for r in runs if r and set(r) <= _PRINTABLE and not set(r) <= _NUMERIC}


def _literals(node: Any) -> set[str]:
    """Literals every record satisfying ``node`` holds in its raw line (lower-cased)."""
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _segments(node.value)
    if isinstance(node, ConditionAND):
        out: set[str] = set()
        for arg in node.args:
            out |= _literals(arg)
        return out
    if isinstance(node, ConditionOR):
        branches = [_literals(a) for a in node.args]
        # a literal every branch needs, itself or inside a longer literal of that branch
        return {
            lit
            for lit in set().union(*branches)
            if all(any(lit in other for other in b) for b in branches)
        }
    return set()  # NOT, keywords, anything else: nothing required


def rule_pins(rule: SigmaRule) -> list[Pin] | None:
    """One pin per condition of ``rule``; None when a condition does not pin eventSource to
    plain values (then the pre-filter cannot rule out any record for this rule)."""
    pins = []
    for cond in rule.detection.parsed_condition:
        tree = cond.parsed
        sources = _required(tree, "eventSource")
        if not sources:
            return None
        names = _required(tree, "eventName")
        # a literal found in every pinned value is implied by the value test itself
        literals = {
            lit
            for lit in _literals(tree)
            if not all(lit in s for s in sources) and not (names and all(lit in n for n in names))
        }
        pins.append(Pin(sources, names, tuple(sorted(literals))))
    return pins or None
