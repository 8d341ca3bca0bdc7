"""Property tests of the raw-bytes pre-filter on hostile JSON Lines.

* The C kernel (AVX2, SSE2 and plain byte loops) and the pure-Python reference give the same
  line count and the same candidates, on any buffer and any sub-range of it, with and without
  ``pieces`` (lines that may be pieces of one S3 record).
* Sound against "decode everything": every line whose decoded record satisfies a pin
  (eventSource, eventName, literals compared as the matcher does, ``str.lower``) is a
  candidate. Lines are built from records with other letter cases, KELVIN SIGN and dotted I,
  escapes, spaces, duplicated and nested eventSource keys, CRLF, no trailing newline, NUL
  bytes, invalid UTF-8 and huge values.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from ses_sigma.prefilter import Pin, Prefilter
from ses_sigma.prefilter import _rawscan as rawscan  # type: ignore[attr-defined]
from ses_sigma.prefilter.reference import scan_reference

PINS = [
    Pin(frozenset({"sts.amazonaws.com"}), frozenset({"getcalleridentity"}), ("trufflehog",)),
    Pin(frozenset({"ses.amazonaws.com"}), frozenset({"getaccount", "sendemail"}), ("akia",)),
    Pin(frozenset({"ses.amazonaws.com", "iam.amazonaws.com"}), frozenset({"createuser"}), ()),
    Pin(frozenset({"support.amazonaws.com"}), None, ("ses-smtp", "limit")),
]
PF = {k: Prefilter(PINS, k) for k in ("c", "python")}
NO_NAMES = [Pin(frozenset({"ses.amazonaws.com"}), None, ("akia",))]

# mostly nothing: an odd letter appended to a pinned value usually unpins it
letters = st.sampled_from([""] * 8 + ["K", "\u212a", "\u0130", "I", "é", "\x00", "\\", '"', "ſ"])
sources = st.sampled_from(
    ["ses.amazonaws.com", "SES.amazonaws.COM", "sts.amazonaws.com", "s3.amazonaws.com",
     "iam.amazonaws.com", "support.amazonaws.com", "\u212ams.amazonaws.com", ""]
)  # fmt: skip
names = st.sampled_from(
    ["GetAccount", "SENDEMAIL", "GetCallerIdentity", "CreateUser", "GetObject", "create\u0130ser"]
)
texts = st.sampled_from(
    ["aws-cli", "TruffleHog", "TRUFFLEHOG x", "truffle", "AKIA", "A\u212aIA", "akİa",
     "ses-smtp-user", "Limit", "x" * 70_000, ""]
)  # fmt: skip


def value_texts(value: Any) -> list[str]:
    """Every scalar's text form in a decoded record (as the matcher compares values)."""
    if isinstance(value, dict):
        return [t for v in value.values() for t in value_texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in value_texts(v)]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, int | float | str):
        return [value if isinstance(value, str) else repr(value)]
    return []


def satisfies(pins: list[Pin], line: bytes) -> bool:
    """Decode everything: does the record of this line satisfy some pin?"""
    try:
        rec = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(rec, dict):
        return False
    src, name = rec.get("eventSource"), rec.get("eventName")
    texts = [t.lower() for t in value_texts(rec)]
    for pin in pins:
        if not isinstance(src, str) or src.lower() not in pin.sources:
            continue
        if pin.names is not None and (not isinstance(name, str) or name.lower() not in pin.names):
            continue
        if all(any(lit in t for t in texts) for lit in pin.literals):
            return True
    return False


@st.composite
def hostile_line(draw: st.DrawFn) -> bytes:
    rec: dict[str, Any] = {
        "eventVersion": "1.09",
        "eventSource": draw(sources) + draw(letters),
        "eventName": draw(names),
        "userAgent": draw(texts) + draw(letters),
        "userIdentity": {"accessKeyId": draw(texts)},
    }
    if draw(st.booleans()):
        rec["requestParameters"] = {"eventSource": draw(sources), "eventName": draw(names)}
    if draw(st.booleans()):
        rec = dict(reversed(list(rec.items())))
    form = draw(st.integers(0, 3))
    if form == 0:
        out = orjson.dumps(rec)
    elif form == 1:
        out = json.dumps(rec).encode()  # spaces, \\u escapes of non-ASCII
    elif form == 2:
        out = json.dumps(rec, ensure_ascii=False, separators=(",", ":")).encode()
    else:
        out = orjson.dumps(rec).replace(b'"eventSource"', b'"event\\u0053ource"', 1)
    edit = draw(st.integers(0, 7))
    if edit == 1:  # a duplicated key
        out = b'{"eventSource":"' + draw(sources).encode() + b'",' + out[1:]
    elif edit == 2:  # invalid UTF-8
        out = out.replace(b"aws", b"a\xffws", 1)
    elif edit == 3:  # a raw NUL byte
        out = out.replace(b"a", b"\x00", 1)
    elif edit == 4:  # upper-cased raw bytes (keys too)
        out = out.upper()
    elif edit == 5:  # cut
        out = out[: draw(st.integers(0, len(out)))]
    return out


