"""The emitted SPL, executed offline by ``splunk_sim`` and compared with the matcher.

* The interpreter itself: search-language semantics (case, wildcards, precedence, CIDR,
  multivalue), eval's three-valued logic, stats/streamstats/sort as Splunk documents them, and
  CloudTrail JSON as the Add-on for AWS extracts it.
* Every fixture case of every pack rule: the rule's ad hoc SPL over the case's events, and its
  saved search run on schedule (every 15 minutes over its look-back), give the matcher's alerts
  (first-seen: those after the learning period, a deployment precondition).
* Randomised event streams (fixed seeds) for the two stateful shapes: temporal_ordered (ties,
  overlapping steps, aliases, arrays, JSON nulls, window edges) and first-seen (arrays, two
  fields, forgetting), ad hoc and scheduled, against the matcher.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from ses_sigma.convert.splunk import SplunkSearch, convert_rule
from ses_sigma.harness import Case, load_fixtures
from ses_sigma.match.detection import compile_detection
from ses_sigma.match.engine import Engine
from ses_sigma.match.first_seen import EARLIEST_PLAUSIBLE, FUTURE_SLACK, FirstSeenSpec
from ses_sigma.pack import Pack, load_pack, rule_key
from ses_sigma.pipelines import UnmappedFieldError, splunk_field
from ses_sigma.records import Record
from ses_sigma.verify.splunk_sim import (
    Context,
    SimAlert,
    SplError,
    eval_expression,
    event_from_record,
    result_alerts,
    run_scheduled,
    run_spl,
    search_predicate,
    split_pipeline,
)

# --- the interpreter ------------------------------------------------------------------------


def ev(**fields: Any) -> dict[str, list[Any]]:
    return {k: v if isinstance(v, list) else [v] for k, v in fields.items()}


@pytest.mark.parametrize(
    ("search", "row", "expected"),
    [
        ('eventName="getaccount"', ev(eventName="GetAccount"), True),  # case-insensitive
        ('eventName="Get*"', ev(eventName="GetAccount"), True),
        ('eventName="Get"', ev(eventName="GetAccount"), False),  # whole value
        ('eventName IN ("a", "getacc*")', ev(eventName="GetAccount"), True),
        ("x=*", ev(y="1"), False),
        ("NOT x=*", ev(y="1"), True),
        ('a="1" b="2" OR c="3"', ev(a="1", c="3"), True),  # a AND (b OR c)
        ('a="1" b="2" OR c="3"', ev(c="3"), False),
        ('NOT a="1" OR b="2"', ev(a="1", b="2"), True),  # (NOT a) OR b
        ('NOT (a="1" OR b="2")', ev(a="1", b="3"), False),
        ('ip="192.0.2.0/24"', ev(ip="192.0.2.77"), True),  # CIDR
        ('ip="192.0.2.0/24"', ev(ip="ses.amazonaws.com"), False),
        ('"r{}.ARN"="x"', ev(**{"r{}.ARN": ["y", "X"]}), True),  # any value of a multivalue
        ('v="a\\"b"', ev(v='a"b'), True),
    ],
)
def test_search_semantics(search: str, row: dict, expected: bool) -> None:
    assert search_predicate(search)(row) is expected


@pytest.mark.parametrize(
    ("expr", "row", "expected"),
    [
        ("isnull(x) OR x > 5", ev(), True),
        ("isnull(x) OR x > 5", ev(x="3"), False),
        ("x = 1 AND y = 1", ev(y="1"), None),  # null compares to null: unknown
        ("NOT (x = 1)", ev(), None),
        ("a - b <= 60", ev(a=160.0, b=100), True),
        ("a - b <= 60", ev(a=161.0, b=100), False),
        ('s = "A"', ev(s="a"), False),  # eval compares strings case-sensitively
        ('s != "null"', ev(s="null"), False),
        ("'f.x' = 2", ev(**{"f.x": "2.0"}), True),  # numbers compare numerically
    ],
)
def test_eval_semantics(expr: str, row: dict, expected: bool | None) -> None:
    assert eval_expression(expr)(row) is expected


def test_pipeline_split_respects_quotes_and_brackets() -> None:
    assert split_pipeline('a="x|y" | eval b="|" | multisearch [ search c | eval d=1 ]') == [
        'a="x|y"',
        'eval b="|"',
        "multisearch [ search c | eval d=1 ]",
    ]


def test_streamstats_previous_row_per_group() -> None:
    rows = [ev(g="a", t=1), ev(g="b", t=2), ev(g="a", t=3), ev(t=4), ev(g="a", t=5)]
    spl = "x=* | streamstats current=f window=1 global=f last(t) as prev by g"
    out = run_spl(spl, [{**r, "x": ["1"]} for r in rows])
    assert [r.get("prev") for r in out] == [None, None, [1], None, [3]]


def test_stats_splits_multivalue_by_fields_and_drops_missing() -> None:
    rows = [ev(id="1", g=["a", "b", "a"], s=1), ev(id="2", s=1), ev(id="3", g="b", s=2)]
    out = run_spl("x=* | stats max(s) as m by id g", [{**r, "x": ["1"]} for r in rows])
    assert [(r["id"], r["g"], r["m"]) for r in out] == [
        (["1"], ["a"], [1.0]),
        (["1"], ["b"], [1.0]),
        (["3"], ["b"], [2.0]),
    ]


def test_stats_count_bare_and_named() -> None:
    rows = [ev(x="1", g="a"), ev(x="1", g="a"), ev(x="1", g="b")]
    assert run_spl("x=* | stats count", rows) == [{"count": [3]}]
    out = run_spl("x=* | stats count as n by g", rows)
    assert [(r["g"], r["n"]) for r in out] == [(["a"], [2]), (["b"], [1])]


def test_sort_num_and_str() -> None:
    rows = [ev(t=10.0, e="b"), ev(t=9.0, e="z"), ev(t=10.0, e="a")]
    out = run_spl("x=* | sort 0 num(t) str(e)", [{**r, "x": ["1"]} for r in rows])
    assert [(r["t"][0], r["e"][0]) for r in out] == [(9.0, "z"), (10.0, "a"), (10.0, "b")]


def test_addinfo_reports_the_search_range() -> None:
    out = run_spl("x=* | addinfo", [ev(x="1")], Context(min_time=5.0, max_time=9.0))
    assert out[0]["info_min_time"] == [5.0] and out[0]["info_max_time"] == [9.0]


def test_unsupported_spl_is_an_error() -> None:
    for spl in ("x=* | transaction x", "x>5", "x=* | stats dc(x)", "x=* | sort 10 x"):
        with pytest.raises(SplError):
            run_spl(spl, [ev(x="1")])


def test_cloudtrail_json_as_splunk_extracts_it() -> None:
    row = event_from_record(
        {
            "eventTime": "2026-11-20T10:00:00Z",
            "eventID": "e1",
            "readOnly": True,
            "requestParameters": {"maxItems": 5, "identities": ["a", "b"], "x": None},
            "resources": [{"ARN": "arn:1"}, {"ARN": "arn:2"}],
            "responseElements": None,
        }
    )
    assert row["_time"] == [datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp()]
    assert row["readOnly"] == ["true"]
    assert row["requestParameters.maxItems"] == ["5"]
    assert row["requestParameters.identities{}"] == ["a", "b"]
    assert row["requestParameters.x"] == ["null"]
    assert row["responseElements"] == ["null"]
    assert row["resources{}.ARN"] == ["arn:1", "arn:2"]
    assert row["sourcetype"] == ["aws:cloudtrail"]


# --- the pack's rules over every fixture case --------------------------------------------------


@pytest.fixture(scope="module")
def pack() -> Pack:
    return load_pack()


@pytest.fixture(scope="module")
def searches(pack: Pack) -> dict[str, SplunkSearch]:
    out = {}
    for rule in pack:
        result = convert_rule(pack, rule)
        assert isinstance(result, SplunkSearch), result
        out[rule_key(rule)] = result
    return out


def _cases() -> list[Case]:
    pack = load_pack()
    return load_fixtures(rule_names=[rule_key(r) for r in pack])


def group_fields(pack: Pack, name: str) -> tuple[list[str], FirstSeenSpec | None]:
    """The group names of a rule's alerts (raw CloudTrail names, or alias names)."""
    rule = pack.get(name)
    if isinstance(rule, SigmaCorrelationRule):
        return list(rule.group_by or []), None
    assert isinstance(rule, SigmaRule)
    spec = FirstSeenSpec.from_rule(rule)
    return (list(spec.fields) if spec else []), spec


