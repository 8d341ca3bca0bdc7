"""The matcher's fast paths give the reference answer on every record, hostile ones included.

* ``fields.field_getter`` and ``fields.scalar_getter`` (whenever it answers) agree with the
  generic walk (``fields.walk``);
* every compiled predicate (fast str paths, ``match.field_tests``) equals its reference
  predicate (``compile_condition(..., fast=False)``), for the pack's rules and for a set of
  detections covering every value type and modifier;
* the engine's dispatch plans (``match.dispatch``: rules chosen per eventSource/eventName, those
  two fields folded into the predicates) select exactly the rules whose reference predicate
  holds;
* ``single_alert_maker`` builds the alert ``make_alert`` builds.

Records come from Hypothesis: the pack's own field values in any case, near misses, numbers,
booleans, null, arrays (nested), objects where strings are expected, dotted keys stored flat,
huge strings and deep nesting.
"""

from __future__ import annotations

import dataclasses
import inspect
import pickle
import random
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sigma.rule import SigmaRule

from ses_sigma.alerts import Alert, make_alert, single_alert_maker
from ses_sigma.match import detection as detection_module
from ses_sigma.match.codegen import Leaf, generate
from ses_sigma.match.detection import compile_detection
from ses_sigma.match.dispatch import RAW_LIMIT, Dispatch
from ses_sigma.match.engine import Engine
from ses_sigma.match.fields import MULTI, field_getter, scalar_getter, walk
from ses_sigma.pack import load_pack
from ses_sigma.records import Record

SETTINGS = settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

PACK = load_pack()
COMPILED = [compile_detection(rule) for rule in PACK.rules]


def _pack_strings() -> list[str]:
    """Every plain string the pack's rules compare with, and the fields they test."""
    out: set[str] = set()
    for compiled in COMPILED:
        for values in compiled.plain_values.values():
            out.update(values)
    return sorted(out)


PLAIN = _pack_strings()
FIELDS = [
    "eventSource",
    "eventName",
    "errorCode",
    "userAgent",
    "sourceIPAddress",
    "userIdentity.accessKeyId",
    "userIdentity.type",
    "userIdentity.invokedBy",
    "userIdentity.arn",
    "requestParameters.serviceCode",
    "requestParameters.userName",
    "requestParameters.enabled",
    "requestParameters.sendingEnabled",
    "requestParameters.policyDocument",
    "requestParameters.subject",
    "a.b.c",
]

# Strings near the pack's: its values in any case, with prefixes and suffixes, AKIA keys,
# console and IaC user agents, non-ASCII case pairs, and a huge one.
_base_text = st.one_of(
    st.sampled_from(PLAIN),
    st.sampled_from(
        ["AKIAEXAMPLE", "ASIAEXAMPLE", "akia1", "Terraform/1.5", "console.amazonaws.com"]
    ),
    st.sampled_from(["AccessDenied", "ses", "SES", "İ", "ß", "ſes.amazonaws.com", ""]),
    st.text(max_size=12),
)
TEXT = st.one_of(
    _base_text,
    _base_text.map(str.upper),
    _base_text.map(str.title),
    st.tuples(_base_text, _base_text).map("".join),
    st.just("x" * 200_000),
)
SCALAR = st.one_of(
    TEXT,
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
)
VALUE = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["b", "c", "b.c", "x"]), inner, max_size=3),
    ),
    max_leaves=8,
)


def _deep(levels: int, leaf: Any) -> Any:
    for _ in range(levels):
        leaf = [leaf]
    return leaf


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """A record dict: some of the pack's fields set to hostile values, some nested keys
    stored flat (``userIdentity.accessKeyId``), objects where strings are expected."""
    rec: dict[str, Any] = {}
    for path in draw(st.lists(st.sampled_from(FIELDS), max_size=10)):
        value = draw(VALUE)
        if draw(st.integers(0, 9)) == 0:
            value = _deep(draw(st.integers(1, 60)), value)
        parts = path.split(".")
        if len(parts) > 1 and draw(st.booleans()):
            node = rec
            for part in parts[:-1]:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
            node[parts[-1]] = value
        else:
            rec[path] = value
    for top in draw(st.lists(st.sampled_from(["userIdentity", "requestParameters"]), max_size=2)):
        rec.setdefault(top, draw(VALUE))
    return rec


