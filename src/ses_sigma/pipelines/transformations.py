"""The few pySigma transformations the CloudTrail pipelines need beyond pySigma's own.

Plain renames use pySigma's FieldMappingTransformation / FieldPrefixMappingTransformation
(built from ``schema.py``); the data source is pySigma's AddConditionTransformation. What is
here either has to name the rule and the field in its error (pySigma's failure
transformations take a fixed message), or rewrites a detection item depending on its values:

* :class:`CloudTrailFieldCheck`: the rule is a CloudTrail rule and every field it uses
  (detection, ``fields:``, correlation group-by, aliases, condition field) has a mapping;
  keyword detections are refused. Runs first, on raw names.
* :class:`SplunkErrorCodeTransformation`: the Splunk Add-on for AWS writes
  ``errorCode=success`` on successful calls (some versions), raw CloudTrail has no errorCode.
* :class:`ElasticEmptyValueFailure`, :class:`ElasticSourceIpTransformation`,
  :class:`ElasticUserNameTransformation`: what the Elastic integration's ingest pipeline
  does to empty values, ``sourceIPAddress`` and ``user.name``.

Value semantics are the matcher's (docs/DESIGN.md): ``null`` and ``|exists: false`` mean the
field is absent or null; ``|exists: true`` means present and not null.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from sigma.conditions import ConditionAND, ConditionOR
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaTransformationError
from sigma.processing.transformations.base import (
    DetectionItemTransformation,
    PreprocessingTransformation,
)
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import (
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SigmaType,
)

from ses_sigma.pack import rule_key
from ses_sigma.pipelines import schema

__all__ = [
    "CloudTrailFieldCheck",
    "ElasticEmptyValueFailure",
    "ElasticSourceIpTransformation",
    "ElasticUserNameTransformation",
    "SplunkErrorCodeTransformation",
    "StockBackendRefusal",
]

AnyRule = SigmaRule | SigmaCorrelationRule
Rewritten = SigmaDetection | SigmaDetectionItem


def _fail(rule: AnyRule, pipeline: str, reason: str) -> SigmaTransformationError:
    return SigmaTransformationError(
        f"{rule_key(rule)}: cannot convert with pipeline {pipeline}: {reason}", source=rule.source
    )


def _iter_items(detection: SigmaDetection) -> Iterator[SigmaDetectionItem]:
    for item in detection.detection_items:
        if isinstance(item, SigmaDetection):
            yield from _iter_items(item)
        else:
            yield item


def _item(field: str, value: SigmaType, negated: bool = False) -> SigmaDetectionItem:
    return SigmaDetectionItem(field, [], [value], negated=negated)


def _all(*items: Rewritten) -> SigmaDetection:
    return SigmaDetection(list(items), item_linking=ConditionAND)


def _any(*items: Rewritten) -> SigmaDetection:
    return SigmaDetection(list(items), item_linking=ConditionOR)


def _is_absent(value: SigmaType) -> bool:
    """``null`` or ``|exists: false``: the field is absent (or null)."""
    return isinstance(value, SigmaNull) or (isinstance(value, SigmaExists) and not value.exists)


def _is_present(value: SigmaType) -> bool:
    return isinstance(value, SigmaExists) and value.exists


@dataclass
class CloudTrailFieldCheck(PreprocessingTransformation):
    """Fail a rule that is not a CloudTrail rule or uses a field the pipeline cannot map.

    The error names the rule, the pipeline and every offending field at once.
    """

    pipeline_name: str

    def apply(self, rule: AnyRule) -> None:
        super().apply(rule)
        problems: list[str] = []
        fields: list[str] = list(rule.fields or [])
        if isinstance(rule, SigmaRule):
            ls = rule.logsource
            if (ls.product, ls.service) != ("aws", "cloudtrail"):
                raise _fail(
                    rule,
                    self.pipeline_name,
                    f"log source is product={ls.product} service={ls.service} category="
                    f"{ls.category}, not product=aws service=cloudtrail",
                )
            for detection in rule.detection.detections.values():
                for item in _iter_items(detection):
                    if item.field is None:
                        problems.append(
                            "keyword detection (values without a field): the matcher compares "
                            "them with every value of the record, which this target cannot"
                        )
                        continue
                    fields.append(item.field)
                    fields.extend(v.field for v in item.value if isinstance(v, SigmaFieldReference))
        else:
            aliases = {a.alias for a in rule.aliases}
            fields.extend(f for f in rule.group_by or [] if f not in aliases)
            fields.extend(f for a in rule.aliases for f in a.mapping.values())
            fieldref = getattr(rule.condition, "fieldref", None)
            fields.extend([fieldref] if isinstance(fieldref, str) else fieldref or [])
        # A derived field (the rule's derived_fields, match/derived.py) is checked through the
        # fields it is computed from.
        derived = rule.custom_attributes.get("derived_fields")
        if isinstance(derived, dict):
            expanded: list[str] = []
            for f in fields:
                spec = derived.get(f)
                sources = spec.get("coalesce") if isinstance(spec, dict) else None
                expanded.extend(sources if isinstance(sources, list) else [f])
            fields = expanded
        unknown = sorted({f for f in fields if not schema.is_known_field(f)})
        problems.extend(f"field {f!r} has no mapping" for f in unknown)
        if problems:
            raise _fail(rule, self.pipeline_name, "; ".join(dict.fromkeys(problems)))


@dataclass
class StockBackendRefusal(PreprocessingTransformation):
    """Refuse what pySigma's stock backends would convert into something else (plugin use).

    With the pipelines installed as pySigma plugins, ``sigma convert`` pairs them with the
    stock Splunk / Elasticsearch backends. Those turn correlations into fixed time buckets (or
    cannot convert them at all) and know nothing of the ``first_seen`` extension, so a
    first-seen rule would become a query that alerts on every match. Both are refused with a
    SigmaTransformationError naming the rule, which sigma-cli reports (and skips with ``-s``);
    ``ses-sigma convert`` converts them faithfully and does not use this transformation.
    """

    pipeline_name: str

    def apply(self, rule: AnyRule) -> None:
        super().apply(rule)
        if isinstance(rule, SigmaCorrelationRule):
            raise _fail(
                rule,
                self.pipeline_name,
                f"{rule.type.name.lower()} correlation: pySigma's stock backends use fixed time "
                "buckets or cannot express it; use `ses-sigma convert` (sliding windows)",
            )
        if "first_seen" in rule.custom_attributes:
            raise _fail(
                rule,
                self.pipeline_name,
                "first-seen rule (ses-sigma extension): a stock backend would alert on every "
                "match; use `ses-sigma convert`",
            )


@dataclass
class _ValueRewrite(DetectionItemTransformation):
    """Rewrite the detection items of some raw fields value by value.

    Subclasses say which fields (:meth:`handles`) and how one value becomes a detection
    (:meth:`rewrite_value`); the item's values keep their linking (OR, or AND with ``|all``).
    """

    pipeline_name: str

    def apply(self, rule: AnyRule) -> None:
        self._rule = rule
        super().apply(rule)

    def handles(self, field: str) -> bool:
        raise NotImplementedError

    def rewrite_value(self, field: str, value: SigmaType) -> Rewritten | None:
        """The replacement for ``field: value``, or None to keep the value as it is."""
        raise NotImplementedError

    def fail(self, reason: str) -> SigmaTransformationError:
        return _fail(self._rule, self.pipeline_name, reason)

    def apply_detection_item(self, detection_item: SigmaDetectionItem) -> Rewritten | None:
        field = detection_item.field
        if field is None or not self.handles(field):
            return None
        rewritten = [self.rewrite_value(field, v) for v in detection_item.value]
        if all(r is None for r in rewritten):
            return None
        if detection_item.negated:
            raise self.fail(f"negated match on {field} (|neq) is not supported on this target")
        parts: list[Rewritten] = [
            r if r is not None else _item(field, v)
            for r, v in zip(rewritten, detection_item.value, strict=True)
        ]
        if len(parts) == 1:
            return parts[0]
        return SigmaDetection(parts, item_linking=detection_item.value_linking)


def _could_match_success(value: SigmaType) -> bool:
    """Could ``errorCode: value`` match the add-on's ``errorCode=success``?

    Splunk's ``=`` is case-insensitive, so a case-sensitive value is tested case-insensitively
    too. Values this cannot decide (field references...) count as matching.
    """
    if isinstance(value, SigmaString):
        if value.contains_placeholder():
            return True
        pattern = value.to_regex().regexp.to_plain()
        return re.fullmatch(pattern, "success", re.IGNORECASE | re.DOTALL) is not None
    if isinstance(value, SigmaRegularExpression):
        flags = 0
        for flag in value.flags:
            flags |= value.sigma_to_python_flags[flag]
        return re.search(value.regexp.to_plain(), "success", flags) is not None
    return not isinstance(value, SigmaNumber | SigmaCompareExpression | SigmaCIDRExpression)


@dataclass
class SplunkErrorCodeTransformation(_ValueRewrite):
    """``errorCode`` on Splunk, where successful calls may carry ``errorCode=success``.

    * ``errorCode: null`` / ``|exists: false`` (the call succeeded) becomes
      ``(NOT errorCode=* OR errorCode="success")``;
    * ``|exists: true`` (the call failed) becomes ``errorCode=* NOT errorCode="success"``;
    * a value that could match ``success`` (``'*'``, ``s*``, a regex...) is ANDed with
      ``NOT errorCode="success"``; other values are left alone.
    """

    def handles(self, field: str) -> bool:
        return field == "errorCode"

    def rewrite_value(self, field: str, value: SigmaType) -> Rewritten | None:
        success = _item(field, SigmaString("success"))
        not_success = _item(field, SigmaString("success"), negated=True)
        if _is_absent(value):
            return _any(_item(field, SigmaNull()), success)
        if _could_match_success(value):
            return _all(_item(field, value), not_success)
        return None


@dataclass
class ElasticEmptyValueFailure(_ValueRewrite):
    """The Elastic integration drops empty strings: ``field: ''`` can never match there."""

    def handles(self, field: str) -> bool:
        return True

    def rewrite_value(self, field: str, value: SigmaType) -> Rewritten | None:
        if isinstance(value, SigmaString) and not value.s:
            raise self.fail(
                f"{field}: '' (empty string) cannot match: the Elastic AWS integration drops "
                "empty values"
            )
        return None


@dataclass
class ElasticSourceIpTransformation(_ValueRewrite):
    """``sourceIPAddress|cidr`` on ``source.ip`` (``source.address`` is a keyword, not an IP)."""

    def handles(self, field: str) -> bool:
        return field == "sourceIPAddress"

    def apply_detection_item(self, detection_item: SigmaDetectionItem) -> Rewritten | None:
        values = detection_item.value
        if detection_item.field == "sourceIPAddress" and all(
            isinstance(v, SigmaCIDRExpression) for v in values
        ):
            # Keeps negation: a service name (no source.ip) is outside every network, as in
            # the matcher, where a non-IP value never matches |cidr.
            detection_item.field = schema.ELASTIC_SOURCE_IP
            return detection_item
        return super().apply_detection_item(detection_item)

    def rewrite_value(self, field: str, value: SigmaType) -> Rewritten | None:
        if isinstance(value, SigmaCIDRExpression):
            return _item(schema.ELASTIC_SOURCE_IP, value)
        return _item(schema.elastic_field(field), value)


@dataclass
class ElasticUserNameTransformation(_ValueRewrite):
    """``userIdentity.userName`` and ``...sessionIssuer.userName``, both ``user.name`` in Elastic.

    The integration renames both to ``user.name``: field-mappings.md describes the issuer's as
    overwriting (role sessions); the ingest pipeline's ``rename`` does not overwrite an existing
    target, so ``userIdentity.userName`` wins when a record has both (ses_sigma.verify.ecs
    replays that). The two readings agree under the assumption made here, from CloudTrail's
    userIdentity shapes: a record has a session issuer exactly when it has
    ``sessionIssuer.userName`` (role sessions, federated users), and then no
    ``userIdentity.userName``. Let I be "the Elastic record has a session issuer", tested as
    ``session_issuer.arn`` present. Then:

    * ``userIdentity.userName: v``  ->  ``user.name: v`` and not I; ``null`` -> ``user.name``
      absent or I; ``|exists: true`` -> ``user.name`` present and not I;
    * ``sessionIssuer.userName: v``  ->  ``user.name: v`` and I; ``null`` -> not I;
      ``|exists: true`` -> I.
    """

    def handles(self, field: str) -> bool:
        return field in schema.ELASTIC_USER_NAME_FIELDS

    def rewrite_value(self, field: str, value: SigmaType) -> Rewritten | None:
        # Presence is written as "not null", absence as "null": pySigma's EQL backend cannot
        # convert |exists, and both mean the same on Elastic, which drops null values.
        user = schema.ELASTIC_FIELDS[field]
        issuer = _item(schema.SESSION_ISSUER_PRESENCE_FIELD, SigmaNull(), negated=True)
        no_issuer = _item(schema.SESSION_ISSUER_PRESENCE_FIELD, SigmaNull())
        own = field == schema.ELASTIC_USER_NAME_FIELDS[0]
        if _is_absent(value):
            return _any(_item(user, SigmaNull()), issuer) if own else no_issuer
        if _is_present(value):
            return _all(_item(user, SigmaNull(), negated=True), no_issuer) if own else issuer
        return _all(_item(user, value), no_issuer if own else issuer)
