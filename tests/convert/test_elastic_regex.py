"""Sigma values as Lucene regexes / wildcards / spellings (convert/elastic_regex.py).

Differential: every translation is compiled with the verify package's Lucene regex dialect
(``compile_lucene_regex``, whole-value match, the dialect Elasticsearch uses) and compared,
value by value, with what the matcher does (Python ``re.search`` with the Sigma flags, or
``str.lower()`` equality for plain strings).
"""

from __future__ import annotations

import itertools
import re
import string

import pytest
from sigma.types import SigmaRegularExpression, SigmaRegularExpressionFlag, SigmaString

from ses_sigma.convert.elastic_regex import (
    MAX_CASE_VARIANTS,
    Untranslatable,
    case_variants,
    ci_regex,
    has_letters,
    sigma_regex_to_lucene,
    wildcard_pattern,
)
from ses_sigma.match.values import value_test
from ses_sigma.verify.lucene_patterns import compile_lucene_regex, compile_wildcard

FLAGS = {
    "i": SigmaRegularExpressionFlag.IGNORECASE,
    "m": SigmaRegularExpressionFlag.MULTILINE,
    "s": SigmaRegularExpressionFlag.DOTALL,
}
PY_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL}

SAMPLES = [
    "",
    "GetAccount",
    "getaccount",
    "GETACCOUNT",
    "GetAccountSendingEnabled",
    "xGetAccount",
    "Get-Account",
    "Get\nAccount",
    "GetAccount\n",
    "GetAccount\n\n",
    "\nGetAccount",
    "aws-cli/2.22.35 md/awscrt#0.23.8",
    "AWS-CLI/2.1",
    "Boto3/1.35.90 Botocore/1.35.90",
    "ses.amazonaws.com",
    "SES.AMAZONAWS.COM",
    "sesXamazonawsXcom",
    "trustedadvisor.amazonaws.com",
    "arn:aws:iam::111122223333:user/alice",
    "arn:aws:iam::111122223333:user/svc-newsletter",
    "AKIAIOSFODNN7EXAMPLE",
    "ASIAEXAMPLECONSOLE01",
    "\u212aey",  # KELVIN SIGN: lower() is "k"
    "\u0130d",  # LATIN CAPITAL I WITH DOT: IGNORECASE-equal to i
    "\u0131d",  # dotless i
    "\u017fes",  # long s
    "a/b",
    "a.b*c?d\\e",
    "x" * 40,
    "[abc]",
    "(a|b)",
]


def sigma_re(pattern: str, flags: str = "") -> SigmaRegularExpression:
    value = SigmaRegularExpression(pattern)
    for f in flags:
        value.add_flag(FLAGS[f])
    return value


REGEXES = [
    ("GetAccount", ""),
    ("^GetAccount$", ""),
    ("^GetAccount", ""),
    ("Account$", ""),
    ("Account\\Z", ""),
    ("\\AGet", ""),
    ("get(account|sendquota)$", "i"),
    ("^aws-cli/2\\.", ""),
    ("user/(alice|svc-.*)", ""),
    ("^AKIA[A-Z0-9]{16}$", ""),
    ("^AKIA[A-Z0-9]{16}$", "i"),
    ("[^a-z]+", ""),
    ("[^a-z]+", "i"),
    ("Get.Account", ""),
    ("Get.Account", "s"),
    ("ses\\.amazonaws\\.com", "i"),
    ("a.*?b", ""),
    ("(?i)key", ""),
    ("(?i:acc)ount", ""),
    ("x{3,5}", ""),
    ("x{39,}", ""),
    ("colou?r|GET", "i"),
    ("\\[abc\\]", ""),
    ("\\(a\\|b\\)", ""),
    ("a/b", ""),
    ("[.*?]", ""),
    ("[k-m]ey", "i"),
    ("", ""),
]


@pytest.mark.parametrize(("pattern", "flags"), REGEXES)
def test_regex_translation_agrees_with_python_search(pattern: str, flags: str) -> None:
    lucene = sigma_regex_to_lucene(sigma_re(pattern, flags))
    compiled = compile_lucene_regex(lucene)
    py_flags = 0
    for f in flags:
        py_flags |= PY_FLAGS[f]
    python = re.compile(pattern, py_flags)
    for sample in SAMPLES:
        expected = python.search(sample) is not None
        got = compiled.fullmatch(sample) is not None
        assert got == expected, (pattern, flags, lucene, sample)


