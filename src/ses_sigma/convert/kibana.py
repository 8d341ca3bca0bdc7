"""The ``kibana`` target: Elastic Security detection rules, one NDJSON file for the rule import.

The file (``ses_sigma_detection_rules.ndjson``) holds one rule object per line in the format of
Kibana's detection rules import (``POST /api/detection_engine/rules/_import``, or Security ->
Rules -> Import), sorted keys, rules in the order given (name order from ``ses-sigma convert``).
Every rule is imported disabled (``enabled: false``). The query strings are exactly those of
the ``lucene`` and ``eql`` targets.

Rule types, chosen so that each alert means what the matcher's alert means:

* single-event rule -> ``query`` (language ``lucene``). A base rule of a correlation with
  ``generate: false`` becomes a building block rule (the matcher reports it only through the
  correlation).
* first-seen rule -> ``new_terms``: ``new_terms_fields`` are the ``first_seen.fields`` (Elastic
  names), ``query`` the rule's detection; refused when a first_seen field is a derived field
  (``derived_fields``: a coalesce new_terms cannot compute). ``history_window_start`` is
  ``now-<forget_after>``:
  Kibana calls a value new when it was not seen between the history start and the rule's
  look-back, which is the matcher's "not seen within forget_after". The learning period is not
  a history window: the matcher does not alert during the first ``learning_period`` of its
  data, which in a SIEM means "enable the rule once the indices hold that much CloudTrail"
  (said in the rule's ``setup`` and ``note``). Using the learning period as history window would
  re-alert on every principal idle for longer than it.
* ``temporal_ordered`` correlation -> refused: an ``eql`` sequence orders events of the same
  timestamp by ``tiebreaker_field`` (``event.id``, random), not in the correlation's rule
  order (the matcher's tie rule; CloudTrail has 1-second resolution).
* ``event_count``, ``value_count``, ``temporal`` -> refused: a ``threshold`` rule counts within
  each run's fixed look-back (from..now), an ES|QL rule in fixed ``date_trunc`` buckets, neither
  in the matcher's sliding window with its state cleared after an alert.

Suppression: a rule's ``suppression`` attribute (match/suppression.py) becomes
``alert_suppression`` (``group_by`` the Elastic fields, ``duration`` in s/m/h,
``missing_fields_strategy`` ``suppress`` or ``doNotSuppress``) on query and new_terms rules;
flattened keys and the fields that share ``user.name`` are refused as group_by fields.

Schedule: every 5 minutes. Query and new_terms rules select events by ``event.ingested``
(``timestamp_override``, as Elastic's own CloudTrail rules do) over the last 6 minutes, so
events CloudTrail delivers late are still seen once; their meaning does not depend on event
time. Overlapping look-backs do not duplicate alerts: the detection engine derives alert ids
from the source events.

Severity and risk score follow Elastic's conventions: low 21, medium 47, high 73, critical 99;
Sigma's ``informational`` (Elastic has no such severity) is low/21, and the Sigma level is kept
as a tag. ``threat`` lists the rule's ATT&CK tactics and techniques from the vendored ATT&CK copy
(``ses_sigma.attack``, no download); a technique tagged without one of its tactics is filed
under its own tactics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sigma.correlations import SigmaCorrelationRule, SigmaCorrelationType
from sigma.rule import SigmaRule, SigmaRuleBase

from ses_sigma import attack
from ses_sigma.convert.base import ConversionOutput, Refusal, Target, register
from ses_sigma.convert.common import LEVELS, level_rank
from ses_sigma.convert.elastic import lucene_query
from ses_sigma.convert.elastic_backends import EQL_CORRELATION_REFUSALS
from ses_sigma.convert.elastic_common import (
    INDEX_PATTERNS,
    Refused,
    eql_duration,
    first_seen_spec,
    is_flattened,
    matcher_refusal,
    user_name_fields,
)
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.match.first_seen import FirstSeenSpec
from ses_sigma.match.suppression import SuppressionSpec
from ses_sigma.pack import Pack, rule_key
from ses_sigma.pipelines import UnmappedFieldError, elastic_field

__all__ = [
    "INTERVAL",
    "NDJSON_FILE",
    "PACK_LICENSE",
    "KibanaTarget",
    "kibana_rule",
    "severity",
]

NDJSON_FILE = "ses_sigma_detection_rules.ndjson"
#: Seconds between two runs of every rule.
INTERVAL = 300
#: Extra look-back beyond the interval (rule start-up jitter; Kibana's default from now-6m).
MARGIN = 60
#: The pack's license (pyproject.toml), for rules that do not name one.
PACK_LICENSE = "Apache-2.0"
MAX_SIGNALS = 100
INGEST_TIME = "event.ingested"

_SEVERITY: dict[str, tuple[str, int]] = {
    "informational": ("low", 21),
    "low": ("low", 21),
    "medium": ("medium", 47),
    "high": ("high", 73),
    "critical": ("critical", 99),
}

_BASE_TAGS = (
    "ses-sigma",
    "Domain: Cloud",
    "Data Source: AWS",
    "Data Source: Amazon Web Services",
    "Data Source: AWS CloudTrail",
    "Data Source: Amazon SES",
    "Use Case: Threat Detection",
)

_SETUP = (
    "Requires AWS CloudTrail in Elasticsearch through the Elastic AWS integration (data stream "
    "`logs-aws.cloudtrail-*`) or Filebeat's aws module (`filebeat-*`), whose ingest pipeline "
    "sets the ECS fields these queries use (`event.provider`, `event.action`, "
    "`aws.cloudtrail.*`, `event.dataset: aws.cloudtrail`) and `event.ingested`."
)


def severity(rule: SigmaRuleBase) -> tuple[str, int]:
    """Elastic severity and risk score of the rule's Sigma level (medium when it has none)."""
    return _SEVERITY[LEVELS[level_rank(rule)]]


