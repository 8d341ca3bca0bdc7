"""Raw CloudTrail record -> the document Elastic's AWS integration indexes (``aws.cloudtrail``).

Mirrors the integration's ingest pipeline, read from
``packages/aws/data_stream/cloudtrail/elasticsearch/ingest_pipeline/default.yml`` in
elastic/integrations at commit ``bf3be6b2ca0eb305677128e9db73c75536000433`` (the field types are in
``packages/aws/data_stream/cloudtrail/fields/{fields,base-fields,ecs}.yml``; see
:mod:`ses_sigma.verify.mapping`). The processors are replayed in the pipeline's order, with the
ingest semantics that change results:

- the ``json`` processor's objects are Java ``HashMap`` objects, so
  ``aws.cloudtrail.request_parameters`` (and ``response_elements``, ``additional_eventdata``,
  ``service_event_details``) is
  ``HashMap.toString()`` in bucket order (:mod:`ses_sigma.verify.java`); checked against the
  integration's own pipeline test expectations;
- the "drop null/empty values" script runs first, recursively (``null``, ``""``, and objects and
  arrays that end up empty);
- ``rename`` with ``ignore_failure`` does nothing when the source is missing *or the target
  already exists*: ``user.name`` is ``userIdentity.userName`` when the record has one, and the
  session issuer's ``userName`` (the role name) only when it has none, which is the case in role
  sessions (``AssumedRole``, ``FederatedUser``);
- ``event.outcome`` is ``failure`` when ``errorCode`` or ``errorMessage`` survives the dropping,
  else ``success`` (``ConsoleLogin``: the lowercased ``responseElements.ConsoleLogin``);
- ``source.ip`` is set only when ``sourceIPAddress`` is an IP address (``grok ^%{IP}$``, whose
  IPv4 pattern also accepts leading zeros);
- ``event.kind``/``event.type``/``event.category`` follow the pipeline's categorization script
  (``event.category`` exists only for the IAM and S3 actions it lists; SES calls get none).

Simplified or left out (queries on these fields are refused by
:mod:`ses_sigma.verify.mapping`, never evaluated against a missing value):

- processors that need external data or the ingest time: ``geoip`` (``source.geo``,
  ``source.as``), the ``user_agent`` parser (only ``user_agent.original`` is set, not
  ``user_agent.name``/``version``/``os``/``device``), ``event.created``, ``event.ingested``;
- ``event.original`` (removed by the pipeline unless the ``preserve_original_event`` tag is set);
- the third-party (``preview``) sub-pipeline, CloudTrail digest and Insights files, and the
  entity fields (``related.entity``, ``user.entity.id``...) added by later versions of the
  pipeline;
- ``@timestamp`` and ``creation_date`` are normalised to UTC with millisecond precision (the
  pipeline's date processor prints the instant; the instant is what queries compare);
- ``data_stream.{type,dataset,namespace}``, ``event.dataset`` and ``event.module`` are
  ``constant_keyword`` fields the data stream's mapping supplies; they are added to the document
  so that queries on them can be evaluated;
- inputs where the real pipeline fails (``on_failure``) or the document would be rejected by its
  mapping raise ``EcsConversionError`` instead of guessing.

The function is pure and deterministic: no I/O, the input record is not modified.
"""

from __future__ import annotations

import copy
from typing import Any

from ses_sigma.verify.ecs_ingest import (
    _DIGEST_KEYS,
    ECS_VERSION,
    PIPELINE_COMMIT,
    PIPELINE_PATH,
    EcsConversionError,
    _append_unique,
    _date,
    _get,
    _has,
    _rename,
    _render,
    _set,
    parse_es_iso8601,
)
from ses_sigma.verify.ecs_steps import (
    _categorize,
    _console_login,
    _dedupe_resources,
    _drop_empty,
    _flatten_structured,
    _is_ip,
    _set_from_template,
    _tls,
)
from ses_sigma.verify.java import (
    JavaEmulationError,
)

__all__ = [
    "ECS_VERSION",
    "PIPELINE_COMMIT",
    "PIPELINE_PATH",
    "EcsConversionError",
    "parse_es_iso8601",
    "to_ecs",
]


