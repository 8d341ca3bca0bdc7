"""Property tests of the mapped read path (``logs.mapped``) and the candidate lines the C
kernel hands out (``Prefilter.candidates`` / ``candidates_fd``).

* The C kernel's candidates equal the pure-Python reference (``candidates_reference``) on
  hostile lines, any sub-range, any ``max_line``, final or not; from a buffer and from a
  mapped file.
* A range read through the mapping gives what the buffered path gave before it (a
  ``LineStream`` over ``RangeChunks``, the kernel's ``scan``, ``record_from_line`` per
  candidate: written out here as the reference): same records (data, time, id, origin),
  rejections, statistics and line count, for any split of the file into ranges, small
  mapping windows, small ``max_line``, hostile lines (malformed, blank, CRLF, NUL, invalid
  UTF-8, escaped lone surrogates, deep nesting, documents, bad times and ids) and a
  byte-order mark.
* A whole file read through the mapping (``read_file``, ``mapped.read_lines_mapped``) gives
  what ``read_stream`` (the buffered path) gives for it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz_prefilter import PF, PINS, hostile_line

from ses_sigma.logs import ReadStats, read_file, read_range, read_stream
from ses_sigma.logs import mapped as mapped_module
from ses_sigma.logs.decode import record_from_line
from ses_sigma.logs.sources import BOM, RangeChunks
from ses_sigma.logs.stats import RECORD
from ses_sigma.logs.streams import LineStream, open_log
from ses_sigma.prefilter import Prefilter
from ses_sigma.prefilter.reference import candidates_reference
from ses_sigma.records import Record

SES_PINS = [PINS[1], PINS[2]]
DEEP: list[Any] = []
for _ in range(120):
    DEEP = [DEEP]


def _record(draw: st.DrawFn) -> bytes:
    rec: dict[str, Any] = {
        "eventVersion": "1.09",
        "eventTime": draw(
            st.sampled_from(
                ["2026-01-02T03:04:05Z", "2026-01-02T03:04:61Z", "2026-13-01T00:00:00Z",
                 "2026-01-02 03:04:05.5+02:00", "", None, 5]
            )
        ),
        "eventSource": draw(st.sampled_from(["ses.amazonaws.com", "SES.amazonaws.com",
                                             "s3.amazonaws.com"])),
        "eventName": draw(st.sampled_from(["GetAccount", "SendEmail", "CreateUser", "Other"])),
        "eventID": draw(st.sampled_from(["id-1", "id-\ud800", "", None, ["x"]])),
        "userIdentity": {"accessKeyId": draw(st.sampled_from(["AKIA1", "ASIA2", "\x00"]))},
    }  # fmt: skip
    rec = {k: v for k, v in rec.items() if draw(st.integers(0, 9)) or k == "eventVersion"}
    form = draw(st.integers(0, 6))
    if form == 0:
        return json.dumps(rec).encode("utf-8", "surrogatepass")  # escapes of lone surrogates
    if form == 1:  # nested deeper than the matcher takes, or many brackets but shallow
        return json.dumps({**rec, "deep": DEEP if draw(st.booleans()) else [[]] * 60}).encode()
    if form == 2:
        return json.dumps({"Records": [rec, rec]}).encode()
    if form == 3:
        return json.dumps([rec]).encode()
    return json.dumps(rec, ensure_ascii=False).encode("utf-8", "surrogatepass")  # raw: invalid


@st.composite
def hostile_file(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 14))):
        kind = draw(st.integers(0, 9))
        if kind <= 4:
            line = _record(draw)
        elif kind == 5:
            line = draw(hostile_line())
        elif kind == 6:
            line = draw(st.sampled_from([b"", b"   ", b"\t\x0b\x0c", b"\r", b"\x00", b"\xff{"]))
        elif kind == 7:
            line = b'{"eventSource":"ses.amazonaws.com","x":"' + b"y" * 3000 + b'"}'
        else:
            line = _record(draw)[: draw(st.integers(0, 40))]  # cut
        lines.append(line + draw(st.sampled_from([b"", b"", b"\r", b"\r\r"])))
    data = b"\n".join(lines)
    if lines and draw(st.booleans()):
        data += b"\n"
    return (BOM if draw(st.integers(0, 4)) == 0 else b"") + data


def _drain(gen: Generator[Record, None, int]) -> tuple[list[Record], int]:
    out = []
    while True:
        try:
            out.append(next(gen))
        except StopIteration as stop:
            return out, stop.value or 0


def _before(name: str, stream: LineStream, stats: ReadStats, pf: Prefilter) -> Iterator[Record]:
    """The buffered read path as it was: kernel scan, record_from_line per candidate."""
    lineno = 0
    # small blocks: a line of max_line bytes or more does not fit one, and is rejected
    while (taken := stream.take_lines(16)) is not None:
        if taken is LineStream.TOO_LONG:
            lineno += 1
            msg = f"line longer than {stream.max_line} bytes: not read"
            stats.reject(f"{name}:{lineno}", msg, RECORD)
            continue
        buf, end = taken  # type: ignore[misc]
        whole = end if buf[end - 1] == 0x0A else buf.rfind(b"\n", 0, end) + 1
        scan = pf.scan(buf, 0, whole)
        stats.records += scan.lines - len(scan.candidates)
        stats.prefiltered += scan.lines - len(scan.candidates)
        lines = [(ln, bytes(buf[lo:hi])) for ln, lo, hi in scan.candidates]
        if whole < end:
            lines.append((scan.lines, bytes(buf[whole:end])))
        for ln, line in lines:
            if line.strip():
                origin = f"{name}:{lineno + ln + 1}"
                yield from record_from_line(origin, line.rstrip(b"\r"), stream, stats)
        lineno += scan.lines + (whole < end)
    return lineno


def _reference(path: Path, start: int, end: int, pf: Prefilter, max_line: int) -> tuple:
    stats = ReadStats()
    records: list[Record] = []
    lines = 0
    with open_log(path) as fh:
        if start > 0:
            fh.seek(start - 1)
            fh.readline()
        if fh.tell() < end:
            with LineStream(RangeChunks(fh, end), max_line) as stream:
                records, lines = _drain(_before(str(path), stream, stats, pf))  # type: ignore[arg-type]
                stats.bytes_read += stream.bytes_read
    return _view(records, stats, lines)


def _view(records: list[Record], stats: ReadStats, lines: int) -> tuple:
    recs = [(orjson.dumps(r.data), r.time, r.event_id, r.origin) for r in records]
    counts = (stats.records, stats.prefiltered, stats.bytes_read, stats.first_time)
    return recs, [(r.origin, r.message) for r in stats.rejections], counts, lines


def _mapped(path: Path, start: int, end: int, pf: Prefilter) -> tuple:
    stats = ReadStats()
    records, lines = _drain(read_range(path, start, end, stats, pf))  # type: ignore[arg-type]
    return _view(records, stats, lines)


@given(hostile_file(), st.integers(1, 600), st.integers(1, 5), st.sampled_from([0, 40, 4000]))
def test_mapped_ranges_read_as_the_buffered_path(
    data: bytes, step: int, window: int, max_line: int
) -> None:
    max_line = max_line or 1 << 20
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        mp.setattr(mapped_module, "WINDOW_BYTES", window * 64)
        mp.setattr(mapped_module, "MAX_LINE_BYTES", max_line)
        path = Path(tmp) / "t.jsonl"
        path.write_bytes(data)
        for pf in (Prefilter(SES_PINS, "c"), Prefilter(SES_PINS, "python")):
            for start in range(0, max(len(data), 1), step):
                end = min(start + step, len(data))
                assert _mapped(path, start, end, pf) == _reference(path, start, end, pf, max_line)


@given(st.lists(hostile_line(), max_size=8), st.data())
def test_kernel_candidates_are_the_reference(lines: list[bytes], draw: st.DataObject) -> None:
    buf = b"\n".join(x + draw.draw(st.sampled_from([b"", b"\r", b" "])) for x in lines)
    buf += draw.draw(st.sampled_from([b"", b"\n", b"\n\n  \n"]))
    start = draw.draw(st.integers(0, len(buf)))
    end = draw.draw(st.integers(start, len(buf)))
    depth = draw.draw(st.sampled_from([0, 1, 3, 100]))
    max_line = draw.draw(st.sampled_from([0, 1, 30, 200, 100_000]))
    plan = PF["python"].plan
    want = candidates_reference(buf, start, end, plan, depth, max_line)
    assert PF["c"].candidates(buf, start, end, depth, max_line) == want
    assert PF["python"].candidates(buf, start, end, depth, max_line) == want
    with tempfile.TemporaryFile() as fh:
        fh.write(buf)
        fh.flush()
        fd = fh.fileno()
        for final in (True, False):
            want = candidates_reference(buf, start, end, plan, depth, max_line, final)
            assert PF["c"].candidates_fd(fd, start, end, final, depth, max_line) == want
            assert PF["python"].candidates_fd(fd, start, end, final, depth, max_line) == want
    assert os.path.exists(tempfile.gettempdir())


def _whole(path: Path, pf: Prefilter, mapped: bool) -> tuple:
    stats = ReadStats()
    if mapped:  # read_file: a plain JSON Lines file of MAP_MIN_BYTES or more is mapped
        records = list(read_file(path, stats, pf))
    else:  # read_stream: always the buffered path
        records = list(read_stream(path.open("rb"), str(path), stats, pf))
    recs = [(repr(r.data), r.time, r.event_id, r.origin) for r in records]  # lone surrogates
    counts = (stats.files, stats.records, stats.prefiltered, stats.bytes_read, stats.first_time)
    return recs, [(r.origin, r.message, r.kind) for r in stats.rejections], counts


@given(hostile_file(), st.integers(1, 5))
def test_whole_files_read_through_the_mapping_as_the_buffered_path(
    data: bytes, window: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        mp.setattr(mapped_module, "WINDOW_BYTES", window * 64)
        mp.setattr(mapped_module, "MAP_MIN_BYTES", 0)
        path = Path(tmp) / "t.jsonl"
        path.write_bytes(data)
        for pf in (Prefilter(SES_PINS, "c"), Prefilter(SES_PINS, "python")):
            assert _whole(path, pf, mapped=True) == _whole(path, pf, mapped=False)
