"""SPL for a two-step ``temporal_ordered`` correlation, with the matcher's semantics.

The matcher (``match/correlation.py``, ``_OrderedState``) feeds a group's matches in time
order, the events of one eventTime in the correlation's rule order (the tie rule: all
first-step events of a second before the second-step events of that second, eventID ordering
events of one rule); per group it keeps the most recent first-step event ``S``; a second-step
event ``e`` alerts when ``S`` exists, is another event, no later than ``e`` and
``e.time - S.time <= timespan`` (inclusive); the group is then cleared.

The conversion needs the two rules **provably disjoint** (no record matches both: they require
different eventSource/eventName values, :func:`provably_disjoint`); otherwise it is refused.
Then each event is one row of exactly one step, and the rows sorted by
``(_time, step, eventID)`` (``sort 0 num(_time) num(sigma_step_2) str(eventID)``) are the
matcher's feed order.

Claim: with A the first step and B the second, **a row matching B alerts iff the row just
before it in its group matches A and is at most timespan earlier**.

Proof. Let ``e`` match B and ``p`` be the previous row of its group. (1) ``p`` matches A: after
``p`` the state is ``S = p`` and no row lies between ``p`` and ``e``, so ``e`` alerts iff
``e.time - p.time <= timespan``. (2) ``p`` matches B: let ``i`` be the last A-row before
``p``. After ``i`` the state is ``i`` or empty (only B-rows clear, no A-row follows ``i``). If
``e.time - i.time <= timespan`` then ``p.time - i.time <= timespan`` too, so ``p`` alerted and
cleared ``i`` unless it was cleared before: ``e`` never alerts. (3) No ``p``: the state is
empty.

Group values: a group-by name (or alias target) that is a derived field of the rule
(``derived_fields``, ``match/derived.py``) is ``coalesce(nullif('f1', "null"), ...)`` over its
source fields, in order (the first with a value; a JSON null is extracted as the text
``null``, which is no value). Events without a group value take part in no group (``stats ...
by`` drops them); an array group value puts the event in one group per distinct value
(``stats ... by`` splits multivalue fields); duplicate deliveries (same eventID and time)
collapse into one row, as in the matcher.

N > 2 steps are refused: there a step's chain depends on whether earlier steps were cleared by
earlier alerts, which one pass of streamstats cannot feed back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionOR,
)
from sigma.correlations import SigmaCorrelationRule, SigmaCorrelationTimespan
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.rule import SigmaRule
from sigma.types import SigmaString

from ses_sigma.match.correlation import CorrelationEngine
from ses_sigma.match.derived import DerivedField, derived_fields
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.pack import rule_key
from ses_sigma.pipelines import splunk_field

if TYPE_CHECKING:
    from sigma.backends.splunk import SplunkBackend

__all__ = [
    "SCALAR_FIELDS",
    "eval_field",
    "group_value_expression",
    "provably_disjoint",
    "quote_field",
    "required_values",
    "temporal_ordered_spl",
]

#: Fields a CloudTrail record always holds as one string (AWS's record schema), so that two
#: different required values of one of them exclude each other.
SCALAR_FIELDS = frozenset({"eventSource", "eventName"})

_BARE_FIELD = re.compile(r"^[A-Za-z_][\w.]*$")


def quote_field(name: str) -> str:
    """A field name for search-language commands (stats, table, rename...)."""
    return name if _BARE_FIELD.match(name) else '"' + name.replace('"', '\\"') + '"'


def eval_field(name: str) -> str:
    """A field name inside an eval/where expression (always single-quoted: ``.`` is an
    operator there)."""
    return "'" + name.replace("'", "\\'") + "'"


def _refuse(reason: str) -> SigmaFeatureNotSupportedByBackendError:
    return SigmaFeatureNotSupportedByBackendError(f"temporal_ordered: {reason}")


# ------------------------------------------------------------------ disjointness of two rules

Required = dict[str, frozenset[str]]


def _plain_ascii(value: Any) -> str | None:
    if not isinstance(value, SigmaString) or value.contains_special():
        return None
    text = value.to_plain()
    return text.lower() if text.isascii() else None


def required_values(node: Any) -> Required:
    """For fields of :data:`SCALAR_FIELDS`: the lower-cased values one of which a record must
    hold for ``node`` to match it (fields the condition does not pin are absent).

    Sound over-approximation: AND intersects, OR unions the fields pinned in every branch,
    NOT and anything else pin nothing.
    """
    if isinstance(node, ConditionFieldEqualsValueExpression):
        plain = _plain_ascii(node.value)
        if node.field in SCALAR_FIELDS and plain is not None:
            return {node.field: frozenset({plain})}
        return {}
    if isinstance(node, ConditionAND):
        out: Required = {}
        for arg in node.args:
            for f, values in required_values(arg).items():
                out[f] = out[f] & values if f in out else values
        return out
    if isinstance(node, ConditionOR):
        branches = [required_values(arg) for arg in node.args]
        common = set.intersection(*(set(b) for b in branches)) if branches else set()
        return {f: frozenset().union(*(b[f] for b in branches)) for f in common}
    return {}


def _rule_required(rule: SigmaRule) -> Required:
    [cond] = rule.detection.parsed_condition
    return required_values(cond.parsed)


def provably_disjoint(a: SigmaRule, b: SigmaRule) -> str | None:
    """A field on which ``a`` and ``b`` require different values (no record matches both),
    or None when that cannot be shown."""
    ra, rb = _rule_required(a), _rule_required(b)
    for f in sorted(set(ra) & set(rb)):
        if not ra[f] & rb[f]:
            return f
    return None


# ------------------------------------------------------------------ the SPL


def _alias_field(corr: SigmaCorrelationRule, name: str, rule: SigmaRule) -> str | None:
    for alias in corr.aliases:
        if alias.alias != name:
            continue
        for ref, field in alias.mapping.items():
            if ref.reference in (rule.name, str(rule.id)):
                return field
    return None


def _group_fields(corr: SigmaCorrelationRule, rule: SigmaRule) -> list[str]:
    """The (pipeline-mapped) field of ``rule`` behind each group-by name."""
    out = []
    for name in corr.group_by or []:
        aliased = _alias_field(corr, name, rule)
        out.append(aliased if aliased is not None else name)
    return out


def group_value_expression(field: str, derived: dict[str, DerivedField]) -> str:
    """The eval expression of one group value: the field, or a derived field's coalesce."""
    spec = derived.get(field)
    if spec is None:
        return eval_field(field)
    parts = [f'nullif({eval_field(splunk_field(src))}, "null")' for src in spec.sources]
    return f"coalesce({', '.join(parts)})"


