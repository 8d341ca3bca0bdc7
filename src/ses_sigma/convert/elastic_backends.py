"""pySigma's Elasticsearch backends, with the matcher's value semantics put back.

pySigma (``sigma.backends.elasticsearch``) builds the boolean structure of every query (AND, OR,
NOT, grouping, value lists) and these subclasses keep it. What they replace is the conversion of
single ``field = value`` conditions, where the upstream backends do not mean what the matcher
means (shared/reference/pysigma-notes.md):

==================  =====================================  ======================================
value               upstream                               here
==================  =====================================  ======================================
plain string        Lucene ``field:Value`` and ES|QL       Lucene: a regex of letter classes on
(case-insensitive)  ``==``/``like``/``starts_with``:       keyword fields, every spelling on
                    case-sensitive                         flattened keys; EQL ``:``/``like~``;
                                                           ES|QL ``to_lower(field)`` compared with
                                                           the lowered value
``|cased``          Lucene, ES|QL: fine; EQL ``==`` also   exact term / ``==`` / ``like``
                    for wildcards (no wildcard meaning)
``|re``             ``^``/``$``/``(?i)`` emitted into      translated into Lucene's dialect
                    Lucene's dialect (literal there);      (``elastic_regex``), whole-value,
                    EQL ``regex~`` (case-insensitive)      case classes for ``i``; or refused
``null``            EQL ``?field == null``                 ``field == null`` (no ``?``: the
                                                           integration maps every field)
``|exists``         EQL: not supported                     null checks
negation            EQL and ES|QL: ``not (f : "x")`` is    each comparison under a NOT is guarded
                    null, not true, when ``f`` is missing  ``(f != null and f : "x")``, so a
                    (three-valued logic)                   missing field is "not matching"
numbers, booleans,  converted as strings/numbers of        refused: the matcher compares numbers
``|gt``..., field   the target, which compares keyword     numerically (``5`` = ``5.0``), and
references          fields as strings                      Elastic keywords as strings
==================  =====================================  ======================================

Refusals raise :class:`~ses_sigma.convert.elastic_common.Refused` with the reason. Field-level
limits of Elasticsearch are enforced here too: keys of ``flattened`` fields
(``aws.cloudtrail.flattened.*``) take only term and prefix queries in Lucene, and neither EQL
(elastic/elasticsearch#101985: "Cannot use field [...] with unsupported type [flattened]") nor
ES|QL before 9.5 can read them.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from sigma.backends.elasticsearch import EqlBackend, ESQLBackend, LuceneBackend
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
)
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.correlations import SigmaCorrelationRule
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
    SpecialChars,
)

from ses_sigma.convert.elastic_common import (
    FIELD_TYPES,
    Refused,
    is_flattened,
)
from ses_sigma.convert.elastic_regex import (
    Untranslatable,
    case_variants,
    ci_regex,
    has_letters,
    sigma_regex_to_lucene,
    sigma_string_parts,
    wildcard_pattern,
)

__all__ = [
    "EQL_CORRELATION_REFUSALS",
    "LUCENE_CONTROL",
    "SesEqlBackend",
    "SesEsqlBackend",
    "SesLuceneBackend",
    "quote_string_literal",
]

Cond = ConditionFieldEqualsValueExpression

#: Control characters (C0, DEL, C1) and Unicode line/paragraph separators, which Lucene
#: values cannot carry (no escape form).
LUCENE_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _under_not(cond: Any) -> bool:
    node = getattr(cond, "parent", None)
    while node is not None:
        if isinstance(node, ConditionNOT):
            return True
        node = getattr(node, "parent", None)
    return False


def quote_string_literal(text: str) -> str:
    """A double-quoted EQL / ES|QL string literal (``\\\\``, ``\\"``, ``\\n``, ``\\r``, ``\\t``)."""
    out = []
    for ch in text:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise Untranslatable(f"control character {ch!r} in a string literal")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _refuse_value(value: Any) -> Refused:
    if isinstance(value, SigmaNumber | SigmaBool):
        return Refused(
            f"{type(value).__name__[5:].lower()} value {value}: the matcher compares numbers "
            "and booleans by value (5 = 5.0, true = TRUE), Elastic's keyword fields as exact "
            "strings"
        )
    if isinstance(value, SigmaCompareExpression):
        return Refused(
            "numeric comparison (|lt, |gt...): the CloudTrail fields are keyword fields in "
            "Elastic, where comparisons are lexicographic"
        )
    if isinstance(value, SigmaFieldReference):
        return Refused("field reference (|fieldref): Elastic queries cannot compare two fields")
    if isinstance(value, SigmaExpansion):
        return Refused("placeholder expansion (|expand): the matcher refuses placeholders too")
    return Refused(f"value type {type(value).__name__} is not supported")


class _ValueSemantics:
    """Leaf conversion with the matcher's semantics; mixed into each pySigma backend."""

    #: Guard comparisons under NOT against missing fields (three-valued logic of EQL, ES|QL).
    null_guard: ClassVar[bool] = False

    # --- to be provided per target -------------------------------------------------------------
    def plain_expr(self, field: str, value: SigmaString) -> str:
        raise NotImplementedError

    def cased_expr(self, field: str, value: SigmaCasedString) -> str:
        raise NotImplementedError

    def regex_expr(self, field: str, lucene_regex: str) -> str:
        raise NotImplementedError

    def null_expr(self, field: str) -> str:
        raise NotImplementedError

    def not_null_expr(self, field: str) -> str:
        raise NotImplementedError

    def bool_expr(self, field: str, value: bool) -> str:
        raise NotImplementedError

    def guard(self, field: str, expr: str) -> str:
        return f"({self.not_null_expr(field)} and {expr})"

    def check_field(self, field: str) -> None:
        """Refuse fields the target cannot query at all."""

    def in_values_ok(self, values: list[Any]) -> bool:
        return False

    def in_expr(self, field: str, values: list[SigmaString]) -> str:
        raise NotImplementedError

    # --- dispatch ------------------------------------------------------------------------------
    def convert_condition_field_eq_val(self, cond: Cond, state: ConversionState) -> Any:
        field, value = cond.field, cond.value
        self.check_field(field)
        if isinstance(value, SigmaNull):
            return self.null_expr(field)
        if isinstance(value, SigmaExists):
            return self.not_null_expr(field) if value.exists else self.null_expr(field)
        try:
            if field in FIELD_TYPES:
                expr = self.typed_field_expr(field, value)
            elif isinstance(value, SigmaCasedString):
                expr = self.cased_expr(field, value)
            elif isinstance(value, SigmaString):
                expr = self.plain_expr(field, value)
            elif isinstance(value, SigmaRegularExpression):
                expr = self.regex_expr(field, sigma_regex_to_lucene(value))
            elif isinstance(value, SigmaCIDRExpression):
                expr = super().convert_condition_field_eq_val_cidr(cond, state)  # type: ignore[misc]
            else:
                raise _refuse_value(value)
        except Untranslatable as exc:
            raise Refused(f"{field}: {exc.reason}") from None
        if self.null_guard and _under_not(cond):
            expr = self.guard(field, expr)
        return expr

    def typed_field_expr(self, field: str, value: Any) -> str:
        """A value on a boolean or date field (the others are keywords)."""
        kind = FIELD_TYPES[field]
        if kind == "boolean" and isinstance(value, SigmaBool):
            return self.bool_expr(field, value.boolean)
        if kind == "boolean" and isinstance(value, SigmaString) and not value.contains_special():
            text = "".join(p for p in sigma_string_parts(value) if isinstance(p, str))
            # JSON true/false reach the matcher as "true"/"false"; plain strings ignore case.
            folded = text if isinstance(value, SigmaCasedString) else text.lower()
            if folded in ("true", "false"):
                return self.bool_expr(field, folded == "true")
        raise Untranslatable(
            f"{type(value).__name__} on a {kind} field (only true/false on a boolean field "
            "are converted)"
        )

    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState) -> Any:
        arg = cond.args[0]
        if isinstance(arg, Cond) and isinstance(arg.value, SigmaNull | SigmaExists):
            self.check_field(arg.field)
            present = not isinstance(arg.value, SigmaNull) and arg.value.exists
            return self.null_expr(arg.field) if present else self.not_null_expr(arg.field)
        return super().convert_condition_not(cond, state)  # type: ignore[misc]

    def decide_convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> bool:
        if not isinstance(cond, ConditionOR):
            return False
        if not super().decide_convert_condition_as_in_expression(cond, state):  # type: ignore[misc]
            return False
        if cond.args[0].field in FIELD_TYPES:
            return False
        return self.in_values_ok([arg.value for arg in cond.args])

    def convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> Any:
        field = cond.args[0].field
        self.check_field(field)
        try:
            expr = self.in_expr(field, [arg.value for arg in cond.args])
        except Untranslatable as exc:
            raise Refused(f"{field}: {exc.reason}") from None
        if self.null_guard and _under_not(cond):
            expr = self.guard(field, expr)
        return expr

    def convert_condition_val_str(self, cond: Any, state: ConversionState) -> Any:
        raise Refused("keyword detection (values without a field)")

    def convert_condition_val_num(self, cond: Any, state: ConversionState) -> Any:
        raise Refused("keyword detection (values without a field)")

    def convert_condition_val_re(self, cond: Any, state: ConversionState) -> Any:
        raise Refused("keyword detection (values without a field)")


