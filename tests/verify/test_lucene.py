"""Lucene ``query_string`` on Apache Lucene (``ses_sigma.verify.lucene``): each construct
positive and negative as Elasticsearch answers it (keyword case sensitivity, escapes, no operator
precedence, purely negative groups, flattened keys, ``_exists_``, ``ignore_above``), the
Elasticsearch-only refusals, and pySigma's LuceneBackend output for the pack's rules."""

from __future__ import annotations

from typing import Any

import pytest
from luqum.thread import parse as luqum_parse
from luqum.tree import UnknownOperation
from sigma.backends.elasticsearch import LuceneBackend
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import FieldMappingTransformation

from ses_sigma.pack import load_pack
from ses_sigma.verify.ecs import to_ecs
from ses_sigma.verify.lucene import LuceneQueryError, compile_query

pytestmark = pytest.mark.usefixtures("lucene")


def matches(query: str, doc: dict[str, Any]) -> bool:
    return compile_query(query).matches(doc)


def _raw(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLE",
            "arn": "arn:aws:iam::111122223333:user/alice",
            "accountId": "111122223333",
            "accessKeyId": "AKIAEXAMPLE",
            "userName": "alice",
        },
        "eventTime": "2025-03-01T10:00:00Z",
        "eventSource": "ses.amazonaws.com",
        "eventName": "CreateEmailIdentity",
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15.0 Python/3.11.6 md/command#sesv2.create-email-identity",
        "requestParameters": {"emailIdentity": "sender@example.com", "maxItems": 5},
        "responseElements": {"identityType": "EMAIL_ADDRESS", "verifiedForSendingStatus": False},
        "requestID": "req-1",
        "eventID": "evt-1",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": "email.eu-west-1.amazonaws.com",
        },
    }
    record.update(overrides)
    return record


DOC = to_ecs(_raw())


def _yes(query: str, doc: dict[str, Any] = DOC) -> None:
    assert matches(query, doc), query


def _no(query: str, doc: dict[str, Any] = DOC) -> None:
    assert not matches(query, doc), query


# --- terms, phrases, case ------------------------------------------------------------------------


def test_term_is_exact_and_case_sensitive_on_keyword() -> None:
    _yes("event.action:CreateEmailIdentity")
    _no("event.action:createemailidentity")
    _no("event.action:CreateEmail")
    _yes('event.action:"CreateEmailIdentity"')
    _no('event.action:"createEmailIdentity"')


def test_phrase_on_keyword_is_one_term_and_keeps_wildcards_literal() -> None:
    doc = to_ecs(_raw(userAgent="my tool*"))
    _yes('user_agent.original:"my tool*"', doc)
    _no('user_agent.original:"my tool"', doc)
    _no('user_agent.original:"my*"', doc)


def test_escapes_are_removed_like_lucene() -> None:
    _yes(r"aws.cloudtrail.user_identity.arn:arn\:aws\:iam\:\:111122223333\:user\/alice")
    _no(r"aws.cloudtrail.user_identity.arn:arn\:aws\:iam\:\:111122223333\:user\/bob")
    doc = to_ecs(_raw(userAgent="a b*c"))
    _yes(r"user_agent.original:a\ b\*c", doc)  # escaped space and star are literal
    _no(r"user_agent.original:a\ bxc", doc)
    _yes(r"event.action:\u0043reateEmailIdentity")  # \uXXXX
    with pytest.raises(LuceneQueryError):
        compile_query("event.action:abc\\")


# --- wildcards, prefix, regex -----------------------------------------------------------------


def test_wildcards_are_case_sensitive_and_whole_value() -> None:
    _yes("event.action:Create*")
    _no("event.action:create*")
    _yes("event.action:*Email*")
    _no("event.action:*email*")
    _yes("event.action:CreateEmailIdentit?")
    _no("event.action:CreateEmailIdentit??")
    _yes("tls.client.server_name:email.*.amazonaws.com")
    _no("tls.client.server_name:email.*.amazonaws")