def _span(seconds: float) -> str:
    return eql_duration(seconds)


def _text(value: str | None) -> str:
    return (value or "").strip()


# --- ATT&CK ------------------------------------------------------------------------------------


def _threat(rule: SigmaRuleBase) -> tuple[list[dict[str, Any]], list[str]]:
    """``threat`` entries and tactic names from the rule's ``attack.*`` tags."""
    tactics: list[attack.Tactic] = []
    techniques: list[attack.Technique] = []
    for tag in rule.tags:
        if tag.namespace != "attack":
            continue
        name = tag.name.lower()
        try:
            if name.startswith("t") and name[1:2].isdigit():
                techniques.append(attack.technique(name))
            elif name[:1] in ("g", "s") and name[1:2].isdigit():
                continue  # groups and software have no place in Elastic's threat model
            else:
                tactics.append(attack.tactic(name))
        except KeyError as exc:
            raise Refused(f"tag attack.{tag.name}: {exc.args[0]}") from None
    for tech in techniques:
        if not any(t.shortname in tech.tactics for t in tactics):
            tactics.extend(attack.tactic(short) for short in tech.tactics)
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    for tac in tactics:
        if tac.id in seen:
            continue
        seen.add(tac.id)
        grouped: dict[str, dict[str, Any]] = {}
        for tech in techniques:
            if tac.shortname not in tech.tactics:
                continue
            parent = attack.technique(tech.parent) if tech.parent else tech
            entry = grouped.setdefault(
                parent.id, {"id": parent.id, "name": parent.name, "reference": parent.url}
            )
            if tech.parent:
                subs = entry.setdefault("subtechnique", [])
                if all(s["id"] != tech.id for s in subs):
                    subs.append({"id": tech.id, "name": tech.name, "reference": tech.url})
        entry_obj: dict[str, Any] = {
            "framework": "MITRE ATT&CK",
            "tactic": {"id": tac.id, "name": tac.name, "reference": tac.url},
        }
        if grouped:
            entry_obj["technique"] = list(grouped.values())
        entries.append(entry_obj)
    names = [e["tactic"]["name"] for e in entries]
    return entries, names


# --- notes -------------------------------------------------------------------------------------


def _note(rule: SigmaRuleBase, how: str) -> str:
    triage = _text(rule.custom_attributes.get("triage"))
    level = LEVELS[level_rank(rule)]
    parts = []
    if triage:
        parts.append("## Triage and analysis\n\n" + triage)
    parts.append("## How this rule matches\n\n" + how)
    parts.append(
        f"## Source\n\nConverted by ses-sigma from the Sigma rule `{rule_key(rule)}` "
        f"(id `{rule.id}`, level {level}). The Sigma rule and its fixtures are the reference."
    )
    return "\n\n".join(parts) + "\n"


_CASE_NOTE = (
    "Values compare case-insensitively, as in Sigma: in the Lucene query a value with letters "
    "is a regular expression with a class per letter (`[gG][eE][tT]...`), a value on a key of "
    "a flattened field (`aws.cloudtrail.flattened.*`) lists its spellings. Where the Sigma rule "
    "requires a successful call (`errorCode: null`), the query requires that "
    "`aws.cloudtrail.error_code` is absent."
)