# --- Lucene ------------------------------------------------------------------------------------


class SesLuceneBackend(_ValueSemantics, LuceneBackend):
    """Lucene ``query_string`` (Kibana "Lucene") with case-insensitive Sigma strings.

    Keyword fields: a string with letters becomes ``field:/regex/`` with a class per letter
    (Lucene regexes match the whole value); strings without letters stay terms or wildcards.
    Keys of flattened fields: Elasticsearch rejects regexp and wildcard queries there, so the
    value becomes the list of its spellings (``field:(ses OR seS OR ...)``, at most
    ``MAX_CASE_VARIANTS``), a trailing ``*`` a prefix query per spelling; anything else is
    refused.
    """

    def convert_condition_field_eq_val(self, cond: Cond, state: ConversionState) -> Any:
        """Refuse control characters in a value, a pattern or a field name first: Lucene has
        no escape form for them (a tab or U+001C..U+001F splits a term, a backslash before a
        raw line feed does not parse)."""
        texts = [cond.field]
        value = cond.value
        if isinstance(value, SigmaString):
            texts.extend(p for p in sigma_string_parts(value) if isinstance(p, str))
        elif isinstance(value, SigmaRegularExpression):
            texts.append(str(value.regexp))
        for text in texts:
            found = LUCENE_CONTROL.search(text)
            if found:
                raise Refused(
                    f"{cond.field}: control character {found.group()!r} in {text!r}: Lucene "
                    "has no escape for it"
                )
        return super().convert_condition_field_eq_val(cond, state)

    @staticmethod
    def _quote_apostrophes(term: str) -> str:
        """``'`` escaped outside a phrase: Elasticsearch reads ``\\'`` as ``'`` (any escaped
        character is itself), and luqum, the parser the tests use, rejects a term starting
        with ``'`` (a luqum limitation, not Elasticsearch's)."""
        return term if term.startswith('"') else term.replace("'", "\\'")

    def _term(self, value: SigmaString) -> str:
        return self._quote_apostrophes(
            LuceneBackend.convert_value_str(self, value, ConversionState())
        )

    def _flattened_terms(self, value: SigmaString, cased: bool) -> list[str]:
        parts = sigma_string_parts(value)
        specials = [i for i, p in enumerate(parts) if isinstance(p, SpecialChars)]
        prefix = specials == [len(parts) - 1] and parts[-1] is SpecialChars.WILDCARD_MULTI
        if specials and not prefix:
            raise Untranslatable(
                "wildcards other than a trailing * on a flattened key (Elasticsearch rejects "
                "wildcard and regexp queries on keys of flattened fields)"
            )
        body = value[:-1] if prefix else value
        if cased or not has_letters(body):
            spellings = ["".join(p for p in sigma_string_parts(body) if isinstance(p, str))]
        else:
            spellings = case_variants(body)
        suffix = "*" if prefix else ""
        terms = []
        for text in spellings:
            escaped = "".join("\\" + c if c in "*?\\" else c for c in text)
            sigma = SigmaString(escaped + suffix)
            # TextQueryBackend's form: reserved characters and spaces escaped, no phrase quotes
            # (a phrase cannot carry a prefix wildcard).
            terms.append(
                self._quote_apostrophes(
                    TextQueryBackend.convert_value_str(self, sigma, ConversionState())
                )
            )
        return terms

    def _value_terms(self, field: str, value: SigmaString, cased: bool) -> list[str]:
        if is_flattened(field):
            return self._flattened_terms(value, cased)
        if cased or not has_letters(value):
            return [self._term(value)]
        return ["/" + ci_regex(value) + "/"]

    def plain_expr(self, field: str, value: SigmaString) -> str:
        return self._field_terms(field, self._value_terms(field, value, cased=False))

    def cased_expr(self, field: str, value: SigmaCasedString) -> str:
        return self._field_terms(field, self._value_terms(field, value, cased=True))

    def _field_terms(self, field: str, terms: list[str]) -> str:
        name = self.escape_and_quote_field(field)
        if len(terms) == 1:
            return f"{name}:{terms[0]}"
        return f"{name}:({' OR '.join(terms)})"

    def bool_expr(self, field: str, value: bool) -> str:
        return f"{self.escape_and_quote_field(field)}:{'true' if value else 'false'}"

    def regex_expr(self, field: str, lucene_regex: str) -> str:
        if is_flattened(field):
            raise Untranslatable(
                "regular expression on a flattened key (Elasticsearch rejects regexp queries "
                "on keys of flattened fields)"
            )
        return f"{self.escape_and_quote_field(field)}:/{lucene_regex}/"

    def null_expr(self, field: str) -> str:
        return f"NOT _exists_:{self.escape_and_quote_field(field)}"

    def not_null_expr(self, field: str) -> str:
        return f"_exists_:{self.escape_and_quote_field(field)}"

    def in_values_ok(self, values: list[Any]) -> bool:
        return all(isinstance(v, SigmaString) for v in values)

    def in_expr(self, field: str, values: list[SigmaString]) -> str:
        terms: list[str] = []
        for v in values:
            terms.extend(self._value_terms(field, v, cased=isinstance(v, SigmaCasedString)))
        return self._field_terms(field, list(dict.fromkeys(terms)))


