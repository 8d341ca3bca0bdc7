"""The rule reference: one Markdown page per rule (``rules/<name>.md``) and the index.

A page has, in this order: a facts table (name, id, kind, level, status, author, dates, files),
Goal (description), Strategy (kind and logic in words, call outcome, other conditions, the Sigma
detection), API calls watched, Triage and response, False positives, ATT&CK, References,
Queries (every target: its query, its Kibana rule type, or its refusal with the reason),
Example event that fires, Files. Every section is always there; a rule without content for one
says so. Pages live in ``docs/rules/``, so links to repository files start with ``../../``.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import orjson
import yaml
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule, SigmaRuleBase

from ses_sigma.docs.calls import base_rules, other_conditions, outcome
from ses_sigma.docs.markdown import cell, code_block, header, link, table
from ses_sigma.docs.model import BUNDLED_PREFIX, RuleDoc
from ses_sigma.docs.queries import PackConversions, TargetResult
from ses_sigma.docs.strategy import (
    RuleKind,
    correlation_text,
    first_seen_spec,
    first_seen_text,
)
from ses_sigma.match.first_seen import ATTRIBUTE as FIRST_SEEN_ATTRIBUTE
from ses_sigma.pack import rule_key

__all__ = [
    "INDEX_FILE",
    "PAGES_DIR",
    "SECTIONS",
    "index_page",
    "page_path",
    "rule_page",
]

#: Directory of the rule pages, relative to the docs directory.
PAGES_DIR = "rules"
INDEX_FILE = f"{PAGES_DIR}/README.md"
#: From a page to the repository root.
TO_ROOT = "../../"

#: The second-level sections of every rule page, in order.
SECTIONS: tuple[str, ...] = (
    "Goal",
    "Strategy",
    "API calls watched",
    "Triage and response",
    "False positives",
    "ATT&CK",
    "References",
    "Queries",
    "Example event that fires",
    "Files",
)

KIND_TEXT = {
    RuleKind.SINGLE: "single-event rule",
    RuleKind.CORRELATION: "correlation rule",
    RuleKind.FIRST_SEEN: "first-seen rule (the `first_seen` extension)",
}


def page_path(name: str) -> str:
    """Path of a rule's page relative to the docs directory."""
    return f"{PAGES_DIR}/{name}.md"


def _level(rule: SigmaRuleBase) -> str:
    return rule.level.name.lower() if rule.level is not None else "not set"


def _status(rule: SigmaRuleBase) -> str:
    return rule.status.name.lower() if rule.status is not None else "not set"


def _date(value: Any) -> str:
    return value.isoformat() if value is not None else "not set"


def _facts(doc: RuleDoc) -> str:
    r = doc.rule
    rows = [
        ("name", f"`{doc.name}`"),
        ("id", f"`{r.id}`" if r.id else "not set"),
        ("type", KIND_TEXT[doc.kind]),
        ("level", _level(r)),
        ("status", _status(r)),
        ("author", cell(r.author or "not set")),
        ("date", _date(r.date)),
        ("modified", _date(r.modified)),
        ("rule file", _file_link(doc.rule_file)),
        ("fixtures", _file_link(doc.fixture_file)),
    ]
    return table(("", ""), rows)


def _text_or(text: str | None, missing: str) -> str:
    text = (text or "").strip()
    return (text if text else missing) + "\n"


def _detection_yaml(rule: SigmaRuleBase) -> str:
    data = rule.to_dict()
    shown: dict[str, Any] = {}
    if isinstance(rule, SigmaCorrelationRule):
        corr = {k: v for k, v in data["correlation"].items() if v not in ({}, [], None)}
        shown["correlation"] = corr
    else:
        shown["detection"] = data["detection"]
        if FIRST_SEEN_ATTRIBUTE in rule.custom_attributes:
            shown[FIRST_SEEN_ATTRIBUTE] = rule.custom_attributes[FIRST_SEEN_ATTRIBUTE]
    return yaml.safe_dump(shown, sort_keys=False, default_flow_style=False, width=100)


def _conditions_text(rule: SigmaRule) -> str:
    conds = other_conditions(rule)
    if not conds:
        return ""

    def one(c: Any) -> str:
        where = f"`{c.field}`" if c.field is not None else "any value of the record"
        return f"{where} matches `{c.value}`"

    required = [one(c) for c in conds if not c.negated]
    excluded = [one(c) for c in conds if c.negated]
    out = ""
    if required:
        out += "- Also tested: " + "; ".join(required) + ".\n"
    if excluded:
        out += "- Excluded when: " + "; ".join(excluded) + ".\n"
    return out + (
        "- (Sigma wildcards: `*` is any text. How the conditions combine is in the Sigma "
        "detection below.)\n"
    )