def _query_how() -> str:
    return (
        f"Every matching CloudTrail event is an alert. {_CASE_NOTE} The rule runs every "
        f"{_span(INTERVAL)} over the events ingested in the last {_span(INTERVAL + MARGIN)} "
        f"(`{INGEST_TIME}`), so late CloudTrail deliveries are not missed."
    )


def _new_terms_how(spec: FirstSeenSpec, fields: list[str]) -> str:
    forget = _span(spec.forget_after)
    learn = _span(spec.learning_period)
    names = ", ".join(f"`{f}`" for f in fields)
    return (
        f"An alert when a matching event carries a value of {names} (the Sigma rule's "
        f"first_seen fields) that no matching event carried in the {forget} before: the "
        f"history window (`history_window_start: now-{forget}`) is the Sigma rule's "
        f"`forget_after`. The Sigma rule's learning period ({learn}) is a deployment "
        f"condition: enable this rule only once the indices hold at least {learn} of CloudTrail "
        f"data, otherwise every principal is new. {_CASE_NOTE} Values of the new-terms fields "
        "compare exactly (case-sensitively), as in the matcher. Differences from the matcher: "
        f"time is ingest time (`{INGEST_TIME}`, runs every {_span(INTERVAL)} over the last "
        f"{_span(INTERVAL + MARGIN)}), and the history ends where the look-back starts, so a "
        f"value last seen between {forget} and {forget} plus the look-back before may alert "
        "here and not in the matcher (never the other way round)."
    )


# --- rules -------------------------------------------------------------------------------------


def _base(rule: SigmaRuleBase, how: str, setup: str) -> dict[str, Any]:
    if rule.id is None:
        raise Refused("the rule has no id (Kibana's rule_id is the Sigma id)")
    sev, risk = severity(rule)
    threat, tactic_names = _threat(rule)
    tags = [
        *_BASE_TAGS,
        *(f"Tactic: {n}" for n in tactic_names),
        f"Sigma Level: {LEVELS[level_rank(rule)]}",
        *(f"{t.namespace}.{t.name}" for t in rule.tags),
    ]
    return {
        "rule_id": str(rule.id),
        "name": rule.title,
        "description": _text(rule.description) or rule.title,
        "severity": sev,
        "risk_score": risk,
        "author": [rule.author] if rule.author else [],
        "license": rule.license or PACK_LICENSE,
        "references": list(rule.references or []),
        "false_positives": list(rule.falsepositives or []),
        "note": _note(rule, how),
        "setup": setup,
        "tags": list(dict.fromkeys(tags)),
        "threat": threat,
        "index": list(INDEX_PATTERNS),
        "interval": _span(INTERVAL),
        "to": "now",
        "enabled": False,
        "max_signals": MAX_SIGNALS,
        "version": 1,
    }


def _new_terms_fields(spec: FirstSeenSpec) -> list[str]:
    for d in spec.derived:
        raise Refused(
            f"first_seen field {d.name} is derived (the first of {', '.join(d.sources)} that "
            "has a value); new_terms_fields are plain fields, and one new_terms rule per "
            "source field would split one value space in two (a role ARN seen as the issuer "
            "of a session and as a principal of its own would be two values)"
        )
    if len(spec.fields) > 3:
        raise Refused(f"first_seen has {len(spec.fields)} fields; new_terms takes at most 3")
    shared = user_name_fields(spec.fields)
    if shared:
        raise Refused(
            f"first_seen field {shared[0]} is user.name in Elastic, which also holds the role "
            "name of role sessions (where the raw field is absent)"
        )
    try:
        return [elastic_field(f) for f in spec.fields]
    except UnmappedFieldError as exc:
        raise Refused(str(exc)) from None


