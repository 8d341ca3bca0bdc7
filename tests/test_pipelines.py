"""The CloudTrail pipelines for Splunk and Elastic, and their installation as pySigma plugins."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import eql
import pytest
from eql.parser import elasticsearch_syntax
from luqum.parser import parser as lucene_parser
from luqum.tree import SearchField
from sigma.backends.elasticsearch import EqlBackend, ESQLBackend, LuceneBackend
from sigma.backends.splunk import SplunkBackend
from sigma.collection import SigmaCollection
from sigma.conversion.base import Backend
from sigma.exceptions import SigmaPipelineNotAllowedForBackendError, SigmaTransformationError
from sigma.plugins import InstalledSigmaPlugins
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaDetection, SigmaRule

from ses_sigma.match.derived import derived_fields
from ses_sigma.pack import load_pack, rule_key
from ses_sigma.pipelines import (
    ELASTIC_PIPELINE_NAME,
    PIPELINES,
    SPLUNK_PIPELINE_NAME,
    UnmappedFieldError,
    elastic_field,
    schema,
    ses_cloudtrail_elastic_pipeline,
    ses_cloudtrail_splunk_pipeline,
    splunk_field,
)

SRC = Path(__file__).resolve().parents[1] / "src"
SIGMA_CLI = Path(sys.executable).parent / "sigma"

TARGETS: dict[str, tuple[type[Backend], Callable[[], ProcessingPipeline]]] = {
    "splunk": (SplunkBackend, ses_cloudtrail_splunk_pipeline),
    "lucene": (LuceneBackend, ses_cloudtrail_elastic_pipeline),
    "eql": (EqlBackend, ses_cloudtrail_elastic_pipeline),
    "esql": (ESQLBackend, ses_cloudtrail_elastic_pipeline),
}
ELASTIC_TARGETS = ("lucene", "eql", "esql")


def rule_yaml(detection: str, extra: str = "", name: str = "t_rule") -> str:
    """A CloudTrail rule with the given (indented) detection block."""
    return (
        f"title: Test rule\nname: {name}\n"
        "logsource:\n  product: aws\n  service: cloudtrail\n"
        f"detection:\n{detection}{extra}"
    )


def convert(target: str, text: str, **pipeline_args: object) -> str:
    """Convert a one-rule YAML with a fresh backend (pySigma mutates rules it converts)."""
    backend_class, factory = TARGETS[target]
    pipeline = factory(**pipeline_args)  # type: ignore[call-arg]
    [query] = backend_class(pipeline).convert(SigmaCollection.from_yaml(text))
    return query


# --- field names in converted queries ----------------------------------------------------


def _walk_lucene(node) -> Iterator[object]:
    yield node
    for child in node.children:
        yield from _walk_lucene(child)


def lucene_fields(query: str) -> set[str]:
    fields = set()
    for node in _walk_lucene(lucene_parser.parse(query)):
        if isinstance(node, SearchField):
            fields.add(str(node.expr) if node.name == "_exists_" else node.name)
    return fields


def eql_fields(query: str) -> set[str]:
    with elasticsearch_syntax:
        ast = eql.parse_query(query)
    return {
        ".".join([node.base, *map(str, node.path)])
        for node in ast
        if isinstance(node, eql.ast.Field)
    }


_SPL_FIELD = re.compile(r'(?:^|[\s(])(?:"([^"=]+)"|([A-Za-z_@][\w.{}@]*))(?:=|!=|\s+IN\s+\()')
_ESQL_FIELD = re.compile(
    r"(?:\b|^)([A-Za-z_@][\w.@]*)\s*(?:==|!=|<=|>=|<|>|\bis\s+(?:not\s+)?null|\bin\s*\(|\blike\b)"
    r"|\b(?:starts_with|ends_with|cidr_match|to_lower)\(\s*([A-Za-z_@][\w.@]*)"
)


def splunk_fields(query: str) -> set[str]:
    search, _, table = query.partition("| table ")
    fields = {a or b for a, b in _SPL_FIELD.findall(search)}
    fields.update(f for f in table.split(",") if f)
    return fields


def esql_fields(query: str) -> set[str]:
    _, _, where = query.partition("| where ")
    where = re.sub(r'"(?:[^"\\]|\\.)*"', '""', where)  # no field names inside string literals
    return {a or b for a, b in _ESQL_FIELD.findall(where)} - {"not", "and", "or"}


FIELD_EXTRACTORS = {
    "splunk": splunk_fields,
    "lucene": lucene_fields,
    "eql": eql_fields,
    "esql": esql_fields,
}


def _detection_fields(detection: SigmaDetection) -> Iterator[str]:
    for item in detection.detection_items:
        if isinstance(item, SigmaDetection):
            yield from _detection_fields(item)
        elif item.field is not None:
            yield item.field


def pack_fields() -> set[str]:
    """Every field the pack's rules name: detections, fields lists, correlation group-by (a
    derived field through the fields it is computed from)."""
    fields: set[str] = set()
    for rule in load_pack():
        fields.update(rule.fields)
        if isinstance(rule, SigmaRule):
            for detection in rule.detection.detections.values():
                fields.update(_detection_fields(detection))
        else:
            derived = derived_fields(rule)
            for name in rule.group_by or []:
                fields.update(derived[name].sources if name in derived else [name])
    return fields


# --- the field table -----------------------------------------------------------------------

# Every row of shared/reference/field-mappings.md (binding): raw -> Elastic.
REFERENCE_ROWS = {
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
    "userIdentity.sessionContext.sessionIssuer.type": (
        "aws.cloudtrail.user_identity.session_context.session_issuer.type"
    ),
    "userIdentity.sessionContext.sessionIssuer.principalId": (
        "aws.cloudtrail.user_identity.session_context.session_issuer.principal_id"
    ),
    "userIdentity.sessionContext.sessionIssuer.arn": (
        "aws.cloudtrail.user_identity.session_context.session_issuer.arn"
    ),
    "userIdentity.sessionContext.sessionIssuer.accountId": (
        "aws.cloudtrail.user_identity.session_context.session_issuer.account_id"
    ),
    "userIdentity.sessionContext.attributes.mfaAuthenticated": (
        "aws.cloudtrail.user_identity.session_context.mfa_authenticated"
    ),
    "userIdentity.invokedBy": "aws.cloudtrail.user_identity.invoked_by",
    "sourceIPAddress": "source.address",
    "userAgent": "user_agent.original",
    "errorCode": "aws.cloudtrail.error_code",
    "errorMessage": "aws.cloudtrail.error_message",
    # the reference's "also user.target.name": a keyword field EQL and ES|QL can read
    "requestParameters.userName": "user.target.name",
    "requestParameters.policyArn": "aws.cloudtrail.flattened.request_parameters.policyArn",
    "responseElements.credentials.accessKeyId": (
        "aws.cloudtrail.flattened.response_elements.credentials.accessKeyId"
    ),
    "additionalEventData.MFAUsed": "aws.cloudtrail.flattened.additional_eventdata.MFAUsed",
    "resources.ARN": "aws.cloudtrail.resources.arn",
    "resources.accountId": "aws.cloudtrail.resources.account_id",
    "resources.type": "aws.cloudtrail.resources.type",
    "tlsDetails.clientProvidedHostHeader": "tls.client.server_name",
}


@pytest.mark.parametrize(("raw", "ecs"), sorted(REFERENCE_ROWS.items()))
def test_reference_table_row_maps(raw: str, ecs: str) -> None:
    assert elastic_field(raw) == ecs
    expected_splunk = raw.replace("resources.", "resources{}.")
    assert splunk_field(raw) == expected_splunk


def test_schema_covers_exactly_the_reference_rows() -> None:
    generic = {
        r
        for r, ecs in REFERENCE_ROWS.items()
        if schema._generic_rest(r) is not None and ecs.startswith("aws.cloudtrail.flattened.")
    }
    assert set(schema.known_fields()) == set(REFERENCE_ROWS) - generic


def test_splunk_array_paths() -> None:
    assert splunk_field("requestParameters.identities") == "requestParameters.identities{}"
    assert splunk_field("requestParameters.identity") == "requestParameters.identity"
    assert splunk_field("resources.ARN", array_paths=()) == "resources.ARN"


@pytest.mark.parametrize(
    "field",
    [
        "requestParameters",
        "requestParameters.",
        "requestParameters..key",
        "eventname",
        "userIdentity",
        "userIdentity.sessionContext.attributes.creationDate",
        "sharedEventID",
    ],
)
def test_unknown_field_has_no_mapping(field: str) -> None:
    for mapper in (elastic_field, splunk_field):
        with pytest.raises(UnmappedFieldError) as info:
            mapper(field)
        assert repr(field) in str(info.value)


def test_every_pack_field_maps_on_both_pipelines() -> None:
    fields = pack_fields()
    assert {"eventSource", "errorCode", "userIdentity.arn", "requestParameters.serviceCode"} <= (
        fields
    )
    for field in sorted(fields):
        assert schema.is_known_field(field), field
        assert elastic_field(field) != field
        assert splunk_field(field)


# --- converting the pack -------------------------------------------------------------------


def _single_event_rule_files() -> list[tuple[str, Path]]:
    pack = load_pack()
    return sorted((rule_key(r), pack.file_of(r)) for r in pack.rules)  # type: ignore[misc]


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_pack_rules_convert_over_mapped_names_only(target: str) -> None:
    backend_class, factory = TARGETS[target]
    if target == "splunk":
        allowed = {splunk_field(f) for f in pack_fields()} | {"sourcetype"}
    else:
        allowed = {elastic_field(f) for f in pack_fields()} | {"data_stream.dataset"}
    raw_names = set(schema.known_fields()) | {"requestParameters.", "responseElements."}
    for name, path in _single_event_rule_files():
        # Each rule on its own: a rule a correlation refers to is converted as a bare query.
        collection = load_pack([path]).collection
        [query] = backend_class(factory()).convert(collection)
        used = FIELD_EXTRACTORS[target](query)
        assert used, (name, query)
        assert used <= allowed, (name, used - allowed, query)
        if target != "splunk":
            assert not any(raw in query for raw in raw_names if "." in raw or raw[0].islower()), (
                name,
                query,
            )


def test_success_condition_splunk_exact() -> None:
    path = dict(_single_event_rule_files())["aws_ses_identity_deleted"]
    [query] = SplunkBackend(ses_cloudtrail_splunk_pipeline()).convert(load_pack([path]).collection)
    assert query == (
        'sourcetype="aws:cloudtrail" eventSource="ses.amazonaws.com" eventName IN '
        '("DeleteIdentity", "DeleteEmailIdentity", "DeleteVerifiedEmailAddress") '
        '(NOT errorCode=* OR errorCode="success") | table userIdentity.arn,'
        "userIdentity.accessKeyId,sourceIPAddress,userAgent,requestParameters.identity,"
        "requestParameters.emailIdentity,requestParameters.emailAddress"
    )


def test_success_condition_lucene_exact() -> None:
    path = dict(_single_event_rule_files())["aws_ses_identity_deleted"]
    [query] = LuceneBackend(ses_cloudtrail_elastic_pipeline()).convert(load_pack([path]).collection)
    assert query == (
        "data_stream.dataset:aws.cloudtrail AND (event.provider:ses.amazonaws.com AND "
        "(event.action:(DeleteIdentity OR DeleteEmailIdentity OR DeleteVerifiedEmailAddress)) "
        "AND (NOT _exists_:aws.cloudtrail.error_code))"
    )


SUCCESS_ONLY = rule_yaml("  sel:\n    eventName: X\n    errorCode: null\n  condition: sel\n")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("splunk", '(NOT errorCode=* OR errorCode="success")'),
        ("lucene", "(NOT _exists_:aws.cloudtrail.error_code)"),
        ("eql", "?aws.cloudtrail.error_code == null"),
        ("esql", "aws.cloudtrail.error_code is null"),
    ],
)
def test_success_condition_every_target(target: str, expected: str) -> None:
    query = convert(target, SUCCESS_ONLY)
    assert query.count(expected) == 1, query
    assert "event.outcome" not in query


def run_eql(query: str, docs: list[dict]) -> list[int]:
    """Indexes of the documents the EQL query matches (Elastic's own EQL engine, in Python)."""
    with elasticsearch_syntax:
        parsed = eql.parse_query(query)
    hits: list[dict] = []
    engine = eql.PythonEngine()
    engine.add_query(parsed)
    engine.add_output_hook(lambda result: hits.extend(e.data for e in result.events))
    engine.stream_events([eql.Event("any", i, dict(d, _i=i)) for i, d in enumerate(docs)])
    return sorted(h["_i"] for h in hits)


def ct(**extra: object) -> dict:
    """An ECS CloudTrail document (Elastic AWS integration) with some fields."""
    doc: dict = {"data_stream": {"dataset": "aws.cloudtrail"}, "event": {"action": "X"}}
    doc.update(extra)
    return doc


def test_success_condition_semantics_eql() -> None:
    docs = [
        ct(),  # success: no error_code (the ingest pipeline drops nulls)
        ct(aws={"cloudtrail": {"error_code": "AccessDenied"}}),
        ct(aws={"cloudtrail": {"error_message": "throttled"}}),  # event.outcome would say failure
        {"data_stream": {"dataset": "aws.guardduty"}, "event": {"action": "X"}},
    ]
    assert run_eql(convert("eql", SUCCESS_ONLY), docs) == [0, 2]


@pytest.mark.parametrize(
    ("detection", "expected", "absent"),
    [
        ("errorCode|exists: true", 'errorCode=* NOT errorCode="success"', None),
        ("errorCode: '*'", 'errorCode="*" NOT errorCode="success"', None),
        ("errorCode|re: 'cce'", 'NOT errorCode="success"', None),
        ("errorCode: AccessDenied", 'errorCode="AccessDenied"', "success"),
        ("errorCode|startswith: Acc", 'errorCode="Acc*"', "success"),
    ],
)
def test_splunk_error_code_values(detection: str, expected: str, absent: str | None) -> None:
    query = convert("splunk", rule_yaml(f"  sel:\n    {detection}\n  condition: sel\n"))
    assert expected in query
    assert absent is None or absent not in query


def test_splunk_negated_success() -> None:
    text = rule_yaml(
        "  sel:\n    eventName: X\n  ok:\n    errorCode: null\n  condition: sel and not ok\n"
    )
    assert convert("splunk", text).endswith('NOT (NOT errorCode=* OR errorCode="success")')


def test_splunk_neq_on_error_code_is_refused() -> None:
    text = rule_yaml("  sel:\n    errorCode|neq: null\n  condition: sel\n")
    with pytest.raises(SigmaTransformationError, match=r"t_rule: .*negated match on errorCode"):
        convert("splunk", text)


def test_splunk_arrays_and_quoting() -> None:
    text = rule_yaml(
        "  sel:\n    resources.ARN|startswith: 'arn:aws:ses:'\n"
        "    requestParameters.identities: a@example.com\n    userIdentity.arn: x\n"
        "  condition: sel\n"
    )
    query = convert("splunk", text)
    assert '"resources{}.ARN"="arn:aws:ses:*"' in query
    assert '"requestParameters.identities{}"="a@example.com"' in query
    assert ' userIdentity.arn="x"' in query


def test_splunk_data_source_options() -> None:
    text = rule_yaml("  sel:\n    eventName: X\n  condition: sel\n")
    assert convert("splunk", text) == 'sourcetype="aws:cloudtrail" eventName="X"'
    assert (
        convert("splunk", text, index="aws")
        == 'index="aws" sourcetype="aws:cloudtrail" eventName="X"'
    )
    assert convert("splunk", text, macro="cloudtrail") == '`cloudtrail` eventName="X"'
    assert convert("splunk", text, index="aws", macro="cloudtrail") == (
        '`cloudtrail` index="aws" eventName="X"'
    )
    with pytest.raises(ValueError, match="macro"):
        ses_cloudtrail_splunk_pipeline(macro="x` | delete `")


def test_elastic_data_source_options() -> None:
    text = rule_yaml("  sel:\n    eventName: X\n  condition: sel\n")
    assert convert("lucene", text).startswith("data_stream.dataset:aws.cloudtrail AND ")
    assert convert("lucene", text, dataset_field="event.dataset").startswith(
        "event.dataset:aws.cloudtrail AND "
    )
    assert convert("esql", text).startswith("from logs-aws.cloudtrail-* ")
    assert convert("esql", text, index="filebeat-*").startswith("from filebeat-* ")
    with pytest.raises(ValueError, match="dataset_field"):
        ses_cloudtrail_elastic_pipeline(dataset_field="fileset.name")


def test_elastic_source_ip() -> None:
    cidr = rule_yaml("  sel:\n    sourceIPAddress|cidr: 10.0.0.0/8\n  condition: not sel\n")
    assert "NOT source.ip:10.0.0.0\\/8" in convert("lucene", cidr)
    name = rule_yaml("  sel:\n    sourceIPAddress|endswith: .amazonaws.com\n  condition: sel\n")
    assert "source.address:*.amazonaws.com" in convert("lucene", name)
    docs = [
        ct(source={"address": "10.1.2.3", "ip": "10.1.2.3"}),
        ct(source={"address": "192.0.2.1", "ip": "192.0.2.1"}),
        ct(source={"address": "ses.amazonaws.com"}),
    ]
    assert run_eql(convert("eql", cidr), docs) == [1, 2]


def test_elastic_user_name_semantics_eql() -> None:
    issuer = {"user_identity": {"session_context": {"session_issuer": {"arn": "arn:role/r"}}}}
    docs = [
        ct(user={"name": "bob"}),  # IAM user bob
        ct(user={"name": "bob"}, aws={"cloudtrail": issuer}),  # a session of role "bob"
        ct(aws={"cloudtrail": issuer}),  # a role session, user.name not indexed
        ct(),  # no user name at all (e.g. AWS service)
    ]

    def matches(detection: str) -> list[int]:
        return run_eql(
            convert("eql", rule_yaml(f"  sel:\n    {detection}\n  condition: sel\n")), docs
        )

    assert matches("userIdentity.userName: bob") == [0]
    assert matches("userIdentity.sessionContext.sessionIssuer.userName: bob") == [1]
    assert matches("userIdentity.userName: null") == [1, 2, 3]
    assert matches("userIdentity.sessionContext.sessionIssuer.userName: null") == [0, 3]
    assert matches("userIdentity.userName|exists: true") == [0]


def test_elastic_empty_string_is_refused() -> None:
    text = rule_yaml("  sel:\n    userAgent: ''\n  condition: sel\n")
    for target in ELASTIC_TARGETS:
        with pytest.raises(SigmaTransformationError, match=r"t_rule: .*userAgent: '' "):
            convert(target, text)
    assert convert("splunk", text) == 'sourcetype="aws:cloudtrail" userAgent=""'


# --- refusals --------------------------------------------------------------------------------

UNMAPPED = "userIdentity.sessionContext.attributes.creationDate"


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            rule_yaml(f"  sel:\n    eventName: X\n    {UNMAPPED}: x\n  condition: sel\n"),
            f"field '{UNMAPPED}' has no mapping",
        ),
        (
            rule_yaml("  sel:\n    eventName: X\n  condition: sel\n", "fields:\n  - bogusField\n"),
            "field 'bogusField' has no mapping",
        ),
        (
            rule_yaml("  sel:\n    awsRegion|fieldref: region\n  condition: sel\n"),
            "field 'region' has no mapping",
        ),
        (
            rule_yaml("  kw:\n    - GetAccount\n  condition: kw\n"),
            "keyword detection",
        ),
        (
            rule_yaml("  sel:\n    eventName: X\n  condition: sel\n").replace(
                "cloudtrail", "guardduty"
            ),
            "service=guardduty category=None, not product=aws service=cloudtrail",
        ),
    ],
)
def test_refusal_names_rule_and_reason(target: str, text: str, message: str) -> None:
    pipeline = "ses_cloudtrail_splunk" if target == "splunk" else "ses_cloudtrail_elastic"
    with pytest.raises(SigmaTransformationError) as info:
        convert(target, text)
    assert str(info.value).startswith(f"t_rule: cannot convert with pipeline {pipeline}: ")
    assert message in str(info.value)
    # With collected errors nothing is emitted and the backend keeps the error.
    backend_class, factory = TARGETS[target]
    backend = backend_class(factory(), collect_errors=True)
    assert backend.convert(SigmaCollection.from_yaml(text)) == []
    [(rule, error)] = backend.errors
    assert rule_key(rule) == "t_rule" and message in str(error)