def _joined(parts: Iterable[str]) -> str:
    return " ".join(parts)


class _Normalization:
    """Per-subsearch evals handed to the backend's multisearch builder."""

    def __init__(self, corr: SigmaCorrelationRule, steps: list[SigmaRule]):
        self.corr = corr
        self.steps = steps

    def expression(self, rule: SigmaRule) -> str:
        step = next(i for i, r in enumerate(self.steps, 1) if r is rule)
        evals = [f"sigma_step_{step}=1"]
        derived = derived_fields(self.corr)
        evals += [
            f"sigma_group_{i}={group_value_expression(f, derived)}"
            for i, f in enumerate(_group_fields(self.corr, rule), 1)
        ]
        return ", ".join(evals)


def temporal_ordered_spl(backend: SplunkBackend, corr: SigmaCorrelationRule) -> str:
    """The ad hoc SPL of a two-step temporal_ordered correlation (module docstring).

    The referenced rules must have been converted by ``backend`` already. Raises
    ``SigmaFeatureNotSupportedByBackendError`` naming the reason when the conversion would
    not mean what the matcher means.
    """
    try:
        CorrelationEngine.check(corr)
    except RuleCompileError as exc:
        raise _refuse(f"the matcher refuses it: {exc}") from None
    steps = [ref.rule for ref in corr.rules]
    if len(steps) != 2:
        raise _refuse(
            f"{len(steps)} steps: only two-step chains are converted (with more, a step's "
            "chain depends on whether earlier alerts cleared the group, which one pass of "
            "streamstats cannot feed back)",
        )
    first, second = steps
    names = (rule_key(first), rule_key(second))
    if provably_disjoint(first, second) is None:
        raise _refuse(
            f"an event may match both {names[0]} and {names[1]}; whether such an event "
            "completes or restarts a chain depends on the earlier alerts of its group, which "
            "one row per event in streamstats cannot express; the rules are not provably "
            "disjoint on eventSource/eventName",
        )
    span = corr.timespan
    assert isinstance(span, SigmaCorrelationTimespan)  # CorrelationEngine.check ensured it
    seconds = int(span.seconds)
    groups = [f"sigma_group_{i}" for i in range(1, len(corr.group_by or []) + 1)]
    by = f" by {_joined(groups)}" if groups else ""

    normalization = _Normalization(corr, steps)
    backend_any: Any = backend
    original = backend_any.convert_correlation_search_field_normalization_expression
    backend_any.convert_correlation_search_field_normalization_expression = lambda aliases, ref: (
        normalization.expression(ref.rule)
    )
    try:
        search = backend.convert_correlation_search(corr)
    finally:
        backend_any.convert_correlation_search_field_normalization_expression = original

    outputs = [quote_field(f) for f in corr.group_by or []]
    lines = [
        search,
        "| stats max(sigma_step_1) as sigma_step_1 max(sigma_step_2) as sigma_step_2"
        f" by _time eventID{' ' + _joined(groups) if groups else ''}",
        *(
            ["| where " + " AND ".join(f'{g}!="null"' for g in groups)] if groups else []
        ),  # a JSON null group value is extracted as the text null: no value
        "| fillnull value=0 sigma_step_1 sigma_step_2",
        "| sort 0 num(_time) num(sigma_step_2) str(eventID)",  # the tie rule: rule order
        "| streamstats current=f window=1 global=f last(_time) as sigma_prev_time"
        f" last(eventID) as sigma_prev_event_id last(sigma_step_1) as sigma_prev_step_1{by}",
        f"| where sigma_step_2=1 AND sigma_prev_step_1=1 AND _time - sigma_prev_time <= {seconds}",
        "| eval sigma_event_ids=mvappend(sigma_prev_event_id, eventID),"
        f' sigma_rule="{rule_key(corr)}"',
    ]
    if groups:
        lines.append(
            "| rename " + ", ".join(f"{g} as {o}" for g, o in zip(groups, outputs, strict=True))
        )
    lines.append(f"| table {_joined(['_time', 'sigma_rule', *outputs, 'sigma_event_ids'])}")
    return "\n".join(lines)