def _duration(seconds: float) -> dict[str, Any]:
    """Kibana's suppression duration (units s, m, h) of exactly ``seconds``."""
    whole = int(seconds)
    if whole != seconds or whole <= 0:
        raise Refused(f"suppression period of {seconds}s is not a whole number of seconds")
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if whole % size == 0:
            return {"value": whole // size, "unit": unit}
    raise AssertionError("unreachable")


def alert_suppression(rule: SigmaRuleBase) -> dict[str, Any] | None:
    """The Kibana ``alert_suppression`` of the rule's suppression attribute, or None.

    Refused for fields Kibana cannot group on as the matcher does: keys of flattened fields,
    and the raw fields that share ``user.name``.
    """
    try:
        spec = SuppressionSpec.from_rule(rule)
    except RuleCompileError as exc:
        raise Refused(str(exc)) from None
    if spec is None:
        return None
    group_by = []
    for f in spec.fields:
        if f in user_name_fields([f]):
            raise Refused(f"suppression field {f} is user.name in Elastic (shared field)")
        try:
            mapped = elastic_field(f)
        except UnmappedFieldError as exc:
            raise Refused(f"suppression: {exc}") from None
        if is_flattened(mapped):
            raise Refused(f"suppression field {f} is a key of a flattened field ({mapped})")
        group_by.append(mapped)
    strategy = {"suppress": "suppress", "do_not_suppress": "doNotSuppress"}[spec.missing_fields]
    return {
        "group_by": group_by,
        "duration": _duration(spec.period),
        "missing_fields_strategy": strategy,
    }


def kibana_rule(pack: Pack, rule: SigmaRuleBase) -> dict[str, Any]:
    """The detection rule object of one Sigma rule; Refused with the reason if it has none."""
    reason = matcher_refusal(rule)
    if reason is not None:
        raise Refused(reason)
    if isinstance(rule, SigmaCorrelationRule):
        if rule.type is SigmaCorrelationType.TEMPORAL_ORDERED:
            raise Refused("eql rule: " + EQL_CORRELATION_REFUSALS["temporal_ordered"])
        raise Refused(
            f"{rule.type.name.lower()} correlation: a threshold rule counts within each "
            "run's fixed look-back and an ES|QL rule within fixed date_trunc buckets, "
            "neither in the matcher's sliding window"
        )
    if not isinstance(rule, SigmaRule):
        raise Refused(f"unknown rule kind {type(rule).__name__}")
    spec = first_seen_spec(rule)
    if spec is not None:
        fields = _new_terms_fields(spec)
        query = lucene_query(pack, rule, allow_first_seen=True)
        learn = _span(spec.learning_period)
        setup = (
            f"{_SETUP} Enable this rule only once the indices hold at least {learn} of "
            "CloudTrail data (the Sigma rule's first_seen learning_period); before that, every "
            "value looks new."
        )
        obj = _base(rule, _new_terms_how(spec, fields), setup)
        obj.update(
            {
                "type": "new_terms",
                "language": "lucene",
                "query": query,
                "new_terms_fields": fields,
                "history_window_start": f"now-{_span(spec.forget_after)}",
                "from": f"now-{_span(INTERVAL + MARGIN)}",
                "timestamp_override": INGEST_TIME,
            }
        )
        suppression = alert_suppression(rule)
        if suppression is not None:
            obj["alert_suppression"] = suppression
        return obj
    query = lucene_query(pack, rule)
    obj = _base(rule, _query_how(), _SETUP)
    obj.update(
        {
            "type": "query",
            "language": "lucene",
            "query": query,
            "from": f"now-{_span(INTERVAL + MARGIN)}",
            "timestamp_override": INGEST_TIME,
        }
    )
    suppression = alert_suppression(rule)
    if suppression is not None:
        obj["alert_suppression"] = suppression
    if not getattr(rule, "_output", True):
        # generate: false on a correlation over it: the matcher reports it only through the
        # correlation; a building block rule's alerts are hidden by default.
        obj["building_block_type"] = "default"
    return obj


#: Characters JSON allows raw inside strings that some line readers take as line breaks
#: (``str.splitlines``; JavaScript before ES2019): written as ``\\u`` escapes instead.
_LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def dumps_rule(obj: dict[str, Any]) -> str:
    """One NDJSON line: sorted keys, no spaces, UTF-8 text, nothing any reader splits."""
    line = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode("utf-8")
    for char, escape in _LINE_BREAKS.items():
        line = line.replace(char, escape)  # only ever inside a JSON string
    return line


class KibanaTarget(Target):
    """Elastic Security detection rules (NDJSON for Kibana's rule import)."""

    name = "kibana"
    formats = ("ndjson",)
    description = "Elastic Security detection rules as NDJSON for Kibana's rule import"

    def convert(self, pack: Pack, rules: Sequence[SigmaRuleBase], fmt: str) -> ConversionOutput:
        """One NDJSON file with a line per converted rule; refusals listed."""
        if fmt not in self.formats:
            raise ValueError(f"target {self.name} has no format {fmt!r}")
        out = ConversionOutput()
        lines = []
        for rule in rules:
            try:
                lines.append(dumps_rule(kibana_rule(pack, rule)))
            except Refused as exc:
                out.refusals.append(Refusal(rule_key(rule), self.name, exc.reason))
        if lines:
            out.files[NDJSON_FILE] = "\n".join(lines) + "\n"
        out.refusals.sort()
        return out


register(KibanaTarget())
