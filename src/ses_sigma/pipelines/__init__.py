"""pySigma processing pipelines for CloudTrail in Splunk and Elastic.

Also installed as pySigma plugins (``sigma.pipelines.ses_cloudtrail``), so that
``sigma convert -t splunk -p ses_cloudtrail_splunk`` and ``-t lucene -p ses_cloudtrail_elastic``
work. ``schema`` holds the field table both pipelines are built from.
"""

from __future__ import annotations

from collections.abc import Callable

from sigma.processing.pipeline import ProcessingPipeline

from ses_sigma.pipelines.elastic import ELASTIC_PIPELINE_NAME, ses_cloudtrail_elastic_pipeline
from ses_sigma.pipelines.schema import UnmappedFieldError, elastic_field, splunk_field
from ses_sigma.pipelines.splunk import SPLUNK_PIPELINE_NAME, ses_cloudtrail_splunk_pipeline

__all__ = [
    "ELASTIC_PIPELINE_NAME",
    "PIPELINES",
    "SPLUNK_PIPELINE_NAME",
    "UnmappedFieldError",
    "elastic_field",
    "ses_cloudtrail_elastic_pipeline",
    "ses_cloudtrail_splunk_pipeline",
    "splunk_field",
]

#: Pipeline name -> factory with defaults, as registered with pySigma's plugin discovery.
PIPELINES: dict[str, Callable[[], ProcessingPipeline]] = {
    SPLUNK_PIPELINE_NAME: ses_cloudtrail_splunk_pipeline,
    ELASTIC_PIPELINE_NAME: ses_cloudtrail_elastic_pipeline,
}
