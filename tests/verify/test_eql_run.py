"""run_eql: Elasticsearch EQL over ECS documents with eql's PythonEngine.

Every place where the library differs from Elasticsearch is pinned twice: what plain
``eql.PythonEngine`` does, and what ``run_eql`` (= Elasticsearch) does. Sequence expectations
that are Elasticsearch's own come from its documentation
(docs/reference/eql/syntax.asciidoc, "How sequence queries handle matches", commit
000e09334c6ca44d02b9668c8b33a7c79c427dab) and its EQL QA spec
(x-pack/plugin/eql/qa/common/src/main/resources/test_queries.toml, commit
057ebd7d794df549449ed5ec7231780393f6588b; none of the cases used is in
test_queries_unsupported.toml).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import eql
import pytest
from sigma.backends.elasticsearch import EqlBackend
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import FieldMappingTransformation

from ses_sigma.pack import load_pack
from ses_sigma.verify.ecs import to_ecs
from ses_sigma.verify.eql_run import EqlRunError, UnsupportedEqlError, run_eql
from ses_sigma.verify.mapping import FieldSpec

T0 = datetime(2025, 3, 1, 10, 0, 0, tzinfo=UTC)


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _record(
    event_id: str, at: datetime, name: str = "CreateEmailIdentity", **overrides: Any
) -> dict[str, Any]:
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
        "eventTime": _iso(at),
        "eventSource": "ses.amazonaws.com",
        "eventName": name,
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": {"emailIdentity": "sender@example.com"},
        "requestID": f"req-{event_id}",
        "eventID": event_id,
        "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333",
    }
    record.update(overrides)
    return record


def _doc(
    event_id: str, at: datetime, name: str = "CreateEmailIdentity", **overrides: Any
) -> dict[str, Any]:
    return to_ecs(_record(event_id, at, name, **overrides))


def _ids(results: list[list[dict[str, Any]]]) -> list[list[str]]:
    return [[doc["event"]["id"] for doc in match] for match in results]


def _library(query: str, events: list[dict[str, Any]]) -> list[list[Any]]:
    """Plain eql.PythonEngine on hand-made events ({"event_type", "timestamp", ...})."""
    with eql.parser.elasticsearch_syntax, eql.parser.ignore_missing_functions:
        parsed = eql.parse_query(query)
    engine = eql.PythonEngine()
    out: list[Any] = []
    engine.add_output_hook(out.append)
    engine.add_query(parsed)
    engine.stream_events([eql.Event.from_data(e) for e in events])
    return [[e.data["id"] for e in result.events] for result in out]


CREATE = 'any where event.action : "CreateEmailIdentity"'
DELETE = 'any where event.action : "DeleteEmailIdentity"'
SEQUENCE = f"sequence by aws.cloudtrail.user_identity.arn with maxspan=1h [{CREATE}] [{DELETE}]"


# --- single events -------------------------------------------------------------------------------


def test_colon_is_case_insensitive_equality_with_wildcards() -> None:
    docs = [_doc("1", T0), _doc("2", T0, "DeleteIdentity")]
    assert _ids(run_eql('any where event.action : "createemailidentity"', docs)) == [["1"]]
    assert _ids(run_eql('any where event.action : "create*"', docs)) == [["1"]]
    assert _ids(run_eql('any where event.action : "DeleteIdentit?"', docs)) == [["2"]]
    assert _ids(run_eql('any where event.action : ("x", "deleteidentity")', docs)) == [["2"]]
    assert run_eql('any where event.action : "Create"', docs) == []


def test_double_equals_is_case_sensitive() -> None:
    docs = [_doc("1", T0)]
    assert run_eql('any where event.action == "createemailidentity"', docs) == []
    assert _ids(run_eql('any where event.action == "CreateEmailIdentity"', docs)) == [["1"]]
    assert _ids(run_eql('any where event.action != "createemailidentity"', docs)) == [["1"]]
    # the library compares strings case-insensitively
    events = [{"event_type": "x", "timestamp": 0, "id": 1, "action": "CreateEmailIdentity"}]
    assert _library('any where action == "createemailidentity"', events) == [[1]]


def test_in_is_case_sensitive_and_in_tilde_is_not() -> None:
    docs = [_doc("1", T0)]
    assert run_eql('any where event.action in ("createemailidentity", "x")', docs) == []
    assert _ids(run_eql('any where event.action in~ ("createemailidentity", "x")', docs)) == [["1"]]
    assert _ids(run_eql('any where event.action not in ("createemailidentity")', docs)) == [["1"]]
    events = [{"event_type": "x", "timestamp": 0, "id": 1, "action": "CreateEmailIdentity"}]
    assert _library('any where action in ("createemailidentity")', events) == [[1]]


def test_like_is_case_sensitive_and_supports_question_mark() -> None:
    docs = [_doc("1", T0)]
    assert run_eql('any where event.action like "create*"', docs) == []
    assert _ids(run_eql('any where event.action like "Create*"', docs)) == [["1"]]
    assert _ids(run_eql('any where event.action like~ "create*"', docs)) == [["1"]]
    assert _ids(run_eql('any where event.action like "CreateEmailIdentit?"', docs)) == [["1"]]
    # the library: like is insensitive and ? is a literal character
    events = [{"event_type": "x", "timestamp": 0, "id": 1, "action": "CreateEmailIdentity"}]
    assert _library('any where action like "create*"', events) == [[1]]
    assert _library('any where action like "CreateEmailIdentit?"', events) == []


def test_regex_is_lucene_and_matches_the_whole_value() -> None:
    docs = [_doc("1", T0)]
    assert run_eql('any where event.action regex "Create"', docs) == []
    assert _ids(run_eql('any where event.action regex "Create.*"', docs)) == [["1"]]
    assert run_eql('any where event.action regex "create.*"', docs) == []
    assert _ids(run_eql('any where event.action regex~ "create.*"', docs)) == [["1"]]
    # the library: re.match, i.e. a prefix match, and case-insensitive
    events = [{"event_type": "x", "timestamp": 0, "id": 1, "action": "CreateEmailIdentity"}]
    assert _library('any where action regex "create"', events) == [[1]]
    with pytest.raises(UnsupportedEqlError, match="anchors"):
        run_eql('any where event.action regex "^Create.*"', docs)


def test_nulls_never_match_and_not_null_is_null() -> None:
    docs = [_doc("1", T0), _doc("2", T0 + timedelta(seconds=1), errorCode="AccessDenied")]
    assert _ids(run_eql("any where ?aws.cloudtrail.error_code == null", docs)) == [["1"]]
    assert _ids(run_eql("any where aws.cloudtrail.error_code != null", docs)) == [["2"]]
    assert _ids(run_eql('any where aws.cloudtrail.error_code != "x"', docs)) == [["2"]]
    assert _ids(run_eql('any where not aws.cloudtrail.error_code : "x"', docs)) == [["2"]]


def test_cidr_match_and_null_source() -> None:
    docs = [_doc("1", T0), _doc("2", T0, sourceIPAddress="ses.amazonaws.com")]
    assert _ids(run_eql('any where cidrMatch(source.ip, "203.0.113.0/24")', docs)) == [["1"]]
    assert run_eql('any where not cidrMatch(source.ip, "203.0.113.0/24")', docs) == []
    # the library: cidrMatch(null) is false, so "not" matches the event without an IP
    events = [{"event_type": "x", "timestamp": 0, "id": 1}]
    assert _library('any where not cidrMatch(ip, "10.0.0.0/8")', events) == [[1]]


def test_event_category_selects_iam_events() -> None:
    docs = [_doc("1", T0), _doc("2", T0, "CreateUser", eventSource="iam.amazonaws.com")]
    assert _ids(run_eql("iam where true", docs)) == [["2"]]
    assert _ids(run_eql("any where true", docs)) == [["1"], ["2"]]
    assert run_eql("file where true", docs) == []


def test_keyword_values_are_strings() -> None:
    docs = [_doc("1", T0, managementEvent=True)]
    assert _ids(run_eql('any where aws.cloudtrail.management_event == "true"', docs)) == [["1"]]
    assert _ids(
        run_eql("any where aws.cloudtrail.read_only == false", [_doc("2", T0, readOnly=False)])
    ) == [["2"]]
    with pytest.raises(UnsupportedEqlError, match="non-string"):
        run_eql("any where aws.cloudtrail.management_event == true", docs)


# --- sequences -----------------------------------------------------------------------------------


def test_sequence_by_with_maxspan() -> None:
    docs = [_doc("c1", T0), _doc("d1", T0 + timedelta(minutes=30), "DeleteEmailIdentity")]
    assert _ids(run_eql(SEQUENCE, docs)) == [["c1", "d1"]]


def test_sequence_order_matters() -> None:
    docs = [_doc("d1", T0, "DeleteEmailIdentity"), _doc("c1", T0 + timedelta(minutes=1))]
    assert run_eql(SEQUENCE, docs) == []


def test_documents_are_sorted_by_timestamp_first() -> None:
    docs = [_doc("d1", T0 + timedelta(minutes=5), "DeleteEmailIdentity"), _doc("c1", T0)]
    assert _ids(run_eql(SEQUENCE, docs)) == [["c1", "d1"]]


def test_maxspan_edge_is_inclusive() -> None:
    exactly = [_doc("c1", T0), _doc("d1", T0 + timedelta(hours=1), "DeleteEmailIdentity")]
    assert _ids(run_eql(SEQUENCE, exactly)) == [["c1", "d1"]]
    over = [
        _doc("c1", T0),
        _doc("d1", T0 + timedelta(hours=1, milliseconds=1), "DeleteEmailIdentity"),
    ]
    assert run_eql(SEQUENCE, over) == []


def test_sequence_straddling_an_hour_boundary() -> None:
    start = datetime(2025, 3, 1, 10, 59, 30, tzinfo=UTC)
    docs = [_doc("c1", start), _doc("d1", start + timedelta(seconds=50), "DeleteEmailIdentity")]
    # a sliding window: 10:59:30 and 11:00:20 are 50 s apart, not in different hourly buckets
    assert _ids(run_eql(SEQUENCE.replace("1h", "1m"), docs)) == [["c1", "d1"]]


def test_maxspan_in_milliseconds_is_exact() -> None:
    docs = [_doc("c1", T0), _doc("d1", T0 + timedelta(milliseconds=1200), "DeleteEmailIdentity")]
    query = SEQUENCE.replace("1h", "1500ms")
    assert _ids(run_eql(query, docs)) == [["c1", "d1"]]
    # the library truncates the span to whole seconds (1500ms -> 1s with a 1000-tick unit)
    events = [
        {"event_type": "x", "timestamp": 0, "id": "c1", "a": "C"},
        {"event_type": "x", "timestamp": 1200, "id": "d1", "a": "D"},
    ]
    lib = eql.PythonEngine({"time_unit": 1000})
    with eql.parser.elasticsearch_syntax:
        lib.add_query(
            eql.parse_query(
                'sequence with maxspan=1500ms [any where a == "C"] [any where a == "D"]'
            )
        )
    out: list[Any] = []
    lib.add_output_hook(out.append)
    lib.stream_events([eql.Event.from_data(e) for e in events])
    assert out == []


def test_join_keys_are_case_sensitive() -> None:
    other_case = {
        "type": "IAMUser",
        "arn": "arn:aws:iam::111122223333:user/ALICE",
        "accountId": "111122223333",
        "userName": "ALICE",
    }
    docs = [
        _doc("c1", T0),
        _doc("d1", T0 + timedelta(minutes=1), "DeleteEmailIdentity", userIdentity=other_case),
    ]
    assert run_eql(SEQUENCE, docs) == []
    events = [
        {"event_type": "x", "timestamp": 0, "id": "c1", "a": "C", "k": "alice"},
        {"event_type": "x", "timestamp": 1, "id": "d1", "a": "D", "k": "ALICE"},
    ]
    query = 'sequence by k [any where a == "C"] [any where a == "D"]'
    assert _library(query, events) == [["c1", "d1"]]  # the library folds case in join keys


def test_null_join_keys_take_part_only_when_optional() -> None:
    anonymous = {"type": "AWSService", "invokedBy": "ses.amazonaws.com"}
    docs = [
        _doc("c1", T0, userIdentity=anonymous),
        _doc("d1", T0 + timedelta(minutes=1), "DeleteEmailIdentity", userIdentity=anonymous),
    ]
    assert run_eql(SEQUENCE, docs) == []
    optional = SEQUENCE.replace("by aws.", "by ?aws.")
    assert _ids(run_eql(optional, docs)) == [["c1", "d1"]]
    events = [
        {"event_type": "x", "timestamp": 0, "id": "c1", "a": "C"},
        {"event_type": "x", "timestamp": 1, "id": "d1", "a": "D"},
    ]
    assert _library('sequence by k [any where a == "C"] [any where a == "D"]', events) == [
        ["c1", "d1"]
    ]


def test_latest_pending_sequence_wins() -> None:
    docs = [
        _doc("c1", T0),
        _doc("c2", T0 + timedelta(minutes=10)),
        _doc("d1", T0 + timedelta(minutes=20), "DeleteEmailIdentity"),
        _doc("d2", T0 + timedelta(minutes=30), "DeleteEmailIdentity"),
    ]
    assert _ids(run_eql(SEQUENCE, docs)) == [["c2", "d1"]]


def test_elasticsearch_documented_state_machine() -> None:
    names = [
        "attrib",
        "attrib",
        "bash",
        "bash",
        "bash",
        "attrib",
        "attrib",
        "bash",
        "cat",
        "cat",
        "cat",
    ]
    users = [
        "root",
        "root",
        "elkbee",
        "root",
        "root",
        "elkbee",
        "root",
        "elkbee",
        "root",
        "elkbee",
        "root",
    ]
    docs = [
        {
            "@timestamp": _iso(T0 + timedelta(seconds=i)),
            "event": {"id": str(i + 1), "category": "process"},
            "user": {"name": users[i]},
            "process": {"name": names[i]},
        }
        for i in range(11)
    ]
    query = (
        "sequence by user.name "
        '[process where process.name == "attrib"] '
        '[process where process.name == "bash"] '
        '[process where process.name == "cat"]'
    )
    extra = {"process.name": FieldSpec("process.name", "keyword", 1024)}
    assert _ids(run_eql(query, docs, extra_fields=extra)) == [["2", "4", "9"], ["6", "8", "10"]]


def _serial_docs(n: int) -> list[dict[str, Any]]:
    return [
        {
            "@timestamp": _iso(T0 + timedelta(seconds=i)),
            "event": {"id": str(i), "category": "process"},
            "serial_event_id": i,
        }
        for i in range(1, n + 1)
    ]


@pytest.mark.parametrize(
    ("name", "stages", "expected"),
    [
        ("sequenceManyOneMatch", ["serial_event_id < 5", "serial_event_id == 5"], [[4, 5]]),
        (
            "doubleSameSequence",
            ["serial_event_id < 5", "serial_event_id < 5"],
            [[1, 2], [2, 3], [3, 4]],
        ),
        (
            "sequenceConditionManyMany",
            ["serial_event_id <= 3", "true", "true"],
            [[1, 2, 3], [2, 3, 4], [3, 4, 5]],
        ),
        (
            "sequenceManyConditionMany",
            ["true", "serial_event_id <= 3", "true"],
            [[1, 2, 3], [2, 3, 4]],
        ),
        (
            "sequenceThreeManyCondition1",
            ["serial_event_id <= 4", "true", "true", "true"],
            [[1, 2, 3, 4], [2, 3, 4, 5], [3, 4, 5, 6], [4, 5, 6, 7]],
        ),
    ],
)
def test_elasticsearch_qa_sequences_with_repeated_stages(
    name: str, stages: list[str], expected: list[list[int]]
) -> None:
    query = "sequence " + " ".join(f"[process where {s}]" for s in stages)
    extra = {"serial_event_id": FieldSpec("serial_event_id", "long")}
    # serial_event_id follows time order in the QA data set, as here
    got = run_eql(query, _serial_docs(12), extra_fields=extra)
    assert [[d["serial_event_id"] for d in m] for m in got] == expected, name


# --- documents the runner refuses ----------------------------------------------------------------


def test_single_element_arrays_are_values_but_multi_valued_fields_are_refused() -> None:
    iam = _doc("2", T0, "CreateUser", eventSource="iam.amazonaws.com")  # event.category ["iam"]
    assert _ids(run_eql('any where event.category == "iam"', [iam])) == [["2"]]
    with pytest.raises(EqlRunError, match="multi-valued"):
        run_eql('any where event.type == "user"', [iam])  # ["user", "creation"]


def test_documents_need_a_timestamp() -> None:
    with pytest.raises(EqlRunError, match="@timestamp"):
        run_eql("any where true", [{"event": {"id": "1"}}])


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ('any where event.action : "x" | head 1', "pipes"),
        ("sequence [any where true] [any where true] until [any where true]", "until"),
        ('any where startsWith(event.action, "C")', "function startsWith"),
        ('any where stringContains~(event.action, "C")', "function stringContains"),
        (
            "sequence [any where true] by length(event.action) [any where true] by event.id",
            "function length",
        ),
        ("sequence [any where true] with runs=2 [any where true]", "syntax"),
        ("join [any where true] [any where true]", "Join"),
        ('any where eventName == "x"', "not mapped"),
        ('any where user_agent.name == "x"', "not by this emulation"),
        ('any where `@timestamp` == "x"', "date"),
        ('any where ?event.action == "x" and event.action == "y"', "with and without"),
        ('any where event.action : "é*"', "non-ASCII"),
        ('any where event.action regex "a@b"', "any-string"),
        ("any where", "syntax"),
    ],
)
def test_unsupported_queries_raise(query: str, reason: str) -> None:
    with pytest.raises(EqlRunError, match=reason):
        run_eql(query, [_doc("1", T0)])


def test_unmapped_optional_field_is_null() -> None:
    assert _ids(run_eql("any where ?no.such.field == null", [_doc("1", T0)])) == [["1"]]


# --- pySigma's EqlBackend output ------------------------------------------------------------------

_MAPPING = {
    "eventSource": "event.provider",
    "eventName": "event.action",
    "userIdentity.accessKeyId": "aws.cloudtrail.user_identity.access_key_id",
    "userIdentity.arn": "aws.cloudtrail.user_identity.arn",
    "userIdentity.type": "aws.cloudtrail.user_identity.type",
    "userIdentity.invokedBy": "aws.cloudtrail.user_identity.invoked_by",
    "errorCode": "aws.cloudtrail.error_code",
    "sourceIPAddress": "source.address",
    "requestParameters.serviceCode": "aws.cloudtrail.flattened.request_parameters.serviceCode",
}


def _eql_query(rule_name: str) -> str:
    pipeline = ProcessingPipeline(
        name="test field mapping",
        priority=20,
        items=[ProcessingItem(FieldMappingTransformation(_MAPPING))],
    )
    (rule,) = [r for r in load_pack().rules if r.name == rule_name]
    (query,) = EqlBackend(pipeline).convert_rule(rule)
    return query


def test_backend_output_runs() -> None:
    docs = [
        _doc("1", T0, "GetAccount"),
        _doc("2", T0 + timedelta(seconds=1), "GetAccount", errorCode="AccessDenied"),
        _doc("3", T0 + timedelta(seconds=2), "getaccount"),
        _doc(
            "4",
            T0 + timedelta(seconds=3),
            "GetAccount",
            userIdentity={"type": "AssumedRole", "accessKeyId": "ASIAEXAMPLE"},
        ),
    ]
    query = _eql_query("aws_ses_discovery_long_term_key")
    assert query.startswith("any where")
    # like~ and ':' are case-insensitive: "getaccount" matches, like Sigma's plain strings;
    # the refused call (an attempt) matches too
    assert _ids(run_eql(query, docs)) == [["1"], ["2"], ["3"]]


def test_backend_output_for_correlated_rules_has_no_event_category() -> None:
    # pySigma leaves "any where" off the base rules of a correlation; Elasticsearch's parser
    # (and eql's) reject such a query on its own.
    query = _eql_query("aws_ses_identity_created")
    assert not query.startswith("any where")
    with pytest.raises(EqlRunError, match="Missing event type"):
        run_eql(query, [_doc("1", T0)])
    assert _ids(run_eql("any where " + query, [_doc("1", T0)])) == [["1"]]