def splunk_column(name: str) -> str:
    """The result column of a group name: the Splunk field name, or the alias itself."""
    try:
        return splunk_field(name)
    except UnmappedFieldError:
        return name  # an alias


def matcher_alerts(pack: Pack, records: list[Record], name: str) -> list[SimAlert]:
    """The matcher's alerts of rule ``name``, group names as Splunk result columns."""
    alerts = Engine(pack).run(records)
    return sorted(
        SimAlert(a.time, a.event_ids, tuple((splunk_column(k), str(v)) for k, v in a.group))
        for a in alerts
        if a.rule_name == name
    )


def _plausible(record: Record) -> bool:
    return EARLIEST_PLAUSIBLE <= record.time <= time.time() + FUTURE_SLACK


def splunk_alerts(
    search: SplunkSearch,
    records: list[Record],
    groups: list[str],
    spec: FirstSeenSpec | None,
    rule: SigmaRule | None = None,
) -> tuple[list[SimAlert], list[SimAlert]]:
    """(ad hoc, scheduled) alerts; first-seen ones only after the learning period, which starts
    at the rule's first (plausible) match, as the saved search's precondition says. A
    first-seen search runs over a time range: it never sees implausible eventTimes (the
    matcher's guard; docs/DESIGN.md)."""
    groups = [splunk_column(g) for g in groups]
    if spec is not None:
        assert rule is not None, "a first-seen rule's learning starts at its first match"
        predicate = compile_detection(rule).predicate
        records = [r for r in records if _plausible(r)]
        matched = [r.time for r in records if predicate(r.data)]
    events = [event_from_record(r.data) for r in records]
    adhoc = result_alerts(run_spl(search.spl, events), groups)
    sched = search.schedule
    scheduled = result_alerts(
        run_scheduled(search.scheduled, events, sched.interval, sched.lookback), groups
    )
    if spec is not None:
        start = (min(matched) if matched else 0.0) + spec.learning_period
        adhoc = [a for a in adhoc if a.time >= start]
        scheduled = [a for a in scheduled if a.time >= start]
    return adhoc, scheduled


