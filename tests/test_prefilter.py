"""The raw-bytes pre-filter on its own: which lines it keeps, per rule, in both kernels."""

from __future__ import annotations

import pickle
from pathlib import Path

import orjson
import pytest
from sigma.rule import SigmaRule

from ses_sigma.pack import load_pack
from ses_sigma.prefilter import KERNEL, Pin, Prefilter
from ses_sigma.prefilter.pins import rule_pins

ROOT = Path(__file__).resolve().parents[1]
SES = frozenset({"ses.amazonaws.com"})
NAMES = frozenset({"getaccount"})
KERNELS = ["c", "python"]


def line(source: str, name: str, i: int = 0, agent: str = "aws-cli/2.15.0") -> bytes:
    rec = {
        "eventVersion": "1.08",
        "eventTime": f"2025-03-11T10:00:{i:02d}Z",
        "eventSource": source,
        "eventName": name,
        "userAgent": agent,
        "eventID": f"id-{i}",
    }
    return orjson.dumps(rec)


def kept(pf: Prefilter, lines: list[bytes], newline: bytes = b"\n") -> list[int]:
    buf = b"".join(x + newline for x in lines)
    scan = pf.scan(buf)
    assert scan.lines == len(lines)
    for _, start, end in scan.candidates:
        assert buf[end : end + 1] in (b"\n", b"")  # the line, without its newline
        assert start == 0 or buf[start - 1 : start] == b"\n"
    return [k for k, _, _ in scan.candidates]


def rule(text: str) -> SigmaRule:
    return SigmaRule.from_yaml(text)


def test_the_c_kernel_is_built_and_used() -> None:
    # The package builds ses_sigma.prefilter._rawscan (setup.py); a checkout without it would
    # silently fall back to the slower reference.
    assert KERNEL == "c", "ses_sigma.prefilter._rawscan is not built: run make (pip install -e .)"
    assert Prefilter([Pin(SES, NAMES, ())]).kernel == "c"


def test_rules_without_a_pinned_event_source_switch_it_off() -> None:
    pinned = rule(
        "title: t\nlogsource: {product: aws, service: cloudtrail}\n"
        "detection: {sel: {eventSource: ses.amazonaws.com}, condition: sel}\n"
    )
    loose = rule(
        "title: t\nlogsource: {product: aws, service: cloudtrail}\n"
        "detection: {sel: {eventName: GetAccount}, condition: sel}\n"
    )
    odd = rule(
        "title: t\nlogsource: {product: aws, service: cloudtrail}\n"
        "detection: {sel: {eventSource: sés.amazonaws.com}, condition: sel}\n"
    )
    assert Prefilter.for_rules([pinned]) is not None
    assert Prefilter.for_rules([pinned, loose]) is None
    assert Prefilter.for_rules([odd]) is None
    assert Prefilter.for_rules([]) is None


@pytest.mark.parametrize("kernel", KERNELS)
def test_case_escapes_odd_letters_and_odd_shapes_are_candidates(kernel: str) -> None:
    pf = Prefilter([Pin(SES, NAMES, ())], kernel)
    nested = line("s3.amazonaws.com", "GetObject", 7)[:-1] + (
        b',"requestParameters":{"eventSource":"ses.amazonaws.com"}}'
    )
    spaced_top = b'{"eventSource" : "ses.amazonaws.com", "x": {"eventSource":"s3.amazonaws.com"}}'
    lines = [
        line("s3.amazonaws.com", "GetObject", 0),
        line("SES.AmazonAWS.com", "GETACCOUNT", 1),  # Sigma compares case-insensitively
        line("ses.amazonaws.com", "SendEmail", 2),  # pinned source, other name: not kept
        line("ses.amazonaws.com", "GetAccount", 3).replace(b'"ses', b'"\\u0073es'),
        line("ses.amazonaws.com", "GetAccount", 4).replace(b"GetAccount", b"Get\\u0041ccount"),
        line("kms.amazonaws.com", "Decrypt", 5).replace(b'"kms', b'"\xe2\x84\xaams'),
        line("iam.amazonaws.com", "GetAccount", 6),  # the name alone is not enough
        nested,  # two "eventSource" keys: decoded
        spaced_top,  # the top-level key with spaces, a nested plain one: decoded
        b'{"eventSource":["ses.amazonaws.com"],"eventName":"GetAccount"}',
        b'{"eventSource":"s3.amazonaws.com","eventSource":"ses.amazonaws.com"}',
        b"",  # a blank line is a candidate (the reader skips it)
        b'{"eventSource":"ses.amazonaws.com","eventName":"GetAccount"',  # cut: decoded
        b'{"eventSource":"s3.amazonaws.com","eventName":"Get\xffAccount"}',  # s3: not pinned
        b'{"eventSource":"ses.amazonaws.com","eventName":"Get\xffAccount"}',
        b'{"eventSource":"ses.amazonaws.com"}',  # no eventName while names are pinned
    ]
    want = [1, 3, 4, 5, 7, 8, 9, 10, 11, 12, 14, 15]
    assert kept(pf, lines) == want
    assert kept(pf, lines, b"\r\n") == want


