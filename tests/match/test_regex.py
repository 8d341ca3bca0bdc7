"""Regular expressions in linear time (RE2): semantics kept, hostile input bounded, refusals loud.

``match.regex`` runs Sigma's ``|re`` and the matcher's wildcard patterns on RE2. These tests pin
the documented semantics against Python's ``re`` (the reference it replaces, where the two are
meant to agree), the documented differences, the load-time refusals (naming rule and pattern),
and that a catastrophic pattern over a 100 kB attacker-chosen value returns within seconds.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from ses_sigma.match.engine import Engine
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.match.regex import RegexRefused, compile_regex, to_re2
from ses_sigma.pack import DEFAULT_RULES_DIR, load_pack

SAMPLES = [
    "",
    "a",
    "abc",
    "abc\n",
    "x\nabc\ny",
    "ABC",
    "a\tb",
    "a b",
    "ſ",
    "K",
    "aaa!",
    "é",
    "\x0b",
]

AGREEING = [
    ("abc", ""),
    ("^abc$", ""),
    ("^abc$", "m"),
    ("^b", "m"),
    ("a.c", "s"),
    ("x.abc", ""),
    ("x.abc", "s"),
    ("ABC", "i"),
    ("(?i)abc", ""),
    ("[^]a]", ""),
    ("[]a]+", ""),
    ("a{,3}c", ""),
    ("a{2}", ""),
    ("b|^x", ""),
    ("(b|c)$", ""),
    ("c$|^a", ""),
    ("\\Z", ""),
    ("c\\Z", ""),
    ("\\u0061", ""),
    ("\\s", ""),
    ("[\\s]", ""),
    ("\\S+$", ""),
    ("[a-c]+$", "i"),
    ("\\x41", "i"),
    ("(?P<n>b)c", ""),
    ("k", "i"),
    ("s", "i"),
]


@pytest.mark.parametrize(("pattern", "flags"), AGREEING)
def test_re2_agrees_with_python_re(pattern: str, flags: str) -> None:
    search = compile_regex(pattern, flags)
    py = re.compile(pattern, sum({"i": re.I, "m": re.M, "s": re.S}[f] for f in flags))
    for text in SAMPLES:
        assert search(text) == (py.search(text) is not None), (pattern, flags, text)


def test_documented_differences_follow_pcre() -> None:
    assert not compile_regex("\\d")("٣")  # ASCII digits, as PCRE (Python: Unicode)
    assert not compile_regex("^\\w$")("é")
    assert compile_regex("^\\s$")("\x0b")  # PCRE's \s has VT (RE2's own does not)
    assert compile_regex("abc$")("abc\n")  # $ before a final newline, as Python and PCRE
    assert not compile_regex("abc\\Z")("abc\n")
    assert compile_regex("a")("x\ud800a")  # a lone surrogate does not crash


@pytest.mark.parametrize(
    "pattern",
    [
        "(?=a)b",  # lookahead
        "(?<!a)b",  # lookbehind
        "(a)\\1",  # backreference
        "(?>a+)b",  # atomic group
        "a++",  # possessive
        "(?(1)a|b)",
        "(?x) a b",
        "[[:alpha:]]",  # POSIX class: literal characters to Python
        "[\\S]",
        "a$b",  # $ before more of the pattern
        "(a$)b",
        "a{1000}{1000}{1000}",  # beyond RE2's memory budget
    ],
)
def test_refused_patterns(pattern: str) -> None:
    with pytest.raises(RegexRefused):
        compile_regex(pattern)


def test_translation() -> None:
    assert to_re2("a{,3}\\Z\\u00e9") == ("a{0,3}\\z\\x{00e9}", False)
    assert to_re2("a$") == ("a$", True)
    assert to_re2("a$", multiline=True) == ("a$", False)


GOOD = DEFAULT_RULES_DIR / "aws_ses_identity_deleted.yml"


def rule_with(tmp_path: Path, name: str, condition: str) -> Path:
    text = GOOD.read_text(encoding="utf-8").replace("aws_ses_identity_deleted", name)
    text = text.replace("be7f7a63-c9e1-4f11-9a0f-0f7277506925", str(uuid.uuid4()))
    anchor = "      - DeleteVerifiedEmailAddress\n"
    path = tmp_path / f"{name}.yml"
    path.write_text(text.replace(anchor, f"{anchor}    {condition}\n"), encoding="utf-8")
    return path


def test_unsupported_pattern_is_a_load_error_naming_rule_and_pattern(tmp_path: Path) -> None:
    rule_with(tmp_path, "hx_lookahead", "userAgent|re: '^(?=.*curl)'")
    with pytest.raises(RuleCompileError, match=r"hx_lookahead.*\^\(\?=\.\*curl\).*RE2"):
        Engine(load_pack([tmp_path]))


def record(event_id: str, user_agent: str, identity: str) -> dict:
    return {
        "eventVersion": "1.08",
        "eventTime": "2025-03-11T10:00:00Z",
        "eventSource": "ses.amazonaws.com",
        "eventName": "DeleteIdentity",
        "awsRegion": "us-east-1",
        "eventID": event_id,
        "userAgent": user_agent,
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/x"},
        "requestParameters": {"identity": identity},
        "recipientAccountId": "111122223333",
    }


def test_catastrophic_patterns_on_100kb_values_return_within_seconds(tmp_path: Path) -> None:
    """Python's re needs minutes (exponential / polynomial backtracking) for each record."""
    rules = tmp_path / "rules"
    rules.mkdir()
    rule_with(rules, "hx_nested", "userAgent|re: '^(a+)+$'")
    rule_with(rules, "hx_alternation", "userAgent|re: '^(a|aa)+$'")
    rule_with(rules, "hx_wildcards", "requestParameters.identity: '*a*a*a*a*a*a*a*b'")
    big = "a" * 100_000
    records = [
        record("e1", big + "!", big + "c"),  # nothing matches: the worst case for backtracking
        record("e2", big, big + "b"),  # everything matches
    ]
    (tmp_path / "trail.json").write_text(json.dumps({"Records": records}), encoding="utf-8")
    code = "from ses_sigma.cli import main; main()"
    args = ["scan", "--rules", str(rules), str(tmp_path / "trail.json")]
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    alerts = sorted(
        (a["rule_name"], a["event_ids"]) for a in map(json.loads, done.stdout.splitlines())
    )
    assert alerts == [
        ("hx_alternation", ["e2"]),
        ("hx_nested", ["e2"]),
        ("hx_wildcards", ["e2"]),
    ]