@pytest.mark.parametrize(
    ("pattern", "flags", "why"),
    [
        ("a(?=b)", "", "assert"),
        ("(a)\\1", "", "groupref"),
        ("\\bkey", "", "anchor"),
        ("\\d+", "", "not in the Lucene regular expression syntax"),
        ("[\\w.]+", "", "not in the Lucene regular expression syntax"),
        ("^a", "m", "m flag"),
        ("a$", "m", "m flag"),
        ("a^b", "", "anchor"),
        ("a|^b", "", "anchor"),
        ("(?>ab)", "", "atomic"),
        ("a*+", "", "possessive"),
        ("\u00e9", "i", "non-ASCII"),
        ("(?x) a b", "", "flags other than"),
    ],
)
def test_untranslatable_regexes_are_refused(pattern: str, flags: str, why: str) -> None:
    with pytest.raises(Untranslatable) as info:
        sigma_regex_to_lucene(sigma_re(pattern, flags))
    assert why.lower() in info.value.reason.lower()
    assert pattern in info.value.reason


STRINGS = [
    "GetAccount",
    "getaccount",
    "*Account",
    "Get*",
    "*amazonaws*",
    "Get?ccount",
    "ses.amazonaws.com",
    "a/b",
    "a\\*b",  # a literal star
    "key",
    "KEY",
    "12345",
    "",
]


@pytest.mark.parametrize("text", STRINGS)
def test_ci_regex_agrees_with_the_matcher(text: str) -> None:
    value = SigmaString(text)
    matcher = value_test(value)
    compiled = compile_lucene_regex(ci_regex(value))
    for sample in [*SAMPLES, text, text.upper(), text.lower(), "a*b", "axb"]:
        assert (compiled.fullmatch(sample) is not None) == matcher(sample), (text, sample)


def test_ci_regex_classes_include_the_kelvin_sign_for_k() -> None:
    assert ci_regex(SigmaString("k")) == "[kK\u212a]"
    assert ci_regex(SigmaString("a.b")) == "[aA]\\.[bB]"


@pytest.mark.parametrize("text", ["caf\u00e9", "\u00c9t\u00e9"])
def test_non_ascii_letters_are_refused(text: str) -> None:
    with pytest.raises(Untranslatable, match="non-ASCII letter"):
        ci_regex(SigmaString(text))
    with pytest.raises(Untranslatable, match="non-ASCII letter"):
        case_variants(SigmaString(text))


def test_non_ascii_non_letters_are_literals() -> None:
    compiled = compile_lucene_regex(ci_regex(SigmaString("a\u2192b")))
    assert compiled.fullmatch("A\u2192B")
    assert not compiled.fullmatch("A-B")


@pytest.mark.parametrize("text", ["ses", "Ses", "a-1", "key"])
def test_case_variants_are_exactly_the_spellings_the_matcher_accepts(text: str) -> None:
    value = SigmaString(text)
    variants = set(case_variants(value))
    matcher = value_test(value)
    pool = string.ascii_letters + string.digits + "-\u212a\u0130\u0131\u017f"
    accepted = {
        "".join(c) for c in itertools.product(pool, repeat=len(text)) if matcher("".join(c))
    }
    assert accepted == variants


def test_case_variants_order_is_fixed() -> None:
    assert case_variants(SigmaString("Ses")) == [
        "ses",
        "seS",
        "sEs",
        "sES",
        "Ses",
        "SeS",
        "SEs",
        "SES",
    ]


def test_case_variants_refuse_wildcards_and_too_many_spellings() -> None:
    with pytest.raises(Untranslatable, match="wildcards"):
        case_variants(SigmaString("ses*"))
    long = "a" * (MAX_CASE_VARIANTS.bit_length())  # 2**9 = 512 > 256
    with pytest.raises(Untranslatable, match="case variants"):
        case_variants(SigmaString(long))
    assert len(case_variants(SigmaString("a" * 8))) == MAX_CASE_VARIANTS


def test_has_letters() -> None:
    assert has_letters(SigmaString("a1"))
    assert has_letters(SigmaString("\u212a"))
    assert not has_letters(SigmaString("123-*"))
    assert not has_letters(SigmaString(""))


@pytest.mark.parametrize(
    ("text", "lower", "expected"),
    [
        ("Get*", True, "get*"),
        ("Get?X", False, "Get?X"),
        ("a\\*b*", True, "a\\*b*"),
        ("a\\?b", False, "a\\?b"),
        ("a\\\\b", False, "a\\\\b"),
    ],
)
def test_wildcard_pattern(text: str, lower: bool, expected: str) -> None:
    assert wildcard_pattern(SigmaString(text), lower=lower) == expected


def test_wildcard_pattern_keeps_the_matcher_meaning_when_lowered() -> None:
    for text in ["Get*", "*amazonaws.com", "G?tAccount", "a\\*b*"]:
        value = SigmaString(text)
        matcher = value_test(value)
        compiled = compile_wildcard(wildcard_pattern(value, lower=True))
        for sample in [*SAMPLES, "a*bc", "a*b", "axb", "GetX"]:
            assert (compiled.fullmatch(sample.lower()) is not None) == matcher(sample), (
                text,
                sample,
            )