def test_escaped_wildcard_is_literal() -> None:
    doc = to_ecs(_raw(userAgent="tool*x"))
    _yes(r"user_agent.original:tool\*x", doc)
    _no(r"user_agent.original:tool\*", doc)
    _yes(r"user_agent.original:tool\**", doc)  # literal star, then wildcard


def test_regex_matches_the_whole_term() -> None:
    _yes("event.action:/Create.*/")
    _no("event.action:/Create/")  # no search: the whole term must match
    _yes(r"event.id:/evt\-[0-9]/")
    _no(r"event.id:/EVT\-[0-9]/")
    with pytest.raises(LuceneQueryError, match="Lucene 9"):
        compile_query(r"event.id:/evt\-\d/")  # Elasticsearch 8's Lucene 9 syntax
    _yes('event.action:/"CreateEmail"Identity/')  # "..." is a literal string in Lucene


# --- ranges --------------------------------------------------------------------------------------


def test_keyword_ranges_compare_code_points() -> None:
    _yes("event.action:[Create TO Delete]")
    _no("event.action:[create TO delete]")  # lowercase sorts after uppercase
    _yes("event.action:{Create TO *]")
    _no("event.action:{CreateEmailIdentity TO *]")  # exclusive bound
    _yes("event.action:[CreateEmailIdentity TO Z}")
    _yes("event.action:[* TO CreateEmailIdentity]")
    _no("event.action:[* TO CreateEmailIdentity}")
    for query in ("event.action:>Create", r"event.action:\>Z"):
        with pytest.raises(LuceneQueryError, match="range"):
            compile_query(query)  # Elasticsearch's range syntax, not classic Lucene


# --- exists --------------------------------------------------------------------------------------


def test_exists_forms() -> None:
    failed = to_ecs(_raw(errorCode="AccessDenied"))
    _yes("_exists_:aws.cloudtrail.error_code", failed)
    _no("_exists_:aws.cloudtrail.error_code")
    _yes("aws.cloudtrail.error_code:*", failed)
    _no("aws.cloudtrail.error_code:*")
    _yes("NOT _exists_:aws.cloudtrail.error_code")
    _no("NOT _exists_:aws.cloudtrail.error_code", failed)
    _yes("_exists_:tls.client")  # an object: any field below it
    _no("_exists_:tls.client", {"@timestamp": "2025-01-01T00:00:00Z"})
    # objects holding fields the emulation does not fill cannot be judged
    with pytest.raises(LuceneQueryError, match="does not fill"):
        compile_query("_exists_:aws.cloudtrail.user_identity")


def test_null_values_are_not_indexed() -> None:
    doc = to_ecs(_raw(errorCode=None, errorMessage=""))
    _no("_exists_:aws.cloudtrail.error_code", doc)
    _no("_exists_:aws.cloudtrail.error_message", doc)
    _yes("NOT _exists_:aws.cloudtrail.error_code", {"aws": {"cloudtrail": {"error_code": None}}})


def test_values_above_ignore_above_are_invisible() -> None:
    long_agent = "x" * 1025
    doc = to_ecs(_raw(userAgent=long_agent))
    _no("_exists_:user_agent.original", doc)
    _no(f"user_agent.original:{long_agent}", doc)
    _yes(f"user_agent.original:{'x' * 1024}", to_ecs(_raw(userAgent="x" * 1024)))


# --- boolean structure ---------------------------------------------------------------------------


def test_and_or_not_and_grouping() -> None:
    _yes("event.provider:ses.amazonaws.com AND event.action:CreateEmailIdentity")
    _no("event.provider:ses.amazonaws.com AND event.action:DeleteIdentity")
    _yes("event.action:DeleteIdentity OR event.action:CreateEmailIdentity")
    _no("event.action:DeleteIdentity OR event.action:GetAccount")
    _yes("NOT event.action:DeleteIdentity")
    _no("NOT event.action:CreateEmailIdentity")
    _yes("(event.action:DeleteIdentity OR event.action:CreateEmailIdentity) AND cloud.region:eu*")
    _no("(event.action:DeleteIdentity OR event.action:CreateEmailIdentity) AND cloud.region:us*")


