"""The coverage page (``coverage.md``): SES API calls and ATT&CK techniques the pack covers.

API calls: every call of the SES abuse chain (``ses_api.STAGES``) with the rules that watch it
(a rule watches a call when its detection, or a referenced rule's, matches that eventSource and
eventName; values compare case-insensitively, as in Sigma), or "not covered"; then the calls
the pack watches outside the chain, each rule's calls, the ATT&CK techniques with their rules,
the stages of the chain left uncovered, and (given an evaluation) the stages of the campaign
replays each rule detects (``ses-sigma eval``).
"""

from __future__ import annotations

from ses_sigma.docs.calls import ApiCall
from ses_sigma.docs.markdown import header, link, table
from ses_sigma.docs.model import RuleDoc
from ses_sigma.docs.pages import page_path
from ses_sigma.docs.ses_api import ORIGIN, STAGES, all_calls
from ses_sigma.evaluate.report import duration
from ses_sigma.evaluate.run import EvalResult, StageOutcome

__all__ = ["COVERAGE_FILE", "NOT_COVERED", "campaign_section", "coverage_page", "watchers"]

COVERAGE_FILE = "coverage.md"
NOT_COVERED = "not covered"


def watchers(docs: list[RuleDoc]) -> dict[tuple[str, str], list[tuple[RuleDoc, str]]]:
    """Call key -> [(rule, outcome word)], rules in name order."""
    out: dict[tuple[str, str], list[tuple[RuleDoc, str]]] = {}
    for doc in docs:
        for w in doc.calls:
            entry = (doc, w.outcome.short)
            mine = out.setdefault(w.call.key, [])
            if entry not in mine:
                mine.append(entry)
    return out


def _rule_link(doc: RuleDoc) -> str:
    return link(f"`{doc.name}`", page_path(doc.name))


def _rules_cell(entries: list[tuple[RuleDoc, str]]) -> str:
    if not entries:
        return NOT_COVERED
    return ", ".join(f"{_rule_link(d)} ({word})" for d, word in entries)


def _call_cells(call: ApiCall) -> list[str]:
    return [f"`{call.event_source}`", f"`{call.event_name}`"]


def _detected(stage: StageOutcome, docs: dict[str, RuleDoc]) -> str:
    if not stage.rules:
        return "missed"
    names = [_rule_link(docs[r]) if r in docs else f"`{r}`" for r in stage.rules]
    return ", ".join(names) + f" ({duration(stage.delay)})"


def campaign_section(result: EvalResult, docs: list[RuleDoc]) -> str:
    """The campaign replays: per campaign and stage, the rules that detect it, both modes."""
    by_name = {d.name: d for d in docs}
    total = result.stages_total
    out = "\n## Campaign replays\n\n"
    out += (
        f"Measured by `ses-sigma eval` on the {len(result.campaigns)} campaign replays of "
        f"{link('scenarios/', '../scenarios/README.md')} and "
        f"{result.benign.records} benign records over "
        f"{(result.benign.last - result.benign.first) / 86400:.0f} days: "
        f"{result.covered('alone')} of {total} stages detected with each campaign scanned "
        f"alone, {result.covered('history')} of {total} after the benign history; "
        f"{result.with_high('alone')} of {len(result.campaigns)} campaigns raise a high alert "
        f"alone; the benign days give {sum(result.benign.alerts.values())} alerts, "
        f"{result.benign.at_least('medium')} of level medium or above and "
        f"{result.benign.at_least('high')} high. A stage is detected when an alert holds one "
        "of its records; the time is from the stage's first record to that alert.\n\n"
    )
    rows = []
    for c in result.campaigns:
        for alone, later in zip(c.alone.stages, c.history.stages, strict=True):
            rows.append([f"`{c.name}`", alone.stage, _detected(alone, by_name),
                         _detected(later, by_name)])  # fmt: skip
    out += table(("campaign", "stage", "alone", "after the benign history"), rows)
    return out


