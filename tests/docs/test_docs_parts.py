"""The parts of the docs generator on small rules: API call pairs, outcome, conditions,
durations, refusing what cannot be documented faithfully."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import pytest
from sigma.collection import SigmaCollection
from sigma.rule import SigmaRule, SigmaRuleBase

from ses_sigma.convert.base import TARGETS, ConversionOutput, Target
from ses_sigma.docs import DocsError
from ses_sigma.docs.calls import ApiCall, Outcome, other_conditions, outcome, watched_calls
from ses_sigma.docs.examples import pick_example
from ses_sigma.docs.markdown import code_block
from ses_sigma.docs.queries import convert_pack
from ses_sigma.docs.strategy import duration_text
from ses_sigma.harness import load_fixtures
from ses_sigma.match.engine import Engine
from ses_sigma.pack import Pack, load_pack


def rule(detection: str) -> SigmaRule:
    text = textwrap.dedent(
        """\
        title: t
        name: t
        logsource: {product: aws, service: cloudtrail}
        detection:
        """
    ) + textwrap.indent(textwrap.dedent(detection), "  ")
    (r,) = SigmaCollection.from_yaml(text).rules
    assert isinstance(r, SigmaRule)
    return r


def test_pairs_follow_the_and_branches() -> None:
    r = rule(
        """\
        a:
          eventSource: ses.amazonaws.com
          eventName: [GetAccount, ListIdentities]
        b:
          eventSource: servicequotas.amazonaws.com
          eventName: ListServiceQuotas
        condition: a or b
        """
    )
    assert watched_calls(r) == (
        ApiCall("servicequotas.amazonaws.com", "ListServiceQuotas"),
        ApiCall("ses.amazonaws.com", "GetAccount"),
        ApiCall("ses.amazonaws.com", "ListIdentities"),
    )


def test_contradictory_branches_are_dropped_and_case_variants_merged() -> None:
    r = rule(
        """\
        a:
          eventSource: ses.amazonaws.com
        b:
          eventSource: [SES.amazonaws.com, sts.amazonaws.com]
          eventName: GetAccount
        condition: a and b
        """
    )
    assert watched_calls(r) == (ApiCall("ses.amazonaws.com", "GetAccount"),)


@pytest.mark.parametrize(
    "detection",
    [
        "a:\n  eventSource: ses.amazonaws.com\ncondition: a\n",  # no eventName
        "a:\n  eventSource: ses.amazonaws.com\n  eventName|startswith: Get\ncondition: a\n",
        "a:\n  eventSource: ses.amazonaws.com\n  eventName: GetAccount\n"
        "b:\n  userAgent: x\ncondition: a or b\n",  # a branch pins nothing
    ],
)
def test_unpinned_calls_are_an_error(detection: str) -> None:
    with pytest.raises(DocsError, match=r"^t: "):
        watched_calls(rule(detection))


@pytest.mark.parametrize(
    ("detection", "expected"),
    [
        ("a:\n  eventName: X\n  errorCode: null\ncondition: a\n", Outcome.SUCCESS),
        ("a:\n  eventName: X\ncondition: a\n", Outcome.ANY),
        ("a:\n  eventName: X\n  errorCode: AccessDenied\ncondition: a\n", Outcome.REFUSED),
        ("a:\n  eventName: X\nf:\n  errorCode: null\ncondition: a and not f\n", Outcome.REFUSED),
        (
            "a:\n  eventName: X\nf:\n  errorCode|exists: true\ncondition: a and not f\n",
            Outcome.SUCCESS,
        ),
    ],
)
def test_outcome(detection: str, expected: Outcome) -> None:
    assert outcome(rule(detection)) is expected


def test_outcome_that_depends_on_more_is_an_error() -> None:
    r = rule("a:\n  eventName: X\nb:\n  errorCode: null\ncondition: a or b\n")
    with pytest.raises(DocsError, match="errorCode"):
        outcome(r)


def test_other_conditions_with_polarity() -> None:
    r = rule(
        """\
        a:
          eventSource: ses.amazonaws.com
          eventName: GetAccount
          userIdentity.accessKeyId|startswith: AKIA
        f:
          sourceIPAddress|endswith: .amazonaws.com
        condition: a and not f
        """
    )
    got = [(c.field, c.value, c.negated) for c in other_conditions(r)]
    assert got == [
        ("userIdentity.accessKeyId", "AKIA*", False),
        ("sourceIPAddress", "*.amazonaws.com", True),
    ]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (604800, "7 days"),
        (86400, "1 day"),
        (3600, "1 hour"),
        (5400, "90 minutes"),
        (61, "61 seconds"),
        (1.5, "1.5 seconds"),
    ],
)
def test_duration_text(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


def test_code_block_fence_is_longer_than_any_backtick_run() -> None:
    text = "a ``` b\n"
    block = code_block(text, "x")
    assert block == "````x\na ``` b\n````\n"
    assert code_block("no newline", "") == "```\nno newline\n```\n"


class _UnknownTarget(Target):
    name = "zz_unknown"
    formats = ("blob",)

    def convert(self, pack: Pack, rules: Sequence[SigmaRuleBase], fmt: str) -> ConversionOutput:
        return ConversionOutput()


def test_a_target_the_docs_do_not_know_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    pack = load_pack()
    monkeypatch.setitem(TARGETS, "zz_unknown", _UnknownTarget())
    with pytest.raises(DocsError, match="target zz_unknown"):
        convert_pack(pack)


def test_a_rule_without_a_firing_case_has_no_example() -> None:
    pack = load_pack()
    names = [r.name for r in pack]
    cases = [c for c in load_fixtures(rule_names=names) if not c.fires]
    with pytest.raises(DocsError, match="aws_ses_identity_deleted: no fixture case fires"):
        pick_example("aws_ses_identity_deleted", cases, Engine(pack))


def test_a_case_that_does_not_fire_as_expected_is_refused() -> None:
    pack = load_pack()
    names = [r.name for r in pack]
    case = next(
        c
        for c in load_fixtures(rule_names=names)
        if c.rule == "aws_ses_identity_deleted" and c.fires
    )
    # the same case, claimed for another rule that it does not fire
    other = type(case)(
        rule="aws_ses_identity_created",
        name=case.name,
        why=case.why,
        events=case.events,
        expect=case.expect,
        file=case.file,
    )
    with pytest.raises(DocsError, match="does not give its expected alerts"):
        pick_example("aws_ses_identity_created", [other], Engine(pack))


def test_spelling_of_a_call_does_not_depend_on_set_order() -> None:
    r = rule(
        """\
        a:
          eventSource: [ses.amazonaws.com, SES.amazonaws.com]
          eventName: GetAccount
        condition: a
        """
    )
    assert watched_calls(r) == (ApiCall("SES.amazonaws.com", "GetAccount"),)