def test_correlation_group_by_is_checked_and_mapped() -> None:
    base = rule_yaml("  sel:\n    eventName: X\n  condition: sel\n", name="base_rule")
    corr = (
        "title: c\nname: c_rule\ncorrelation:\n  type: event_count\n  rules: [base_rule]\n"
        "  group-by: [{group}]\n  timespan: 1h\n  condition: {{gte: 2}}\n"
    )
    ok = SigmaCollection.from_yaml(base + "\n---\n" + corr.format(group="userIdentity.arn"))
    ok.resolve_rule_references()
    rule = ok.rules[1]
    ses_cloudtrail_elastic_pipeline().apply(rule)
    assert rule.group_by == ["aws.cloudtrail.user_identity.arn"]
    bad = SigmaCollection.from_yaml(base + "\n---\n" + corr.format(group="principal"))
    bad.resolve_rule_references()
    for factory in (ses_cloudtrail_splunk_pipeline, ses_cloudtrail_elastic_pipeline):
        with pytest.raises(SigmaTransformationError, match=r"c_rule: .*'principal' has no mapping"):
            factory().apply(bad.rules[1])


def test_pack_correlation_in_the_backends() -> None:
    """How the backends treat the pack's temporal_ordered correlation (the lead converts it)."""
    for target in ("splunk", "esql"):
        backend_class, factory = TARGETS[target]
        with pytest.raises(NotImplementedError, match="temporal_ordered"):
            backend_class(factory()).convert(load_pack().collection)
    with pytest.raises(NotImplementedError, match="does not support correlation"):
        LuceneBackend(ses_cloudtrail_elastic_pipeline()).convert(load_pack().collection)
    queries = EqlBackend(ses_cloudtrail_elastic_pipeline()).convert(load_pack().collection)
    [sequence] = [q for q in queries if q.startswith("sequence")]
    # The stock backend knows nothing of derived fields (sesIdentity stays a name): the plugin
    # pipelines refuse correlations for stock backends (StockBackendRefusal).
    assert sequence.startswith(
        "sequence by aws.cloudtrail.user_identity.arn, sesIdentity with maxspan=1h"
    )