@given(
    st.lists(hostile_line(), max_size=8),
    st.sampled_from([b"\n", b"\r\n"]),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_kernels_agree_and_are_sound(
    lines: list[bytes], newline: bytes, trailing: bool, names_pinned: bool, pieces: bool
) -> None:
    buf = newline.join(lines) + (newline if trailing and lines else b"")
    pins = PINS if names_pinned else NO_NAMES
    pfs = [Prefilter(pins, "c"), Prefilter(pins, "python")]
    want = scan_reference(buf, 0, len(buf), pfs[1].plan, pieces)
    got = pfs[0].scan(buf, pieces=pieces)
    assert (got.lines, got.candidates) == want
    for simd in (1, 0):  # SSE2, the byte loop (the default above: AVX2 when the CPU has it)
        assert rawscan.scan(buf, 0, len(buf), pfs[0]._kernel_plan(), pieces, simd=simd) == want
    candidates = {i for i, _, _ in want[1]}
    for i, text in enumerate(buf.split(b"\n")[: want[0]]):
        if satisfies(pins, text.rstrip(b"\r")):
            assert i in candidates, text[:300]


@given(st.binary(max_size=600), st.data())
def test_any_bytes_any_range(data: bytes, draw: st.DataObject) -> None:
    # keys and the anchor letters sprinkled into random bytes, cut at random offsets
    buf = data.replace(b"A", b'"eventSource":"ses.amazonaws.com"').replace(
        b"B", b'"eventName":"GetAccount"'
    )
    start = draw.draw(st.integers(0, len(buf)))
    end = draw.draw(st.integers(start, len(buf)))
    pf = PF["c"]
    want = scan_reference(buf, start, end, PF["python"].plan)
    assert (lambda s: (s.lines, s.candidates))(pf.scan(buf, start, end)) == want
    for simd in (1, 0):
        assert rawscan.scan(buf, start, end, pf._kernel_plan(), simd=simd) == want


# The literal search (rawscan_plan.c ci_contains: no lower-cased copy, 16 starts at a time):
# literals of 1 to 3 letters and punctuation, in any case, at any offset of lines of any
# length, among near misses ("tr" without "uffle", the letters split by a quote).
LITERAL_PINS = [
    Pin(frozenset({"sts.amazonaws.com"}), None, ("trufflehog",)),
    Pin(frozenset({"ses.amazonaws.com"}), None, ("a",)),
    Pin(frozenset({"ses.amazonaws.com"}), None, ("k-1", "zq")),
    Pin(frozenset({"iam.amazonaws.com"}), None, ("ses-smtp-user",)),
]
_PIECES = st.sampled_from(
    ["tr", "TR", "tRuFfLeHoG", "trufflehog", "truffleho", "a", "A", "k-1", "K-1", "k-", "zq",
     "ZQ", "z", "q", "ses-smtp-user", "SES-SMTP-USER", "ses-smtp-use", "x", " ", "-", "é"]
)  # fmt: skip


@given(
    st.sampled_from(["sts.amazonaws.com", "ses.amazonaws.com", "iam.amazonaws.com"]),
    st.lists(st.lists(_PIECES, max_size=40).map("".join), min_size=1, max_size=6),
)
def test_literal_search_any_case_any_offset(source: str, values: list[str]) -> None:
    lines = [orjson.dumps({"eventSource": source, "eventName": "X", "p": v}) for v in values] + [
        orjson.dumps({"p": v, "eventName": "X", "eventSource": source}) for v in values
    ]
    buf = b"\n".join(lines)
    pfs = [Prefilter(LITERAL_PINS, "c"), Prefilter(LITERAL_PINS, "python")]
    want = scan_reference(buf, 0, len(buf), pfs[1].plan)
    for simd in (2, 1, 0):
        assert rawscan.scan(buf, 0, len(buf), pfs[0]._kernel_plan(), simd=simd) == want
    candidates = {i for i, _, _ in want[1]}
    for i, text in enumerate(lines):
        if satisfies(LITERAL_PINS, text):
            assert i in candidates, text[:300]
