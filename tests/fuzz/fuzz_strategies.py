"""Hypothesis strategies shared by the fuzz tests: hostile text and rule files."""

from __future__ import annotations

import uuid

from hypothesis import strategies as st

from ses_sigma.pack import DEFAULT_RULES_DIR

#: Characters an attacker reaches for: quotes, escapes, wildcards, query syntax, control
#: characters and line breaks of every kind, look-alike and case-folding unicode.
HOSTILE = (
    "\"'\\`*?|:()[]{}<>=!~^&/#%$@,;. -_"
    "\x00\x01\x07\x08\t\n\x0b\x0c\r\x1b\x1c\x1f\x7f\x85\u2028\u2029\u202e\ufeff"
    "aAzZ09ßéÉİıſK\u212aŉ中😀"
)

hostile_text = st.text(alphabet=st.sampled_from(HOSTILE), min_size=1, max_size=12)

#: A rule value is a Sigma string, where * ? and \ are special: escaped here, so the rule means
#: exactly the generated text.
#: ``*`` and ``?`` are not modifiers: the value gets a trailing unescaped wildcard.
MODIFIERS = ("", "|contains", "|startswith", "|endswith", "*", "?")


def sigma_escape(text: str) -> str:
    """``text`` as a Sigma string that means exactly it (``*``, ``?``, ``\\`` escaped)."""
    return "".join("\\" + c if c in "*?\\" else c for c in text)


GOOD = DEFAULT_RULES_DIR / "aws_ses_identity_deleted.yml"


def yaml_quote(text: str) -> str:
    """``text`` as a YAML double-quoted scalar: printable characters as they are, everything
    else (controls, line breaks YAML would fold, BOM, surrogates) as an escape."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F or (ch.isprintable() and code not in (0x85, 0xFEFF)):
            out.append(ch)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def rule_yaml(value: str, modifier: str = "", title: str = "Fuzzed rule") -> str:
    """The pack's deletion rule, renamed ``fz_rule``, with ``userAgent<modifier>: value``."""
    text = GOOD.read_text(encoding="utf-8")
    text = text.replace("name: aws_ses_identity_deleted", "name: fz_rule")
    text = text.replace("be7f7a63-c9e1-4f11-9a0f-0f7277506925", str(uuid.uuid4()))
    text = text.replace("title: AWS SES Sender Identity Deleted", f"title: {yaml_quote(title)}")
    anchor = "      - DeleteVerifiedEmailAddress\n"
    if modifier in ("*", "?"):
        line = f"    userAgent: {yaml_quote(sigma_escape(value) + modifier)}\n"
    else:
        line = f"    userAgent{modifier}: {yaml_quote(sigma_escape(value))}\n"
    return text.replace(anchor, anchor + line)


def record(user_agent: str, event_id: str = "fz-1") -> dict:
    """A successful SES DeleteIdentity call with the given userAgent."""
    return {
        "eventVersion": "1.08",
        "eventTime": "2025-03-11T10:00:00Z",
        "eventSource": "ses.amazonaws.com",
        "eventName": "DeleteIdentity",
        "awsRegion": "us-east-1",
        "eventID": event_id,
        "eventType": "AwsApiCall",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": user_agent,
        "userIdentity": {
            "type": "IAMUser",
            "arn": "arn:aws:iam::111122223333:user/fz",
            "accountId": "111122223333",
            "accessKeyId": "AKIAEXAMPLEFZ0000001",
        },
        "requestParameters": {"identity": "fz@example.com"},
        "responseElements": None,
        "requestID": "00000000-0000-4000-8000-000000000001",
        "recipientAccountId": "111122223333",
    }
