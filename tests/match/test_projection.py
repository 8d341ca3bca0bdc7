"""The stateful projection's fast form equals the reference projection, payload for payload.

``Projector.project`` (match/stateful.py) answers from a generated function per set of rule
names (match/projection.py) when every field it reads is a string or absent at a path of plain
objects, and from the generic code (``Projector.project_reference``) otherwise. Here both give
the same payload (compared by ``==`` and by ``repr``, which tells ``True`` from ``1`` and
``1.0``) on hostile records: lists at any level, numbers, booleans beside 1, None, objects where
strings are expected, dotted keys stored flat beside nested ones, lone surrogates, missing
fields; for any set of the pack's stateful base rules (in any order, with repeats), with and
without suppression groups and origins. A synthetic pack covers what the pack does not use: a
first-seen rule over several fields with a derived field and suppression, a correlation
without group-by, aliases, a value_count over a derived field.

Also: the scalar getters of derived fields agree with their list getters, and the fast path is
really taken on records of the common shape (so the equality is not only the reference's with
itself).
"""

from __future__ import annotations

import itertools
import marshal
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sigma.collection import SigmaCollection

from ses_sigma.match import projection
from ses_sigma.match.correlation_plan import scalar_of, shared_getter
from ses_sigma.match.derived import DerivedField
from ses_sigma.match.engine import Engine
from ses_sigma.match.fields import MULTI
from ses_sigma.match.first_seen import EARLIEST_PLAUSIBLE
from ses_sigma.match.projection import compile_packed, compile_projection, pack
from ses_sigma.match.stateful import Projector
from ses_sigma.pack import Pack, load_pack
from ses_sigma.records import Record

SETTINGS = settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SYNTHETIC = """
title: Syn A
name: syn_a
logsource: {product: aws, service: cloudtrail}
detection: {sel: {eventName: A}, condition: sel}
first_seen:
  fields: [userIdentity.arn, synThing]
  learning_period: 1d
  forget_after: 2d
derived_fields:
  synThing:
    coalesce: [requestParameters.emailIdentity, requestParameters.domain.name, awsRegion]
suppression:
  fields: [userIdentity.arn, requestParameters.emailIdentity]
  period: 1h
---
title: Syn B
name: syn_b
logsource: {product: aws, service: cloudtrail}
detection: {sel: {eventName: B}, condition: sel}
---
title: Syn C
name: syn_c
logsource: {product: aws, service: cloudtrail}
detection: {sel: {eventName: C}, condition: sel}
first_seen:
  fields: [eventName]
  learning_period: 1d
  forget_after: 2d
---
title: Count without group-by
name: syn_count
correlation:
  type: event_count
  rules: [syn_a, syn_b]
  timespan: 10m
  condition: {gte: 2}
---
title: Values by alias
name: syn_values
correlation:
  type: value_count
  rules: [syn_a, syn_b]
  aliases:
    who:
      syn_a: userIdentity.arn
      syn_b: userIdentity.accessKeyId
  group-by: [who, awsRegion]
  timespan: 10m
  condition: {gte: 2, field: synIdentity}
derived_fields:
  synIdentity:
    coalesce: [requestParameters.emailIdentity, requestParameters.identity]
---
title: Temporal by derived field
name: syn_temporal
correlation:
  type: temporal
  rules: [syn_b, syn_c]
  group-by: [synPrincipal]
  timespan: 1h
derived_fields:
  synPrincipal:
    coalesce: [userIdentity.sessionContext.sessionIssuer.arn, userIdentity.arn]
"""

PACK_PROJECTOR = Engine(load_pack())._projector()
SYN_PROJECTOR = Engine(Pack(SigmaCollection.from_yaml(SYNTHETIC)))._projector()
PACK_NAMES = PACK_PROJECTOR.rule_names
SYN_NAMES = SYN_PROJECTOR.rule_names