@SETTINGS
@given(data=records(), path=st.sampled_from(FIELDS))
def test_getters_agree_with_the_generic_walk(data: dict[str, Any], path: str) -> None:
    expected = walk(data, path)
    assert field_getter(path)(data) == expected
    got = scalar_getter(path)(data)
    if got is not MULTI:
        assert ([] if got is None else [got]) == expected


@SETTINGS
@given(data=records())
def test_pack_predicates_equal_their_reference(data: dict[str, Any]) -> None:
    for compiled in COMPILED:
        assert compiled.predicate(data) == compiled.reference(data), compiled.rule.name


@SETTINGS
@given(data=records())
def test_dispatch_plans_select_the_reference_matches(data: dict[str, Any]) -> None:
    dispatch = Dispatch([(c, c) for c in COMPILED], lambda c, pred: (c, pred))
    chosen = {c.rule.name for c, pred in dispatch.plan(data) if pred is None or pred(data) is True}
    assert chosen == {c.rule.name for c in COMPILED if c.reference(data)}


def _rule(detection: str) -> SigmaRule:
    return SigmaRule.from_dict(
        {
            "title": "t",
            "name": "t_rule",
            "logsource": {"product": "aws", "service": "cloudtrail"},
            "detection": yaml.safe_load(detection),
        }
    )


# One detection per value type and modifier, with eventSource/eventName tests that are folded
# by the dispatch (plain), and some that are not (cased, wildcards, under NOT).
DETECTIONS = [
    "s:\n  eventSource: ses.amazonaws.com\n  eventName: [SendEmail, GetAccount]\ncondition: s",
    "s:\n  eventName|cased: SendEmail\ncondition: s",
    "s:\n  eventName: Send*\n  eventSource: SES.amazonaws.com\ncondition: s",
    "s:\n  eventName: 'Get?ccount'\ncondition: s",
    "s:\n  eventSource: ses.amazonaws.com\nf:\n  eventName: SendEmail\ncondition: s and not f",
    "s:\n  eventName: SendEmail\ncondition: not s",
    "s:\n  errorCode: null\n  userIdentity.accessKeyId|startswith: AKIA\ncondition: s",
    "s:\n  userIdentity.accessKeyId|startswith|cased: AKIA\ncondition: s",
    "s:\n  userAgent|contains: terraform\ncondition: s",
    "s:\n  userAgent|contains|cased: Terraform\ncondition: s",
    "s:\n  userAgent|endswith: console.amazonaws.com\ncondition: s",
    "s:\n  userAgent|re: '^[A-Z]+'\ncondition: s",
    "s:\n  userAgent|re|i: 'akia'\ncondition: s",
    "s:\n  sourceIPAddress|cidr: 10.0.0.0/8\ncondition: s",
    "s:\n  requestParameters.enabled: true\ncondition: s",
    "s:\n  requestParameters.enabled: 5\ncondition: s",
    "s:\n  requestParameters.enabled|gte: 2\ncondition: s",
    "s:\n  errorCode|exists: true\ncondition: s",
    "s:\n  userIdentity.type|exists: false\ncondition: s",
    "s:\n  a.b.c: AKIAEXAMPLE\ncondition: s",
    "s:\n  a.b.c: null\ncondition: s",
    "s:\n  a.b.c|contains: ses\ncondition: s",
    "s:\n  userIdentity.arn|fieldref: userAgent\ncondition: s",
    "s:\n  errorCode: ''\ncondition: s",
    "s:\n  errorCode: '*'\ncondition: s",
    "s:\n  - AccessDenied\ncondition: s",
    "s:\n  eventSource: [ses.amazonaws.com, iam.amazonaws.com]\n"
    "t:\n  eventName: [SendEmail, CreateUser]\n  errorCode: null\n"
    "condition: s and t or not t and userIdentity_x\n"
    "userIdentity_x:\n  userIdentity.type: IAMUser",
    "s:\n  eventSource: ses.amazonaws.com\ncondition: [s, f]\nf:\n  eventName: getaccount",
    # Runs of items on one field share one read and lower() (codegen._group): lists, |all,
    # cased and uncased mixed, dotted fields, other value types, nested filters, under NOT,
    # and runs broken by an item of another kind or field.
    "s:\n  userAgent|contains: [terraform, Pulumi, aws-cdk]\ncondition: s",
    "s:\n  userAgent|contains|all: [aws, cli]\ncondition: s",
    "f1:\n  - userAgent|startswith: Mozilla/\n  - userAgent: AWS Internal\n"
    "f2:\n  userAgent|contains|cased: [Terraform/, pulumi]\n"
    "s:\n  eventSource: ses.amazonaws.com\ncondition: s and not 1 of f*",
    "s:\n  - userIdentity.invokedBy|endswith: .amazonaws.com\n"
    "  - userIdentity.invokedBy: [AWS Internal, 5]\n  - userIdentity.invokedBy|re: '^x'\n"
    "  - userIdentity.invokedBy: null\n  - userIdentity.invokedBy|contains: ses\n"
    "condition: s",
    "s:\n  requestParameters.enabled: [1, 'true', 'yes*']\ncondition: s",
    "s:\n  a.b.c|startswith: [ak, AS]\n  a.b.c|endswith|cased: [X, y]\ncondition: s",
    "s:\n  userAgent|contains: [a, b]\nt:\n  sourceIPAddress|startswith: '10.'\n"
    "u:\n  userAgent|endswith: z\ncondition: s or t or u",
]
COMPILED_SEMANTICS = [compile_detection(_rule(d)) for d in DETECTIONS]


