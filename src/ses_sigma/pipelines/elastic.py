"""The Elastic pipeline: CloudTrail rules on the Elastic AWS integration's ``aws.cloudtrail``.

Field names are the integration's (``schema.ELASTIC_FIELDS``; ``requestParameters.X`` ->
``aws.cloudtrail.flattened.request_parameters.X`` and the like). The data source is
``data_stream.dataset: aws.cloudtrail`` (Elastic Agent data streams ``logs-aws.cloudtrail-*``).
Older Filebeat ``filebeat-*`` indices have no ``data_stream.*`` fields: use
``dataset_field="event.dataset"`` (also ``aws.cloudtrail`` there, and on data streams too) and
``index="filebeat-*"``. ``index`` goes to the processing state for the ES|QL and EQL backends'
``from``/index settings.

Successful calls. Rules say ``errorCode: null``; it becomes "``aws.cloudtrail.error_code``
missing", which is exactly the matcher's meaning (the ingest pipeline drops null values, and
raw CloudTrail has no errorCode on success). ``event.outcome`` is NOT used: the integration sets
it to ``failure`` when errorCode *or errorMessage* is present, so a record with an errorMessage
but no errorCode would be a failure in Elastic and a success for the matcher.

The ingest pipeline also drops empty strings, so ``field: ''`` cannot match and is refused
(and ``field: null`` also matches a raw ``""``, an edge CloudTrail does not produce for the
fields the pack uses). Keyword fields compare case-sensitively in Lucene and ES|QL: the
converter, not this pipeline, decides what that means for a rule.
"""

from __future__ import annotations

from sigma.processing.conditions import IsSigmaRuleCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import (
    AddConditionTransformation,
    FieldMappingTransformation,
    FieldPrefixMappingTransformation,
    SetStateTransformation,
)

from ses_sigma.pipelines import schema
from ses_sigma.pipelines.transformations import (
    CloudTrailFieldCheck,
    ElasticEmptyValueFailure,
    ElasticSourceIpTransformation,
    ElasticUserNameTransformation,
)

__all__ = [
    "ELASTIC_DATASET",
    "ELASTIC_INDEX",
    "ELASTIC_PIPELINE_NAME",
    "ses_cloudtrail_elastic_pipeline",
]

ELASTIC_PIPELINE_NAME = "ses_cloudtrail_elastic"
ELASTIC_DATASET = "aws.cloudtrail"
ELASTIC_INDEX = "logs-aws.cloudtrail-*"
_DATASET_FIELDS = ("data_stream.dataset", "event.dataset")


def ses_cloudtrail_elastic_pipeline(
    dataset_field: str = "data_stream.dataset",
    index: str = ELASTIC_INDEX,
) -> ProcessingPipeline:
    """CloudTrail rules -> Elastic AWS integration (ECS) field names and data source.

    ``dataset_field``: ``data_stream.dataset`` (Elastic Agent, default) or ``event.dataset``
    (older Filebeat ``filebeat-*`` indices). ``index``: index pattern in the processing state.
    """
    if dataset_field not in _DATASET_FIELDS:
        raise ValueError(f"dataset_field must be one of {_DATASET_FIELDS}, not {dataset_field!r}")
    name = ELASTIC_PIPELINE_NAME
    exact = {raw: schema.elastic_field(raw) for raw in schema.known_fields()}
    return ProcessingPipeline(
        name="ses-sigma: AWS CloudTrail in Elastic (AWS integration, data stream aws.cloudtrail)",
        priority=20,
        allowed_backends=frozenset({"elasticsearch", "lucene", "eql", "esql", "elastalert"}),
        items=[
            ProcessingItem(
                identifier="ses_cloudtrail_field_check",
                transformation=CloudTrailFieldCheck(pipeline_name=name),
            ),
            ProcessingItem(
                identifier="ses_cloudtrail_elastic_empty_values",
                transformation=ElasticEmptyValueFailure(pipeline_name=name),
            ),
            ProcessingItem(
                identifier="ses_cloudtrail_elastic_source_ip",
                transformation=ElasticSourceIpTransformation(pipeline_name=name),
            ),
            ProcessingItem(
                identifier="ses_cloudtrail_elastic_user_name",
                transformation=ElasticUserNameTransformation(pipeline_name=name),
            ),
            ProcessingItem(
                identifier="ses_cloudtrail_elastic_fields",
                transformation=FieldMappingTransformation(mapping=exact),
            ),
            ProcessingItem(
                identifier="ses_cloudtrail_elastic_generic_fields",
                transformation=FieldPrefixMappingTransformation(
                    mapping=dict(schema.GENERIC_PREFIXES)
                ),
            ),
            ProcessingItem(
                identifier="ses_cloudtrail_elastic_source",
                transformation=AddConditionTransformation(
                    conditions={dataset_field: ELASTIC_DATASET}, name="_ses_cloudtrail_source"
                ),
                rule_conditions=[IsSigmaRuleCondition()],
            ),
            ProcessingItem(
                identifier="ses_cloudtrail_elastic_index",
                transformation=SetStateTransformation(key="index", val=index),
            ),
        ],
    )