# --- plugins --------------------------------------------------------------------------------


def test_pipelines_are_discovered_as_plugins() -> None:
    plugins = InstalledSigmaPlugins.autodiscover(include_backends=False, include_validators=False)
    for name in (SPLUNK_PIPELINE_NAME, ELASTIC_PIPELINE_NAME):
        # The plugin's pipeline is the library's, behind a refusal of what stock backends
        # would convert into something else (correlations, first-seen rules).
        from_plugin, from_library = plugins.pipelines[name](), PIPELINES[name]()
        assert from_plugin.items[0].identifier == "ses_stock_backend_refusal"
        assert from_plugin.items[1:] == from_library.items
        assert (from_plugin.name, from_plugin.priority, from_plugin.allowed_backends) == (
            from_library.name,
            from_library.priority,
            from_library.allowed_backends,
        )
    import sigma.pipelines.ses_cloudtrail as plugin

    assert Path(plugin.__file__).is_relative_to(SRC / "sigma" / "pipelines")
    assert not (SRC / "sigma" / "__init__.py").exists()
    assert not (SRC / "sigma" / "pipelines" / "__init__.py").exists()
    resolver = plugins.get_pipeline_resolver()
    assert resolver.resolve([SPLUNK_PIPELINE_NAME], "splunk").name == (
        ses_cloudtrail_splunk_pipeline().name
    )
    with pytest.raises(SigmaPipelineNotAllowedForBackendError):
        resolver.resolve([SPLUNK_PIPELINE_NAME], "lucene")
    with pytest.raises(SigmaPipelineNotAllowedForBackendError):
        resolver.resolve([ELASTIC_PIPELINE_NAME], "splunk")


