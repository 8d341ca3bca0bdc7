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

from ses_sigma.logs.decode import document_records, make_record, record_from_line
from ses_sigma.logs.stats import RECORD, ReadStats
from ses_sigma.logs.streams import LineStream
from ses_sigma.prefilter import Prefilter, wants_record
from ses_sigma.records import Record, RecordError, parse_event_time

__all__ = ["BLOCK_BYTES", "document_records_fast", "read_lines_fast"]

#: Bytes of whole lines searched at once (fits the CPU caches; ~1,000 CloudTrail records).
BLOCK_BYTES = 1 << 20
_CANONICAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _slow_block(
    name: str, block: bytes, first: int, stream: LineStream, stats: ReadStats
) -> Iterator[Record]:
    lines = block.split(b"\n")
    if block.endswith(b"\n"):
        lines.pop()
    for i, line in enumerate(lines):
        if line.strip():
            yield from record_from_line(
                f"{name}:{first + i + 1}", line.rstrip(b"\r"), stream, stats
            )


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
    while (block := stream.take_block(BLOCK_BYTES)) is not None:
        if block is LineStream.TOO_LONG:
            lineno += 1
            stats.reject(
                f"{name}:{lineno}", f"line longer than {stream.max_line} bytes: not read", RECORD
            )
            continue
        scan = pf.scan(block) if block.endswith(b"\n") else None
        if scan is None:
            yield from _slow_block(name, block, lineno, stream, stats)
            lineno += block.count(b"\n") + (not block.endswith(b"\n"))
            continue
        skipped = scan.lines - len(scan.candidates)
        stats.records += skipped
        stats.prefiltered += skipped
        if scan.min_time is not None:
            _fold_times(stats, [scan.min_time.decode()])
        for ln, start, end in scan.candidates:
            line = block[start:end].rstrip(b"\r")
            yield from record_from_line(f"{name}:{lineno + ln + 1}", line, stream, stats)
        lineno += scan.lines
    return lineno


_S3_HEAD = re.compile(rb'\s*\{"Records":\[(?=\{"eventVersion":)')
_BOUNDARY = b'},{"eventVersion":'


def document_raw(name: str, data: bytes, stats: ReadStats, pf: Prefilter) -> list[Record] | None:
    """The candidate records of a compact S3 object, found without decoding the others.

    CloudTrail writes ``{"Records":[{"eventVersion":...},{"eventVersion":...}]}`` on one line.
    A quote inside a JSON string is always escaped, so ``},{"eventVersion":`` cannot occur in
    a string: cutting there gives one record per line, which the block search then proves
    (one canonical eventTime/eventSource and a closing brace per line). Candidates are decoded
    one by one; if any does not decode (the cut fell inside a nested object) or the shape is
    anything else, None: the caller decodes the whole document.
    """
    head = _S3_HEAD.match(data)
    end = len(data)
    while end and data[end - 1] in b" \t\r\n":
        end -= 1
    if head is None or data[end - 2 : end] != b"]}":
        return None
    if data.find(b"\n", head.end(), end) >= 0 or data.find(b"\r", head.end(), end) >= 0:
        return None
    # One copy: the records, one per line, between the head and the closing "]}".
    lines = data.replace(_BOUNDARY, b'}\n{"eventVersion":')
    first = head.end()
    stop = end - 2 + (len(lines) - len(data))
    if lines[stop : stop + 2] != b"]}":
        return None
    decoded = []
    counted = 0
    times: list[str] = []
    while first < stop:  # blocks that fit the CPU caches
        cut = lines.rfind(b"\n", first, min(first + BLOCK_BYTES // 2, stop)) + 1
        if cut <= first:
            cut = stop  # the last record (no newline after it)
        block = lines[first:cut] if cut < stop else lines[first:stop] + b"\n"
        scan = pf.scan(block)
        if scan is None or block.count(b"}\n") != scan.lines:
            return None
        for index, lo, hi in scan.candidates:
            piece = block[lo:hi]
            try:
                decoded.append((counted + index, piece, orjson.loads(piece)))
            except orjson.JSONDecodeError:
                return None
        counted += scan.lines
        if scan.min_time is not None:
            times.append(scan.min_time.decode())
        first = cut
    skipped = counted - len(decoded)
    stats.records += skipped
    stats.prefiltered += skipped
    if times:
        _fold_times(stats, times)
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
