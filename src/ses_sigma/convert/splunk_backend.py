"""pySigma's Splunk backend, restricted to what it converts with the matcher's meaning.

:class:`SesSplunkBackend` subclasses ``sigma.backends.splunk.SplunkBackend``; the SPL of a
detection is the backend's. What the subclass changes:

* **Faithfulness check.** Before a condition is converted, every value is checked against what
  SPL's search command means (docs/DESIGN.md is the reference). Refused, with a
  ``SigmaFeatureNotSupportedByBackendError`` naming the construct:

  - ``?`` (one character): SPL has no such wildcard; the backend writes ``*``, which matches
    any run of characters (upstream: ``wildcard_single = "*"``);
  - a literal ``*`` (Sigma ``\\*``): SPL's search cannot escape its wildcard;
  - ``''`` (empty string): whether ``field=""`` matches an empty JSON string depends on the
    extraction; not verified;
  - ``|cased``: the backend raises ``NotImplementedError`` (upstream);
  - ``|gt``/``|gte``/``|lt``/``|lte``: the search command compares non-numeric values as
    strings, the matcher never matches them;
  - ``|fieldref``: the backend's ``| where 'a'='b'`` compares numerically when both values look
    like numbers (the matcher compares text) and is appended after the search whatever the
    boolean context (wrong under NOT, upstream);
  - ``|re`` under OR or NOT: the backend appends ``| regex`` after the search whatever the
    boolean context, so ``not (a and re)`` becomes ``NOT a | regex`` (upstream), ``a or not re``
    becomes invalid SPL (``| search OR NOT ...``) and two ``rex`` groups of fields with the same
    last name component collide (``userNameMatch``); ``|re`` on an array field (``{}``);
  - timestamp parts (``|minute``...), keywords, unknown value types;
  - a plain string that reads as a CIDR network (``0.0.0.0/0``): SPL's search matches it as a
    network, not as the literal text;
  - cased non-ASCII letters in a plain string: Splunk's case folding of them is not verified;
  - a backtick (macro expansion, no documented escape) or a control character in a value, a
    regular expression or a field name (``spl_text_problem``); the target checks the whole
    search once more.

  Allowed and faithful: plain strings with ``*`` (case-insensitive whole value: SPL's ``=`` and
  ``IN``), ``|contains``/``|startswith``/``|endswith``/``|all``, ``|base64``/``|base64offset``/
  ``|wide``/``|windash`` (plain strings), ``null``/``|exists`` (``(NOT f=* OR f="null")`` /
  ``(f=* NOT f="null")``: a JSON null is extracted as the text ``null``; the cost is that a
  literal string ``"null"`` counts as no value too),
  numbers and booleans (as text), ``|cidr`` (IPv4 and IPv6: the search command matches CIDR
  notation), ``|re`` with flags (``(?i)``, ``(?m)``, ``(?s)``) in a positive AND position on a
  single-valued field (``| regex f="..."``: PCRE, case-sensitive, unanchored).

* **No ``| table`` in the query.** The target adds its own output columns; the query of a
  rule is the same whether it stands alone or feeds a correlation. Correlation sub-queries are
  finalized too (``finalize_correlation_subqueries``), so the pipeline's postprocessing puts
  back the parentheses around the success condition.

* **Correlations.** ``temporal_ordered`` with two rules is converted with the matcher's
  semantics (see :mod:`ses_sigma.convert.splunk_correlation`); ``event_count``, ``value_count``
  and ``temporal`` are refused: the backend's ``| bin _time span=... | stats`` uses fixed
  buckets, and the matcher's "one alert per burst, then the group starts over" makes an alert
  depend on the group's earlier alerts, which a single pass of ``streamstats`` cannot feed
  back.

Errors are ``SigmaError`` subclasses (never a bare ``NotImplementedError``), so that the
target can turn each into a refusal naming the rule.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, ClassVar

from sigma.backends.splunk import SplunkBackend
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.conversion.state import ConversionState
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.rule import SigmaRule
from sigma.types import (
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
)

from ses_sigma.convert.splunk_correlation import temporal_ordered_spl

__all__ = ["SesSplunkBackend", "check_faithful", "spl_text_problem"]

_FIXED_BUCKETS = (
    "pySigma's Splunk backend converts it to `| bin _time span=<timespan> | stats`, fixed "
    "buckets (two events straddling a bucket edge never correlate), and the matcher's sliding "
    "window clears the group after each alert (one alert per burst), so whether an event "
    "alerts depends on the group's earlier alerts, which one pass of streamstats cannot feed "
    "back"
)


def _refuse(reason: str) -> SigmaFeatureNotSupportedByBackendError:
    return SigmaFeatureNotSupportedByBackendError(reason)


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _check_string(field: str, value: SigmaString) -> None:
    if isinstance(value, SigmaCasedString):
        raise _refuse(
            f"{field}|cased: case-sensitive match; pySigma's Splunk backend cannot convert it "
            "(NotImplementedError) and SPL's CASE() with wildcards is not verified"
        )
    parts = value.s
    if SpecialChars.WILDCARD_SINGLE in parts:
        raise _refuse(
            f"{field}: '?' (exactly one character) has no SPL equivalent; the backend writes "
            "'*', which matches any run of characters"
        )
    text = "".join(p for p in parts if isinstance(p, str))
    problem = spl_text_problem(text)
    if problem:
        raise _refuse(f"{field}: {problem}")
    if "*" in text:
        raise _refuse(f"{field}: a literal '*' cannot be escaped in SPL's search command")
    if not parts or (not text and not value.contains_special()):
        raise _refuse(
            f"{field}: '' (empty string): whether SPL's {field}=\"\" matches an empty JSON "
            "string depends on the field extraction (not verified)"
        )
    if "/" in text and not value.contains_special() and _is_network(text):
        raise _refuse(
            f"{field}: {text!r} looks like a CIDR network; SPL's search matches such a value as "
            "a network (IP addresses inside it), not as the literal string"
        )
    if any(not c.isascii() and c.lower() != c.upper() for c in text):
        raise _refuse(
            f"{field}: non-ASCII letters in {text!r}: Splunk's case-insensitive matching of "
            "them is not verified"
        )


#: Characters SPL cannot carry in a quoted value (no escape for them) and that
#: savedsearches.conf readers take as line breaks: C0/C1 controls but tab, DEL, U+2028/U+2029.
_SPL_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def spl_text_problem(text: str) -> str | None:
    """Why ``text`` (a value or field name) cannot go into SPL, or None.

    A backtick: Splunk reads `` `name` `` as a search macro, expanded before the search is
    parsed; no documented escape keeps a backtick literal, quoted or not. A control character:
    SPL strings have no escape for it, and in savedsearches.conf a CR (or another line break)
    starts a new line.
    """
    if "`" in text:
        return (
            f"a backtick in {text!r}: Splunk reads `...` as a search macro, expanded before "
            "the search is parsed, and documents no escape for it; in a regular expression "
            "write \\x60"
        )
    found = _SPL_CONTROL.search(text)
    if found:
        return (
            f"control character {found.group()!r} in {text!r}: SPL strings cannot escape it "
            "and savedsearches.conf readers take it as a line break or garbage"
        )
    return None


def _check_leaf(cond: ConditionFieldEqualsValueExpression, context: tuple[type, ...]) -> None:
    field, value = cond.field, cond.value
    for text in (field, str(value.regexp) if isinstance(value, SigmaRegularExpression) else ""):
        problem = spl_text_problem(text)
        if problem:
            raise _refuse(f"{field}: {problem}")
    if isinstance(value, SigmaExpansion):  # |windash, |base64offset: an OR of plain strings
        for item in value.values:
            _check_leaf(ConditionFieldEqualsValueExpression(field, item), (*context, ConditionOR))
        return
    if isinstance(value, SigmaString):
        _check_string(field, value)
    elif isinstance(value, SigmaRegularExpression):
        if ConditionOR in context or ConditionNOT in context:
            raise _refuse(
                f"{field}|re under OR or NOT: pySigma's Splunk backend appends `| regex` (or "
                "rex/eval) after the search whatever the boolean context, which changes the "
                "meaning or gives invalid SPL"
            )
        if "{}" in field:
            raise _refuse(f"{field}|re on an array field: SPL's regex on multivalue fields")
    elif isinstance(value, SigmaCompareExpression):
        raise _refuse(
            f"{field}: numeric comparison: SPL's search compares non-numeric values as "
            "strings, the matcher never matches them"
        )
    elif isinstance(value, SigmaFieldReference):
        raise _refuse(
            f"{field}|fieldref: the backend's `| where 'a'='b'` compares numerically when both "
            "values look like numbers (the matcher compares text) and ignores NOT around it"
        )
    elif isinstance(value, SigmaTimestampPart):
        raise _refuse(f"{field}: timestamp part modifiers are not supported by the backend")
    elif not isinstance(
        value, SigmaCIDRExpression | SigmaNull | SigmaExists | SigmaNumber | SigmaBool
    ):
        raise _refuse(f"{field}: value type {type(value).__name__} is not supported")


def check_faithful(node: Any, context: tuple[type, ...] = ()) -> None:
    """Raise ``SigmaFeatureNotSupportedByBackendError`` unless every value of the condition
    tree ``node`` converts to SPL with the matcher's meaning (see the module docstring)."""
    if isinstance(node, ConditionAND | ConditionOR | ConditionNOT):
        for arg in node.args:
            check_faithful(arg, (*context, type(node)))
    elif isinstance(node, ConditionFieldEqualsValueExpression):
        _check_leaf(node, context)
    elif isinstance(node, ConditionValueExpression):
        raise _refuse("keyword detection (values without a field)")
    elif node is not None:
        raise _refuse(f"condition element {type(node).__name__} is not supported")