def _single(pack: Pack, name: str) -> SigmaRule | None:
    rule = pack.get(name)
    return rule if isinstance(rule, SigmaRule) else None


def _filtered(pack: Pack, case: Case) -> tuple[Pack, SplunkSearch | None]:
    """The pack with the case's filters, and the case rule's search converted from it."""
    filtered = load_pack(sorted(set(pack.files.values())), filters=case.filters)
    search = convert_rule(filtered, filtered.get(case.rule))
    assert isinstance(search, SplunkSearch), search
    return filtered, search


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c.id)
def test_fixture_case_on_splunk_equals_the_matcher(
    case: Case, pack: Pack, searches: dict[str, SplunkSearch]
) -> None:
    records = [Record.from_dict(e) for e in case.events]
    search = searches[case.rule]
    if case.filters:  # site tuning: the filtered rule, in the matcher and in SPL
        pack, search = _filtered(pack, case)
    want = matcher_alerts(pack, records, case.rule)
    groups, spec = group_fields(pack, case.rule)
    adhoc, scheduled = splunk_alerts(search, records, groups, spec, _single(pack, case.rule))
    assert adhoc == want
    assert scheduled == want
    if case.suppress:  # Splunk throttles alerts in run time (alert.suppress), not in SPL
        assert search.suppress is not None
    else:
        assert [a.event_ids for a in want] == [e.event_ids for e in case.expect]


# --- randomised streams -----------------------------------------------------------------

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC).timestamp()
PRINCIPALS = ["arn:aws:iam::111122223333:user/a", "arn:aws:iam::111122223333:user/B", None, "-"]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def random_records(
    rng: random.Random, n: int, names: list[str], span: int, steps: tuple[int, ...] = (1, 7, 30)
) -> list[Record]:
    """Events with many same-second ties, JSON-null or missing principals, small arrays."""
    out = []
    step = rng.choice(steps)
    for _ in range(n):
        data: dict[str, Any] = {
            "eventTime": iso(T0 + rng.choice(range(0, span, step))),
            "eventID": str(uuid.UUID(int=rng.getrandbits(128))),
            "eventSource": "x.amazonaws.com",
            "eventName": rng.choice(names),
            "requestParameters": {
                "userName": rng.choice(PRINCIPALS[:2]),
                "identities": rng.sample(["i1", "i2", "i1"], rng.randint(0, 2)),
            },
        }
        name = rng.choice(["i1", "i2", None, "-"])
        if name != "-":
            data["requestParameters"]["name"] = name
        principal = rng.choice(PRINCIPALS)
        if principal != "-":
            data["userIdentity"] = {"arn": principal}
        out.append(Record.from_dict(data))
    return out


def rule(name: str, names: list[str], extra: str = "") -> str:
    listed = "".join(f"      - {n}\n" for n in names)
    return (
        f"title: {name}\nname: {name}\nlogsource:\n  product: aws\n  service: cloudtrail\n"
        f"detection:\n  sel:\n    eventName:\n{listed}  condition: sel\n{extra}"
    )


def ordered(first: str, second: str, body: str) -> str:
    return (
        "title: chain\nname: chain\ncorrelation:\n  type: temporal_ordered\n"
        f"  rules:\n    - {first}\n    - {second}\n{body}"
    )