@SETTINGS
@given(data=records())
def test_semantics_predicates_equal_their_reference(data: dict[str, Any]) -> None:
    for detection, compiled in zip(DETECTIONS, COMPILED_SEMANTICS, strict=True):
        assert compiled.predicate(data) == compiled.reference(data), detection


@SETTINGS
@given(data=records())
def test_semantics_dispatch_equals_reference(data: dict[str, Any]) -> None:
    rules = list(enumerate(COMPILED_SEMANTICS))
    dispatch = Dispatch([(c, i) for i, c in rules], lambda i, pred: (i, pred))
    chosen = {i for i, pred in dispatch.plan(data) if pred is None or pred(data) is True}
    assert chosen == {i for i, c in rules if c.reference(data)}


@pytest.mark.parametrize(
    "data",
    [
        {"eventSource": ["ses.amazonaws.com"], "eventName": "SendEmail"},
        {"eventSource": "ses.amazonaws.com", "eventName": ["SendEmail", "x"]},
        {"eventSource": "SES.AMAZONAWS.COM", "eventName": "SENDEMAIL"},
        {"eventSource": 5, "eventName": None},
        {"eventSource": {"a": "ses.amazonaws.com"}, "eventName": "SendEmail"},
        {"eventName": "SendEmail"},
        {"eventSource": "ses.amazonaws.com", "eventName": "SendEmail" + "x" * 1_000_000},
        {
            "eventSource": "ses.amazonaws.com",
            "eventName": "SendEmail",
            "userIdentity.accessKeyId": "AKIAFLAT",
            "userIdentity": {"accessKeyId": "ASIANESTED"},
        },
        {
            "eventSource": "ses.amazonaws.com",
            "eventName": "SendEmail",
            "userIdentity": [{"accessKeyId": "ASIA1"}, {"accessKeyId": ["AKIA2"]}],
        },
        {
            "eventSource": "ses.amazonaws.com",
            "eventName": "SendEmail",
            "userIdentity": {"accessKeyId": _deep(90, "AKIADEEP")},
            "errorCode": _deep(90, None),
        },
    ],
)
def test_hostile_records(data: dict[str, Any]) -> None:
    for compiled in [*COMPILED, *COMPILED_SEMANTICS]:
        assert compiled.predicate(data) == compiled.reference(data)
    dispatch = Dispatch([(c, c) for c in COMPILED], lambda c, pred: (c, pred))
    chosen = {c.rule.name for c, p in dispatch.plan(data) if p is None or p(data)}
    assert chosen == {c.rule.name for c in COMPILED if c.reference(data)}


