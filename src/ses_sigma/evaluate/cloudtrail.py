"""Build complete CloudTrail records from short call descriptions (replays, benign corpus).

A record is built as AWS writes it (the fields and shapes of the public samples in
``/work/shared/samples`` and ``fixtures/_base.yml``): the principal's ``userIdentity``,
``sourceIPAddress`` and ``userAgent``; ``eventSource``/``eventName``; the TLS host header of
the service endpoint; ``readOnly``; management or data event; and, for a refused call,
``errorCode`` with the error message AWS writes. Nothing here is a label: what a record means
in a replay is kept apart from the record (see ``campaigns.py``).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from ses_sigma.records import format_time

__all__ = [
    "ACCOUNT",
    "DATA_EVENTS",
    "Principal",
    "event_uuid",
    "make_record",
    "service_of",
]

#: The example account every replay and the benign corpus run in.
ACCOUNT = "111122223333"

#: SES sending calls: CloudTrail data events (logged only when a trail selects them).
DATA_EVENTS = frozenset(
    {"SendEmail", "SendRawEmail", "SendTemplatedEmail", "SendBulkTemplatedEmail", "SendBulkEmail"}
)

# SES calls that exist only in the v2 API (the CLI command prefix is then ``sesv2``).
_SESV2_ONLY = frozenset(
    {
        "GetAccount",
        "ListEmailIdentities",
        "GetEmailIdentity",
        "CreateEmailIdentity",
        "DeleteEmailIdentity",
        "PutAccountDetails",
        "PutAccountSendingAttributes",
        "PutConfigurationSetSendingOptions",
        "CreateEmailIdentityPolicy",
        "UpdateEmailIdentityPolicy",
        "DeleteEmailIdentityPolicy",
        "PutEmailIdentityFeedbackAttributes",
        "PutEmailIdentityDkimAttributes",
        "PutSuppressedDestination",
        "DeleteSuppressedDestination",
        "PutAccountSuppressionAttributes",
        "ListSuppressedDestinations",
        "SendBulkEmail",
    }
)

# Services whose endpoint is global (one host, records in us-east-1).
_GLOBAL_HOSTS = {"iam": "iam.amazonaws.com", "support": "support.us-east-1.amazonaws.com"}

_SERVICE_RE = re.compile(r"^([a-z0-9-]+)\.amazonaws\.com$")
_NAMESPACE = uuid.UUID("5e5a1e55-0000-4000-8000-5e5516a00000")


@dataclass(frozen=True)
class Principal:
    """Who makes a call: the record keys a principal sets (userIdentity, IP, user agent...)."""

    user_identity: dict[str, Any]
    source_ip: str
    user_agent: str
    #: Other top-level keys (``sessionCredentialFromConsole``...).
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        """The principal's ``userIdentity.arn``."""
        return str(self.user_identity.get("arn", ""))

    def with_session(self, session: str) -> Principal:
        """The same role principal in another session (the session name ends its ARN)."""
        ident = dict(self.user_identity)
        base, _, _ = str(ident["arn"]).rpartition("/")
        ident["arn"] = f"{base}/{session}"
        pid = str(ident["principalId"]).partition(":")[0]
        ident["principalId"] = f"{pid}:{session}"
        return Principal(ident, self.source_ip, self.user_agent, dict(self.extra))

    def replace(self, **changes: Any) -> Principal:
        """A copy with ``source_ip``, ``user_agent``, ``user_identity`` or ``extra`` changed."""
        values = {
            "user_identity": self.user_identity,
            "source_ip": self.source_ip,
            "user_agent": self.user_agent,
            "extra": self.extra,
            **changes,
        }
        return Principal(**values)


def service_of(event_source: str) -> str:
    """``ses.amazonaws.com`` -> ``ses``; ValueError for anything else."""
    m = _SERVICE_RE.match(event_source)
    if m is None:
        raise ValueError(f"not an AWS eventSource: {event_source!r}")
    return m.group(1)


def event_uuid(*parts: object) -> str:
    """A deterministic UUID (eventID, requestID) from the given parts."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(map(str, parts))))


def _kebab(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name).lower()


def _host(service: str, region: str) -> str:
    if service in _GLOBAL_HOSTS:
        return _GLOBAL_HOSTS[service]
    if service == "ses":
        return f"email.{region}.amazonaws.com"
    return f"{service}.{region}.amazonaws.com"


def _cli_command(service: str, event_name: str) -> str:
    prefix = service
    if service == "ses" and event_name in _SESV2_ONLY:
        prefix = "sesv2"
    return f"{prefix}.{_kebab(event_name)}"


def _denied(principal: Principal, service: str, event_name: str) -> str:
    return (
        f"User: {principal.arn} is not authorized to perform: {service}:{event_name} "
        f"because no identity-based policy allows the {service}:{event_name} action"
    )


def make_record(
    principal: Principal,
    event_source: str,
    event_name: str,
    time: float,
    region: str,
    key: tuple[object, ...],
    request_parameters: dict[str, Any] | None = None,
    response_elements: dict[str, Any] | None = None,
    error: str | None = None,
    error_message: str | None = None,
    resources: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One CloudTrail record of ``principal`` calling ``event_source``/``event_name``.

    ``key`` makes the eventID and requestID (deterministic, unique per key). ``error`` is the
    errorCode of a refused call; its message is ``error_message`` or, for ``AccessDenied``,
    the message AWS writes. Global services (IAM, Support) log in us-east-1.
    """
    service = service_of(event_source)
    if service in _GLOBAL_HOSTS:
        region = "us-east-1"
    data_event = service == "ses" and event_name in DATA_EVENTS
    user_agent = principal.user_agent
    if (
        user_agent.startswith("aws-cli/")
        and " ua/2" in user_agent
        and "md/command#" not in user_agent
    ):
        user_agent += f" md/command#{_cli_command(service, event_name)}"
    record: dict[str, Any] = {
        "eventVersion": "1.11",
        "userIdentity": principal.user_identity,
        "eventTime": format_time(float(int(time))),
        "eventSource": event_source,
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": principal.source_ip,
        "userAgent": user_agent,
    }
    if error is not None:
        record["errorCode"] = error
        if error_message is None:
            if error != "AccessDenied":
                raise ValueError(f"errorCode {error!r} needs its error message")
            error_message = _denied(principal, service, event_name)
        record["errorMessage"] = error_message
        request_parameters = request_parameters if not data_event else None
        response_elements = None
    record["requestParameters"] = request_parameters
    record["responseElements"] = response_elements
    if principal.user_identity.get("type") == "AWSService":
        record["eventID"] = event_uuid("event", *key)
    else:
        record["requestID"] = event_uuid("request", *key)
        record["eventID"] = event_uuid("event", *key)
    read_only = not data_event and event_name.startswith(("Get", "List", "Describe"))
    record["readOnly"] = read_only
    if resources:
        record["resources"] = resources
    record["eventType"] = "AwsApiCall"
    record["managementEvent"] = not data_event
    record["recipientAccountId"] = ACCOUNT
    record["eventCategory"] = "Data" if data_event else "Management"
    record.update(principal.extra)
    if not principal.source_ip.endswith(".amazonaws.com"):
        record["tlsDetails"] = {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": _host(service, region),
        }
    return record