# Every field the pack's and the synthetic stateful rules read (group-by, values, first-seen,
# derived sources, suppression), their parents, and a deeper path below one of them.
FIELDS = [
    "eventName",
    "awsRegion",
    "eventTime",
    "userIdentity.accessKeyId",
    "userIdentity.arn",
    "userIdentity.sessionContext.sessionIssuer.arn",
    "userIdentity.sessionContext",
    "requestParameters.userName",
    "requestParameters.emailIdentity",
    "requestParameters.emailAddress",
    "requestParameters.domain",
    "requestParameters.domain.name",
    "requestParameters.identity",
    "userIdentity",
    "requestParameters",
]

TEXT = st.one_of(
    st.sampled_from(["AKIAEXAMPLE", "arn:aws:iam::1:user/x", "us-east-1", "", "A", "B"]),
    st.sampled_from(["\ud800", "x\udfff", "é", "ß", "True", "1", "null"]),
    st.text(max_size=8),
)
SCALAR = st.one_of(
    TEXT,
    st.none(),
    st.booleans(),
    st.sampled_from([0, 1, 1.0, -1, 2**70]),
    st.floats(allow_nan=True, allow_infinity=True),
)
VALUE = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["arn", "name", "sessionIssuer", "sessionIssuer.arn", "x"]),
            inner,
            max_size=3,
        ),
    ),
    max_leaves=8,
)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """A record: some stateful fields set, mostly to strings (the fast shape), else to hostile
    values; nested or stored flat under a dotted key, at any split of the path."""
    rec: dict[str, Any] = {}
    for path in draw(st.lists(st.sampled_from(FIELDS), max_size=12)):
        value = draw(st.one_of(TEXT, TEXT, VALUE))
        parts = path.split(".")
        cut = draw(st.integers(1, len(parts)))  # parts[:cut] nested, the rest one dotted key
        keys = [*parts[: cut - 1], ".".join(parts[cut - 1 :])]
        node = rec
        for key in keys[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        node[keys[-1]] = value
    return rec


def _record(data: dict[str, Any], origin: str = "f.jsonl:7", time: float = 1.7e9) -> Record:
    return Record(data=data, time=time, event_id="e1", origin=origin)


BOTH = (False, True)

#: Record times: plausible ones (no note in the payload), and around the edges of what a
#: first-seen engine may find implausible (the payload carries the raw eventTime and origin).
TIMES = [1.7e9, EARLIEST_PLAUSIBLE, EARLIEST_PLAUSIBLE - 1, 4e9, -1.0, time.time() + 3600]


def _check(
    projector: Projector,
    data: dict[str, Any],
    names: list[str],
    flags: tuple[bool, ...] = BOTH,
    when: float = 1.7e9,
) -> None:
    """Fast and reference payloads equal, with ``flags`` as suppress and as origins; packed
    (``project_packed``, what a scan carries) they are the reference's marshal bytes."""
    rec = _record(data, time=when)
    for suppress, origins in itertools.product(flags, repeat=2):
        got = projector.project(rec, names, suppress, origins)
        want = projector.project_reference(rec, names, suppress, origins)
        assert got == want, (names, data)
        assert repr(got) == repr(want), (names, data)
        packed = projector.project_packed(rec, names, suppress, origins)
        assert packed == pack(want), (names, data)
        assert type(packed) is bytes or packed is want  # (marshal could not write it)


@SETTINGS
@given(
    data=records(),
    names=st.lists(st.sampled_from(PACK_NAMES), min_size=1, max_size=6),
    when=st.sampled_from(TIMES),
)
def test_pack_projection_equals_the_reference(
    data: dict[str, Any], names: list[str], when: float
) -> None:
    _check(PACK_PROJECTOR, data, names, when=when)


@SETTINGS
@given(
    data=records(),
    names=st.lists(st.sampled_from(SYN_NAMES), min_size=1, max_size=4),
    when=st.sampled_from(TIMES),
)
def test_synthetic_projection_equals_the_reference(
    data: dict[str, Any], names: list[str], when: float
) -> None:
    _check(SYN_PROJECTOR, data, names, when=when)


COMMON = {
    "eventName": "SendEmail",
    "awsRegion": "eu-west-1",
    "eventTime": "2025-01-20T10:00:00Z",
    "userIdentity": {
        "accessKeyId": "AKIAEXAMPLE",
        "arn": "arn:aws:sts::1:assumed-role/r/s",
        "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::1:role/r"}},
    },
    "requestParameters": {"userName": "ses-smtp-user", "identity": "example.com"},
}


