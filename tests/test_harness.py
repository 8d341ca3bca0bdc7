"""The fixture harness itself: it must be able to fail.

Wrong expectations give failed verdicts (in the orders that differ), coverage gaps are
reported, and malformed fixtures raise FixtureError naming the file, the line and the case.
"""

from __future__ import annotations

import shutil
import textwrap
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from ses_sigma.alerts import Alert
from ses_sigma.harness import (
    BASE_FILE,
    DEFAULT_FIXTURES_DIR,
    ORDERS,
    Case,
    ExpectedAlert,
    FixtureError,
    check_coverage,
    collect_fixtures,
    expand_event,
    load_bases,
    load_fixtures,
    order_events,
    run_case,
    run_cases,
)
from ses_sigma.match.engine import Engine
from ses_sigma.pack import load_pack, rule_key
from ses_sigma.records import Record


@cache
def rules() -> tuple[str, ...]:
    """The pack's rule names (loaded at test time, so a broken pack fails tests, not collection)."""
    return tuple(rule_key(r) for r in load_pack())


CREATED = "aws_ses_identity_created"
ALICE = "arn:aws:iam::111122223333:user/alice"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_pack())


@pytest.fixture
def fixtures(tmp_path: Path) -> Path:
    """An empty fixture directory with the pack's real _base.yml."""
    shutil.copy(DEFAULT_FIXTURES_DIR / BASE_FILE, tmp_path / BASE_FILE)
    return tmp_path


def write(directory: Path, rule: str, text: str) -> Path:
    path = directory / f"{rule}.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def one_case(directory: Path, rule: str, text: str) -> Case:
    write(directory, rule, text)
    cases = load_fixtures(directory, rules())
    assert len(cases) == 1
    return cases[0]


CREATION = """\
cases:
  - name: the case
    why: one successful VerifyEmailIdentity
    events:
      - base: ses_verify_email_identity
        eventID: 00000000-0000-4000-8000-000000000001
        eventTime: "2026-11-20T10:00:00Z"
      - base: ses_get_account
        eventID: 00000000-0000-4000-8000-000000000002
        eventTime: "2026-11-20T10:05:00Z"
    expect: {expect}
"""
E1 = "00000000-0000-4000-8000-000000000001"
E2 = "00000000-0000-4000-8000-000000000002"


# --------------------------------------------------------------------------- verdicts


def test_right_expectation_passes_in_every_order(engine: Engine, fixtures: Path) -> None:
    case = one_case(fixtures, CREATED, CREATION.format(expect=f"[{{event_ids: [{E1}]}}]"))
    verdict = run_case(engine, case)
    assert verdict.passed
    assert [r.order for r in verdict.results] == list(ORDERS)
    assert verdict.failed_orders == ()
    assert [a.event_ids for a in verdict.got] == [(E1,)]


@pytest.mark.parametrize(
    "expect",
    [
        "[]",  # the rule fires
        f"[{{event_ids: [{E2}]}}]",  # another event
        f"[{{event_ids: [{E1}]}}, {{event_ids: [{E1}]}}]",  # one alert too many
        f"[{{event_ids: [{E1}, {E2}]}}]",  # wrong event list
        f"[{{event_ids: [{E1}], group: {{userIdentity.arn: x}}}}]",  # a group it does not have
    ],
    ids=["quiet", "other event", "two alerts", "two events", "group"],
)
def test_wrong_expectation_fails(engine: Engine, fixtures: Path, expect: str) -> None:
    case = one_case(fixtures, CREATED, CREATION.format(expect=expect))
    verdict = run_case(engine, case)
    assert not verdict.passed
    assert verdict.failed_orders == ORDERS
    assert [a.event_ids for a in verdict.got] == [(E1,)]
    assert "MISMATCH" in verdict.explain()


