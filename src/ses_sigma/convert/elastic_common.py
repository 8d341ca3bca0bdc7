"""What the Elastic targets (lucene, eql, esql, kibana) share: data source, pipeline, checks.

* Data source: the Elastic AWS integration's ``aws.cloudtrail`` documents in the Elastic Agent
  data streams ``logs-aws.cloudtrail-*`` and the older Filebeat indices ``filebeat-*``. Both
  carry ``event.dataset: aws.cloudtrail`` (``data_stream.dataset`` exists only on data
  streams), so every query is restricted with ``event.dataset`` and runs on both patterns.
  That condition is compared exactly: the dataset is the constant ``aws.cloudtrail``.
* Pipeline: :func:`elastic_pipeline` is the project's ``ses_cloudtrail_elastic`` pipeline with
  ``dataset_field="event.dataset"``, plus one item that marks the data source condition as
  case-sensitive (every other plain string stays case-insensitive, as Sigma wants).
* Fresh rules: pySigma's processing pipelines and backends modify the rules they convert;
  every conversion works on a freshly loaded copy (``convert.common.fresh_rule``).
* :func:`matcher_refusal`: a rule the matcher itself refuses has no meaning to reproduce.
* :class:`Refused`: raised anywhere in a conversion with the reason a rule cannot be expressed
  on a target; the targets turn it into a :class:`~ses_sigma.convert.base.Refusal`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sigma.correlations import SigmaCorrelationRule, SigmaCorrelationTimespan, SigmaRuleReference
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations.base import PreprocessingTransformation
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule, SigmaRuleBase
from sigma.types import SigmaCasedString, SigmaString

from ses_sigma.match.correlation import CorrelationEngine
from ses_sigma.match.detection import compile_detection
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.match.first_seen import FirstSeenSpec
from ses_sigma.pack import rule_key
from ses_sigma.pipelines import schema, ses_cloudtrail_elastic_pipeline

__all__ = [
    "DATASET",
    "DATASET_FIELD",
    "FIELD_TYPES",
    "FLATTENED_PREFIXES",
    "INDEX_PATTERNS",
    "SOURCE_CONDITION",
    "Refused",
    "alias_field_for",
    "elastic_pipeline",
    "eql_duration",
    "first_seen_spec",
    "is_flattened",
    "matcher_refusal",
    "strip_rule_prefix",
    "user_name_fields",
]

#: Index patterns of the Elastic AWS integration (Elastic Agent data streams, then Filebeat).
INDEX_PATTERNS: tuple[str, ...] = ("logs-aws.cloudtrail-*", "filebeat-*")
#: The field naming the dataset on both index patterns, and its value.
DATASET_FIELD = "event.dataset"
DATASET = "aws.cloudtrail"
#: Name of the detection the pipeline adds for the data source condition.
SOURCE_CONDITION = "_ses_cloudtrail_source"
#: Mapped fields of the integration that are not keywords (the others the pipeline maps to are
#: keywords, ``source.ip``, which only CIDR matches use, or flattened keys).
FIELD_TYPES: dict[str, str] = {"aws.cloudtrail.read_only": "boolean", "@timestamp": "date"}
#: Elastic fields under these prefixes are keys of ``flattened`` fields.
FLATTENED_PREFIXES: tuple[str, ...] = tuple(sorted(schema.GENERIC_PREFIXES.values()))


class Refused(Exception):
    """The rule cannot be expressed faithfully on the target; ``reason`` says why.

    The reason is kept apart from ``args`` because pySigma appends its own context to the first
    argument of exceptions that pass through ``convert_rule``.
    """

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def is_flattened(field: str) -> bool:
    """True for a key inside one of the integration's ``flattened`` fields."""
    return field.startswith(FLATTENED_PREFIXES)


