"""Ingest-document helpers for :mod:`ses_sigma.verify.ecs`: the pipeline's constants, dotted
paths (``ctx`` access as Painless and the ingest processors do), Elasticsearch dates, the error.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from ses_sigma.verify.java import (
    java_scalar_to_string,
    java_to_string,
)

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
