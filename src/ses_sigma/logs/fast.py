"""The pre-filtered read paths: JSON Lines searched block by block, documents record by record.

Only records the pre-filter cannot rule out are decoded into ``Record`` objects; the others
are counted as accepted (``ReadStats.prefiltered``), their eventTime folded into
``ReadStats.first_time``. Blocks whose shape the pre-filter cannot vouch for, and records it
cannot classify, take the full decoder (``decode``), so every problem there is reported as
without a pre-filter.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson

from ses_sigma.logs.decode import MAX_DEPTH, document_records, make_record, record_from_line
from ses_sigma.logs.stats import RECORD, ReadStats
from ses_sigma.logs.streams import LineStream
from ses_sigma.prefilter import Prefilter, wants_record
from ses_sigma.records import Record, RecordError, parse_event_time

__all__ = ["decode_candidates", "document_records_fast", "read_lines_fast"]

_CANONICAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
#: Bytes of an S3 object's records searched at once (fits the CPU caches).
_DOC_BLOCK = 1 << 20


def read_lines_fast(
    name: str, stream: LineStream, stats: ReadStats, pf: Prefilter, lineno: int = 0
) -> Iterator[Record]:
    """The candidate records of a JSON Lines stream; ``lineno`` lines precede the stream.

    Returns (as the generator's value) the number of lines read.
    """
    while stream.pending_peeked:
        line = stream.next_line()
        assert line is not None
        if line.strip():
            origin = f"{name}:{lineno + stream.lineno}"
            yield from record_from_line(origin, line.rstrip(b"\r\n"), stream, stats)
    lineno += stream.lineno
    while (taken := stream.take_lines()) is not None:
        if taken is LineStream.TOO_LONG:
            lineno += 1
            stats.reject(
                f"{name}:{lineno}", f"line longer than {stream.max_line} bytes: not read", RECORD
            )
            continue
        buf, end = taken  # type: ignore[misc]
        # a last line without newline (a cut stream?) is always decoded, so that a cut
        # record is reported as one; blocks hold no over-long line (take_lines)
        lines, kept, _, found = pf.candidates(buf, 0, end, MAX_DEPTH)
        stats.records += lines - kept
        stats.prefiltered += lines - kept
        yield from decode_candidates(name, lineno, found, stream, stats, stream.max_line)
        lineno += lines
    return lineno


def decode_candidates(
    name: str,
    lineno: int,
    found: list[tuple[int, bytes | None, bool]],
    stream: LineStream | None,
    stats: ReadStats,
    max_line: int,
) -> Iterator[Record]:
    """The records of the candidate lines ``found`` (``Prefilter.candidates``) of a run that
    ``lineno`` lines precede.

    The usual line, a shallow JSON object with a valid eventTime and eventID, is made a
    Record here; any other (not JSON, not an object, a ``Records`` document, too deep to
    prove shallow on its bytes, a bad eventTime or eventID) goes through
    ``record_from_line``, the reference, which decodes it again and reports what is wrong.
    Both give the same Record and statistics for the usual line (tests/test_logs_fast.py).
    """
    loads = orjson.loads
    for index, line, shallow in found:
        origin = f"{name}:{lineno + index + 1}"
        if line is None:
            stats.reject(origin, f"line longer than {max_line} bytes: not read", RECORD)
            continue
        try:
            value = loads(line)
        except orjson.JSONDecodeError:
            value = None
        if shallow and value.__class__ is dict:
            event_id = value.get("eventID")
            if event_id.__class__ is str and event_id:
                try:
                    ts = parse_event_time(value.get("eventTime"))
                except RecordError:
                    pass
                else:
                    # make_record's work for this case (the eventTime key makes it a record)
                    stats.records += 1
                    first = stats.first_time
                    if first is None or ts < first:
                        stats.first_time = ts
                    yield Record(value, ts, event_id, origin)
                    continue
        yield from record_from_line(origin, line, stream, stats)


_S3_HEAD = re.compile(rb'\s*\{"Records":\[(?=\{"eventVersion":)')


def document_raw(name: str, data: bytes, stats: ReadStats, pf: Prefilter) -> list[Record] | None:
    """The candidate records of a compact S3 object, found without decoding the others.

    CloudTrail writes ``{"Records":[{"eventVersion":...},{"eventVersion":...}]}`` on one line.
    A quote inside a JSON string is always escaped, so ``},{"eventVersion":`` cannot occur in
    a string: cutting there gives one record per line, unless the cut falls inside a nested
    object that starts with an ``eventVersion`` key. The first piece of such a record is not
    valid JSON, and holds its top-level eventSource (or the piece is a candidate): a candidate
    piece that does not decode gives None (the caller decodes the whole document); a piece
    ruled out by a literal alone must be one whole JSON object (``pieces``), since the
    literal could sit in another piece. Any other shape: None.
    """
    head = _S3_HEAD.match(data)
    end = len(data)
    while end and data[end - 1] in b" \t\r\n":
        end -= 1
    if head is None or data[end - 2 : end] != b"]}":
        return None
    first, stop = head.end(), end - 2
    if data.find(b"\n", first, stop) >= 0 or data.find(b"\r", first, stop) >= 0:
        return None
    # One copy: the records, one per line (same length as data[first:stop]).
    lines = pf.split_records(data, first, stop)
    decoded = []
    counted = 0
    first, stop = 0, len(lines)
    while first < stop:  # blocks that fit the CPU caches
        cut = lines.rfind(b"\n", first, min(first + _DOC_BLOCK, stop)) + 1
        if cut <= first:
            cut = stop  # the last record (no newline after it)
        scan = pf.scan(lines, first, cut, pieces=True)
        for index, lo, hi in scan.candidates:
            piece = lines[lo:hi]
            try:
                decoded.append((counted + index, piece, orjson.loads(piece)))
            except orjson.JSONDecodeError:
                return None
        counted += scan.lines
        first = cut
    skipped = counted - len(decoded)
    stats.records += skipped
    stats.prefiltered += skipped
    out = []
    for index, piece, value in decoded:
        rec = make_record(f"{name}[{index}]", value, stats, raw=piece)
        if rec is not None:
            out.append(rec)
    return out


def document_records_fast(
    name: str, value: Any, stats: ReadStats, pf: Prefilter
) -> Iterator[Record]:
    """The candidate records of a decoded document (see ``decode.document_records``)."""
    if isinstance(value, dict) and "Records" in value and isinstance(value["Records"], list):
        items = value["Records"]
    elif isinstance(value, list):
        items = value
    else:
        yield from document_records(name, value, stats)
        return
    times: list[str] = []
    skipped = 0
    canonical = _CANONICAL.fullmatch
    for index, item in enumerate(items):
        if type(item) is dict and not wants_record(pf, item):
            t = item.get("eventTime")
            if type(t) is str and canonical(t):
                times.append(t)
                skipped += 1
                continue
        rec = make_record(f"{name}[{index}]", item, stats)
        if rec is not None:
            yield rec
    stats.records += skipped
    stats.prefiltered += skipped
    if times:
        _fold_times(stats, times)


def _fold_times(stats: ReadStats, times: list[str]) -> None:
    """Fold the earliest valid timestamp of ``times`` into ``stats.first_time``.

    Text order is time order for the canonical form; an impossible date (month 13) found as
    the earliest is dropped and the next one tried.
    """
    for t in sorted(times) if len(times) > 1 else times:
        try:
            stats.saw_time(parse_event_time(t))
            return
        except RecordError:
            continue