def test_no_operator_precedence_as_in_lucene() -> None:
    # luqum reads a OR (b AND c); Lucene makes b and c required and a optional
    query = (
        "event.action:CreateEmailIdentity OR event.action:DeleteIdentity AND cloud.region:eu-west-1"
    )
    _no(query)
    _yes(
        "(event.action:CreateEmailIdentity OR event.action:DeleteIdentity)"
        " AND cloud.region:eu-west-1"
    )
    # a AND b OR c: a and b are required, c only scores
    _yes("event.action:CreateEmailIdentity AND cloud.region:eu-west-1 OR event.action:X")
    _no("event.action:X AND cloud.region:eu-west-1 OR event.action:CreateEmailIdentity")
    # NOT a OR b: a prohibited, b optional but the only positive clause
    _no("NOT event.action:X OR event.action:Y")
    _yes("NOT event.action:X OR event.action:CreateEmailIdentity")


def test_purely_negative_groups_match_everything_else() -> None:
    _yes("event.provider:ses.amazonaws.com AND (NOT event.action:X)")
    _no("event.provider:ses.amazonaws.com AND (NOT event.action:CreateEmailIdentity)")
    _yes("(NOT event.action:X AND NOT event.action:Y)")


def test_plus_minus_and_implicit_or() -> None:
    _yes("+event.action:CreateEmailIdentity -event.action:X")
    _no("+event.action:CreateEmailIdentity -cloud.region:eu-west-1")
    _yes("event.action:X event.action:CreateEmailIdentity")  # implicit: OR
    _no("event.action:X event.action:Y")
    _no("event.action:X +cloud.region:us-east-1")


def test_field_groups() -> None:
    _yes("event.action:(X OR CreateEmailIdentity)")
    _no("event.action:(X OR Y)")
    _yes("event.action:(Create* AND NOT CreateUser)")
    _no("event.action:(Create* AND NOT CreateEmailIdentity)")


def test_consecutive_bare_words_are_one_term() -> None:
    # Elasticsearch analyses "X Y" as one multi-word term here (split_on_whitespace is off)
    _no("event.action:(X Y)", {"event": {"action": "X"}})
    _yes("event.action:(X Y)", {"event": {"action": "X Y"}})


# --- field types ----------------------------------------------------------------------------------


def test_arrays_match_any_element() -> None:
    doc = to_ecs(_raw(eventSource="iam.amazonaws.com", eventName="CreateUser"))
    _yes("event.type:creation", doc)
    _yes("event.type:user AND event.type:creation", doc)
    _no("event.type:deletion", doc)
    _yes("related.user:alice", doc)


def test_flattened_keys() -> None:
    _yes(r"aws.cloudtrail.flattened.request_parameters.emailIdentity:sender@example.com")
    _no(r"aws.cloudtrail.flattened.request_parameters.emailIdentity:Sender@example.com")
    _yes("aws.cloudtrail.flattened.request_parameters.maxItems:5")  # numbers are strings
    _yes("aws.cloudtrail.flattened.response_elements.verifiedForSendingStatus:false")
    _yes("aws.cloudtrail.flattened.request_parameters.emailIdentity:sender*")  # prefix works
    _yes("aws.cloudtrail.flattened.request_parameters:5")  # the root field: any leaf
    _no("_exists_:aws.cloudtrail.flattened.request_parameters.domain")
    with pytest.raises(LuceneQueryError, match="flattened"):
        compile_query("aws.cloudtrail.flattened.request_parameters.emailIdentity:*example*")
    with pytest.raises(LuceneQueryError, match="flattened"):
        compile_query("aws.cloudtrail.flattened.request_parameters.emailIdentity:/s.*/")


