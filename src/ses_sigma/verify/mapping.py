"""Field types of the ``logs-aws.cloudtrail-*`` data stream, as far as this emulation goes.

Sources: elastic/integrations ``packages/aws/data_stream/cloudtrail/fields/fields.yml``
(``aws.cloudtrail.*``), ``base-fields.yml`` (``data_stream.*``, ``event.dataset``,
``event.module``: ``constant_keyword``), ``ecs.yml`` (the ECS fields the package imports, typed
by ECS 8.11: keywords with ``ignore_above: 1024``; ``user.name``, ``user_agent.original``,
``user.target.name``, ``user.changes.name`` carry a ``.text`` ``match_only_text`` multi-field;
``source.ip`` is ``ip``; ``@timestamp`` is ``date``). Fleet gives keyword fields without an
explicit ``ignore_above`` the value 1024; ``aws.cloudtrail.request_parameters`` and
``response_elements`` set 8191. Values longer than ``ignore_above`` are not indexed: no query
sees them, not even ``exists``. Likewise an ``ip`` value the ``ip`` type cannot parse (grok lets
``075.050.255.67`` into ``source.ip``; Elasticsearch, like Python, rejects leading zeros) is
treated as not indexed, which is what ``index.mapping.ignore_malformed: true`` does; the
``logs@settings`` template sets it for ``logs-*-*`` data streams in recent Elasticsearch 8
releases (older stacks reject the whole document instead).

Only the fields :func:`ses_sigma.verify.ecs.to_ecs` produces are listed. A query on a field the
real integration fills but this emulation does not (``user_agent.name``, ``source.geo.*``...)
raises ``NotEmulatedFieldError``; a query on a field the data stream does not map at all raises
``UnknownFieldError`` (Elasticsearch would match nothing, which is never what a compiled rule
means). Both are ``FieldResolutionError``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "FLATTENED_ROOTS",
    "NOT_EMULATED_PREFIXES",
    "FieldResolutionError",
    "FieldSpec",
    "NotEmulatedFieldError",
    "UnknownFieldError",
    "field_types",
    "object_fields",
    "resolve_field",
]

KEYWORD_IGNORE_ABOVE = 1024


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One mapped field.

    ``type`` is the Elasticsearch type: ``keyword``, ``constant_keyword``, ``boolean``, ``ip``,
    ``date``, ``match_only_text`` (analysed by the standard analyzer), ``flattened`` (a root
    flattened field) or ``flattened_key`` (a key inside one: ``root`` and ``key`` are set);
    ``long`` exists only for ``extra_fields`` given by callers (the EQL runner supports it).
    """

    name: str
    type: str
    ignore_above: int | None = None
    root: str | None = None
    key: str | None = None

    @property
    def source_path(self) -> str:
        """Where the values live in the document (a ``.text`` multi-field reads its parent)."""
        if self.type == "match_only_text" and self.name.endswith(".text"):
            return self.name[: -len(".text")]
        return self.name


class FieldResolutionError(ValueError):
    """A field name the evaluator cannot give Elasticsearch's meaning to."""


class UnknownFieldError(FieldResolutionError):
    """The data stream does not map this field."""


class NotEmulatedFieldError(FieldResolutionError):
    """The integration fills this field but the emulated pipeline does not."""


def _kw(name: str, ignore_above: int | None = KEYWORD_IGNORE_ABOVE) -> FieldSpec:
    return FieldSpec(name, "keyword", ignore_above)


_FIELDS: dict[str, FieldSpec] = {}


def _add(*specs: FieldSpec) -> None:
    for spec in specs:
        _FIELDS[spec.name] = spec