@pytest.mark.parametrize("kernel", KERNELS)
def test_literals_per_rule(kernel: str) -> None:
    sts = Pin(frozenset({"sts.amazonaws.com"}), frozenset({"getcalleridentity"}), ("trufflehog",))
    ses = Pin(SES, None, ("akia",))
    pf = Prefilter([sts, ses], kernel)
    lines = [
        line("sts.amazonaws.com", "GetCallerIdentity", 0),
        line("sts.amazonaws.com", "GetCallerIdentity", 1, agent="TruffleHog"),
        line("sts.amazonaws.com", "GetCallerIdentity", 2, agent="x TRUFFLEHOG/3"),
        line("sts.amazonaws.com", "AssumeRole", 3, agent="TruffleHog"),
        # the literal of another rule does not count
        line("sts.amazonaws.com", "GetCallerIdentity", 4, agent="AKIA"),
        line("ses.amazonaws.com", "SendEmail", 5, agent="akia"),
        line("ses.amazonaws.com", "SendEmail", 6),
        # non-ASCII letters may lower-case to ASCII (KELVIN SIGN -> k): left to the matcher
        line("ses.amazonaws.com", "SendEmail", 7, agent="A\u212aIA"),
        line("sts.amazonaws.com", "GetCallerIdentity", 8, agent="Trufflehög"),
    ]
    assert kept(pf, lines) == [1, 2, 5, 7, 8]


@pytest.mark.parametrize("kernel", KERNELS)
def test_buffers_offsets_and_a_last_line_without_newline(kernel: str) -> None:
    pf = Prefilter([Pin(SES, None, ())], kernel)
    body = line("s3.amazonaws.com", "A") + b"\n" + line("ses.amazonaws.com", "B")
    buf = bytearray(b"junk\n" + body + b"\nmore")
    scan = pf.scan(buf, 5, 5 + len(body))
    assert scan.lines == 2
    ((index, start, end),) = scan.candidates
    assert (index, bytes(buf[start:end])) == (1, line("ses.amazonaws.com", "B"))
    assert pf.scan(memoryview(buf), 0, 0).lines == 0
    if kernel == "c":
        with pytest.raises(ValueError):
            pf.scan(buf, 3, len(buf) + 1)


@pytest.mark.parametrize("kernel", KERNELS)
def test_hostile_lines_long_and_full_of_keys(kernel: str) -> None:
    pf = Prefilter([Pin(SES, NAMES, ("needle",))], kernel)
    keys = b'{"a":1,' + b'"eventSource":"ses.amazonaws.com",' * 200_000 + b'"z":0}'
    big = line("ses.amazonaws.com", "GetAccount", agent="x" * 3_000_000 + "Needle")
    quotes = b'{"eventSource":"ses.amazonaws.com","eventName":"getaccount","q":"' + b'"' * 10**6
    lines = [keys, big, quotes, line("ses.amazonaws.com", "GetAccount", agent="x" * 10**6)]
    # the unbalanced quotes line is not valid JSON and does not end with "}": decoded (reported)
    assert kept(pf, lines) == [0, 1, 2]


