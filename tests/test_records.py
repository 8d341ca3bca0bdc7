"""CloudTrail eventTime parsing and the Record model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ses_sigma import records
from ses_sigma.records import Record, RecordError, format_time, parse_event_time


def posix(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-20T16:52:14Z", posix(2025, 1, 20, 16, 52, 14)),
        ("2024-02-29T23:59:59Z", posix(2024, 2, 29, 23, 59, 59)),
        ("1970-01-01T00:00:00Z", 0.0),
        ("2025-01-20 16:52:14.000000000", posix(2025, 1, 20, 16, 52, 14)),  # Panther's form
        ("2025-01-20T16:52:14.250Z", posix(2025, 1, 20, 16, 52, 14) + 0.25),
        ("2025-01-20T18:52:14+02:00", posix(2025, 1, 20, 16, 52, 14)),
        ("2025-01-20T11:52:14-0500", posix(2025, 1, 20, 16, 52, 14)),
        ("2025-01-20T16:52:14", posix(2025, 1, 20, 16, 52, 14)),  # no zone: UTC
    ],
)
def test_parse_event_time(text: str, expected: float) -> None:
    assert parse_event_time(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2025-02-29T00:00:00Z",  # not a leap year
        "2025-13-01T00:00:00Z",
        "2025-01-20T24:00:00Z",
        "2025-01-20T23:60:00Z",
        "2025-01-20T23:59:60Z",
        "20/01/2025 16:52",
        "",
    ],
)
def test_parse_event_time_rejects_invalid(text: str) -> None:
    with pytest.raises(RecordError, match="eventTime"):
        parse_event_time(text)


def test_parse_event_time_rejects_non_strings() -> None:
    with pytest.raises(RecordError, match="missing or not a string"):
        parse_event_time(1737391934)


def test_day_cache_is_bounded_and_stays_correct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "_DAYS", {})
    monkeypatch.setattr(records, "_DAYS_MAX", 3)
    for day in range(1, 10):
        assert parse_event_time(f"2025-03-{day:02d}T01:02:03Z") == posix(2025, 3, day, 1, 2, 3)
        assert len(records._DAYS) <= 3


def test_format_time_round_trips() -> None:
    for text in ("2025-01-20T16:52:14Z", "2025-01-20T16:52:14.250000Z"):
        assert format_time(parse_event_time(text)) == text


def test_record_from_dict_requires_event_id_and_time() -> None:
    rec = Record.from_dict({"eventTime": "2025-01-20T16:52:14Z", "eventID": "e1"}, "f:1")
    assert (rec.time, rec.event_id, rec.origin) == (posix(2025, 1, 20, 16, 52, 14), "e1", "f:1")
    with pytest.raises(RecordError, match="eventID"):
        Record.from_dict({"eventTime": "2025-01-20T16:52:14Z"})
    with pytest.raises(RecordError, match="JSON object"):
        Record.from_dict(["not", "a", "record"])


def _outcome(parse: object, value: object) -> tuple[str, object]:
    try:
        return ("ok", parse(value))  # type: ignore[operator]
    except RecordError as exc:
        return ("error", str(exc))


_DIGITS = st.sampled_from("0123456789٣２²")
_CANONICALISH = st.builds(
    lambda y, mo, d, sep, h, mi, s, z: f"{y}-{mo}-{d}{sep}{h}:{mi}:{s}{z}",
    st.sampled_from(["2025", "2024", "1970", "０２５"]),
    st.sampled_from(["01", "02", "12", "13", "00"]),
    st.sampled_from(["01", "28", "29", "30", "31", "00"]),
    st.sampled_from(["T", " ", "t"]),
    st.sampled_from(["00", "16", "23", "24", "99", "1"]),
    st.one_of(
        st.sampled_from(["00", "59", "60", "5", "99"]), st.text(_DIGITS, min_size=2, max_size=2)
    ),
    st.one_of(st.sampled_from(["00", "59", "60", "61"]), st.text(_DIGITS, min_size=2, max_size=2)),
    st.sampled_from(["Z", "z", "", ".5Z", "+02:00", "Z ", " Z"]),
)


_CANONICAL = st.builds(
    lambda day, h, mi, s: f"2025-01-{day:02d}T{h:02d}:{mi:02d}:{s:02d}Z",
    st.integers(0, 32),
    st.integers(0, 25),
    st.integers(0, 99),
    st.integers(0, 99),
)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            _CANONICAL,
            _CANONICALISH,
            # one character more or less than the canonical form
            _CANONICAL.flatmap(lambda t: st.sampled_from([t + "Z", t[:-1], t + "\n", t[1:]])),
            st.text(max_size=22),
            st.none(),
            # not text: the fast path must not slice or hash them
            st.integers(),
            st.floats(allow_nan=False),
            _CANONICAL.map(str.encode),
            _CANONICAL.map(list),
            st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        ),
        max_size=8,
    )
)
def test_fast_path_equals_the_full_parser(values: list[object]) -> None:
    """Whatever was parsed before (the hour cache), parse_event_time answers as _parse_full:
    the same seconds, or the same error message."""
    for value in values:
        if isinstance(value, str):  # its hour seen first, when it has one
            _outcome(parse_event_time, value[:14] + "00:00Z")
        elif isinstance(value, bytes | list):  # the hour of their text seen first
            text = value.decode() if isinstance(value, bytes) else "".join(value)
            _outcome(parse_event_time, text[:14] + "00:00Z")
        assert _outcome(parse_event_time, value) == _outcome(records._parse_full, value)


def test_fast_path_is_taken_for_canonical_times_of_a_seen_hour() -> None:
    records._HOURS.clear()
    parse_event_time("2025-01-20T16:00:00Z")
    assert "2025-01-20T16:" in records._HOURS
    assert parse_event_time("2025-01-20T16:52:14Z") == posix(2025, 1, 20, 16, 52, 14)
    with pytest.raises(RecordError, match="not a valid time of day"):
        parse_event_time("2025-01-20T16:60:14Z")
    with pytest.raises(RecordError, match="not an ISO 8601"):
        parse_event_time("2025-01-20T16:5²:14Z")