def _calls_summary(rule: SigmaRule, doc: RuleDoc) -> str:
    by_source: dict[str, list[str]] = {}
    for w in doc.calls:
        if w.via == rule_key(rule):
            by_source.setdefault(w.call.event_source, []).append(w.call.event_name)
    parts = [f"`{src}`: " + ", ".join(f"`{n}`" for n in names) for src, names in by_source.items()]
    return "; ".join(parts)


def _strategy(doc: RuleDoc) -> str:
    rule = doc.rule
    out = ""
    if isinstance(rule, SigmaCorrelationRule):
        out += correlation_text(rule) + "\n\n"
        out += "Its referenced rules watch:\n\n"
        for base in base_rules(rule):
            key = rule_key(base)
            out += (
                f"- {link(f'`{key}`', f'{key}.md')}: {_calls_summary(base, doc)}; "
                f"{outcome(base).value}.\n"
            )
            sub = _conditions_text(base)
            if sub:
                out += "".join("  " + line + "\n" for line in sub.splitlines())
    else:
        assert isinstance(rule, SigmaRule)
        spec = first_seen_spec(rule)
        if spec is not None:
            out += first_seen_text(rule, spec) + "\n\n"
        else:
            out += "Single-event rule: every CloudTrail record that matches is an alert.\n\n"
        out += f"- Watches: {_calls_summary(rule, doc)}.\n"
        out += f"- Outcome: {outcome(rule).value}.\n"
        out += _conditions_text(rule)
    out += "\n### Sigma detection (as pySigma reads it)\n\n" + code_block(
        _detection_yaml(rule), "yaml"
    )
    return out


def _calls_table(doc: RuleDoc) -> str:
    correlation = doc.kind is RuleKind.CORRELATION
    columns = ["eventSource", "eventName", "outcome"] + (["via rule"] if correlation else [])
    rows = []
    for w in doc.calls:
        row = [f"`{w.call.event_source}`", f"`{w.call.event_name}`", w.outcome.short]
        if correlation:
            row.append(link(f"`{w.via}`", f"{w.via}.md"))
        rows.append(row)
    legend = (
        "\nOutcome: success = successful calls only (no `errorCode`); attempts = successful "
        "and refused calls; refused = refused calls only.\n"
    )
    return table(columns, rows) + legend


def _list(items: list[str] | None, missing: str) -> str:
    if not items:
        return missing + "\n"
    return "".join(f"- {cell(i)}\n" for i in items)


def _attack(doc: RuleDoc) -> str:
    a = doc.attack
    rows = []
    for tech, tactics in a.techniques:
        tac = ", ".join(link(f"{t.name} ({t.id})", t.url) for t in tactics)
        rows.append([tac, link(f"{tech.id} {tech.name}", tech.url)])
    for t in a.bare_tactics:
        rows.append([link(f"{t.name} ({t.id})", t.url), "no technique tagged"])
    if not rows and not a.others:
        return "The rule has no ATT&CK tags.\n"
    out = table(("tactic", "technique"), rows) if rows else ""
    if a.others:
        out += "\nOther ATT&CK tags: " + ", ".join(f"`{t}`" for t in a.others) + ".\n"
    return out


def _references(rule: SigmaRuleBase) -> str:
    refs = list(rule.references or [])
    if not refs:
        return "The rule lists no references.\n"
    return "".join(f"- <{r}>\n" for r in refs)


KIBANA_TYPES = {
    "query": "a custom query rule (`type: query`): every matching event is an alert",
    "new_terms": (
        "a new terms rule (`type: new_terms`): an alert when the new terms fields take a value "
        "not seen since the history window start"
    ),
    "eql": "an event correlation rule (`type: eql`): the EQL query, a sequence for correlations",
    "threshold": "a threshold rule (`type: threshold`)",
    "esql": "an ES|QL rule (`type: esql`)",
}
KIBANA_KEYS = (
    "type",
    "language",
    "new_terms_fields",
    "history_window_start",
    "timestamp_field",
    "tiebreaker_field",
    "building_block_type",
    "severity",
    "risk_score",
    "interval",
    "from",
    "timestamp_override",
    "enabled",
)


def _json_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode("utf-8")


def _kibana(doc: RuleDoc, result: TargetResult, conv: PackConversions) -> str:
    krule = result.kibana[doc.name]
    obj = krule.rule
    kind = str(obj.get("type"))
    out = (
        f"Imported into Elastic Security (file `{krule.file}` of `ses-sigma convert --target "
        f"{result.target}`), the rule becomes {KIBANA_TYPES.get(kind, f'a `{kind}` rule')}.\n\n"
    )
    rows = [[f"`{k}`", f"`{cell(_json_value(obj[k]))}`"] for k in KIBANA_KEYS if k in obj]
    out += table(("setting", "value"), rows)
    query = obj.get("query")
    if isinstance(query, str):
        lang = str(obj.get("language", ""))
        same = None
        try:
            other = conv.by_name(lang)
        except KeyError:
            other = None
        if (
            other is not None
            and doc.name in other.queries
            and other.queries[doc.name][1].strip() == query.strip()
        ):
            same = lang
        if same is not None:
            out += f"\nIts query is the `{same}` query on this page.\n"
        else:
            out += "\nIts query:\n\n" + code_block(query, lang)
    return out


