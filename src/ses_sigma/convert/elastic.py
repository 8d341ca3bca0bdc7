"""The ``lucene``, ``eql`` and ``esql`` targets: one query per rule, or a refusal.

Each rule is converted on a freshly loaded copy of the pack (pySigma mutates what it converts),
through the CloudTrail Elastic pipeline (``elastic_common.elastic_pipeline``) and the
subclassed pySigma backends of ``elastic_backends``. Files: ``<rule>.lucene``, ``<rule>.eql``,
``<rule>.esql``, each the query and a final newline.

What each target says about each kind of rule (the matcher is the reference):

* single-event rules: converted with the matcher's value semantics, or refused for the value
  or field that the target cannot express (see ``elastic_backends``);
* first-seen rules (``first_seen:``): refused by all three. A plain query alerts on every
  matching event, the rule only on a value not seen before; the ``kibana`` target expresses
  them as ``new_terms`` rules. (An ES|QL ``STATS MIN(@timestamp) BY ...`` means "new" only
  inside a scheduled rule whose look-back equals ``forget_after``, which a plain query is not.)
* ``temporal_ordered``: refused by all three. An EQL ``sequence ... with maxspan`` keeps the
  matcher's window and state, but orders events of the same timestamp by its tiebreaker field
  (``event.id``, random), never by the correlation's rule order: CloudTrail has 1-second
  resolution, so a creation and a deletion of one second would pair by chance, where the
  matcher's tie rule (docs/DESIGN.md) always pairs them. Lucene has no correlations, ES|QL no
  sequences.
* ``event_count``, ``value_count``, ``temporal``: refused by all three (no sliding windows).

Time: the queries carry no time range; whoever runs them picks it (the kibana rules do).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from sigma.conversion.base import TextQueryBackend
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule, SigmaRuleBase

from ses_sigma.convert.base import ConversionOutput, Refusal, Target, register
from ses_sigma.convert.common import fresh_rule
from ses_sigma.convert.elastic_backends import (
    EQL_CORRELATION_REFUSALS,
    SesEqlBackend,
    SesEsqlBackend,
    SesLuceneBackend,
)
from ses_sigma.convert.elastic_common import (
    INDEX_PATTERNS,
    Refused,
    elastic_pipeline,
    first_seen_spec,
    matcher_refusal,
    strip_rule_prefix,
)
from ses_sigma.convert.names import output_name
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.pack import Pack, rule_key

__all__ = [
    "EqlTarget",
    "EsqlTarget",
    "LuceneTarget",
    "eql_query",
    "esql_query",
    "lucene_query",
]

_FIRST_SEEN_REASON = (
    "first-seen rule: a plain query would alert on every matching event, not only when "
    "{fields} takes a value not seen before (use the kibana target: a new_terms rule)"
)


@dataclass(frozen=True)
class _Language:
    name: str
    backend: Callable[..., TextQueryBackend]
    #: The whole query around the backend's condition(s).
    wrap: Callable[[list[str]], str]


def _wrap_lucene(conditions: list[str]) -> str:
    return conditions[0] if len(conditions) == 1 else " OR ".join(f"({c})" for c in conditions)


def _wrap_eql(conditions: list[str]) -> str:
    body = conditions[0] if len(conditions) == 1 else " or ".join(f"({c})" for c in conditions)
    return f"any where {body}"


def _wrap_esql(conditions: list[str]) -> str:
    body = conditions[0] if len(conditions) == 1 else " or ".join(f"({c})" for c in conditions)
    return f"from {', '.join(INDEX_PATTERNS)} metadata _id, _index, _version\n| where {body}"


_LUCENE = _Language("lucene", SesLuceneBackend, _wrap_lucene)
_EQL = _Language("eql", SesEqlBackend, _wrap_eql)
_ESQL = _Language("esql", SesEsqlBackend, _wrap_esql)

_CORRELATION_REASONS = {
    "lucene": "{kind} correlation: a Lucene query matches single documents (no windows, no "
    "grouping, no order)",
    "esql": "{kind} correlation: ES|QL groups events only into fixed date_trunc buckets (not "
    "the matcher's sliding windows) and has no ordered sequences",
}


def _single_query(lang: _Language, rule: SigmaRule) -> str:
    backend = lang.backend(processing_pipeline=elastic_pipeline())
    captured: list[Any] = []

    def capture(_rule: Any, _fmt: Any, _index: int, _cond: Any, result: Any) -> Any:
        if result is not None:
            captured.append(result)
        return result

    # The callback sees each condition's query before finalization (which pySigma skips for
    # rules referenced by a correlation, and the upstream formats would alter).
    backend.convert_rule(rule, callback=capture)
    if not captured or not all(isinstance(q, str) for q in captured):
        raise Refused("the backend produced no query")
    return lang.wrap(captured)


def _correlation_query(lang: _Language, corr: SigmaCorrelationRule) -> str:
    """Every correlation is refused (module docstring): the reason for this target."""
    kind = corr.type.name.lower()
    if lang.name == "eql":
        raise Refused(
            EQL_CORRELATION_REFUSALS.get(
                kind, f"{kind} correlation has no EQL form with the matcher's meaning"
            )
        )
    raise Refused(_CORRELATION_REASONS[lang.name].format(kind=kind))


#: Control characters but tab, and Unicode line/paragraph separators. The Lucene backend
#: refuses them in values, patterns and field names (``LUCENE_CONTROL``); EQL and ES|QL string
#: literals escape LF, CR and tab and refuse the others. This is the last check of the whole
#: query: the only line feeds left are the structural ones (EQL sequence stages, ES|QL
#: commands, and the ``[^\n]`` / ``(\n)?`` the Lucene regex translation writes for ``.``
#: and ``$``), never one escaped by a backslash.
_QUERY_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]" + r"|\\\n")


def _check_controls(lang: _Language, query: str) -> str:
    """Refuse a query holding a control character anywhere but a structural line feed."""
    found = _QUERY_CONTROL.search(query)
    if found:
        raise Refused(
            f"control character {found.group()[-1]!r} in the query: {lang.name} has no escape "
            "for it in a value"
        )
    return query


def _convert(lang: _Language, pack: Pack, rule: SigmaRuleBase, allow_first_seen: bool) -> str:
    return _check_controls(lang, _convert_unchecked(lang, pack, rule, allow_first_seen))


def _convert_unchecked(
    lang: _Language, pack: Pack, rule: SigmaRuleBase, allow_first_seen: bool
) -> str:
    name = rule_key(rule)
    reason = matcher_refusal(rule)
    if reason is not None:
        raise Refused(reason)
    if not allow_first_seen:
        spec = first_seen_spec(rule)
        if spec is not None:
            raise Refused(_FIRST_SEEN_REASON.format(fields=", ".join(spec.fields)))
    _, fresh = fresh_rule(pack, rule)
    try:
        if isinstance(fresh, SigmaCorrelationRule):
            return _correlation_query(lang, fresh)
        if isinstance(fresh, SigmaRule):
            return _single_query(lang, fresh)
        raise Refused(f"unknown rule kind {type(fresh).__name__}")
    except Refused:
        raise
    except (SigmaError, NotImplementedError, RuleCompileError) as exc:
        # pySigma's "not supported" errors are plain NotImplementedError (pysigma-notes.md);
        # the pipeline's errors name the rule and the field.
        raise Refused(strip_rule_prefix(name, str(exc))) from None


def lucene_query(pack: Pack, rule: SigmaRuleBase, *, allow_first_seen: bool = False) -> str:
    """The rule as a Lucene ``query_string``; Refused with the reason if it cannot be.

    ``allow_first_seen``: convert a first-seen rule's detection (what a new_terms rule
    searches) instead of refusing it.
    """
    return _convert(_LUCENE, pack, rule, allow_first_seen)


def eql_query(pack: Pack, rule: SigmaRuleBase) -> str:
    """The rule as an Elasticsearch EQL query (``any where`` or ``sequence``), or Refused."""
    return _convert(_EQL, pack, rule, False)


def esql_query(pack: Pack, rule: SigmaRuleBase) -> str:
    """The rule as an ES|QL query (``from ... | where ...``), or Refused."""
    return _convert(_ESQL, pack, rule, False)


class _QueryTarget(Target):
    """One query file per rule."""

    extension: ClassVar[str]
    query: ClassVar[Callable[[Pack, SigmaRuleBase], str]]

    def convert(self, pack: Pack, rules: Sequence[SigmaRuleBase], fmt: str) -> ConversionOutput:
        """Convert each rule; refused rules are listed in the output, not written."""
        if fmt not in self.formats:
            raise ValueError(f"target {self.name} has no format {fmt!r}")
        out = ConversionOutput()
        for rule in rules:
            name = rule_key(rule)
            try:
                text = type(self).query(pack, rule)
            except Refused as exc:
                out.refusals.append(Refusal(name, self.name, exc.reason))
                continue
            out.files[f"{output_name(rule)}.{self.extension}"] = text + "\n"
        out.refusals.sort()
        return out


class LuceneTarget(_QueryTarget):
    """Lucene query strings (Kibana Discover "Lucene", ``query_string`` queries)."""

    name = "lucene"
    formats = ("query",)
    description = "Lucene query_string queries for the Elastic AWS integration (one per rule)"
    extension = "lucene"
    query = staticmethod(lucene_query)


class EqlTarget(_QueryTarget):
    """Elasticsearch EQL queries (single events and sequences)."""

    name = "eql"
    formats = ("query",)
    description = "Elasticsearch EQL queries, temporal_ordered correlations as sequences"
    extension = "eql"
    query = staticmethod(eql_query)


class EsqlTarget(_QueryTarget):
    """ES|QL queries."""

    name = "esql"
    formats = ("query",)
    description = "ES|QL queries for the Elastic AWS integration (one per rule)"
    extension = "esql"
    query = staticmethod(esql_query)


register(LuceneTarget())
register(EqlTarget())
register(EsqlTarget())
