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
import ipaddress
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from ses_sigma.verify.java import (
    JavaEmulationError,
    hashmap_capacity_after_puts,
    hashmap_capacity_for_put_all,
    hashmap_order,
    java_scalar_to_string,
    java_to_string,
)

__all__ = [
    "ECS_VERSION",
    "PIPELINE_COMMIT",
    "PIPELINE_PATH",
    "EcsConversionError",
    "parse_es_iso8601",
    "to_ecs",
]

PIPELINE_PATH = "packages/aws/data_stream/cloudtrail/elasticsearch/ingest_pipeline/default.yml"
PIPELINE_COMMIT = "bf3be6b2ca0eb305677128e9db73c75536000433"
ECS_VERSION = "8.11.0"

#: Painless string length limit under which the structured copy goes to ``flattened``.
_FLATTENED_MAX_CHARS = 32766

#: The categorization script's per-action ``event.category``/``event.type`` (same commit).
_CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "AddUserToGroup": (("iam",), ("group", "change")),
    "AssumeRole": (("authentication",), ("info",)),
    "AttachGroupPolicy": (("iam",), ("group", "change")),
    "AttachUserPolicy": (("iam",), ("user", "change")),
    "ChangePassword": (("iam",), ("user", "change")),
    "ConsoleLogin": (("authentication",), ("info",)),
    "CreateAccessKey": (("iam",), ("user", "change")),
    "CreateBucket": (("file",), ("creation",)),
    "CreateGroup": (("iam",), ("group", "creation")),
    "CreateKeyPair": (("iam",), ("admin", "creation")),
    "CreateUser": (("iam",), ("user", "creation")),
    "CreateVirtualMFADevice": (("iam",), ("user", "change")),
    "DeactivateMFADevice": (("iam",), ("user", "change")),
    "DeleteAccessKey": (("iam",), ("user", "change")),
    "DeleteBucket": (("file",), ("deletion",)),
    "DeleteGroup": (("iam",), ("group", "deletion")),
    "DeleteGroupPolicy": (("iam",), ("group", "change")),
    "DeleteSSHPublicKey": (("iam",), ("user", "change")),
    "DeleteUser": (("iam",), ("user", "deletion")),
    "DeleteUserPermissionsBoundary": (("iam",), ("user", "change")),
    "DeleteUserPolicy": (("iam",), ("user", "change")),
    "DeleteVirtualMFADevice": (("iam",), ("user", "change")),
    "DetachGroupPolicy": (("iam",), ("group", "change")),
    "DetachUserPolicy": (("iam",), ("user", "change")),
    "EnableMFADevice": (("iam",), ("user", "change")),
    "GetGroup": (("iam",), ("group", "info")),
    "GetGroupPolicy": (("iam",), ("group", "info")),
    "GetUser": (("iam",), ("user", "info")),
    "GetUserPolicy": (("iam",), ("user", "info")),
    "ListAttachedGroupPolicies": (("iam",), ("group", "info")),
    "ListAttachedUserPolicies": (("iam",), ("user", "info")),
    "ListGroupPolicies": (("iam",), ("group", "info")),
    "ListGroups": (("iam",), ("group", "info")),
    "ListGroupsForUser": (("iam",), ("user", "info")),
    "ListUserPolicies": (("iam",), ("user", "info")),
    "ListUsers": (("iam",), ("user", "info")),
    "ListUserTags": (("iam",), ("user", "info")),
    "PutGroupPolicy": (("iam",), ("group", "change")),
    "PutUserPermissionsBoundary": (("iam",), ("user", "change")),
    "PutUserPolicy": (("iam",), ("user", "change")),
    "RemoveUserFromGroup": (("iam",), ("group", "change")),
    "SetDefaultPolicyVersion": (("iam",), ("admin", "change")),
    "SetSecurityTokenServicePreferences": (("iam",), ("admin", "change")),
    "TagUser": (("iam",), ("user", "change")),
    "UntagUser": (("iam",), ("user", "change")),
    "UpdateAccessKey": (("iam",), ("user", "change")),
    "UpdateAccountPasswordPolicy": (("iam",), ("admin", "change")),
    "UpdateGroup": (("iam",), ("group", "change")),
    "UpdateLoginProfile": (("iam",), ("user", "change")),
    "UpdateRole": (("iam",), ("admin", "change")),
    "UpdateSSHPublicKey": (("iam",), ("user", "change")),
    "UpdateUser": (("iam",), ("user", "change")),
}

#: Keys of CloudTrail digest files, which the pipeline maps to ``file.*`` and ``digest`` fields.
_DIGEST_KEYS = ("digestS3Object", "digestStartTime", "digestEndTime", "logFiles", "digestS3Bucket")


class EcsConversionError(ValueError):
    """A record the emulated pipeline cannot turn into the document Elastic would index."""


# --- ingest document paths ------------------------------------------------------------------


