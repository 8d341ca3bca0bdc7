"""pySigma's TextQueryBackend for Spark SQL, with the matcher's value semantics.

pySigma builds the boolean structure (AND, OR, NOT, grouping); this backend converts each
``field = value`` condition over a column of the field's value (a string, or NULL when the field
is absent or JSON null: see ``ses_sigma.convert.spark``'s field columns):

==================  ==============================================================================
value               Spark SQL
==================  ==============================================================================
plain string        ``lower(f) = 'value'`` / ``lower(f) LIKE 'pat%' ESCAPE '!'`` with the value
                    lowered as the matcher lowers it (Java's ``toLowerCase`` and Python's
                    ``str.lower`` agree on ASCII and on the KELVIN SIGN; non-ASCII letters in
                    values are refused). Spark's ``LIKE`` matches newlines with ``%`` and ``_``,
                    as the matcher's wildcards do
``|cased``          ``f = 'Value'`` / ``f LIKE ...``
``null``            ``f IS NULL``; ``|exists``: ``IS [NOT] NULL``
negation            every comparison is ``coalesce(<comparison>, false)``: a missing field is
                    "not matching", so ``NOT`` of it is true, as in the matcher (SQL's NULL would
                    drop the row)
==================  ==============================================================================

Refused with the reason: ``|re`` (Python's and Java's regex dialects differ), ``|cidr``,
numbers, booleans and comparisons (the matcher compares by value), field references and
keywords (values without a field).

``pysigma-backend-databricks`` (0.1.7, installs with pySigma 1.5) was weighed and not used: it
lowers both sides with ``(?isu)`` regexes for wildcards (Java's Unicode case folding, not the
matcher's), leaves negations three-valued (``NOT (lower(f) = 'x')`` drops rows lacking ``f``),
rewrites OR lists into regexes, and raises on correlation rules.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
)
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.types import (
    SigmaCasedString,
    SigmaExists,
    SigmaNull,
    SigmaString,
    SpecialChars,
)

from ses_sigma.convert.elastic_common import Refused

__all__ = ["SparkSqlBackend", "column", "sql_string"]

Cond = ConditionFieldEqualsValueExpression


def sql_string(text: str) -> str:
    """A Spark SQL string literal: single quotes, backslash escapes for ``\\`` and ``'``."""
    out = []
    for ch in text:
        if ch in "\\'":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise Refused(f"control character {ch!r} in a value")
        else:
            out.append(ch)
    return "'" + "".join(out) + "'"


def column(field: str) -> str:
    """The backquoted column that holds a field's value (named after the field)."""
    if "`" in field or not field.isprintable():
        raise Refused(f"field name {field!r} cannot be a Spark SQL column name")
    return f"`{field}`"


def _parts(value: SigmaString) -> list[str | SpecialChars]:
    for part in value.s:
        if not isinstance(part, str | SpecialChars):
            raise Refused(f"placeholder {part} in a value (the matcher refuses placeholders too)")
    return list(value.s)


def _check_letters(text: str) -> None:
    for ch in text:
        if (ch.lower() != ch or ch.upper() != ch) and not ch.isascii():
            raise Refused(
                f"non-ASCII letter {ch!r}: Spark's case folding (Java) is not known to agree "
                "with the matcher's (Python) there"
            )


def _like_pattern(value: SigmaString, lower: bool) -> str:
    out = []
    for part in _parts(value):
        if part is SpecialChars.WILDCARD_MULTI:
            out.append("%")
        elif part is SpecialChars.WILDCARD_SINGLE:
            out.append("_")
        else:
            assert isinstance(part, str)
            text = part.lower() if lower else part
            out.append("".join("!" + c if c in "!%_" else c for c in text))
    return "".join(out)


class SparkSqlBackend(TextQueryBackend):
    """Spark SQL boolean conditions over field columns (see the module docstring)."""

    name: ClassVar[str] = "ses-sigma Spark SQL"
    precedence: ClassVar[tuple[type[ConditionItem], ...]] = (
        ConditionNOT,
        ConditionAND,
        ConditionOR,
    )
    group_expression: ClassVar[str] = "({expr})"
    token_separator: str = " "
    or_token: ClassVar[str] = "OR"
    and_token: ClassVar[str] = "AND"
    not_token: ClassVar[str] = "NOT"
    eq_token: ClassVar[str] = " = "
    str_quote: ClassVar[str] = "'"
    escape_char: ClassVar[str] = "\\"
    wildcard_multi: ClassVar[str] = "%"
    wildcard_single: ClassVar[str] = "_"
    field_null_expression: ClassVar[str] = "{field} IS NULL"
    convert_or_as_in: ClassVar[bool] = True
    convert_and_as_in: ClassVar[bool] = False
    in_expressions_allow_wildcards: ClassVar[bool] = False
    field_in_list_expression: ClassVar[str] = "{field} IN ({list})"
    list_separator: ClassVar[str] = ", "

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        #: Every field a converted condition reads (the query selects a column for each).
        self.fields: set[str] = set()

    def _col(self, field: str) -> str:
        self.fields.add(field)
        return column(field)

    def convert_condition_field_eq_val(self, cond: Cond, state: ConversionState) -> Any:
        field, value = cond.field, cond.value
        col = self._col(field)
        if isinstance(value, SigmaNull):
            return f"{col} IS NULL"
        if isinstance(value, SigmaExists):
            return f"{col} IS {'NOT ' if value.exists else ''}NULL"
        if isinstance(value, SigmaString):
            return self._compare(col, value, lower=not isinstance(value, SigmaCasedString))
        kind = type(value).__name__.removeprefix("Sigma")
        raise Refused(
            f"{field}: {kind} values are not converted for Spark SQL (regular expressions: "
            "Python's and Java's dialects differ; numbers, booleans and comparisons: the matcher "
            "compares by value; CIDR, field references: not implemented)"
        )

    @staticmethod
    def _compare(col: str, value: SigmaString, lower: bool) -> str:
        name = f"lower({col})" if lower else col
        if value.contains_special():
            pattern = _like_pattern(value, lower)
            if lower:
                _check_letters(pattern)
            return f"coalesce({name} LIKE {sql_string(pattern)} ESCAPE '!', false)"
        text = "".join(p for p in _parts(value) if isinstance(p, str))
        if lower:
            _check_letters(text)
            text = text.lower()
        return f"coalesce({name} = {sql_string(text)}, false)"

    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState) -> Any:
        return super().convert_condition_not(cond, state)

    def decide_convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> bool:
        if not isinstance(cond, ConditionOR):
            return False
        if not super().decide_convert_condition_as_in_expression(cond, state):
            return False
        return all(
            isinstance(arg.value, SigmaString)
            and not isinstance(arg.value, SigmaCasedString)
            and not arg.value.contains_special()
            for arg in cond.args
        )

    def convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> Any:
        col = self._col(cond.args[0].field)
        texts = []
        for arg in cond.args:
            text = "".join(p for p in _parts(arg.value) if isinstance(p, str))
            _check_letters(text)
            texts.append(sql_string(text.lower()))
        return f"coalesce(lower({col}) IN ({', '.join(texts)}), false)"

    def convert_condition_val_str(self, cond: Any, state: ConversionState) -> Any:
        raise Refused("keyword detection (values without a field)")

    def convert_condition_val_num(self, cond: Any, state: ConversionState) -> Any:
        raise Refused("keyword detection (values without a field)")

    def convert_condition_val_re(self, cond: Any, state: ConversionState) -> Any:
        raise Refused("keyword detection (values without a field)")