CHAIN_VARIANTS = {
    # A derived (coalesced) group value: the name, else the first array element(s).
    "derived_group": (
        [
            rule("zz_create", ["Create"]),
            rule("aa_delete", ["Delete"]),
            ordered(
                "zz_create",
                "aa_delete",
                "  group-by:\n    - userIdentity.arn\n    - thing\n  timespan: 60s\n"
                "derived_fields:\n  thing:\n    coalesce:\n      - requestParameters.name\n"
                "      - requestParameters.identities\n",
            ),
        ],
        ["Create", "Delete"],
    ),
    "disjoint_first_fed_first": (
        [
            rule("a_create", ["Create"]),
            rule("b_delete", ["Delete"]),
            ordered("a_create", "b_delete", "  group-by:\n    - userIdentity.arn\n"
                    "  timespan: 60s\n"),
        ],
        ["Create", "Delete", "Other"],
    ),
    "aliases_and_arrays": (
        [
            rule("a_create", ["Create"]),
            rule("b_delete", ["Delete"]),
            ordered(
                "a_create",
                "b_delete",
                "  group-by:\n    - who\n    - requestParameters.identities\n  timespan: 2m\n"
                "  aliases:\n    who:\n      a_create: userIdentity.arn\n"
                "      b_delete: requestParameters.userName\n",
            ),
        ],
        ["Create", "Delete"],
    ),
    "no_group_by": (
        [
            rule("a_create", ["Create"]),
            rule("b_delete", ["Delete"]),
            ordered("a_create", "b_delete", "  timespan: 30s\n"),
        ],
        ["Create", "Delete", "Other"],
    ),
}  # fmt: skip


def write_pack(tmp_path: Path, texts: list[str]) -> Pack:
    for i, text in enumerate(texts):
        (tmp_path / f"r{i}.yml").write_text(text, encoding="utf-8")
    return load_pack([tmp_path])


@pytest.mark.parametrize("variant", sorted(CHAIN_VARIANTS))
def test_random_chains_equal_the_matcher(tmp_path: Path, variant: str) -> None:
    texts, names = CHAIN_VARIANTS[variant]
    pack = write_pack(tmp_path, texts)
    search = convert_rule(pack, pack.get("chain"))
    assert isinstance(search, SplunkSearch), search
    groups, _ = group_fields(pack, "chain")
    rng = random.Random(f"chains-{variant}")
    fired = 0
    for _ in range(150):
        records = random_records(rng, rng.randint(2, 25), names, rng.choice([90, 400, 3000]))
        want = matcher_alerts(pack, records, "chain")
        adhoc, scheduled = splunk_alerts(search, records, groups, None)
        assert adhoc == want, [r.data for r in records]
        assert scheduled == want, [r.data for r in records]
        fired += bool(want)
    assert fired > 30  # the streams exercise the alerting path, not only silence


def test_chain_window_edge_is_inclusive(tmp_path: Path) -> None:
    texts, _ = CHAIN_VARIANTS["disjoint_first_fed_first"]
    pack = write_pack(tmp_path, texts)
    search = convert_rule(pack, pack.get("chain"))
    assert isinstance(search, SplunkSearch)
    for gap, fires in ((60, True), (61, False)):
        records = [
            Record.from_dict(
                {"eventTime": iso(T0 + t), "eventID": i, "eventSource": "x.amazonaws.com",
                 "eventName": n, "userIdentity": {"arn": "arn:p"}}
            )
            for t, i, n in ((0, "e1", "Create"), (gap, "e2", "Delete"))
        ]  # fmt: skip
        want = matcher_alerts(pack, records, "chain")
        assert bool(want) is fires
        assert splunk_alerts(search, records, ["userIdentity.arn"], None) == (want, want)


FIRST_SEEN_VARIANTS = {
    "one_field": "first_seen:\n  fields: [userIdentity.arn]\n  learning_period: 10m\n"
    "  forget_after: 5m\n",
    "array_and_two_fields": "first_seen:\n  fields: [userIdentity.arn, requestParameters."
    "identities]\n  learning_period: 10m\n  forget_after: 20m\n",
}


@pytest.mark.parametrize("variant", sorted(FIRST_SEEN_VARIANTS))
def test_random_first_seen_equals_the_matcher(tmp_path: Path, variant: str) -> None:
    pack = write_pack(tmp_path, [rule("fs", ["Enum"], FIRST_SEEN_VARIANTS[variant])])
    search = convert_rule(pack, pack.get("fs"))
    assert isinstance(search, SplunkSearch), search
    groups, spec = group_fields(pack, "fs")
    rng = random.Random(f"first-seen-{variant}")
    fired = 0
    for _ in range(150):
        records = random_records(
            rng, rng.randint(1, 30), ["Enum", "Other"], 7200, steps=(1, 30, 600, 1200)
        )
        want = matcher_alerts(pack, records, "fs")
        adhoc, scheduled = splunk_alerts(search, records, groups, spec, _single(pack, "fs"))
        assert adhoc == want, [r.data for r in records]
        assert scheduled == want, [r.data for r in records]
        fired += bool(want)
    assert fired > 30