def test_expected_alert_of_a_quiet_rule_fails(engine: Engine, fixtures: Path) -> None:
    text = CREATION.format(expect=f"[{{event_ids: [{E2}]}}]")
    case = one_case(fixtures, "aws_ses_identity_deleted", text)
    verdict = run_case(engine, case)
    assert not verdict.passed
    assert verdict.got == ()


def test_only_the_fixture_rules_alerts_are_compared(engine: Engine, fixtures: Path) -> None:
    # The creation also fires aws_ses_identity_modification_attempt; a fixture of the
    # discovery rule (which does not fire on it) must not see that alert.
    case = one_case(fixtures, "aws_ses_discovery_long_term_key", CREATION.format(expect="[]"))
    assert not case.fires
    verdict = run_case(engine, case)
    # alice's GetAccount with an AKIA key does fire the discovery rule.
    assert [a.event_ids for a in verdict.got] == [(E2,)]
    assert not verdict.passed


def test_group_is_compared_when_given(engine: Engine, fixtures: Path) -> None:
    text = """\
    cases:
      - name: chain
        why: create then delete
        events:
          - base: ses_verify_email_identity
            eventID: 00000000-0000-4000-8000-000000000001
            eventTime: "2026-11-20T10:00:00Z"
          - base: ses_delete_identity
            eventID: 00000000-0000-4000-8000-000000000002
            eventTime: "2026-11-20T10:10:00Z"
        expect:
          - event_ids: [00000000-0000-4000-8000-000000000001, 00000000-0000-4000-8000-000000000002]
            group: {userIdentity.arn: "%s", sesIdentity: newsletter@example.com}
    """
    rule = "aws_ses_identity_added_then_deleted"
    right = one_case(fixtures, rule, text % ALICE)
    assert run_case(engine, right).passed
    wrong = one_case(fixtures, rule, text % "arn:aws:iam::111122223333:user/bob")
    assert not run_case(engine, wrong).passed


class _FirstRecordEngine:
    """A deliberately order-dependent matcher: alerts on whatever record comes first."""

    def run(self, records: list[Record]) -> list[Alert]:
        first = records[0]
        return [Alert("id", CREATED, "t", "info", first.time, (first.event_id,))]


class _BrokenEngine:
    def run(self, records: list[Record]) -> list[Alert]:
        raise RuntimeError("matcher exploded")


def test_order_dependent_matcher_fails_in_the_orders_that_differ(fixtures: Path) -> None:
    case = one_case(fixtures, CREATED, CREATION.format(expect=f"[{{event_ids: [{E1}]}}]"))
    verdict = run_case(_FirstRecordEngine(), case)  # type: ignore[arg-type]
    assert not verdict.passed
    assert "given" not in verdict.failed_orders
    assert "reversed" in verdict.failed_orders
    shuffled_first = order_events(case, "shuffled")[0]["eventID"]
    assert ("shuffled" in verdict.failed_orders) == (shuffled_first != E1)


def test_matcher_errors_become_failed_verdicts(fixtures: Path) -> None:
    case = one_case(fixtures, CREATED, CREATION.format(expect="[]"))
    [verdict] = run_cases(_BrokenEngine(), [case])  # type: ignore[arg-type]
    assert not verdict.passed
    assert verdict.error == "RuntimeError: matcher exploded"
    assert "matcher exploded" in verdict.explain()


def test_orders_are_permutations_and_the_shuffle_is_fixed(fixtures: Path) -> None:
    events = "\n".join(
        f"""\
      - base: ses_get_account
        eventID: 00000000-0000-4000-8000-00000000000{i}
        eventTime: "2026-11-20T10:00:0{i}Z\""""
        for i in range(8)
    )
    text = f"cases:\n  - name: eight\n    why: w\n    events:\n{events}\n    expect: []\n"
    write(fixtures, CREATED, text)
    [case] = load_fixtures(fixtures, rules())
    given = [e["eventID"] for e in order_events(case, "given")]
    shuffled = [e["eventID"] for e in order_events(case, "shuffled")]
    assert [e["eventID"] for e in order_events(case, "reversed")] == given[::-1]
    assert sorted(shuffled) == sorted(given)
    assert shuffled not in (given, given[::-1])
    assert shuffled == [e["eventID"] for e in order_events(case, "shuffled")]
    with pytest.raises(ValueError, match="unknown order"):
        order_events(case, "sideways")