def _queries(doc: RuleDoc, conv: PackConversions) -> str:
    out = (
        "What each conversion target makes of this rule (`ses-sigma convert --target T "
        f"--format F {doc.name}`). A target that cannot keep the matcher's meaning refuses "
        "the rule, with the reason.\n"
    )
    ordered = [t for t in conv.targets if not t.kibana] + [t for t in conv.targets if t.kibana]
    for result in ordered:
        out += f"\n### {result.target} ({result.fmt})\n\n"
        if doc.name in result.refusals:
            out += f"**Refused**: {result.refusals[doc.name]}\n"
        elif doc.name in result.queries:
            path, text = result.queries[doc.name]
            suffix = PurePosixPath(path).suffix.lstrip(".")
            out += code_block(text, suffix)
        else:
            out += _kibana(doc, result, conv)
    return out


def _example(doc: RuleDoc) -> str:
    ex = doc.example
    case = ex.case
    anchor = f"#L{case.line}" if case.line else ""
    out = f"Fixture case {_file_link(doc.fixture_file, anchor, case.name)}: {case.why}\n\n"
    count = len(ex.events)
    what = "event" if count == 1 else f"{count} events"
    out += f"The alert holds the {what} below"
    if ex.others:
        more = "event" if ex.others == 1 else "events"
        out += f"; the case has {ex.others} more {more} (not part of the alert)"
    out += ". The matcher gives this alert on the case whatever the order of its events.\n"
    group = case.expect[0].group
    if group:
        out += "\nAlert group: " + ", ".join(f"`{k}` = `{v}`" for k, v in group) + ".\n"
    for event in ex.events:
        text = orjson.dumps(event, option=orjson.OPT_INDENT_2).decode("utf-8")
        out += "\n" + code_block(text, "json")
    return out


def _file_link(rel: str, anchor: str = "", text: str | None = None) -> str:
    """A link to a file of the repository; a bundled pack's file is named, not linked."""
    if rel.startswith(BUNDLED_PREFIX):
        return f"{text} (`{rel}`)" if text is not None else f"`{rel}` (bundled with ses-sigma)"
    return link(text if text is not None else rel, TO_ROOT + rel + anchor)


def _files(doc: RuleDoc) -> str:
    return (
        f"- Rule: {_file_link(doc.rule_file)}\n"
        f"- Fixture cases: {_file_link(doc.fixture_file)} "
        f"(`ses-sigma test {doc.name}`)\n"
        f"- Index of the rules: {link('README.md', 'README.md')}; coverage of the pack: "
        f"{link('coverage.md', '../coverage.md')}\n"
    )


def rule_page(doc: RuleDoc, conv: PackConversions) -> str:
    """The Markdown page of one rule."""
    r = doc.rule
    body = {
        "Goal": _text_or(r.description, "The rule has no description."),
        "Strategy": _strategy(doc),
        "API calls watched": _calls_table(doc),
        "Triage and response": _text_or(
            r.custom_attributes.get("triage"), "The rule has no `triage` guide."
        ),
        "False positives": _list(r.falsepositives, "The rule lists no false positives."),
        "ATT&CK": _attack(doc),
        "References": _references(r),
        "Queries": _queries(doc, conv),
        "Example event that fires": _example(doc),
        "Files": _files(doc),
    }
    out = header() + f"\n# {r.title}\n\n" + _facts(doc)
    for section in SECTIONS:
        out += f"\n## {section}\n\n" + body[section]
    return out


def index_page(docs: list[RuleDoc]) -> str:
    """The index of the rule pages (``rules/README.md``)."""
    rows = []
    for doc in docs:
        techs = ", ".join(link(t.id, t.url) for t, _ in doc.attack.techniques) or "none"
        rows.append(
            [
                link(f"`{doc.name}`", f"{doc.name}.md"),
                cell(doc.rule.title),
                _level(doc.rule),
                techs,
                doc.kind.value,
            ]
        )
    return (
        header()
        + "\n# Rule reference\n\n"
        + "One page per rule of the pack: goal, strategy, triage and response, ATT&CK, the API "
        "calls it watches, its query on every conversion target (or the reason a target "
        "refuses it) and an example event that fires. Coverage of the SES abuse chain and of "
        f"ATT&CK: {link('coverage.md', '../coverage.md')}; ATT&CK Navigator layer: "
        f"{link('attack-navigator-layer.json', '../attack-navigator-layer.json')}.\n\n"
        + table(("rule", "title", "level", "ATT&CK", "type"), rows)
        + "\nTypes: single = one CloudTrail record is an alert; correlation = a Sigma "
        "correlation over other rules; first-seen = an alert when a value is new (the "
        "`first_seen` extension).\n"
    )
