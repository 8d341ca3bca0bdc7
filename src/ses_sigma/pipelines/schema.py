"""CloudTrail field names the pipelines know, and what they are called in Splunk and Elastic.

Data, from /work/shared/reference/field-mappings.md (binding). Rules name raw CloudTrail fields
(``userIdentity.arn``); a rule field that is neither in :data:`ELASTIC_FIELDS` nor under one of
:data:`GENERIC_PREFIXES` has no mapping and is a conversion error on both targets (Splunk
would accept any raw name, but a typo must not pass silently on one target and fail on the
other).

Splunk (Splunk Add-on for AWS, ``sourcetype=aws:cloudtrail``) keeps the raw names; arrays are
addressed as ``field{}`` (``resources{}.ARN``), for the paths in :data:`SPLUNK_ARRAY_PATHS`.

Elastic (Elastic Agent / Filebeat AWS integration, data stream ``aws.cloudtrail``) renames
fields in its ingest pipeline; two raw fields need more than a rename and are handled by
transformations (see ``transformations.py``):

* ``userIdentity.userName`` and ``userIdentity.sessionContext.sessionIssuer.userName`` both
  land in ``user.name`` (for a role session ``user.name`` is the role);
* ``sourceIPAddress`` is ``source.address`` (always) and also ``source.ip`` when it parses as
  an IP: CIDR matches use ``source.ip``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = [
    "ELASTIC_FIELDS",
    "ELASTIC_SOURCE_IP",
    "ELASTIC_USER_NAME_FIELDS",
    "GENERIC_PREFIXES",
    "SESSION_ISSUER_PRESENCE_FIELD",
    "SPLUNK_ARRAY_PATHS",
    "UnmappedFieldError",
    "elastic_field",
    "is_known_field",
    "known_fields",
    "splunk_field",
]

_ISSUER = "aws.cloudtrail.user_identity.session_context.session_issuer"

#: Raw CloudTrail field -> Elastic field (exact names).
ELASTIC_FIELDS: Mapping[str, str] = {
    "eventTime": "@timestamp",
    "eventVersion": "aws.cloudtrail.event_version",
    "eventSource": "event.provider",
    "eventName": "event.action",
    "eventCategory": "aws.cloudtrail.event_category",
    "eventType": "aws.cloudtrail.event_type",
    "eventID": "event.id",
    "requestID": "aws.cloudtrail.request_id",
    "readOnly": "aws.cloudtrail.read_only",
    "managementEvent": "aws.cloudtrail.management_event",
    "awsRegion": "cloud.region",
    "recipientAccountId": "aws.cloudtrail.recipient_account_id",
    "userIdentity.type": "aws.cloudtrail.user_identity.type",
    "userIdentity.arn": "aws.cloudtrail.user_identity.arn",
    "userIdentity.accessKeyId": "aws.cloudtrail.user_identity.access_key_id",
    "userIdentity.accountId": "cloud.account.id",
    "userIdentity.principalId": "user.id",
    "userIdentity.userName": "user.name",
    "userIdentity.sessionContext.sessionIssuer.userName": "user.name",
    "userIdentity.sessionContext.sessionIssuer.type": f"{_ISSUER}.type",
    "userIdentity.sessionContext.sessionIssuer.principalId": f"{_ISSUER}.principal_id",
    "userIdentity.sessionContext.sessionIssuer.arn": f"{_ISSUER}.arn",
    "userIdentity.sessionContext.sessionIssuer.accountId": f"{_ISSUER}.account_id",
    "userIdentity.sessionContext.attributes.mfaAuthenticated": (
        "aws.cloudtrail.user_identity.session_context.mfa_authenticated"
    ),
    "userIdentity.invokedBy": "aws.cloudtrail.user_identity.invoked_by",
    "sourceIPAddress": "source.address",
    "userAgent": "user_agent.original",
    "errorCode": "aws.cloudtrail.error_code",
    "errorMessage": "aws.cloudtrail.error_message",
    "resources.ARN": "aws.cloudtrail.resources.arn",
    "resources.accountId": "aws.cloudtrail.resources.account_id",
    "resources.type": "aws.cloudtrail.resources.type",
    "tlsDetails.clientProvidedHostHeader": "tls.client.server_name",
    # The integration copies requestParameters.userName into the keyword field
    # user.target.name (field-mappings.md). Queried there rather than in the flattened object:
    # EQL and ES|QL cannot read flattened keys, and keyword fields take Lucene regexes.
    "requestParameters.userName": "user.target.name",
}

#: Raw prefix -> Elastic prefix for the free-form objects (the rest of the name is kept).
GENERIC_PREFIXES: Mapping[str, str] = {
    "requestParameters.": "aws.cloudtrail.flattened.request_parameters.",
    "responseElements.": "aws.cloudtrail.flattened.response_elements.",
    "additionalEventData.": "aws.cloudtrail.flattened.additional_eventdata.",
}

#: Raw paths that hold arrays in CloudTrail; Splunk's JSON extraction names them ``path{}``.
SPLUNK_ARRAY_PATHS: tuple[str, ...] = ("resources", "requestParameters.identities")

#: The raw fields whose Elastic field ``user.name`` is shared (see the module docstring).
ELASTIC_USER_NAME_FIELDS: tuple[str, str] = (
    "userIdentity.userName",
    "userIdentity.sessionContext.sessionIssuer.userName",
)
#: Present in Elastic exactly when the raw record has a session issuer.
SESSION_ISSUER_PRESENCE_FIELD = f"{_ISSUER}.arn"
#: Elastic field for CIDR matches on sourceIPAddress.
ELASTIC_SOURCE_IP = "source.ip"


class UnmappedFieldError(KeyError):
    """A rule field the pipelines have no mapping for."""

    def __init__(self, field: str, target: str):
        self.field, self.target = field, target
        super().__init__(field)

    def __str__(self) -> str:
        return (
            f"field {self.field!r} has no {self.target} mapping (known: the CloudTrail fields of "
            f"field-mappings.md and {', '.join(p + '<key>' for p in GENERIC_PREFIXES)})"
        )


def _generic_rest(field: str) -> tuple[str, str] | None:
    for prefix in GENERIC_PREFIXES:
        if field.startswith(prefix) and len(field) > len(prefix):
            rest = field[len(prefix) :]
            if all(rest.split(".")):  # no empty path segment ("a..b", trailing dot)
                return prefix, rest
    return None


def is_known_field(field: str) -> bool:
    """True if ``field`` is a raw CloudTrail field the pipelines map."""
    return field in ELASTIC_FIELDS or _generic_rest(field) is not None


def known_fields() -> Iterable[str]:
    """The exact raw names the pipelines map (the generic prefixes aside)."""
    return iter(ELASTIC_FIELDS)


def elastic_field(field: str) -> str:
    """The Elastic name of a raw CloudTrail field; UnmappedFieldError if it has none.

    For the two ``user.name`` fields and CIDR matches on ``sourceIPAddress`` the plain rename is
    not the whole story: the Elastic pipeline's transformations add the conditions.
    """
    if field in ELASTIC_FIELDS:
        return ELASTIC_FIELDS[field]
    generic = _generic_rest(field)
    if generic is None:
        raise UnmappedFieldError(field, "Elastic")
    prefix, rest = generic
    return GENERIC_PREFIXES[prefix] + rest


def splunk_field(field: str, array_paths: Iterable[str] = SPLUNK_ARRAY_PATHS) -> str:
    """The Splunk name of a raw CloudTrail field: raw, with ``{}`` after array paths."""
    if not is_known_field(field):
        raise UnmappedFieldError(field, "Splunk")
    arrays = set(array_paths)
    parts = field.split(".")
    out: list[str] = []
    for i, part in enumerate(parts):
        path = ".".join(parts[: i + 1])
        out.append(part + "{}" if path in arrays else part)
    return ".".join(out)