def test_pins_derived_from_the_pack() -> None:
    rules = {r.name: r for r in load_pack().collection.rules if isinstance(r, SigmaRule)}
    (sts,) = rule_pins(rules["aws_sts_key_validated_by_secret_scanner"]) or []
    assert sts == Pin(
        frozenset({"sts.amazonaws.com"}), frozenset({"getcalleridentity"}), ("trufflehog",)
    )
    # a filter adds "and not ...": never a literal
    (recon,) = rule_pins(rules["aws_ses_account_recon"]) or []
    assert recon.literals == ()
    assert "getaccount" in (recon.names or ())


def test_literal_derivation_is_conservative() -> None:
    text = """
title: t
logsource: {product: aws, service: cloudtrail}
detection:
  sel:
    eventSource: ses.amazonaws.com
    userAgent|contains: 'Boto3'
    requestParameters.a|startswith: 'Pre*Fix'
    requestParameters.n: '100'
    requestParameters.q: 'say "hi"'
  either:
    - requestParameters.b|endswith: 'common-Tail'
    - requestParameters.c: 'xx-common-tail'
  tf:
    userAgent|contains: Terraform
  kw:
    - keywordonly
  condition: sel and either and not tf and (kw or sel)
"""
    (pin,) = rule_pins(rule(text)) or []
    # wildcards split a value into required runs; '100' could be a number's text (1E2);
    # a quote must be escaped in JSON; an OR keeps only what every branch needs
    assert pin.literals == ("boto3", "common-tail", "fix", "pre")
    assert pin.names is None


def test_several_conditions_give_several_pins() -> None:
    text = """
title: t
logsource: {product: aws, service: cloudtrail}
detection:
  a: {eventSource: ses.amazonaws.com, eventName: GetAccount}
  b: {eventSource: iam.amazonaws.com, userAgent|contains: boto}
  condition: [a, b]
"""
    pins = rule_pins(rule(text)) or []
    assert [(sorted(p.sources), p.names, p.literals) for p in pins] == [
        (["ses.amazonaws.com"], frozenset({"getaccount"}), ()),
        (["iam.amazonaws.com"], None, ("boto",)),
    ]
    pf = Prefilter(pins)
    lines = [
        line("iam.amazonaws.com", "GetAccount"),
        line("iam.amazonaws.com", "X", agent="Boto3"),
        line("ses.amazonaws.com", "getaccount"),
        line("ses.amazonaws.com", "X", agent="Boto3"),
    ]
    assert kept(pf, lines) == [1, 2]


def test_a_prefilter_pickles() -> None:
    pf = Prefilter([Pin(SES, None, ("akia",))])
    again = pickle.loads(pickle.dumps(pf))
    assert again.pins == pf.pins and again.kernel == pf.kernel
    lines = [line("ses.amazonaws.com", "X"), line("ses.amazonaws.com", "X", agent="akia")]
    assert kept(again, lines) == [1]


@pytest.mark.parametrize("kernel", KERNELS)
def test_pieces_of_a_record_ruled_out_by_a_literal_are_whole_objects(kernel: str) -> None:
    pf = Prefilter([Pin(SES, None, ("akia",))], kernel)
    whole = line("ses.amazonaws.com", "X")
    head = whole[:-1] + b',"a":[{"b":"}{"}'  # the first piece of a record cut inside "a"
    tail = b'{"eventVersion":"x","c":1}],"userAgent":"akia"}'
    inner = b'{"eventVersion":"x","eventSource":"ses.amazonaws.com","d":"]"}'
    other = line("s3.amazonaws.com", "X")[:-1] + b',"a":['  # ends with "[": decoded
    fine = line("s3.amazonaws.com", "X")  # ruled out by its source
    buf = b"\n".join([whole, head, tail, inner, other, fine])
    for pieces, want in ((False, [2, 4]), (True, [1, 2, 4])):  # tail: no eventSource
        assert [i for i, _, _ in pf.scan(buf, pieces=pieces).candidates] == want
    data = b'{"Records":[' + whole + b"," + whole + b"]}"
    assert pf.split_records(data, 12, len(data) - 2) == whole + b"\n" + whole