# --- EQL -------------------------------------------------------------------------------------


def _literal_wildcards(value: SigmaString) -> bool:
    return any(isinstance(p, str) and p in "*?\\" for p in sigma_string_parts(value))


#: Why EQL cannot express the other correlation types with the matcher's meaning.
EQL_CORRELATION_REFUSALS: dict[str, str] = {
    "event_count": "event_count correlation: an EQL sequence of N stages (or pySigma's 'with "
    "runs=N') keeps one pending sequence per key and overlapping matches, not the matcher's "
    "count of events in a sliding window with its state cleared after an alert",
    "value_count": "value_count correlation: EQL cannot count distinct values (pySigma's 'by "
    "<field> with runs=N' means N events with equal values, the opposite)",
    "temporal": "temporal correlation: EQL 'sample' has no time span, and a sequence imposes "
    "an order the rule does not have",
    "temporal_ordered": "temporal_ordered correlation: an EQL sequence orders events of the "
    "same timestamp by its tiebreaker field (event.id, random), not in the correlation's rule "
    "order; CloudTrail times have 1-second resolution, so a creation and a deletion in the "
    "same second would pair or not by chance (the matcher's tie rule, docs/DESIGN.md)",
}


class SesEqlBackend(_ValueSemantics, EqlBackend):
    """Elasticsearch EQL: ``:`` and ``like~`` compare case-insensitively, ``==``/``like`` not.

    Every correlation type is refused (``EQL_CORRELATION_REFUSALS``): ``temporal_ordered``
    because a sequence breaks timestamp ties by ``event.id``, not by the correlation's rule
    order (the matcher's tie rule).
    """

    null_guard = True

    def check_field(self, field: str) -> None:
        if is_flattened(field):
            raise Refused(
                f"{field} is a key of a flattened field, which Elasticsearch EQL cannot query "
                '("unsupported type [flattened]", elastic/elasticsearch#101985)'
            )

    @staticmethod
    def _pattern(value: SigmaString) -> str:
        _check_letters(value)
        if _literal_wildcards(value):
            raise Untranslatable(
                "a literal *, ? or \\ in a value EQL compares as a wildcard pattern (its "
                "escaping there is not known to be reliable)"
            )
        return quote_string_literal(wildcard_pattern(value, lower=False))

    def plain_expr(self, field: str, value: SigmaString) -> str:
        return f"{self.escape_and_quote_field(field)} : {self._pattern(value)}"

    def cased_expr(self, field: str, value: SigmaCasedString) -> str:
        name = self.escape_and_quote_field(field)
        if not value.contains_special():
            text = "".join(p for p in sigma_string_parts(value) if isinstance(p, str))
            return f"{name} == {quote_string_literal(text)}"
        return f"{name} like {self._pattern(value)}"

    def bool_expr(self, field: str, value: bool) -> str:
        return f"{self.escape_and_quote_field(field)} == {'true' if value else 'false'}"

    def regex_expr(self, field: str, lucene_regex: str) -> str:
        return f"{self.escape_and_quote_field(field)} regex {quote_string_literal(lucene_regex)}"

    def null_expr(self, field: str) -> str:
        return f"{self.escape_and_quote_field(field)} == null"

    def not_null_expr(self, field: str) -> str:
        return f"{self.escape_and_quote_field(field)} != null"

    def in_values_ok(self, values: list[Any]) -> bool:
        return all(
            isinstance(v, SigmaString) and not isinstance(v, SigmaCasedString) for v in values
        )

    def in_expr(self, field: str, values: list[SigmaString]) -> str:
        patterns = ", ".join(self._pattern(v) for v in values)
        return f"{self.escape_and_quote_field(field)} like~ ({patterns})"

    # correlations ---------------------------------------------------------------------------
    def convert_correlation_temporal_ordered_rule(self, *args: Any, **kwargs: Any) -> list[str]:
        raise Refused(EQL_CORRELATION_REFUSALS["temporal_ordered"])

    def convert_correlation_event_count_rule(self, *args: Any, **kwargs: Any) -> list[str]:
        raise Refused(EQL_CORRELATION_REFUSALS["event_count"])

    def convert_correlation_value_count_rule(self, *args: Any, **kwargs: Any) -> list[str]:
        raise Refused(EQL_CORRELATION_REFUSALS["value_count"])

    def convert_correlation_temporal_rule(self, *args: Any, **kwargs: Any) -> list[str]:
        raise Refused(EQL_CORRELATION_REFUSALS["temporal"])

    def convert_correlation_extended_temporal_rule(self, *args: Any, **kwargs: Any) -> list[str]:
        raise Refused("extended (boolean) temporal conditions are not supported")

    def convert_correlation_extended_temporal_ordered_rule(
        self, *args: Any, **kwargs: Any
    ) -> list[str]:
        raise Refused("extended (boolean) temporal_ordered conditions are not supported")