# --------------------------------------------------------------------------- coverage


def _case(rule: str, name: str, fires: bool) -> Case:
    expect = (ExpectedAlert(event_ids=("e",)),) if fires else ()
    return Case(rule=rule, name=name, why="w", events=(), expect=expect, file="f")


def test_coverage_reports_missing_negative_positive_and_fixtures() -> None:
    cases = [
        _case("only_positive", "a", True),
        _case("only_negative", "b", False),
        _case("both", "c", True),
        _case("both", "d", False),
    ]
    problems = check_coverage(["only_positive", "only_negative", "both", "untested"], cases)
    assert [(p.rule, p.message) for p in problems] == [
        ("only_positive", "no case where the rule must not fire"),
        ("only_negative", "no case where the rule fires"),
        ("untested", "no fixture cases"),
    ]


def test_a_pack_rule_without_fixture_file_is_a_coverage_gap(fixtures: Path) -> None:
    write(fixtures, CREATED, CREATION.format(expect=f"[{{event_ids: [{E1}]}}]"))
    cases = load_fixtures(fixtures, rules())
    gaps = {p.rule: p.message for p in check_coverage(rules(), cases)}
    assert gaps[CREATED] == "no case where the rule must not fire"
    assert gaps["aws_ses_identity_deleted"] == "no fixture cases"
    assert len(gaps) == len(rules())


# --------------------------------------------------------------------------- malformed fixtures

GOOD_EVENT = """\
      - base: ses_get_account
        eventID: 00000000-0000-4000-8000-000000000001
        eventTime: "2026-11-20T10:00:00Z"
"""


def case_text(name: str = "bad one", events: str = GOOD_EVENT, extra: str = "") -> str:
    return f"  - name: {name}\n    why: w\n    events:\n{events}    expect: []\n{extra}"


MALFORMED: dict[str, tuple[str, str]] = {
    "unknown base": (
        "cases:\n" + case_text(events=GOOD_EVENT.replace("ses_get_account", "ses_nope")),
        "unknown base 'ses_nope'",
    ),
    "unknown principal": (
        "cases:\n" + case_text(events=GOOD_EVENT + "        principal: mallory\n"),
        "unknown principal 'mallory'",
    ),
    "missing expect": (
        "cases:\n  - name: bad one\n    why: w\n    events:\n" + GOOD_EVENT,
        "missing key(s) expect",
    ),
    "missing why": (
        "cases:\n  - name: bad one\n    events:\n" + GOOD_EVENT + "    expect: []\n",
        "missing key(s) why",
    ),
    "unknown case key": (
        "cases:\n" + case_text().replace("    expect: []", "    expected: []\n    expect: []"),
        "unknown key(s) expected",
    ),
    "no eventID": (
        "cases:\n"
        + case_text(
            events=GOOD_EVENT.replace("        eventID: 00000000-0000-4000-8000-000000000001\n", "")
        ),
        "must set eventID explicitly",
    ),
    "no eventTime": (
        "cases:\n"
        + case_text(events=GOOD_EVENT.replace('        eventTime: "2026-11-20T10:00:00Z"\n', "")),
        "must set eventTime explicitly",
    ),
    "bad eventTime": (
        "cases:\n" + case_text(events=GOOD_EVENT.replace("2026-11-20T10", "2026-11-31T10")),
        "not a valid date",
    ),
    "duplicate eventID": (
        "cases:\n" + case_text(events=GOOD_EVENT + GOOD_EVENT),
        "duplicate eventID(s)",
    ),
    "expect names a stranger": (
        "cases:\n"
        + case_text().replace(
            "    expect: []", "    expect: [{event_ids: [00000000-0000-4000-8000-00000000000f]}]"
        ),
        "are not events of this case",
    ),
    "expect without event_ids": (
        "cases:\n" + case_text().replace("    expect: []", "    expect: [{group: {a: b}}]"),
        "event_ids must be a non-empty list",
    ),
    "remove of an absent field": (
        "cases:\n" + case_text(events=GOOD_EVENT + "        _remove: [errorCode]\n"),
        "_remove: 'errorCode' is not in the record",
    ),
    "unknown directive": (
        "cases:\n" + case_text(events=GOOD_EVENT + "        _delete: [readOnly]\n"),
        "unknown directive(s) _delete",
    ),
    "empty events": (
        "cases:\n  - name: bad one\n    why: w\n    events: []\n    expect: []\n",
        "events must be a non-empty list",
    ),
    "duplicate case names": (
        "cases:\n" + case_text() + case_text(),
        "duplicate case name (first at line 2)",
    ),
}