def _get(ctx: dict[str, Any], path: str) -> Any:
    node: Any = ctx
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _has(ctx: dict[str, Any], path: str) -> bool:
    node: Any = ctx
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _set(ctx: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = ctx
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise EcsConversionError(f"cannot set [{path}]: [{part}] is not an object")
        node = child
    node[parts[-1]] = value


def _remove(ctx: dict[str, Any], path: str) -> Any:
    parts = path.split(".")
    parent = _get(ctx, ".".join(parts[:-1])) if len(parts) > 1 else ctx
    return parent.pop(parts[-1])


def _rename(ctx: dict[str, Any], source: str, target: str, *, fail_loudly: bool = False) -> None:
    """``rename``: nothing when the source is missing; when the target exists the processor
    fails, which ``ignore_failure: true`` swallows (``fail_loudly`` marks renames without it,
    where the whole pipeline would fail)."""
    if not _has(ctx, source):
        return
    if _has(ctx, target):
        if fail_loudly:
            raise EcsConversionError(f"rename [{source}] -> [{target}]: target already exists")
        return
    _set(ctx, target, _remove(ctx, source))


def _append_unique(ctx: dict[str, Any], path: str, value: str) -> None:
    current = _get(ctx, path)
    if current is None:
        _set(ctx, path, [value])
        return
    if not isinstance(current, list):
        current = [current]
        _set(ctx, path, current)
    if value not in current:
        current.append(value)


def _render(value: Any) -> str:
    """Mustache ``{{field}}`` of an ingest value (``""`` when missing)."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return java_to_string(value)
    return java_scalar_to_string(value)


# --- dates -----------------------------------------------------------------------------------

_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:T(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"(Z|[+-]\d{2}(?::?\d{2})?)?$"
)


def parse_es_iso8601(value: Any) -> datetime:
    """Parse a date as the date processor's ``ISO8601`` format does; ValueError if it cannot.

    The ``T`` separator is required (Panther's ``2025-01-20 16:52:14.000000000`` is rejected),
    a missing zone is UTC. The result is a UTC datetime truncated to milliseconds.
    """
    if not isinstance(value, str):
        raise ValueError(f"not a date string: {value!r}")
    m = _ISO_RE.match(value)
    if m is None:
        raise ValueError(f"not an ISO 8601 date-time: {value!r}")
    year, month, day, hour, minute, second, frac, zone = m.groups()
    millis = int((frac or "0").ljust(3, "0")[:3])
    dt = datetime(
        int(year),
        int(month),
        int(day),
        int(hour or 0),
        int(minute or 0),
        int(second or 0),
        millis * 1000,
        tzinfo=UTC,
    )
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        dt -= sign * offset
    return dt


def _format_date(dt: datetime) -> str:
    # %Y is not zero-padded below year 1000 on glibc ("1-01-01"): pad the year explicitly.
    return f"{dt.year:04d}" + dt.strftime("-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _date(ctx: dict[str, Any], source: str, target: str) -> bool:
    """``date`` processor with ``ISO8601`` and ``ignore_failure``; True if it set the target."""
    value = _get(ctx, source)
    try:
        dt = parse_es_iso8601(value)
    except ValueError:
        return False
    _set(ctx, target, _format_date(dt))
    return True


# --- the pipeline ----------------------------------------------------------------------------


def _drop_empty(node: Any) -> bool:
    """The pipeline's "Drops null/empty values recursively" script, in place."""
    if node is None or (isinstance(node, str) and node == ""):
        return True
    if isinstance(node, dict):
        for key in [k for k, v in node.items() if _drop_empty(v)]:
            del node[key]
        return not node
    if isinstance(node, list):
        node[:] = [v for v in node if not _drop_empty(v)]
        return not node
    return False


_IPV4_OCTET = r"(?:[0-1]?[0-9]{1,2}|2[0-4][0-9]|25[0-5])"
#: grok's IPV4 pattern (anchored by the pipeline's ``^%{IP:source.ip}$``)
_GROK_IPV4 = re.compile(rf"{_IPV4_OCTET}\.{_IPV4_OCTET}\.{_IPV4_OCTET}\.{_IPV4_OCTET}")


def _is_ip(text: str) -> bool:
    """Grok ``^%{IP}$`` on ``source.address``.

    IPv4 uses grok's own pattern, which accepts leading zeros (``075.050.255.67``, found in
    anonymised data): such a value lands in ``source.ip`` although the ``ip`` field cannot parse
    it (the search side treats it as not indexed, see :mod:`ses_sigma.verify.mapping`). IPv6
    is decided with Python's parser; an IPv6 zone id (``%eth0``), which grok accepts and
    Elasticsearch's ``ip`` type may not, raises.
    """
    if _GROK_IPV4.fullmatch(text):
        return True
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.scope_id:
        raise EcsConversionError(f"sourceIPAddress {text!r} has an IPv6 zone id")
    return True


def _flatten_structured(ctx: dict[str, Any], original: dict[str, Any]) -> None:
    """The script that stores the ``{k=v}`` strings and the ``flattened`` copies."""
    cloudtrail = _get(ctx, "aws.cloudtrail")
    if not isinstance(cloudtrail, dict):
        # ``ctx.aws.cloudtrail?.flattened`` throws on a missing ``aws``; ignore_failure.
        return
    if cloudtrail.get("flattened") is None:
        cloudtrail["flattened"] = {}
    for raw_key, name in (
        ("requestParameters", "request_parameters"),
        ("responseElements", "response_elements"),
        ("additionalEventData", "additional_eventdata"),
        ("serviceEventDetails", "service_event_details"),
    ):
        value = _get(ctx, f"json.{raw_key}")
        if value is None:
            continue
        if not isinstance(value, dict):
            raise EcsConversionError(
                f"{raw_key} is a {type(value).__name__}, not an object: the flattened field "
                "would reject the document"
            )
        try:
            text = java_to_string(original[raw_key], drop_empty=True)
        except JavaEmulationError as exc:
            raise EcsConversionError(f"{raw_key}: {exc}") from None
        cloudtrail[name] = text
        if len(text) < _FLATTENED_MAX_CHARS:
            cloudtrail["flattened"][name] = value


def _dedupe_resources(ctx: dict[str, Any]) -> None:
    """The script that renames ``ARN``/``accountId`` and drops duplicate resources."""
    resources = _get(ctx, "json.resources")
    if not isinstance(resources, list):
        return
    unique: dict[str, dict[str, Any]] = {}
    for original in resources:
        if not isinstance(original, dict):
            continue
        keys = list(original.keys())
        capacity = hashmap_capacity_for_put_all(len(keys))
        resource = dict(original)
        if "ARN" in resource:
            value = resource.pop("ARN")
            keys.remove("ARN")
            resource["arn"] = value
            keys.append("arn")
        if "accountId" in resource:
            value = resource.pop("accountId")
            keys.remove("accountId")
            resource["account_id"] = value
            keys.append("account_id")
        ordered = {k: resource[k] for k in hashmap_order(keys, capacity)}
        key = (
            _render(ordered.get("arn"))
            + "_"
            + _render(ordered.get("account_id"))
            + "_"
            + _render(ordered.get("type"))
        )
        unique[key] = ordered
    order = hashmap_order(list(unique.keys()), hashmap_capacity_after_puts(len(unique)))
    _set(ctx, "json.resources", [unique[k] for k in order])


def _console_login(ctx: dict[str, Any]) -> None:
    if _get(ctx, "json.eventName") != "ConsoleLogin":
        return
    aed = _get(ctx, "aws.cloudtrail.flattened.additional_eventdata") or {}
    out: dict[str, Any] = {}
    if aed.get("MobileVersion") is not None:
        out["mobile_version"] = aed["MobileVersion"] != "No"
    if aed.get("LoginTo") is not None:
        out["login_to"] = aed["LoginTo"]
    if aed.get("MFAUsed") is not None:
        out["mfa_used"] = aed["MFAUsed"] != "No"
    if out:
        _set(ctx, "aws.cloudtrail.console_login", {"additional_eventdata": out})


def _categorize(ctx: dict[str, Any]) -> None:
    """The "Add ECS categorization" script (no ignore_failure: its errors fail the pipeline)."""
    event = ctx.get("event")
    if not isinstance(event, dict):
        raise EcsConversionError(
            "the record has no eventSource, eventName or eventID: the pipeline's "
            "categorization script fails on a missing ctx.event"
        )
    event["kind"] = "event"
    event["type"] = ["info"]
    failed = _has(ctx, "aws.cloudtrail.error_code") or _has(ctx, "aws.cloudtrail.error_message")
    event["outcome"] = "failure" if failed else "success"
    action = event.get("action")
    if action is None:
        return
    if action == "ConsoleLogin":
        elements = _get(ctx, "aws.cloudtrail.flattened.response_elements")
        if not isinstance(elements, dict):
            raise EcsConversionError(
                "ConsoleLogin without responseElements: the pipeline's categorization script "
                "throws (null response_elements) and the document goes to on_failure"
            )
        if elements.get("ConsoleLogin") is not None:
            event["outcome"] = str(elements["ConsoleLogin"]).lower()
    if action in _CATEGORIES:
        category, types = _CATEGORIES[action]
        event["category"] = list(category)
        event["type"] = list(types)


def _tls(ctx: dict[str, Any]) -> None:
    version = _get(ctx, "json.tlsDetails.tlsVersion")
    if version is not None:
        text = _render(version)
        head, sep, tail = text.partition("v")
        if not sep or not head or not tail:
            raise EcsConversionError(
                f"tlsDetails.tlsVersion {text!r} does not match the pipeline's dissect pattern "
                "%{tls.version_protocol}v%{tls.version}"
            )
        _set(ctx, "tls.version_protocol", head.lower())
        _set(ctx, "tls.version", tail)
    _rename(ctx, "json.tlsDetails.cipherSuite", "tls.cipher", fail_loudly=True)
    _rename(
        ctx, "json.tlsDetails.clientProvidedHostHeader", "tls.client.server_name", fail_loudly=True
    )


def _set_from_template(ctx: dict[str, Any], target: str, source: str) -> None:
    """``set`` with ``value: '{{source}}'``, ``ignore_empty_value`` and ``ignore_failure``."""
    text = _render(_get(ctx, source))
    if text:
        _set(ctx, target, text)


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