HOSTILE = [
    {**COMMON, "awsRegion": ["eu-west-1", "eu-west-1", "us-east-1"]},
    {**COMMON, "eventName": 1},
    {**COMMON, "eventName": True},
    {**COMMON, "userIdentity.accessKeyId": "AKIAFLAT"},
    {**COMMON, "userIdentity": ["AKIA"]},
    {**COMMON, "requestParameters": {"identity": {"x": "y"}, "domain": ["d", 1, True]}},
]


def _all_sets(names: list[str]) -> list[list[str]]:
    return [list(c) for k in range(1, len(names) + 1) for c in itertools.combinations(names, k)]


def test_every_rule_set_takes_the_fast_path_on_the_common_shape() -> None:
    """Every set of the pack's stateful base rules (4,095) and of the synthetic ones has a
    fast projection, taken on a record of the common shape and on one missing every field,
    with the reference's payload; on hostile records the reference answers, with the payload
    of those values."""
    for projector, names in ((PACK_PROJECTOR, PACK_NAMES), (SYN_PROJECTOR, SYN_NAMES)):
        for subset in _all_sets(names):
            for data in (COMMON, {}):
                assert projector.fast_path_taken(_record(data), subset), subset
                _check(projector, data, subset, (True,))
            # Packed from its template: every value read is there in the common shape.
            assert projector.packed_path_taken(_record(COMMON), subset), subset
            for data in HOSTILE:
                _check(projector, data, subset, (True,))


def test_hostile_shapes_fall_back_to_the_reference() -> None:
    """A list, a number, a boolean, a dotted key or a non-object parent on a field read: the
    fast form declines."""
    for data in HOSTILE:
        assert not PACK_PROJECTOR.fast_path_taken(_record(data), PACK_NAMES), data
        assert not PACK_PROJECTOR.packed_path_taken(_record(data), PACK_NAMES), data


def test_times_a_first_seen_engine_may_find_implausible_take_the_reference() -> None:
    """The fast forms leave out the raw eventTime and origin (FirstSeenEngine.project): a
    record dated before EARLIEST_PLAUSIBLE or after the wall clock goes to the reference,
    whose payload carries them; a set without first-seen rules has no such test."""
    first_seen = ["aws_ses_enumeration_new_principal"]
    correlation_only = ["aws_ses_account_recon"]
    for when in (EARLIEST_PLAUSIBLE - 1, time.time() + 3600):
        rec = _record(COMMON, time=when)
        assert not PACK_PROJECTOR.fast_path_taken(rec, first_seen)
        assert not PACK_PROJECTOR.packed_path_taken(rec, first_seen)
        assert PACK_PROJECTOR.project(rec, first_seen)[0][1][1:] == (
            COMMON["eventTime"],
            rec.origin,
        )
        assert PACK_PROJECTOR.packed_path_taken(rec, correlation_only)
        _check(PACK_PROJECTOR, COMMON, [*first_seen, *correlation_only], when=when)
    rec = _record(COMMON)
    assert PACK_PROJECTOR.packed_path_taken(rec, first_seen)
    assert PACK_PROJECTOR.project(rec, first_seen)[0][1][1:] == (None, "")


def test_a_missing_value_packs_the_payload_of_the_fast_form() -> None:
    """A record without one of the values read has another payload shape than the
    template's: ``project_packed`` packs ``project``'s payload instead, the same bytes."""
    data = {**COMMON, "userIdentity": {"arn": "arn:aws:iam::1:user/u"}}  # no accessKeyId
    rec = _record(data)
    assert not PACK_PROJECTOR.packed_path_taken(rec, PACK_NAMES)
    assert PACK_PROJECTOR.fast_path_taken(rec, PACK_NAMES)
    _check(PACK_PROJECTOR, data, PACK_NAMES)


