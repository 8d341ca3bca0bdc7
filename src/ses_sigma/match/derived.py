"""The ``derived_fields`` extension: a named value computed from several CloudTrail fields.

Not Sigma: a custom top-level attribute (other tools ignore it). A correlation names a derived
field in ``group-by`` (directly or through an alias); a first-seen rule names one in
``first_seen.fields``; nothing else reads them (a detection never does)::

    derived_fields:
      sesIdentity:                           # a name: no dot, not a CloudTrail field
        coalesce:                            # the first field that has a value, in this order
          - requestParameters.emailIdentity  # SES v2
          - requestParameters.emailAddress   # SES v1 VerifyEmailIdentity / VerifyEmailAddress
          - requestParameters.domain         # SES v1 VerifyDomainIdentity
          - requestParameters.identity       # SES v1 DeleteIdentity

Semantics (docs/DESIGN.md, "Derived fields"; pinned by tests/match/test_derived.py): the value
of a derived field in a record is the value of the first listed field that has at least one
scalar value (``null``, absent, objects and empty arrays are no value; an array gives its
scalar elements, as a plain field would). No field with a value: the record has no value for
the derived field (it takes no part in the group or first-seen tuple). Values are not
normalised: they compare exactly, as every group-by value does.

Targets: Splunk computes the same value with ``coalesce(nullif('f1', "null"), ...)`` (a JSON
null is extracted as the text ``null``); targets that cannot compute a value from several
fields (EQL join keys, Kibana new_terms fields) refuse the rule with that reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sigma.rule import SigmaRuleBase

from ses_sigma.match.errors import RuleCompileError
from ses_sigma.match.fields import FieldGetter, ScalarGetter, field_getter, scalar_getter
from ses_sigma.pack import rule_key
from ses_sigma.pipelines.schema import is_known_field

__all__ = [
    "ATTRIBUTE",
    "DerivedField",
    "derived_fields",
    "scalar_value_getter",
    "value_getter",
]

#: The custom attribute's name in the rule file.
ATTRIBUTE = "derived_fields"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SCALARS = (str, int, float, bool)


@dataclass(frozen=True)
class DerivedField:
    """One derived field: ``name`` is the first of ``sources`` that has a value."""

    name: str
    sources: tuple[str, ...]


def derived_fields(rule: SigmaRuleBase) -> dict[str, DerivedField]:
    """The rule's validated derived fields by name ({} when it has none).

    Raises RuleCompileError (message starting with the rule name) for a malformed attribute:
    not a mapping of names to ``{coalesce: [field, ...]}``, a name with a dot or that is a
    CloudTrail field, fewer than two distinct source fields, a source that is itself derived.
    """
    if ATTRIBUTE not in rule.custom_attributes:
        return {}
    raw = rule.custom_attributes[ATTRIBUTE]
    name = rule_key(rule)

    def fail(reason: str) -> RuleCompileError:
        return RuleCompileError(f"{name}: {ATTRIBUTE}: {reason}")

    if not isinstance(raw, Mapping) or not raw:
        raise fail(f"must be a non-empty mapping of names to {{coalesce: [...]}}, not {raw!r}")
    out: dict[str, DerivedField] = {}
    for key, spec in raw.items():
        if not isinstance(key, str) or not _NAME.match(key):
            raise fail(f"name {key!r} must be letters, digits and _ (no dot: not a field path)")
        if is_known_field(key):
            raise fail(f"name {key!r} is a CloudTrail field; pick a name no record has")
        if not isinstance(spec, Mapping) or set(spec) != {"coalesce"}:
            raise fail(f"{key}: must be a mapping with the one key coalesce, not {spec!r}")
        sources = spec["coalesce"]
        if not isinstance(sources, list) or len(sources) < 2:
            raise fail(f"{key}: coalesce must list at least two field names, not {sources!r}")
        for src in sources:
            if not isinstance(src, str) or not src.strip() or src.strip() != src:
                raise fail(f"{key}: {src!r} is not a field name")
            if src in raw:
                raise fail(f"{key}: source {src!r} is itself a derived field")
        if len(set(sources)) != len(sources):
            raise fail(f"{key}: coalesce lists a field twice: {sources}")
        out[key] = DerivedField(key, tuple(sources))
    return out


def value_getter(name: str, derived: Mapping[str, DerivedField]) -> FieldGetter:
    """A getter for ``name``: the derived field's coalesced value, or the field path itself."""
    spec = derived.get(name)
    if spec is None:
        return field_getter(name)
    getters = tuple(field_getter(s) for s in spec.sources)

    def coalesce(data: Any) -> list[Any]:
        for get in getters:
            values = [v for v in get(data) if isinstance(v, _SCALARS)]
            if values:
                return values
        return []

    return coalesce


def scalar_value_getter(name: str, derived: Mapping[str, DerivedField]) -> ScalarGetter:
    """The ``fields.scalar_getter`` of ``value_getter(name, derived)``: the one str value (what
    the value getter returns as ``[value]``), None when it returns ``[]`` for sure, ``MULTI``
    when only the value getter can tell (a source of any other shape, ``scalar_getter``).

    A derived field takes the first source with a value: a source that is a str gives it,
    one that is surely empty passes to the next, and any other shape ends in ``MULTI``."""
    spec = derived.get(name)
    if spec is None:
        return scalar_getter(name)
    getters = tuple(scalar_getter(s) for s in spec.sources)

    def coalesce_one(data: Any) -> Any:
        for get in getters:
            v = get(data)
            if v is not None:
                return v  # the str, or MULTI
        return None

    return coalesce_one