def test_plans_are_bounded_by_the_pack_not_the_input() -> None:
    dispatch = Dispatch([(c, c) for c in COMPILED], lambda c, pred: (c, pred))
    for i in range(2000):
        dispatch.plan({"eventSource": f"s{i}.amazonaws.com", "eventName": f"Call{i}"})
        dispatch.plan({"eventSource": "ses.amazonaws.com", "eventName": f"Call{i}"})
    assert dispatch.plan_count == 2  # (other, other) and (ses, other)


def test_plans_remembered_as_written_are_bounded_and_right() -> None:
    """The plans a dispatch remembers by the values as written (any letter case) are those
    of the lowered values, and at most RAW_LIMIT pairs are remembered."""
    dispatch = Dispatch([(c, c) for c in COMPILED], lambda c, pred: (c, pred))
    fresh = Dispatch([(c, c) for c in COMPILED], lambda c, pred: (c, pred))
    names = [*sorted({n for c in COMPILED for n in c.plain_values["eventName"]}), "other"]
    rng = random.Random(3)
    for _ in range(3):  # met again: from the remembered plans
        for name in names:
            for spelled in (name, name.upper(), "".join(rng.choice([c, c.upper()]) for c in name)):
                for source in ("ses.amazonaws.com", "SES.amazonaws.com", "sts.amazonaws.com"):
                    data = {"eventSource": source, "eventName": spelled}
                    plan = dispatch.plan(data)
                    lowered = {"eventSource": source.lower(), "eventName": name.lower()}
                    assert plan is dispatch.plan(lowered)
                    want = [(c.rule.name, p is None) for c, p in fresh.plan(lowered)]
                    assert [(c.rule.name, p is None) for c, p in plan] == want
    for i in range(RAW_LIMIT + 100):
        dispatch.plan({"eventSource": "ses.amazonaws.com", "eventName": f"Call{i}"})
    assert len(dispatch._raw) == RAW_LIMIT


def test_specialisations_are_bounded_per_rule() -> None:
    """Each rule is specialised once per pair of values it names (or OTHER), not per plan."""
    dispatch = Dispatch([(c, c) for c in COMPILED], lambda c, pred: (c, pred))
    names = sorted({n for c in COMPILED for n in c.plain_values["eventName"]})
    sources = sorted({n for c in COMPILED for n in c.plain_values["eventSource"]})
    for src in [*sources, "other.amazonaws.com"]:
        for name in [*names, "OtherCall"]:
            dispatch.plan({"eventSource": src, "eventName": name})
    assert dispatch.plan_count == (len(sources) + 1) * (len(names) + 1)
    bound = sum(
        (len(c.plain_values["eventSource"]) + 1) * (len(c.plain_values["eventName"]) + 1)
        for c in COMPILED
    )
    assert dispatch.specialised_count <= bound < len(COMPILED) * dispatch.plan_count


def test_the_engine_matches_through_the_dispatch() -> None:
    """A send with an AKIA key: the rules the reference predicates select, no more."""
    engine = Engine(PACK)
    data = {
        "eventVersion": "1.08",
        "eventTime": "2026-01-02T03:04:05Z",
        "eventID": "e1",
        "eventSource": "ses.amazonaws.com",
        "eventName": "SendRawEmail",
        "userIdentity": {"type": "IAMUser", "accessKeyId": "AKIAEXAMPLE"},
        "userAgent": "python-requests",
    }
    alerts: list[Any] = []
    stateful = engine.match_record(Record.from_dict(data), alerts)
    expected = {c.rule.name for c in COMPILED if c.reference(data)}
    assert expected  # the case is meaningful: some rule matches
    assert {a.rule_name for a in alerts} | set(stateful) == expected