def test_packed_payloads_under_suppression_carry_their_groups() -> None:
    """With suppression groups (``scan --suppress``), a set with a first-seen rule that has
    a suppression spec is not packed from the template (the groups are not values read):
    the bytes are those of the payload with its groups."""
    syn = SYN_PROJECTOR
    rec = _record(COMMON | {"eventName": "A"})
    packed = syn.project_packed(rec, ["syn_a"], suppress=True)
    assert packed == pack(syn.project_reference(rec, ["syn_a"], suppress=True))
    assert marshal.loads(packed)[0][2] is not None  # the group is there
    assert syn.project_packed(rec, ["syn_a"]) == pack(syn.project_reference(rec, ["syn_a"]))


def test_a_getter_without_scalar_form_means_no_fast_projection() -> None:
    class Corr:
        def getters(self, name: str) -> tuple[Any, tuple[Any, ...]]:
            return None, (lambda data: [],)

    assert compile_projection([("r", None, None, (Corr(),))]) is None
    assert compile_packed([("r", None, None, (Corr(),))]) is None


DERIVED = {
    "synA": DerivedField("synA", ("requestParameters.emailIdentity", "requestParameters.domain")),
    "synB": DerivedField(
        "synB", ("userIdentity.sessionContext.sessionIssuer.arn", "userIdentity.arn", "eventName")
    ),
}


@SETTINGS
@given(data=records(), name=st.sampled_from([*DERIVED, *FIELDS]))
def test_scalar_getters_agree_with_the_value_getters(data: dict[str, Any], name: str) -> None:
    get = shared_getter(name, DERIVED)
    scalar = scalar_of(get)
    assert scalar is not None
    got = scalar(data)
    if got is not MULTI:
        assert ([] if got is None else [got]) == get(data)
        assert got is None or type(got) is str


def test_value_caches_give_the_reference_payload_when_full(monkeypatch: Any) -> None:
    """Payload parts are cached per field values (``projection.CACHED`` entries per cache,
    emptied when full): with a tiny bound, records cycling through more values than it holds
    still get the reference's payload, every time."""
    monkeypatch.setattr(projection, "CACHED", 2)
    projector = Engine(load_pack())._projector()
    names = PACK_NAMES
    for n in range(40):
        data = {
            **COMMON,
            "eventName": f"Get{n % 3}",
            "awsRegion": f"r{n % 5}",
            "userIdentity": {"accessKeyId": f"AKIA{n % 7}", "arn": f"arn{n % 4}"},
        }
        if n % 6 == 0:
            del data["awsRegion"]
        assert projector.fast_path_taken(_record(data), names)
        _check(projector, data, names)


def test_long_values_are_projected_but_not_cached(monkeypatch: Any) -> None:
    """Values longer than ``projection.CACHED_CHARS`` get the reference payload and stay out of
    the caches (which thus hold little, whatever the records carry)."""
    monkeypatch.setattr(projection, "CACHED_CHARS", 8)
    projector = Engine(load_pack())._projector()
    names = PACK_NAMES
    for n in range(6):
        data = {**COMMON, "userIdentity": {"accessKeyId": "AKIA" + "x" * (4 * n), "arn": "a"}}
        assert projector.fast_path_taken(_record(data), names)
        _check(projector, data, names)
    fast = projector._plan(names)[1]
    assert fast is not None
    caches = [v for k, v in fast.__globals__.items() if k[0] == "C" and isinstance(v, dict)]
    keys = [k for cache in caches for key in cache for k in (key if type(key) is tuple else [key])]
    assert keys and all(k is None or len(k) <= 8 for k in keys)


def test_the_projection_notes_every_time_after_the_engine_was_made() -> None:
    """An engine's projection leaves out the notes of times up to its own making (not the
    projection's, made on first use): every stateful runner of the engine is made later, so
    it finds those times plausible, and the notes of later times travel."""
    now = [2e9]
    engine = Engine(load_pack(), clock=lambda: now[0])
    now[0] += 3 * 86400.0  # the projection is made, and the runners, days later
    names = ["aws_ses_enumeration_new_principal"]
    later = _record(COMMON, time=2e9 + 60)
    assert engine.project(later, names)[0][1][1:] == (COMMON["eventTime"], later.origin)
    assert engine.project(_record(COMMON, time=2e9), names)[0][1][1:] == (None, "")
    assert engine.project_packed(later, names) == pack(engine.project(later, names))