@pytest.mark.parametrize("kind", MALFORMED)
def test_malformed_case_raises_with_file_line_and_case(fixtures: Path, kind: str) -> None:
    text, message = MALFORMED[kind]
    path = write(fixtures, CREATED, text)
    with pytest.raises(FixtureError) as info:
        load_fixtures(fixtures, rules())
    [problem] = info.value.problems
    assert problem.file == str(path)
    assert problem.case == "bad one"
    assert problem.line is not None
    assert message in problem.message
    assert str(path) in str(info.value) and "'bad one'" in str(info.value)


def test_problems_of_one_case_do_not_hide_the_others(fixtures: Path) -> None:
    text = "cases:\n" + case_text("good") + case_text(events="      - 3\n")
    path = write(fixtures, CREATED, text)
    cases, problems = collect_fixtures(fixtures, rules())
    assert [c.name for c in cases] == ["good"]
    assert [(p.file, p.case, p.line) for p in problems] == [(str(path), "bad one", 9)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cases:\n  - name: [unclosed\n", "invalid YAML"),
        (
            "cases:\n"
            + case_text(events=GOOD_EVENT + '        eventTime: "2026-11-20T10:00:01Z"\n'),
            "duplicate key",
        ),
        ("cases: []\n", "cases must be a non-empty list"),
        ("tests: []\n", "must be a mapping with one key, cases"),
        ("- just a list\n", "must be a mapping with one key, cases"),
    ],
    ids=["bad yaml", "duplicate key", "no cases", "wrong top key", "not a mapping"],
)
def test_malformed_file_raises_with_file(fixtures: Path, text: str, message: str) -> None:
    path = write(fixtures, CREATED, text)
    with pytest.raises(FixtureError) as info:
        load_fixtures(fixtures, rules())
    [problem] = info.value.problems
    assert problem.file == str(path)
    assert message in problem.message


def test_fixture_for_an_unknown_rule_is_an_error(fixtures: Path) -> None:
    path = write(fixtures, "aws_ses_no_such_rule", "cases:\n" + case_text())
    with pytest.raises(FixtureError, match="no rule named 'aws_ses_no_such_rule'") as info:
        load_fixtures(fixtures, rules())
    assert info.value.problems[0].file == str(path)


def test_broken_base_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / BASE_FILE).write_text("principals: {}\nrecords: [1]\n", encoding="utf-8")
    with pytest.raises(FixtureError) as info:
        load_fixtures(tmp_path, rules())
    messages = [p.message for p in info.value.problems]
    assert "principals must be a non-empty mapping of names" in messages
    assert "records must be a non-empty mapping of names" in messages
    assert all(p.file == str(tmp_path / BASE_FILE) for p in info.value.problems)


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FixtureError, match="fixtures directory not found"):
        load_fixtures(tmp_path / "nope", rules())