@dataclass
class _CasedSourceCondition(PreprocessingTransformation):
    """The data source condition compares exactly (``event.dataset`` is ``aws.cloudtrail``)."""

    def apply(self, rule: SigmaRuleBase) -> None:
        super().apply(rule)
        if not isinstance(rule, SigmaRule):
            return
        detection = rule.detection.detections.get(SOURCE_CONDITION)
        if detection is None:
            return
        stack: list[SigmaDetection | SigmaDetectionItem] = [detection]
        while stack:
            node = stack.pop()
            if isinstance(node, SigmaDetection):
                stack.extend(node.detection_items)
                continue
            node.value = [
                SigmaCasedString.from_sigma_string(v)
                if isinstance(v, SigmaString) and not isinstance(v, SigmaCasedString)
                else v
                for v in node.value
            ]


def elastic_pipeline() -> ProcessingPipeline:
    """The CloudTrail Elastic pipeline for both index patterns, source condition cased."""
    base = ses_cloudtrail_elastic_pipeline(dataset_field=DATASET_FIELD, index=INDEX_PATTERNS[0])
    extra = ProcessingPipeline(
        name="ses-sigma: exact data source condition on Elastic",
        priority=30,
        items=[
            ProcessingItem(
                identifier="ses_cloudtrail_elastic_cased_source",
                transformation=_CasedSourceCondition(),
            )
        ],
    )
    return base + extra


def strip_rule_prefix(rule: str, message: str) -> str:
    """``message`` without a leading ``"<rule>: "`` (pySigma and the pipeline add it)."""
    prefix = f"{rule}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def matcher_refusal(rule: SigmaRuleBase) -> str | None:
    """Why the matcher refuses the rule (so no target can reproduce it), or None."""
    try:
        if isinstance(rule, SigmaCorrelationRule):
            CorrelationEngine.check(rule)
        elif isinstance(rule, SigmaRule):
            compile_detection(rule)
            FirstSeenSpec.from_rule(rule)
        else:  # pragma: no cover - pySigma has no other rule kinds
            return f"unknown rule kind {type(rule).__name__}"
    except RuleCompileError as exc:
        return "the matcher refuses it: " + strip_rule_prefix(rule_key(rule), str(exc))
    return None


def first_seen_spec(rule: SigmaRuleBase) -> FirstSeenSpec | None:
    """The rule's validated ``first_seen`` attribute, None for other rules."""
    return FirstSeenSpec.from_rule(rule) if isinstance(rule, SigmaRule) else None


def user_name_fields(fields: Sequence[str]) -> list[str]:
    """The raw fields among ``fields`` that share Elastic's ``user.name`` with another one.

    ``userIdentity.userName`` and ``...sessionIssuer.userName`` both become ``user.name``; as
    a value to group or remember, ``user.name`` is not either raw field (in a role session
    it is the role name while ``userIdentity.userName`` is absent).
    """
    return [f for f in fields if f in schema.ELASTIC_USER_NAME_FIELDS]


def alias_field_for(corr: SigmaCorrelationRule, name: str, rule: SigmaRule) -> str:
    """The field a group-by name stands for in one referenced rule (through its alias)."""
    for alias in corr.aliases:
        if alias.alias != name:
            continue
        for ref, field_name in alias.mapping.items():
            if _names(ref, rule):
                return field_name
        raise Refused(f"alias {name!r} has no field for rule {rule_key(rule)!r}")
    return name


def _names(ref: SigmaRuleReference, rule: SigmaRule) -> bool:
    resolved = getattr(ref, "rule", None)
    if resolved is not None:
        return resolved is rule
    # pySigma 1.5.1 does not resolve alias references (see match/correlation.py).
    return ref.reference in (rule.name, str(rule.id))


_EQL_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def eql_duration(timespan: SigmaCorrelationTimespan | float) -> str:
    """A Sigma timespan (or seconds) as an Elasticsearch time value: ``1h``, ``90m``, ``7d``.

    The largest unit that divides the span exactly, so the value is the same number of seconds
    (Sigma's ``w``, ``M`` and ``y`` become days or seconds).
    """
    seconds = timespan.seconds if isinstance(timespan, SigmaCorrelationTimespan) else timespan
    if seconds <= 0 or seconds != int(seconds):
        raise Refused(f"time span of {seconds} seconds is not a positive whole number of seconds")
    whole = int(seconds)
    for unit, size in _EQL_UNITS:
        if whole % size == 0:
            return f"{whole // size}{unit}"
    raise AssertionError("unreachable: every whole number of seconds divides by 1")
