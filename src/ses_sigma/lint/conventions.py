"""The pack's own conventions, checked on the rules as pySigma loaded them.

Each check reuses the module that defines the convention: the matcher's dispatch analysis
(``compile_detection(rule).event_sources``), ``FirstSeenSpec.from_rule``,
``CorrelationEngine.check`` and, as the last word, ``Engine(pack)``; the vendored ATT&CK copy's
``attack_tag_problem``; the pipelines' field table (``schema.is_known_field``) and the two
CloudTrail pipelines themselves. Nothing here parses YAML: problems say where they are with a
:class:`Where`, and the caller finds the line.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path

from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule, SigmaRuleBase
from sigma.types import SigmaFieldReference

from ses_sigma.attack import attack_tag_problem
from ses_sigma.convert.names import hidden_text, invalid_text
from ses_sigma.lint.findings import Problem, Where
from ses_sigma.lint.regexes import CODE_REGEX, regex_problems
from ses_sigma.match.correlation import CorrelationEngine
from ses_sigma.match.derived import ATTRIBUTE as DERIVED
from ses_sigma.match.derived import derived_fields
from ses_sigma.match.detection import compile_detection
from ses_sigma.match.engine import Engine
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.match.first_seen import ATTRIBUTE as FIRST_SEEN
from ses_sigma.match.first_seen import FirstSeenSpec
from ses_sigma.match.suppression import ATTRIBUTE as SUPPRESSION
from ses_sigma.match.suppression import SuppressionSpec
from ses_sigma.pack import Pack, rule_key
from ses_sigma.pipelines import PIPELINES
from ses_sigma.pipelines.schema import GENERIC_PREFIXES, is_known_field

__all__ = [
    "CODE_ATTACK_TAG",
    "CODE_CORRELATION",
    "CODE_EVENT_SOURCE",
    "CODE_FILE_NAME",
    "CODE_FIRST_SEEN",
    "CODE_MATCHER",
    "CODE_MISSING_ATTRIBUTE",
    "CODE_PIPELINE_REFUSAL",
    "CODE_SUPPRESSION",
    "CODE_TECHNIQUE_TAG",
    "CODE_TEXT",
    "CODE_UNMAPPED_FIELD",
    "REQUIRED_ATTRIBUTES",
    "TRIAGE",
    "check_conventions",
    "rule_fields",
]

CODE_FILE_NAME = "ses_file_name"
CODE_EVENT_SOURCE = "ses_event_source"
CODE_MATCHER = "ses_matcher"
CODE_MISSING_ATTRIBUTE = "ses_missing_attribute"
CODE_ATTACK_TAG = "ses_attack_tag"
CODE_TECHNIQUE_TAG = "ses_technique_tag"
CODE_UNMAPPED_FIELD = "ses_unmapped_field"
CODE_PIPELINE_REFUSAL = "ses_pipeline_refusal"
CODE_FIRST_SEEN = "ses_first_seen"
CODE_CORRELATION = "ses_correlation"
CODE_SUPPRESSION = "ses_suppression"
CODE_TEXT = "ses_text"

#: The triage guide: a custom top-level attribute every rule of the pack carries.
TRIAGE = "triage"
#: Attributes every rule needs, non-empty (``level`` is sigmahq_level_existence's).
REQUIRED_ATTRIBUTES = ("falsepositives", "references", TRIAGE)

_TECHNIQUE = re.compile(r"^t\d{4}(\.\d{3})?$")


def _path(rule: SigmaRuleBase) -> Path:
    if rule.source is None:  # load_pack always gives a source; a Pack built otherwise may not
        raise ValueError(f"rule {rule_key(rule)!r} has no source file")
    return rule.source.path


def _file_names(pack: Pack) -> Iterator[Problem]:
    per_file: dict[Path, list[SigmaRuleBase]] = {}
    for rule in pack:
        per_file.setdefault(_path(rule), []).append(rule)
    for path, rules in per_file.items():
        if len(rules) > 1:
            names = ", ".join(rule_key(r) for r in rules)
            yield Problem(
                path, CODE_FILE_NAME, f"the file holds {len(rules)} rules ({names}): one per file"
            )
            continue
        rule = rules[0]
        if not rule.name:
            yield Problem(
                path,
                CODE_FILE_NAME,
                f"the rule has no name: give it name: {path.stem} (the file name without .yml)",
            )
        elif path.name != f"{rule.name}.yml":
            yield Problem(
                path,
                CODE_FILE_NAME,
                f"file name {path.name} does not match the rule's name {rule.name!r}: the file "
                f"must be {rule.name}.yml",
                Where(keys=("name",)),
            )


def _text(rule: SigmaRuleBase) -> Iterator[Problem]:
    """Text no artefact can carry (a lone surrogate), or that a reviewer cannot see as it is
    (control, zero-width and bidirectional characters)."""
    invalid = invalid_text(rule)
    if invalid is not None:
        yield Problem(_path(rule), CODE_TEXT, f"{invalid}: no target can be written")
    hidden = hidden_text(rule)
    if hidden is not None:
        yield Problem(
            _path(rule), CODE_TEXT, f"{hidden}: what a reviewer reads is not what the rule says"
        )


def _is_empty(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple):
        return not value or all(_is_empty(v) for v in value)
    return False


def _required(rule: SigmaRuleBase) -> Iterator[Problem]:
    for name in REQUIRED_ATTRIBUTES:
        if name == TRIAGE:
            present = name in rule.custom_attributes
            value = rule.custom_attributes.get(name)
        else:
            value = getattr(rule, name)
            present = value is not None and value != []
        if not present:
            yield Problem(
                _path(rule), CODE_MISSING_ATTRIBUTE, f"{name} is missing (every rule needs it)"
            )
        elif _is_empty(value):
            yield Problem(
                _path(rule),
                CODE_MISSING_ATTRIBUTE,
                f"{name} is empty (every rule needs it, with content)",
                Where(keys=(name,)),
            )
        elif name == TRIAGE and not isinstance(value, str):
            yield Problem(
                _path(rule),
                CODE_MISSING_ATTRIBUTE,
                f"{name} must be text (the triage guide), not {type(value).__name__}",
                Where(keys=(name,)),
            )


def _tags(rule: SigmaRuleBase) -> Iterator[Problem]:
    techniques = 0
    for tag in rule.tags:
        if tag.namespace != "attack":
            continue
        if _TECHNIQUE.match(tag.name.lower()):
            techniques += 1
        problem = attack_tag_problem(tag)
        if problem is not None:
            yield Problem(
                _path(rule), CODE_ATTACK_TAG, problem, Where(keys=("tags",), item=str(tag))
            )
    if techniques == 0:
        yield Problem(
            _path(rule),
            CODE_TECHNIQUE_TAG,
            "no ATT&CK technique tag (attack.tNNNN or attack.tNNNN.NNN): every rule names at "
            "least one technique",
            Where(keys=("tags",)),
        )


def _detection_items(detection: SigmaDetection) -> Iterator[SigmaDetectionItem]:
    for item in detection.detection_items:
        if isinstance(item, SigmaDetection):
            yield from _detection_items(item)
        else:
            yield item


def rule_fields(rule: SigmaRuleBase) -> list[tuple[str, Where]]:
    """Every field name a rule uses, with where it is written.

    Detection items and field references, ``fields:``, a correlation's group-by (alias names
    aside), alias mappings and condition field, and the ``first_seen`` fields (when the spec
    is valid; an invalid one is ses_first_seen's finding).
    """
    found: list[tuple[str, Where]] = [(f, Where(("fields",), item=f)) for f in rule.fields or []]
    if isinstance(rule, SigmaRule):
        for detection in rule.detection.detections.values():
            for item in _detection_items(detection):
                if item.field is not None:
                    found.append((item.field, Where(("detection",), field=item.field)))
                for value in item.value:
                    if isinstance(value, SigmaFieldReference):
                        found.append((value.field, Where(("detection",), item=value.field)))
        try:
            spec = FirstSeenSpec.from_rule(rule)
        except RuleCompileError:
            spec = None
        if spec is not None:
            found.extend((f, Where((FIRST_SEEN, "fields"), item=f)) for f in spec.fields)
        try:
            suppression = SuppressionSpec.from_rule(rule)
        except RuleCompileError:
            suppression = None  # ses_suppression's finding
        if suppression is not None:
            found.extend((f, Where((SUPPRESSION, "fields"), item=f)) for f in suppression.fields)
    elif isinstance(rule, SigmaCorrelationRule):
        aliases = {a.alias for a in rule.aliases}
        found.extend(
            (f, Where(("correlation", "group-by"), item=f))
            for f in rule.group_by or []
            if f not in aliases
        )
        for alias in rule.aliases:
            found.extend(
                (f, Where(("correlation", "aliases"), item=f)) for f in alias.mapping.values()
            )
        fieldref = getattr(rule.condition, "fieldref", None)
        refs = [fieldref] if isinstance(fieldref, str) else list(fieldref or [])
        found.extend((f, Where(("correlation", "condition"), item=f)) for f in refs)
    try:
        derived = derived_fields(rule)
    except RuleCompileError:
        derived = {}  # the matcher's load error reports it
    out: list[tuple[str, Where]] = []
    for f, where in found:
        spec = derived.get(f)
        if spec is None:
            out.append((f, where))
        else:  # a derived field is checked through the fields it is computed from
            out.extend((src, Where((DERIVED, f, "coalesce"), item=src)) for src in spec.sources)
    return out


def _fields(rule: SigmaRuleBase) -> Iterator[Problem]:
    """Unmapped fields; when every field is mapped, what the pipelines still refuse."""
    unmapped = False
    seen: set[str] = set()
    for field, where in rule_fields(rule):
        if field in seen or is_known_field(field):
            continue
        seen.add(field)
        unmapped = True
        yield Problem(
            _path(rule),
            CODE_UNMAPPED_FIELD,
            f"field {field!r} has no mapping in the CloudTrail pipelines "
            f"({', '.join(PIPELINES)}): not in the field table of pipelines/schema.py nor "
            f"under {', '.join(GENERIC_PREFIXES)}",
            where,
        )
    if unmapped:
        return  # the pipelines would refuse for the same fields
    anchor = Where(keys=("detection",) if isinstance(rule, SigmaRule) else ("correlation",))
    for name, factory in PIPELINES.items():
        try:
            factory().apply(copy.deepcopy(rule))
        except Exception as exc:  # SigmaError, or a pipeline bug: either way a finding
            yield Problem(
                _path(rule),
                CODE_PIPELINE_REFUSAL,
                f"pipeline {name} refuses the rule: {exc}",
                anchor,
            )


def _matcher(rule: SigmaRuleBase) -> Iterator[Problem]:
    path = _path(rule)
    if isinstance(rule, SigmaRule):
        regexes = list(regex_problems(rule, path))
        yield from regexes
        try:
            compiled = compile_detection(rule)
        except RuleCompileError as exc:
            if not regexes:  # the same refusal, already reported on the pattern's line
                yield Problem(path, CODE_MATCHER, str(exc), Where(keys=("detection",)))
        else:
            if compiled.event_sources is None:
                yield Problem(
                    path,
                    CODE_EVENT_SOURCE,
                    "eventSource is not pinned: some path through the condition matches "
                    "without eventSource equal to plain values (give every selection that can "
                    "match on its own eventSource: <service>.amazonaws.com)",
                    Where(keys=("detection", "condition")),
                )
        try:
            FirstSeenSpec.from_rule(rule)
        except RuleCompileError as exc:
            yield Problem(path, CODE_FIRST_SEEN, str(exc), Where(keys=(FIRST_SEEN,)))
    try:
        SuppressionSpec.from_rule(rule)
    except RuleCompileError as exc:
        yield Problem(path, CODE_SUPPRESSION, str(exc), Where(keys=(SUPPRESSION,)))
    if isinstance(rule, SigmaCorrelationRule):
        if FIRST_SEEN in rule.custom_attributes:
            yield Problem(
                path,
                CODE_FIRST_SEEN,
                f"{rule_key(rule)}: {FIRST_SEEN} is only supported on single-event rules",
                Where(keys=(FIRST_SEEN,)),
            )
        try:
            CorrelationEngine.check(rule)
        except RuleCompileError as exc:
            yield Problem(path, CODE_CORRELATION, str(exc), Where(keys=("correlation",)))


def _engine(pack: Pack) -> Iterator[Problem]:
    """What ``Engine(pack)`` still refuses once every rule passed the checks above (e.g. a
    correlation over a correlation): one problem per message line, on the rule it names."""
    try:
        Engine(pack)
    except RuleCompileError as exc:
        for line in str(exc).splitlines():
            name, _, _ = line.partition(":")
            try:
                rule = pack.get(name)
            except KeyError:
                rule = next(iter(pack))
            anchor = ("correlation",) if isinstance(rule, SigmaCorrelationRule) else ("detection",)
            yield Problem(_path(rule), CODE_MATCHER, line, Where(keys=anchor))


def check_conventions(pack: Pack) -> list[Problem]:
    """Every pack convention over every rule of ``pack``."""
    problems: list[Problem] = list(_file_names(pack))
    matcher: list[Problem] = []
    for rule in pack:
        problems.extend(_required(rule))
        problems.extend(_text(rule))
        problems.extend(_tags(rule))
        problems.extend(_fields(rule))
        matcher.extend(_matcher(rule))
    problems.extend(matcher)
    refusals = (CODE_MATCHER, CODE_REGEX, CODE_FIRST_SEEN, CODE_CORRELATION, CODE_SUPPRESSION)
    if not any(p.code in refusals for p in matcher):
        problems.extend(_engine(pack))
    return problems