def test_single_alert_maker_equals_make_alert() -> None:
    rec = Record.from_dict({"eventTime": "2026-01-02T03:04:05.250Z", "eventID": "e1"})
    for rule in PACK.rules:
        made = single_alert_maker(rule)(rec)
        assert made == make_alert(rule, [rec])
        assert made.to_dict() == make_alert(rule, [rec]).to_dict()
        assert hash(made) == hash(make_alert(rule, [rec]))


def test_alert_init_is_the_dataclass_init() -> None:
    """Alert's own __init__ (slots set directly) against the one dataclass generates."""

    @dataclasses.dataclass(frozen=True, slots=True)
    class Generated:
        rule_id: str
        rule_name: str
        title: str
        level: str
        time: float
        event_ids: tuple[str, ...]
        group: tuple[tuple[str, Any], ...] = ()
        suppressed: int | None = None

    names = [f.name for f in dataclasses.fields(Alert)]
    assert names == [f.name for f in dataclasses.fields(Generated)]

    def params(init: Any) -> list[tuple[str, Any, Any]]:
        return [(p.name, p.kind, p.default) for p in inspect.signature(init).parameters.values()]

    assert params(Alert.__init__) == params(Generated.__init__)
    full = ("i", "n", "t", "low", 1.5, ("e1", "e2"), (("k", "v"),), 3)
    for args, kwargs in [
        (full, {}),
        (full[:6], {}),
        (full[:5], {"event_ids": ("e",), "suppressed": 0}),
        ((), dict(zip(names, full, strict=True))),
    ]:
        made, want = Alert(*args, **kwargs), Generated(*args, **kwargs)
        assert dataclasses.astuple(made) == dataclasses.astuple(want)
        assert made == pickle.loads(pickle.dumps(made))
        assert dataclasses.replace(made, level="high").level == "high"
        with pytest.raises(dataclasses.FrozenInstanceError):
            made.level = "x"  # type: ignore[misc]
    for args, kwargs in [(full[:5], {}), (full, {"rule_id": "x"}), (full, {"other": 1})]:
        with pytest.raises(TypeError):
            Generated(*args, **kwargs)
        with pytest.raises(TypeError):
            Alert(*args, **kwargs)


def test_generated_code_holds_no_rule_text() -> None:
    """Field names and values that would be code in a source file are bound, not written."""
    field = "x\"); __import__('os').system('false') #\nq"
    value = "'); raise SystemExit #\\"
    detection = {"s": {field: value, f"{field}.y|contains": value}, "condition": "s"}
    rule = SigmaRule.from_dict(
        {"title": "t", "name": "t_inject", "logsource": {"product": "aws"}, "detection": detection}
    )
    compiled = compile_detection(rule)
    for data in [
        {field: value.upper(), f"{field}.y": "a" + value},
        {field: value, f"{field}.y": value.upper()},
        {field: {"y": value}},
        {field: "other"},
        {},
    ]:
        assert compiled.predicate(data) == compiled.reference(data)
    assert compiled.predicate({field: value.upper(), f"{field}.y": "a" + value}) is True
    assert compiled.predicate({field: value}) is False


def test_conditions_python_cannot_compile_fall_back_to_closures() -> None:
    """A condition nested deeper than Python's parser takes (a hostile rule) is not generated;
    the closures answer, with the reference semantics."""
    leaf = Leaf("eq", "eventName", "sendemail")
    tree: Any = leaf
    for _ in range(400):
        tree = ("not", tree)
    reference = detection_module._closures(tree, False)
    assert generate(tree, reference) is None
    predicate = detection_module._build(tree, reference)
    for data in [{"eventName": "SendEmail"}, {"eventName": "x"}, {"eventName": ["sendemail"]}, {}]:
        assert predicate(data) == reference(data)
    assert predicate({"eventName": "SendEmail"}) is True  # an even number of NOTs