class SesSplunkBackend(SplunkBackend):
    """SplunkBackend that converts faithfully or raises (see the module docstring)."""

    #: Correlation sub-queries get the pipeline's postprocessing (parentheses, macro) too.
    finalize_correlation_subqueries: ClassVar[bool] = True
    #: JSON null: Splunk's JSON extraction keeps ``"f": null`` as the text ``null``, the
    #: matcher counts it as no value; so "no value" is "absent or the text null".
    field_null_expression: ClassVar[str] = '(NOT {field}=* OR {field}="null")'
    field_not_exists_expression: ClassVar[str] = '(NOT {field}=* OR {field}="null")'
    field_exists_expression: ClassVar[str] = '({field}=* NOT {field}="null")'
    #: One multisearch subsearch per referenced rule; ``{normalization}`` holds the step flag
    #: and the group-by values (see ``splunk_correlation``).
    correlation_search_multi_rule_query_expression: ClassVar[str] = (
        '[ search {query} | eval sigma_base_rule="{ruleid}", {normalization} ]'
    )

    def convert_rule(self, rule: SigmaRule, output_format: str | None = None, **kw: Any) -> Any:
        """Convert one rule; a rule with several conditions is refused (one query each)."""
        if len(rule.detection.condition) != 1:
            raise _refuse(
                "several conditions: the backend makes one query per condition and the "
                "target does not combine them"
            )
        return super().convert_rule(rule, output_format, **kw)

    def convert_condition(self, cond: Any, state: ConversionState) -> Any:
        """Check the whole tree once (at its root), then convert as the backend does."""
        if not state.processing_state.get("_ses_checked"):
            state.processing_state["_ses_checked"] = True
            check_faithful(cond)
        return super().convert_condition(cond, state)

    def finalize_query_default(
        self, rule: SigmaRule | SigmaCorrelationRule, query: str, index: int, state: Any
    ) -> str:
        """The backend's query without its ``| table``: the target writes its own columns."""
        out = super().finalize_query_default(rule, query, index, state)
        if isinstance(rule, SigmaRule) and rule.fields:
            suffix = " | table " + ",".join(rule.fields)
            if out.endswith(suffix):
                out = out[: -len(suffix)]
        return out

    # -- correlations ------------------------------------------------------------------------

    def convert_correlation_temporal_ordered_rule(
        self,
        rule: SigmaCorrelationRule,
        output_format: str | None = None,
        method: str = "default",
    ) -> list[str]:
        """Two-step ``temporal_ordered`` with the matcher's semantics (sliding, ordered)."""
        return [temporal_ordered_spl(self, rule)]

    def convert_correlation_event_count_rule(
        self, rule: SigmaCorrelationRule, output_format: str | None = None, method: str = ""
    ) -> list[str]:
        """Refused: see ``_FIXED_BUCKETS``."""
        raise _refuse(f"event_count: {_FIXED_BUCKETS}")

    def convert_correlation_value_count_rule(
        self, rule: SigmaCorrelationRule, output_format: str | None = None, method: str = ""
    ) -> list[str]:
        """Refused: see ``_FIXED_BUCKETS``."""
        raise _refuse(f"value_count: {_FIXED_BUCKETS}")

    def convert_correlation_temporal_rule(
        self, rule: SigmaCorrelationRule, output_format: str | None = None, method: str = ""
    ) -> list[str]:
        """Refused: see ``_FIXED_BUCKETS`` (an alert consumes the events of both rules)."""
        raise _refuse(f"temporal: {_FIXED_BUCKETS}")
