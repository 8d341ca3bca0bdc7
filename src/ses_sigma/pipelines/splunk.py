"""The Splunk pipeline: CloudTrail rules on the Splunk Add-on for AWS (``aws:cloudtrail``).

* Field names stay raw (the add-on extracts the JSON with its own names); array paths of
  ``schema.SPLUNK_ARRAY_PATHS`` get ``{}`` (``resources{}.ARN``). pySigma's Splunk backend
  writes names matching ``[\\w.]+`` bare and double-quotes the others (``"resources{}.ARN"``).
* ``errorCode: null`` (the call succeeded) becomes ``(NOT errorCode=* OR errorCode="success")``
  because many add-on versions write ``errorCode=success`` on successful calls.
* The data source: ``sourcetype="aws:cloudtrail"`` (or a macro such as `` `cloudtrail` ``
  that expands to it), optionally ``index=...``.
* A field with no mapping, a keyword detection or a non-CloudTrail rule fails the rule with
  an error that names the rule and the field.
"""

from __future__ import annotations

import re

from sigma.processing.conditions import IsSigmaRuleCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline, QueryPostprocessingItem
from sigma.processing.postprocessing import EmbedQueryTransformation, ReplaceQueryTransformation
from sigma.processing.transformations import (
    AddConditionTransformation,
    FieldMappingTransformation,
    FieldPrefixMappingTransformation,
)

from ses_sigma.pipelines import schema
from ses_sigma.pipelines.transformations import CloudTrailFieldCheck, SplunkErrorCodeTransformation

__all__ = [
    "SPLUNK_PIPELINE_NAME",
    "SPLUNK_SOURCETYPE",
    "SUCCESS_EXPRESSION",
    "ses_cloudtrail_splunk_pipeline",
]

SPLUNK_PIPELINE_NAME = "ses_cloudtrail_splunk"
SPLUNK_SOURCETYPE = "aws:cloudtrail"
#: ``errorCode: null`` (the call succeeded) in SPL.
SUCCESS_EXPRESSION = '(NOT errorCode=* OR errorCode="success")'
# What the backend writes for it after SplunkErrorCodeTransformation: either already grouped
# (first alternative, replaced by itself) or bare (second, gets the parentheses).
_SUCCESS_OUTPUT = (
    r'\(NOT errorCode=\* OR errorCode="success"\)|NOT errorCode=\* OR errorCode="success"'
)
_MACRO_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]*(\([^`]*\))?$")


def _array_mappings(array_paths: tuple[str, ...]) -> tuple[dict[str, str], dict[str, str]]:
    exact = {f: schema.splunk_field(f, array_paths) for f in schema.known_fields()}
    exact = {k: v for k, v in exact.items() if k != v}
    exact.update({p: p + "{}" for p in array_paths if schema.is_known_field(p)})
    # Longest path first: FieldPrefixMappingTransformation takes the first prefix that matches.
    prefixes = {p + ".": p + "{}." for p in sorted(array_paths, key=len, reverse=True)}
    return exact, prefixes


def ses_cloudtrail_splunk_pipeline(
    index: str | None = None,
    macro: str | None = None,
    array_paths: tuple[str, ...] = schema.SPLUNK_ARRAY_PATHS,
) -> ProcessingPipeline:
    """CloudTrail rules -> Splunk Add-on for AWS field names and data source.

    ``index``: add ``index=<index>``. ``macro``: a search macro name (``cloudtrail``) that
    replaces ``sourcetype="aws:cloudtrail"``; the query is prefixed with `` `macro` ``.
    ``array_paths``: raw paths holding arrays (default ``schema.SPLUNK_ARRAY_PATHS``); nested
    arrays (an array inside an array path) are not supported by the prefix mapping.
    """
    if macro is not None and not _MACRO_RE.match(macro):
        raise ValueError(f"not a Splunk macro name: {macro!r}")
    for path in array_paths:
        if not schema.is_known_field(path) and not any(
            f.startswith(path + ".") for f in schema.known_fields()
        ):
            raise ValueError(f"array path {path!r} is not (under) a mapped CloudTrail field")
    exact, prefixes = _array_mappings(tuple(array_paths))
    source: dict[str, str] = {}
    if index is not None:
        source["index"] = index
    if macro is None:
        source["sourcetype"] = SPLUNK_SOURCETYPE
    items = [
        ProcessingItem(
            identifier="ses_cloudtrail_field_check",
            transformation=CloudTrailFieldCheck(pipeline_name=SPLUNK_PIPELINE_NAME),
        ),
        ProcessingItem(
            identifier="ses_cloudtrail_splunk_error_code",
            transformation=SplunkErrorCodeTransformation(pipeline_name=SPLUNK_PIPELINE_NAME),
        ),
        ProcessingItem(
            identifier="ses_cloudtrail_splunk_arrays",
            transformation=FieldMappingTransformation(mapping=exact),
        ),
        ProcessingItem(
            identifier="ses_cloudtrail_splunk_array_prefixes",
            transformation=FieldPrefixMappingTransformation(mapping=prefixes),
        ),
    ]
    if source:
        items.append(
            ProcessingItem(
                identifier="ses_cloudtrail_splunk_source",
                transformation=AddConditionTransformation(
                    conditions=source, name="_ses_cloudtrail_source"
                ),
                rule_conditions=[IsSigmaRuleCondition()],
            )
        )
    # pySigma's Splunk backend leaves out parentheses SPL's precedence (OR before AND) makes
    # unnecessary; they are put back around the success condition, so that it reads as meant
    # and survives search text being added around the query.
    postprocessing = [
        QueryPostprocessingItem(
            identifier="ses_cloudtrail_splunk_group_success",
            transformation=ReplaceQueryTransformation(
                pattern=_SUCCESS_OUTPUT, replacement=SUCCESS_EXPRESSION
            ),
        )
    ]
    if macro is not None:
        postprocessing.append(
            QueryPostprocessingItem(
                identifier="ses_cloudtrail_splunk_macro",
                transformation=EmbedQueryTransformation(prefix=f"`{macro}` "),
                rule_conditions=[IsSigmaRuleCondition()],
            )
        )
    return ProcessingPipeline(
        name="ses-sigma: AWS CloudTrail in Splunk (Add-on for AWS, sourcetype aws:cloudtrail)",
        priority=20,
        allowed_backends=frozenset({"splunk"}),
        items=items,
        postprocessing_items=postprocessing,
    )