_add(
    FieldSpec("@timestamp", "date"),
    FieldSpec("data_stream.type", "constant_keyword"),
    FieldSpec("data_stream.dataset", "constant_keyword"),
    FieldSpec("data_stream.namespace", "constant_keyword"),
    FieldSpec("event.dataset", "constant_keyword"),
    FieldSpec("event.module", "constant_keyword"),
    _kw("ecs.version"),
    _kw("event.action"),
    _kw("event.provider"),
    _kw("event.id"),
    _kw("event.kind"),
    _kw("event.outcome"),
    _kw("event.category"),
    _kw("event.type"),
    _kw("cloud.account.id"),
    _kw("cloud.region"),
    _kw("user.id"),
    _kw("user.name"),
    FieldSpec("user.name.text", "match_only_text"),
    _kw("user.target.name"),
    FieldSpec("user.target.name.text", "match_only_text"),
    _kw("user.target.id"),
    _kw("user.changes.name"),
    FieldSpec("user.changes.name.text", "match_only_text"),
    _kw("group.id"),
    _kw("group.name"),
    _kw("related.user"),
    _kw("source.address"),
    FieldSpec("source.ip", "ip"),
    _kw("user_agent.original"),
    FieldSpec("user_agent.original.text", "match_only_text"),
    _kw("tls.client.server_name"),
    _kw("tls.cipher"),
    _kw("tls.version"),
    _kw("tls.version_protocol"),
    # fields.yml (aws.cloudtrail.*)
    _kw("aws.cloudtrail.event_version"),
    _kw("aws.cloudtrail.event_category"),
    _kw("aws.cloudtrail.user_identity.type"),
    _kw("aws.cloudtrail.user_identity.arn"),
    _kw("aws.cloudtrail.user_identity.access_key_id"),
    _kw("aws.cloudtrail.user_identity.session_context.mfa_authenticated"),
    FieldSpec("aws.cloudtrail.user_identity.session_context.creation_date", "date"),
    _kw("aws.cloudtrail.user_identity.session_context.session_issuer.type"),
    _kw("aws.cloudtrail.user_identity.session_context.session_issuer.principal_id"),
    _kw("aws.cloudtrail.user_identity.session_context.session_issuer.arn"),
    _kw("aws.cloudtrail.user_identity.session_context.session_issuer.account_id"),
    _kw("aws.cloudtrail.user_identity.invoked_by"),
    _kw("aws.cloudtrail.error_code"),
    _kw("aws.cloudtrail.error_message"),
    _kw("aws.cloudtrail.request_parameters", 8191),
    FieldSpec("aws.cloudtrail.request_parameters.text", "match_only_text"),
    _kw("aws.cloudtrail.response_elements", 8191),
    FieldSpec("aws.cloudtrail.response_elements.text", "match_only_text"),
    _kw("aws.cloudtrail.additional_eventdata"),
    FieldSpec("aws.cloudtrail.additional_eventdata.text", "match_only_text"),
    _kw("aws.cloudtrail.service_event_details"),
    FieldSpec("aws.cloudtrail.service_event_details.text", "match_only_text"),
    _kw("aws.cloudtrail.request_id"),
    _kw("aws.cloudtrail.event_type"),
    _kw("aws.cloudtrail.api_version"),
    _kw("aws.cloudtrail.management_event"),
    FieldSpec("aws.cloudtrail.read_only", "boolean"),
    _kw("aws.cloudtrail.resources.arn"),
    _kw("aws.cloudtrail.resources.account_id"),
    _kw("aws.cloudtrail.resources.type"),
    _kw("aws.cloudtrail.recipient_account_id"),
    _kw("aws.cloudtrail.shared_event_id"),
    _kw("aws.cloudtrail.vpc_endpoint_id"),
    FieldSpec("aws.cloudtrail.console_login.additional_eventdata.mobile_version", "boolean"),
    _kw("aws.cloudtrail.console_login.additional_eventdata.login_to"),
    FieldSpec("aws.cloudtrail.console_login.additional_eventdata.mfa_used", "boolean"),
)

#: ``flattened`` fields: every key below them is a ``flattened_key`` field.
FLATTENED_ROOTS = (
    "aws.cloudtrail.flattened.request_parameters",
    "aws.cloudtrail.flattened.response_elements",
    "aws.cloudtrail.flattened.additional_eventdata",
    "aws.cloudtrail.flattened.service_event_details",
)
for _root in FLATTENED_ROOTS:
    _add(FieldSpec(_root, "flattened"))

#: Fields (and objects) the integration fills that ``to_ecs`` leaves out.
NOT_EMULATED_PREFIXES = (
    "user_agent.name",
    "user_agent.version",
    "user_agent.os",
    "user_agent.device",
    "source.geo",
    "source.as",
    "event.created",
    "event.ingested",
    "event.original",
    "error.message",
    "tags",
    "input.type",
    "file",
    "related.hash",
    "related.entity",
    "entity",
    "actor",
    "target",
    "user.entity",
    "user.target.entity",
    "service",
    "host",
    "aws.cloudtrail.digest",
    "aws.cloudtrail.insight_details",
    "aws.cloudtrail.flattened.digest",
    "aws.cloudtrail.flattened.insight_details",
    "aws.cloudtrail.session_credential_from_console",
    "aws.cloudtrail.user_identity.session_context.ec2_role_delivery",
    "aws.s3",
    "cloud.provider",
    "cloud.service",
    "agent",
)


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def resolve_field(name: str, extra: dict[str, FieldSpec] | None = None) -> FieldSpec:
    """The mapping of a (dotted) field name; ``FieldResolutionError`` if it has none here."""
    if extra and name in extra:
        return extra[name]
    spec = _FIELDS.get(name)
    if spec is not None:
        return spec
    for root in FLATTENED_ROOTS:
        if name.startswith(root + "."):
            return FieldSpec(name, "flattened_key", None, root, name[len(root) + 1 :])
    for prefix in NOT_EMULATED_PREFIXES:
        if _under(name, prefix):
            raise NotEmulatedFieldError(
                f"field {name!r} is set by the integration's pipeline in Elasticsearch but not "
                "by this emulation (see ses_sigma.verify.ecs)"
            )
    raise UnknownFieldError(
        f"field {name!r} is not mapped in the aws.cloudtrail data stream (Elasticsearch would "
        "match nothing)"
    )


def object_fields(name: str, extra: dict[str, FieldSpec] | None = None) -> list[FieldSpec]:
    """Mapped leaf fields under an object path (for ``_exists_:object``).

    Raises ``NotEmulatedFieldError`` when the integration has fields under it that the emulation
    does not fill, since their presence could not be judged.
    """
    for prefix in NOT_EMULATED_PREFIXES:
        if _under(prefix, name) or _under(name, prefix):
            raise NotEmulatedFieldError(
                f"object {name!r} holds fields this emulation does not fill ({prefix!r})"
            )
    specs = [s for n, s in {**_FIELDS, **(extra or {})}.items() if n.startswith(name + ".")]
    return [s for s in specs if s.type != "match_only_text"]


def field_types() -> dict[str, FieldSpec]:
    """A copy of the emulated mapping (field name -> spec)."""
    return dict(_FIELDS)