def test_request_parameters_string_field() -> None:
    # the keyword copy is Java's {k=v} string: a wildcard over it works, case-sensitively
    _yes("aws.cloudtrail.request_parameters:*emailIdentity=sender@example.com*")
    _no("aws.cloudtrail.request_parameters:*emailidentity=sender@example.com*")


def test_boolean_field() -> None:
    _yes("aws.cloudtrail.read_only:false")
    _no("aws.cloudtrail.read_only:true")
    _yes("aws.cloudtrail.management_event:true")  # keyword holding the JSON boolean's text
    for query in ("aws.cloudtrail.read_only:False", "aws.cloudtrail.read_only:t*"):
        with pytest.raises(LuceneQueryError, match="true or false"):
            compile_query(query)


def test_ip_field() -> None:
    _yes(r"source.ip:203.0.113.0\/24")
    _no(r"source.ip:198.51.100.0\/24")
    _yes("source.ip:203.0.113.7")
    _yes(r"source.ip:\:\:ffff\:203.0.113.7")  # IPv4-mapped IPv6 is the same address
    _yes("source.ip:[203.0.113.0 TO 203.0.113.255]")
    _no("source.ip:{203.0.113.7 TO 203.0.113.255]")
    v6 = to_ecs(_raw(sourceIPAddress="2001:db8::5"))
    _yes(r"source.ip:2001\:db8\:\:\/32", v6)
    _no(r"source.ip:203.0.113.0\/24", v6)
    with pytest.raises(LuceneQueryError, match="only terms"):
        matches("source.ip:203.*.7", DOC)
    with pytest.raises(LuceneQueryError, match="not an IP"):
        matches("source.ip:trustedadvisor", DOC)
    odd = to_ecs(_raw(sourceIPAddress="075.050.255.67"))  # grok lets it in, ip rejects it
    _no("_exists_:source.ip", odd)
    _yes("source.address:075.050.255.67", odd)


def test_date_fields_raise() -> None:
    with pytest.raises(LuceneQueryError, match="points"):
        compile_query("@timestamp:[2025-03-01 TO 2025-03-02]")


def test_text_multi_field_is_analysed() -> None:
    _yes("user_agent.original.text:python")  # token of "Python/3.11.6", lowercased
    _yes("user_agent.original.text:PYTHON")
    _no("user_agent.original:python")  # the keyword is not analysed
    _yes('user_agent.original.text:"aws cli"')
    _no('user_agent.original.text:"cli aws"')
    _yes("user_agent.original.text:3.11.6")  # digits joined by '.' stay one token
    _no("user_agent.original.text:11")
    dotted = to_ecs(_raw(userAgent="Boto3/1.34 botocore.client"))
    _yes("user_agent.original.text:botocore.client", dotted)  # letters joined by '.' too
    _no("user_agent.original.text:botocore", dotted)
    _yes("user_agent.original.text:boto3", dotted)
    _yes("user_agent.original.text:PYTH*")  # normalised by the analyser, as in Elasticsearch
    _yes("user_agent.original.text:p?thon")


def test_nested_and_dotted_documents_are_the_same() -> None:
    nested = {
        "event": {"action": "A"},
        "aws": {"cloudtrail": {"flattened": {"request_parameters": {"k": "v"}}}},
    }
    dotted = {"event.action": "A", "aws.cloudtrail.flattened.request_parameters": {"k": "v"}}
    for doc in (nested, dotted):
        _yes("event.action:A AND aws.cloudtrail.flattened.request_parameters.k:v", doc)
        _no("event.action:B", doc)
    both = {"event.action": "A", "event": {"action": "B"}}  # Elasticsearch indexes both
    _yes("event.action:A AND event.action:B", both)


# --- refusals ------------------------------------------------------------------------------------


# --- pySigma's LuceneBackend output ---------------------------------------------------------------