# --------------------------------------------------------------------------- event expansion


def bases() -> Any:
    return load_bases(DEFAULT_FIXTURES_DIR / BASE_FILE)


def test_expansion_merges_removes_and_switches_principal() -> None:
    b = bases()
    before = repr(b.records["ses_create_email_identity"])
    record = expand_event(
        {
            "base": "ses_create_email_identity",
            "principal": "bob_mailops",
            "_remove": ["responseElements.dkimAttributes", "tlsDetails.cipherSuite"],
            "eventID": E1,
            "eventTime": "2026-11-20T10:00:00Z",
            "requestParameters": {"emailIdentity": "x@example.net"},
            "responseElements": {"identityType": "EMAIL_ADDRESS"},
            "tlsDetails": {"tlsVersion": "TLSv1.2"},
            "errorCode": None,
        },
        b,
    )
    assert record["userIdentity"] == b.principals["bob_mailops"]["userIdentity"]
    assert "userName" not in record["userIdentity"]  # replaced wholesale, not merged
    assert record["sourceIPAddress"] == "192.0.2.44"
    assert record["requestParameters"] == {"emailIdentity": "x@example.net"}
    assert record["responseElements"] == {
        "identityType": "EMAIL_ADDRESS",
        "verifiedForSendingStatus": False,
    }
    assert record["tlsDetails"] == {
        "tlsVersion": "TLSv1.2",
        "clientProvidedHostHeader": "email.us-east-1.amazonaws.com",
    }
    assert record["errorCode"] is None and "errorCode" in record
    assert record["eventID"] == E1
    assert repr(b.records["ses_create_email_identity"]) == before  # the base is untouched


def test_null_and_lists_replace() -> None:
    record = expand_event(
        {
            "base": "ses_get_identity_verification_attributes",
            "eventID": E1,
            "eventTime": "2026-11-20T10:00:00Z",
            "requestParameters": {"identities": ["only.example.org"]},
            "userAgent": None,
        },
        bases(),
    )
    assert record["requestParameters"] == {"identities": ["only.example.org"]}
    assert record["userAgent"] is None


def test_unquoted_times_stay_strings(fixtures: Path) -> None:
    text = "cases:\n" + case_text(
        events=GOOD_EVENT.replace('"2026-11-20T10:00:00Z"', "2026-11-20T10:00:00Z")
    )
    write(fixtures, CREATED, text)
    [case] = load_fixtures(fixtures, rules())
    assert case.events[0]["eventTime"] == "2026-11-20T10:00:00Z"


def test_filtered_engines_are_cached_per_live_engine_not_per_id() -> None:
    """The cache of filtered engines is keyed on the engine itself, weakly: an engine that is
    gone takes its entries with it, so a new engine (which may get the same id) never gets an
    engine of another pack."""
    import gc

    from ses_sigma import harness
    from ses_sigma.pack import DEFAULT_RULES_DIR

    filters = (DEFAULT_FIXTURES_DIR / "_filters" / "known_monitoring_keys.yml",)
    both = [
        DEFAULT_RULES_DIR / "aws_ses_discovery_long_term_key.yml",
        DEFAULT_RULES_DIR / "aws_ses_enumeration_new_principal.yml",
    ]
    first = Engine(load_pack(both))
    filtered = harness.filtered_engine(first, filters)
    assert harness.filtered_engine(first, filters) is filtered
    assert first in harness._FILTERED
    entries = len(harness._FILTERED)
    del first, filtered
    gc.collect()
    assert len(harness._FILTERED) == entries - 1
    second = Engine(load_pack([*both, DEFAULT_RULES_DIR / "aws_ses_identity_deleted.yml"]))
    names = set(harness.filtered_engine(second, filters).rule_names)
    assert "aws_ses_identity_deleted" in names and len(names) == 3