def _check_letters(value: SigmaString) -> None:
    for part in sigma_string_parts(value):
        cased = isinstance(part, str) and (part.lower() != part or part.upper() != part)
        if cased and not part.isascii():
            raise Untranslatable(
                f"non-ASCII letter {part!r}: the target's case folding (Java) is not known to "
                "agree with the matcher's (Python)"
            )


# --- ES|QL -------------------------------------------------------------------------------------


class SesEsqlBackend(_ValueSemantics, ESQLBackend):
    """ES|QL: ``==``, ``like``, ``in`` compare case-sensitively, so the field is lowered.

    ``to_lower(field) == "value"`` / ``like "pattern"`` / ``in (...)`` with the value lowered as
    the matcher lowers it; Java's ``toLowerCase`` (ES|QL) and Python's ``str.lower`` (the
    matcher) agree on ASCII and on the KELVIN SIGN; non-ASCII letters in values are refused.
    Correlations are refused: ES|QL has only fixed ``date_trunc`` buckets and no sequences.
    """

    null_guard = True

    def check_field(self, field: str) -> None:
        if is_flattened(field):
            raise Refused(
                f"{field} is a key of a flattened field, which ES|QL cannot read (flattened is "
                "an unsupported type before Elasticsearch 9.5's FIELD_EXTRACT)"
            )

    def plain_expr(self, field: str, value: SigmaString) -> str:
        name = f"to_lower({self.escape_and_quote_field(field)})"
        return self._compare(name, value, lower=True)

    def cased_expr(self, field: str, value: SigmaCasedString) -> str:
        return self._compare(self.escape_and_quote_field(field), value, lower=False)

    @staticmethod
    def _compare(name: str, value: SigmaString, lower: bool) -> str:
        if lower:
            _check_letters(value)
        if value.contains_special():
            return f"{name} like {quote_string_literal(wildcard_pattern(value, lower=lower))}"
        text = "".join(p for p in sigma_string_parts(value) if isinstance(p, str))
        return f"{name} == {quote_string_literal(text.lower() if lower else text)}"

    def bool_expr(self, field: str, value: bool) -> str:
        return f"{self.escape_and_quote_field(field)} == {'true' if value else 'false'}"

    def regex_expr(self, field: str, lucene_regex: str) -> str:
        return f"{self.escape_and_quote_field(field)} rlike {quote_string_literal(lucene_regex)}"

    def null_expr(self, field: str) -> str:
        return f"{self.escape_and_quote_field(field)} is null"

    def not_null_expr(self, field: str) -> str:
        return f"{self.escape_and_quote_field(field)} is not null"

    def in_values_ok(self, values: list[Any]) -> bool:
        return all(
            isinstance(v, SigmaString)
            and not isinstance(v, SigmaCasedString)
            and not v.contains_special()
            for v in values
        )

    def in_expr(self, field: str, values: list[SigmaString]) -> str:
        for v in values:
            _check_letters(v)
        texts = [
            quote_string_literal("".join(str(p) for p in sigma_string_parts(v)).lower())
            for v in values
        ]
        return f"to_lower({self.escape_and_quote_field(field)}) in ({', '.join(texts)})"

    def convert_correlation_rule(
        self, rule: SigmaCorrelationRule, *args: Any, **kwargs: Any
    ) -> list[Any]:
        raise Refused(
            f"{rule.type.name.lower()} correlation: ES|QL groups events only into fixed "
            "date_trunc buckets (not the matcher's sliding windows) and has no ordered sequences"
        )