# A trivial field mapping for the pack's fields (the real Elastic pipeline lives in
# ses_sigma.pipelines): enough to convert the rules into names the data stream maps.
_MAPPING = {
    "eventSource": "event.provider",
    "eventName": "event.action",
    "userIdentity.accessKeyId": "aws.cloudtrail.user_identity.access_key_id",
    "userIdentity.arn": "aws.cloudtrail.user_identity.arn",
    "userIdentity.type": "aws.cloudtrail.user_identity.type",
    "userIdentity.invokedBy": "aws.cloudtrail.user_identity.invoked_by",
    "errorCode": "aws.cloudtrail.error_code",
    "sourceIPAddress": "source.address",
    **{
        f"requestParameters.{key}": f"aws.cloudtrail.flattened.request_parameters.{key}"
        for key in (
            "serviceCode",
            "productionAccessEnabled",
            "enabled",
            "sendingEnabled",
            "userName",
            "forwardingEnabled",
            "emailForwardingEnabled",
        )
    },
}


def _lucene_queries() -> dict[str, str]:
    pipeline = ProcessingPipeline(
        name="test field mapping",
        priority=20,
        items=[ProcessingItem(FieldMappingTransformation(_MAPPING))],
    )
    backend = LuceneBackend(pipeline)
    out = {}
    for rule in load_pack().rules:
        (query,) = backend.convert_rule(rule)
        out[rule.name] = query
    return out


def _implicit_operations(query: str) -> int:
    tree = luqum_parse(query)
    stack, count = [tree], 0
    while stack:
        node = stack.pop()
        count += isinstance(node, UnknownOperation)
        stack.extend(node.children)
    return count


def test_backend_output_parses_and_uses_explicit_operators() -> None:
    queries = _lucene_queries()
    assert len(queries) == 12  # the single-event rules
    for name, query in queries.items():
        compile_query(query)
        assert _implicit_operations(query) == 0, name


@pytest.mark.parametrize(
    ("rule", "raw", "expected"),
    [
        ("aws_ses_identity_created", {}, True),
        ("aws_ses_identity_created", {"errorCode": "AccessDenied"}, False),
        ("aws_ses_identity_created", {"eventName": "DeleteIdentity"}, False),
        ("aws_ses_identity_modification_attempt", {"errorCode": "AccessDenied"}, True),
        ("aws_ses_identity_deleted", {"eventName": "DeleteEmailIdentity"}, True),
        (
            "aws_ses_identity_deleted",
            {"eventName": "DeleteEmailIdentity", "errorMessage": "x"},
            True,
        ),
        ("aws_ses_discovery_long_term_key", {"eventName": "GetAccount"}, True),
        (
            "aws_ses_discovery_long_term_key",
            {"eventName": "GetAccount", "userIdentity": {"accessKeyId": "ASIAEXAMPLE"}},
            False,
        ),
        ("aws_ses_enumeration_new_principal", {"eventName": "GetSendQuota"}, True),
        (
            "aws_ses_enumeration_new_principal",
            {"eventName": "GetSendQuota", "sourceIPAddress": "trustedadvisor.amazonaws.com"},
            False,
        ),
        (
            "aws_ses_enumeration_new_principal",
            {
                "eventSource": "servicequotas.amazonaws.com",
                "eventName": "ListServiceQuotas",
                "requestParameters": {"serviceCode": "ses"},
            },
            True,
        ),
        (
            "aws_ses_enumeration_new_principal",
            {
                "eventSource": "servicequotas.amazonaws.com",
                "eventName": "ListServiceQuotas",
                "requestParameters": {"serviceCode": "ec2"},
            },
            False,
        ),
        # Elasticsearch's keywords are case-sensitive where Sigma is not: the backend's
        # output misses this case variant (the compiler must deal with it).
        ("aws_ses_identity_created", {"eventSource": "SES.amazonaws.com"}, False),
    ],
)
def test_backend_output_evaluates(rule: str, raw: dict[str, Any], expected: bool) -> None:
    record = _raw()
    for key, value in raw.items():
        if key == "userIdentity":
            record["userIdentity"] = {**record["userIdentity"], **value}
        else:
            record[key] = value
    assert compile_query(_lucene_queries()[rule]).matches(to_ecs(record)) is expected