def to_ecs(record: dict[str, Any]) -> dict[str, Any]:
    """The document the Elastic AWS integration indexes for one raw CloudTrail record.

    Nested dicts (``{"event": {"action": ...}}``), as in ``_source``. Raises
    ``EcsConversionError`` when the pipeline would fail, reject the document, or leave
    ``@timestamp`` at the ingest time (``eventTime`` missing or not ISO 8601 with ``T``).
    """
    if not isinstance(record, dict):
        raise EcsConversionError(
            f"a CloudTrail record must be an object, not {type(record).__name__}"
        )
    if "preview" in record:
        raise EcsConversionError("third-party (preview) records take a sub-pipeline not emulated")
    if any(key in record for key in _DIGEST_KEYS):
        raise EcsConversionError("CloudTrail digest files are not emulated")
    if "insightDetails" in record:
        raise EcsConversionError("CloudTrail Insights events are not emulated")

    original = record
    ctx: dict[str, Any] = {"json": copy.deepcopy(record)}
    _set(ctx, "ecs.version", ECS_VERSION)
    if not _date(ctx, "json.eventTime", "@timestamp"):
        raise EcsConversionError(
            f"eventTime {record.get('eventTime')!r} is not ISO 8601 (with 'T'): the date "
            "processor fails silently and @timestamp stays the ingest time"
        )
    _drop_empty(ctx)
    json_doc = ctx.get("json")
    if not isinstance(json_doc, dict):
        raise EcsConversionError("the record is empty once null/empty values are dropped")

    _rename(ctx, "json.eventVersion", "aws.cloudtrail.event_version")
    _rename(ctx, "json.userIdentity.type", "aws.cloudtrail.user_identity.type")
    if _get(ctx, "json.userIdentity.userName") is not None:
        _append_unique(ctx, "related.user", _render(_get(ctx, "json.userIdentity.userName")))
    _rename(ctx, "json.userIdentity.userName", "user.name")
    _rename(ctx, "json.userIdentity.principalId", "user.id")
    _rename(ctx, "json.userIdentity.arn", "aws.cloudtrail.user_identity.arn")
    _rename(ctx, "json.userIdentity.accountId", "cloud.account.id")
    _rename(ctx, "json.userIdentity.accessKeyId", "aws.cloudtrail.user_identity.access_key_id")
    _rename(
        ctx,
        "json.userIdentity.sessionContext.attributes.mfaAuthenticated",
        "aws.cloudtrail.user_identity.session_context.mfa_authenticated",
    )
    _date(
        ctx,
        "json.userIdentity.sessionContext.attributes.creationDate",
        "aws.cloudtrail.user_identity.session_context.creation_date",
    )
    issuer = "json.userIdentity.sessionContext.sessionIssuer"
    target = "aws.cloudtrail.user_identity.session_context.session_issuer"
    _rename(ctx, f"{issuer}.type", f"{target}.type")
    _rename(ctx, f"{issuer}.userName", "user.name")
    _rename(ctx, f"{issuer}.principalId", f"{target}.principal_id")
    _rename(ctx, f"{issuer}.arn", f"{target}.arn")
    _rename(ctx, f"{issuer}.accountId", f"{target}.account_id")
    _rename(ctx, "json.userIdentity.invokedBy", "aws.cloudtrail.user_identity.invoked_by")
    _rename(ctx, "json.eventSource", "event.provider")
    _set_from_template(ctx, "event.action", "json.eventName")
    _rename(ctx, "json.eventCategory", "aws.cloudtrail.event_category")
    region = _get(ctx, "json.awsRegion")
    if region is not None and region != "":
        _set(ctx, "cloud.region", copy.deepcopy(region))
    _rename(ctx, "json.sourceIPAddress", "source.address")
    address = _get(ctx, "source.address")
    if isinstance(address, str) and _is_ip(address):
        _set(ctx, "source.ip", address)
    if _has(ctx, "json.userAgent"):
        _set(ctx, "user_agent.original", _render(_get(ctx, "json.userAgent")))
    _rename(ctx, "json.errorCode", "aws.cloudtrail.error_code")
    _rename(ctx, "json.errorMessage", "aws.cloudtrail.error_message")
    _flatten_structured(ctx, original)
    _rename(ctx, "json.requestID", "aws.cloudtrail.request_id")
    _rename(ctx, "json.eventID", "event.id")
    _rename(ctx, "json.eventType", "aws.cloudtrail.event_type")
    _rename(ctx, "json.apiVersion", "aws.cloudtrail.api_version")
    _rename(ctx, "json.managementEvent", "aws.cloudtrail.management_event")
    _rename(ctx, "json.readOnly", "aws.cloudtrail.read_only")
    try:
        _dedupe_resources(ctx)
    except JavaEmulationError as exc:
        raise EcsConversionError(f"resources: {exc}") from None
    _rename(ctx, "json.resources", "aws.cloudtrail.resources")
    _rename(ctx, "json.recipientAccountId", "aws.cloudtrail.recipient_account_id")
    _rename(ctx, "json.sharedEventId", "aws.cloudtrail.shared_event_id")
    _rename(ctx, "json.vpcEndpointId", "aws.cloudtrail.vpc_endpoint_id")
    for key in ("userName", "newUserName"):
        value = _get(ctx, f"aws.cloudtrail.flattened.request_parameters.{key}")
        if value is not None:
            _append_unique(ctx, "related.user", _render(value))
    _console_login(ctx)
    _categorize(ctx)
    _rename(ctx, "json.awsAccountId", "cloud.account.id")
    _set_from_template(ctx, "group.id", "aws.cloudtrail.flattened.response_elements.group.groupId")
    _set_from_template(
        ctx, "user.target.id", "aws.cloudtrail.flattened.response_elements.user.userId"
    )
    _set_from_template(
        ctx, "user.changes.name", "aws.cloudtrail.flattened.request_parameters.newUserName"
    )
    _set_from_template(ctx, "group.name", "aws.cloudtrail.flattened.request_parameters.groupName")
    _set_from_template(
        ctx, "user.target.name", "aws.cloudtrail.flattened.request_parameters.userName"
    )
    _tls(ctx)
    ctx.pop("json", None)

    # constant_keyword values supplied by the data stream's mapping (base-fields.yml).
    _set(ctx, "data_stream.type", "logs")
    _set(ctx, "data_stream.dataset", "aws.cloudtrail")
    _set(ctx, "data_stream.namespace", "default")
    _set(ctx, "event.dataset", "aws.cloudtrail")
    _set(ctx, "event.module", "aws")
    return ctx
