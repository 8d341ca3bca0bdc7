"""The raw-bytes pre-filter on its own: which lines it keeps, and when it declines."""

from __future__ import annotations

import orjson

from ses_sigma.prefilter import Prefilter

SES = frozenset({"ses.amazonaws.com"})
NAMES = frozenset({"getaccount"})


def line(source: str, name: str, i: int = 0) -> bytes:
    rec = {
        "eventVersion": "1.08",
        "eventTime": f"2025-03-11T10:00:{i:02d}Z",
        "eventSource": source,
        "eventName": name,
        "eventID": f"id-{i}",
    }
    return orjson.dumps(rec)


def kept(pf: Prefilter, lines: list[bytes]) -> list[int]:
    scan = pf.scan(b"".join(x + b"\n" for x in lines))
    assert scan is not None
    assert scan.lines == len(lines)
    return [k for k, _, _ in scan.candidates]


def test_rules_without_a_pinned_event_source_switch_it_off() -> None:
    assert Prefilter.for_rules([(SES, NAMES), (None, None)], need_times=False) is None
    assert Prefilter.for_rules([(frozenset({"sés.amazonaws.com"}), None)], False) is None
    assert Prefilter.for_rules([(SES, NAMES)], need_times=False) is not None


def test_case_escapes_and_odd_letters_are_candidates() -> None:
    pf = Prefilter.for_rules([(SES, NAMES)], need_times=True)
    assert pf is not None
    lines = [
        line("s3.amazonaws.com", "GetObject", 0),
        line("SES.AmazonAWS.com", "GETACCOUNT", 1),  # Sigma compares case-insensitively
        line("ses.amazonaws.com", "SendEmail", 2),  # pinned source, other name: not kept
        line("ses.amazonaws.com", "GetAccount", 3).replace(b'"ses', b'"\\u0073es'),
        line("ses.amazonaws.com", "GetAccount", 4).replace(b"GetAccount", b"Get\\u0041ccount"),
        line("kms.amazonaws.com", "Decrypt", 5).replace(b'"kms', b'"\xe2\x84\xaams'),
        line("iam.amazonaws.com", "GetAccount", 6),  # the name alone is not enough
    ]
    assert kept(pf, lines) == [1, 3, 4, 5]


def test_a_block_it_cannot_vouch_for_is_declined() -> None:
    pf = Prefilter.for_rules([(SES, NAMES)], need_times=True)
    assert pf is not None
    good = line("s3.amazonaws.com", "GetObject", 0)
    spaced = b'{"eventTime": "2025-03-11T10:00:01Z", "eventSource": "ses.amazonaws.com"}'
    offset = line("s3.amazonaws.com", "GetObject", 2).replace(b'00:02Z"', b'00:02+01:00"')
    array = line("s3.amazonaws.com", "GetObject", 3).replace(
        b'"eventSource":"s3.amazonaws.com"', b'"eventSource":["ses.amazonaws.com"]'
    )
    for odd in (spaced, offset, array, b""):
        assert pf.scan(good + b"\n" + odd + b"\n") is None
    scan = pf.scan(good + b"\n" + line("s3.amazonaws.com", "GetObject", 9) + b"\n")
    assert scan is not None and scan.min_time == b"2025-03-11T10:00:00Z"
