"""CloudTrail records as the matcher sees them: the raw JSON dict plus its parsed time and id."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["Record", "RecordError", "format_time", "parse_event_time"]


class RecordError(ValueError):
    """A CloudTrail record that cannot be used (not an object, no valid eventTime...)."""


# ISO 8601 as CloudTrail writes it (2025-01-20T16:52:14Z), with optional fraction and offset.
# A space instead of "T" is accepted too (Panther's and some exporters' form).
_TIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$"
)


# Midnight (POSIX seconds) of the days seen: a trail's records share few days, and building a
# datetime per record was a third of the time spent reading logs (make bench).
_DAYS: dict[tuple[str, str, str], float] = {}
_DAYS_MAX = 4096


# The start (POSIX seconds) of the hours seen in CloudTrail's canonical form
# (``2025-01-20T16:52:14Z``), keyed by ``2025-01-20T16:``: only ever filled by _parse_full
# with a value it accepted, so a key found here is a valid date and hour.
_HOURS: dict[str, float] = {}
_HOURS_MAX = 4096
#: "MM:SSZ" ("00:00Z".."59:59Z") -> seconds past the hour: one lookup checks and converts
#: the rest of a canonical timestamp.
_REST = {f"{m:02d}:{s:02d}Z": m * 60 + s for m in range(60) for s in range(60)}


def parse_event_time(value: Any) -> float:
    """Parse a CloudTrail ``eventTime`` into POSIX seconds (UTC).

    Raises RecordError when the value is missing or not an ISO 8601 timestamp. A timestamp
    without zone is taken as UTC, as CloudTrail always writes UTC.
    """
    # Fast path: the canonical form (``2025-01-20T16:52:14Z``) in an hour already seen: the
    # first 14 characters are a key of _HOURS, the other 6 one of _REST (so the text is those
    # 20 characters exactly). The same result as _parse_full (tests/test_records.py);
    # anything else goes there, errors included.
    if value.__class__ is str:
        hour = _HOURS.get(value[:14])
        if hour is not None:
            rest = _REST.get(value[14:])
            if rest is not None:
                return hour + rest
    return _parse_full(value)


def _parse_full(value: Any) -> float:
    if not isinstance(value, str):
        raise RecordError(f"eventTime is missing or not a string: {value!r}")
    m = _TIME_RE.match(value.strip())
    if m is None:
        raise RecordError(f"eventTime is not an ISO 8601 timestamp: {value!r}")
    year, month, day, hour, minute, second, frac, zone = m.groups()
    midnight = _DAYS.get((year, month, day))
    if midnight is None:
        try:
            midnight = datetime(int(year), int(month), int(day), tzinfo=UTC).timestamp()
        except ValueError as exc:
            raise RecordError(f"eventTime is not a valid date: {value!r} ({exc})") from None
        if len(_DAYS) >= _DAYS_MAX:
            _DAYS.clear()
        _DAYS[(year, month, day)] = midnight
    h, mi, sec = int(hour), int(minute), int(second)
    if h > 23 or mi > 59 or sec > 59:
        raise RecordError(f"eventTime is not a valid time of day: {value!r}")
    ts = midnight + h * 3600 + mi * 60 + sec
    if value[10:11] == "T" and value[19:] == "Z" and len(value) == 20 and value.isascii():
        if len(_HOURS) >= _HOURS_MAX:
            _HOURS.clear()
        _HOURS[value[:14]] = midnight + h * 3600
    if frac:
        ts += int(frac) / 10 ** len(frac)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        ts -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return ts


def format_time(ts: float) -> str:
    """Format POSIX seconds as CloudTrail's ISO 8601 UTC form (second precision if whole)."""
    dt = datetime.fromtimestamp(ts, tz=UTC)
    # %Y is not zero-padded below year 1000 on glibc ("1-01-01"): pad the year explicitly.
    year = f"{dt.year:04d}"
    if dt.microsecond:
        return year + dt.strftime("-%m-%dT%H:%M:%S.%fZ")
    return year + dt.strftime("-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class Record:
    """One CloudTrail event.

    ``data`` is the record exactly as AWS wrote it; ``time`` its ``eventTime`` in POSIX
    seconds; ``event_id`` its ``eventID``; ``origin`` where it came from (``file:line`` or
    ``file[index]``), for messages.
    """

    data: dict[str, Any]
    time: float
    event_id: str
    origin: str = field(default="")

    @classmethod
    def from_dict(cls, data: Any, origin: str = "") -> Record:
        """Build a Record from a decoded CloudTrail JSON object; RecordError if unusable."""
        if not isinstance(data, dict):
            kind = type(data).__name__
            raise RecordError(f"a CloudTrail record must be a JSON object, not {kind}")
        time = parse_event_time(data.get("eventTime"))
        event_id = data.get("eventID")
        if not isinstance(event_id, str) or not event_id:
            raise RecordError(f"eventID is missing or not a string: {event_id!r}")
        return cls(data=data, time=time, event_id=event_id, origin=origin)

    @property
    def sort_key(self) -> tuple[float, str]:
        """Total order used by every stateful engine: eventTime, then eventID."""
        return (self.time, self.event_id)
