"""The ingest pipeline's larger steps for :mod:`ses_sigma.verify.ecs` (empty-value dropping,
the flattened copies, resources, console login, categorization, TLS).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ses_sigma.verify.ecs_ingest import (
    _CATEGORIES,
    _FLATTENED_MAX_CHARS,
    EcsConversionError,
    _get,
    _has,
    _rename,
    _render,
    _set,
)
from ses_sigma.verify.java import (
    JavaEmulationError,
    hashmap_capacity_after_puts,
    hashmap_capacity_for_put_all,
    hashmap_order,
    java_to_string,
)


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