def coverage_page(docs: list[RuleDoc], evaluation: EvalResult | None = None) -> str:
    """The Markdown coverage page of the pack (with the campaign replays, if evaluated)."""
    watched = watchers(docs)
    chain = all_calls()
    chain_keys = {c.key for _, c in chain}
    covered = sum(1 for _, c in chain if watched.get(c.key))
    out = header() + "\n# Coverage of the pack\n\n"
    out += (
        f"{len(docs)} rules ({link('index', 'rules/README.md')}). A rule watches an API call "
        "when its detection (for a correlation: one of its referenced rules) matches that "
        "eventSource and eventName; the word after a rule says which outcomes it counts "
        "(success: successful calls only; attempts: refused calls too). A rule may add "
        "conditions on other fields (its page says which).\n"
    )
    out += "\n## SES API calls\n\n"
    out += (
        f"The API calls of the SES abuse chain, from {ORIGIN}. {covered} of {len(chain)} "
        "are watched.\n\n"
    )
    rows = [
        [stage.name, *_call_cells(call), _rules_cell(watched.get(call.key, []))]
        for stage, call in chain
    ]
    out += table(("stage", "eventSource", "eventName", "rules"), rows)

    out += "\n### API calls watched outside the chain\n\n"
    extra: dict[tuple[str, str], ApiCall] = {}
    for doc in docs:
        for w in doc.calls:
            if w.call.key not in chain_keys:
                extra.setdefault(w.call.key, w.call)
    if extra:
        rows = [[*_call_cells(c), _rules_cell(watched[k])] for k, c in sorted(extra.items())]
        out += table(("eventSource", "eventName", "rules"), rows)
    else:
        out += "None: every call the pack watches is in the chain above.\n"

    out += "\n## API calls per rule\n\n"
    rows = []
    for doc in docs:
        by_source: dict[str, list[str]] = {}
        for w in doc.calls:
            names = by_source.setdefault(w.call.event_source, [])
            if w.call.event_name not in names:
                names.append(w.call.event_name)
        calls = "; ".join(
            f"`{src}`: " + ", ".join(f"`{n}`" for n in names) for src, names in by_source.items()
        )
        rows.append([_rule_link(doc), doc.kind.value, calls])
    out += table(("rule", "type", "API calls"), rows)

    out += "\n## ATT&CK techniques\n\n"
    techniques: dict[str, tuple[str, list[str], list[RuleDoc]]] = {}
    for doc in docs:
        for tech, tactics in doc.attack.techniques:
            _, tacs, rules = techniques.setdefault(
                tech.id, (link(f"{tech.id} {tech.name}", tech.url), [], [])
            )
            for t in tactics:
                text = link(f"{t.name} ({t.id})", t.url)
                if text not in tacs:
                    tacs.append(text)
            if doc not in rules:
                rules.append(doc)
    rows = [
        [label, ", ".join(tacs), ", ".join(_rule_link(d) for d in rules)]
        for _, (label, tacs, rules) in sorted(techniques.items())
    ]
    if rows:
        out += (
            "Techniques tagged by the rules (ATT&CK 17.0, the vendored copy), with the tactics "
            "they are filed under; the same in the "
            f"{link('ATT&CK Navigator layer', 'attack-navigator-layer.json')}.\n\n"
        )
        out += table(("technique", "tactics", "rules"), rows)
    else:
        out += "No rule has an ATT&CK technique tag.\n"

    out += "\n## Chain stages not covered\n\n"
    missing, partial = [], []
    for stage in STAGES:
        left = [c for c in stage.calls if not watched.get(c.key)]
        if len(left) == len(stage.calls):
            missing.append(f"- **{stage.name}** ({_names(stage.calls)}): {stage.note}.\n")
        elif left:
            partial.append(f"- **{stage.name}**: {_names(left)} not watched.\n")
    if not missing and not partial:
        out += "Every call of the chain is watched by some rule.\n"
    if missing:
        out += "No rule watches any call of these stages:\n\n" + "".join(missing)
    if partial:
        out += ("\n" if missing else "") + "Partly covered stages:\n\n" + "".join(partial)
    if evaluation is not None:
        out += campaign_section(evaluation, docs)
    return out


def _names(calls: list[ApiCall] | tuple[ApiCall, ...]) -> str:
    return ", ".join(f"`{c.event_name}`" for c in calls)