@pytest.mark.parametrize("kernel", KERNELS)
def test_lines_not_shaped_like_an_object_are_candidates(kernel: str) -> None:
    """A truncated or garbled line is decoded (so the reader reports it), even when the
    eventSource it holds is one no rule pins."""
    pf = Prefilter([Pin(SES, NAMES, ())], kernel)
    whole = line("s3.amazonaws.com", "GetObject", 0)
    lines = [
        whole,  # a whole record of an unpinned source: not decoded
        whole[: len(whole) // 2 + 40],  # cut after eventSource: decoded
        b"  " + whole + b" \t",  # spaces around a whole record: still not decoded
        whole + b"}",  # ends with a brace, starts with one: not decoded (counted)
        b"x" + whole,  # garbage before it: decoded
        whole[1:],  # no opening brace: decoded
        whole + b",",  # a trailing comma (an array pasted as lines): decoded
    ]
    assert kept(pf, lines) == [1, 4, 5, 6]
    assert kept(pf, lines, b"\r\n") == [1, 4, 5, 6]


def test_a_truncated_line_of_another_service_is_reported_by_the_scan(tmp_path: Path) -> None:
    from ses_sigma.scan import scan

    whole = line("s3.amazonaws.com", "GetObject", 1)
    path = tmp_path / "trail.jsonl"
    path.write_bytes(line("s3.amazonaws.com", "GetObject", 0) + b"\n" + whole[:-20] + b"\n")
    for prefilter in (True, False):
        result = scan([path], prefilter=prefilter)
        origins = [r.origin for r in result.read.rejections]
        assert len(origins) == 1 and origins[0].startswith(f"{path}:2:"), (prefilter, origins)
        assert result.read.records_read == 2


@pytest.mark.skipif(KERNEL != "c", reason="the C kernel is not built")
def test_literal_found_at_every_offset_in_any_case() -> None:
    # the kernel's literal search tries 16 starts at a time: every offset of a 16-byte step,
    # and the last possible one, in upper, lower and mixed case, against the reference
    pins = [Pin(frozenset({"sts.amazonaws.com"}), None, ("trufflehog",))]
    kernels = [Prefilter(pins, "c"), Prefilter(pins, "python")]
    lines = []
    for offset in range(70):
        for word in ("trufflehog", "TRUFFLEHOG", "TrUfFlEhOg", "truffleho", "tr"):
            for tail in ("", "x" * 40):
                text = "t" * offset + word + tail
                lines.append(orjson.dumps({"eventSource": "sts.amazonaws.com", "u": text}))
    buf = b"\n".join(lines)
    got, want = (k.scan(buf) for k in kernels)
    assert (got.lines, got.candidates) == (want.lines, want.candidates)
    assert len(want.candidates) == 70 * 3 * 2


@pytest.mark.skipif(KERNEL != "c", reason="the C kernel is not built")
def test_split_records_at_every_block_edge() -> None:
    # the kernel copies and searches 64 KiB blocks: cuts ending, starting and straddling
    # there, back to back, near the end, and near misses, the same as the reference
    cut = b'},{"eventVersion":'
    kernels = [Prefilter([Pin(SES, None, ())], k) for k in ("c", "python")]
    block = 64 << 10
    for shift in range(-20, 21):
        for tail in (b"", b"x", cut, cut[:-1], b'},{"eventVersio"' + cut):
            data = b"x" * (block + shift) + cut + cut + b"y" * 7 + cut + b"z" + tail
            data = b"ab" + data + data[: block // 3] + cut + b"]}"
            got, want = (k.split_records(data, 2, len(data) - 2) for k in kernels)
            assert got == want and len(got) == len(data) - 4
    assert kernels[0].split_records(cut, 0, len(cut)) == b'}\n{"eventVersion":'
    assert kernels[0].split_records(cut, 0, len(cut) - 1) == cut[:-1]