def _sigma(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HOME=str(home))
    env.pop("SES_SIGMA_ATTACK", None)
    return subprocess.run(
        [str(SIGMA_CLI), *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def _plain_rule_files() -> list[str]:
    """Single-event rules that are not first-seen rules: what stock backends can express."""
    pack = load_pack()
    return sorted(
        str(pack.file_of(r)) for r in pack.rules if "first_seen" not in r.custom_attributes
    )


def test_sigma_cli_lists_and_converts_with_the_plugins(tmp_path: Path) -> None:
    listed = _sigma(["list", "pipelines"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert SPLUNK_PIPELINE_NAME in listed.stdout and ELASTIC_PIPELINE_NAME in listed.stdout

    files = _plain_rule_files()
    spl = _sigma(["convert", "-t", "splunk", "-p", SPLUNK_PIPELINE_NAME, *files], tmp_path)
    assert spl.returncode == 0, spl.stderr
    assert spl.stdout.count('sourcetype="aws:cloudtrail"') == len(files)
    assert '(NOT errorCode=* OR errorCode="success")' in spl.stdout

    # siem_rule needs ATT&CK: the plugin points pySigma at the vendored copy, nothing is
    # downloaded or cached under HOME.
    lucene = _sigma(
        ["convert", "-t", "lucene", "-p", ELASTIC_PIPELINE_NAME, "-f", "siem_rule", *files],
        tmp_path,
    )
    assert lucene.returncode == 0, lucene.stderr
    assert lucene.stdout.count("data_stream.dataset:aws.cloudtrail AND") == len(files)
    assert '"id": "TA0007"' in lucene.stdout
    assert not (tmp_path / ".cache").exists()


@pytest.mark.parametrize(
    ("target", "pipeline"), [("splunk", SPLUNK_PIPELINE_NAME), ("lucene", ELASTIC_PIPELINE_NAME)]
)
def test_sigma_cli_on_the_rules_directory(target: str, pipeline: str, tmp_path: Path) -> None:
    """`sigma convert rules/`: the first-seen rule and the correlation are refused, by name.

    Without -s the run stops at the first of them; with -s the other rules convert and the two
    are listed as ignored (pySigma 1.5.1 needs ses_sigma.pipelines.compat for the correlation).
    """
    whole = _sigma(["convert", "-t", target, "-p", pipeline, "rules/"], tmp_path)
    assert whole.returncode != 0
    assert "aws_ses_enumeration_new_principal" in whole.stdout + whole.stderr

    skipping = _sigma(["convert", "-s", "-t", target, "-p", pipeline, "rules/"], tmp_path)
    assert skipping.returncode == 0, skipping.stderr
    marker = 'sourcetype="aws:cloudtrail"' if target == "splunk" else "aws.cloudtrail AND"
    assert skipping.stdout.count(marker) == len(_plain_rule_files())
    ignored = skipping.stdout + skipping.stderr
    ignored = ignored[ignored.index("Ignored errors:") :]
    assert "aws_ses_enumeration_new_principal: cannot convert" in ignored
    assert "first-seen rule" in ignored
    assert "aws_ses_identity_added_then_deleted" in ignored
