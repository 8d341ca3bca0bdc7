"""A byte range of a plain JSON Lines file read through a memory mapping, pre-filtered.

The kernel (``Prefilter.candidates_fd``) maps a window of the file, searches it in place and
copies out the candidate lines only: no read of the whole range into a buffer. Results are
those of the buffered path (``LineStream`` over ``RangeChunks``, then ``read_lines_fast``):
same records, rejections, line numbers and statistics (tests/test_logs_mapped.py). When the
file cannot be mapped, or shrinks while it is read (the kernel catches the SIGBUS), the rest
of the range is read through the buffered path, from the first line not yet handed out.

A whole plain JSON Lines file of ``MAP_MIN_BYTES`` or more (``read_file``) is read the same
way after the lines its shape was decided on (``read_lines_mapped``), with the results of
``read_stream``'s buffered path (tests/test_logs_mapped.py, tests/fuzz).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Generator, Iterator
from typing import IO

from ses_sigma.logs.decode import MAX_DEPTH, record_from_line
from ses_sigma.logs.fast import decode_candidates, read_lines_fast
from ses_sigma.logs.sources import RangeChunks
from ses_sigma.logs.stats import RECORD, ReadStats
from ses_sigma.logs.streams import MAX_LINE_BYTES, LineStream
from ses_sigma.prefilter import Prefilter
from ses_sigma.records import Record

__all__ = [
    "MAP_MIN_BYTES",
    "WINDOW_BYTES",
    "mapped_start",
    "read_lines_mapped",
    "read_range_mapped",
]

#: Bytes of the file mapped and searched at once (grown for a longer line).
WINDOW_BYTES = 16 << 20
#: Whole plain JSON Lines files at least this large are read through the mapping too (a
#: 54 MB file: 0.030 -> 0.024 s CPU, measured); smaller ones take the buffered path.
MAP_MIN_BYTES = 4 << 20
_PROBE = 1 << 16


def _line_end(fd: int, pos: int, size: int) -> int:
    """The offset just past the first newline at or after ``pos`` (``size`` if none)."""
    while pos < size:
        chunk = os.pread(fd, _PROBE, pos)
        if not chunk:
            return pos  # the file shrank: the buffered path will see it
        nl = chunk.find(b"\n")
        if nl >= 0:
            return pos + nl + 1
        pos += len(chunk)
    return size


def read_range_mapped(
    name: str,
    fh: IO[bytes],
    pos: int,
    end: int,
    stats: ReadStats,
    pf: Prefilter,
    window: int | None = None,
    max_line: int | None = None,
    lineno: int = 0,
) -> Generator[Record, None, int]:
    """The candidate records of the lines starting in ``[pos, end)`` of the open file ``fh``
    (``pos``: the start of a line, after any byte-order mark) that ``lineno`` lines precede;
    returns ``lineno`` plus the lines read. Lines of ``max_line`` bytes or more (default
    ``MAX_LINE_BYTES``) are rejected, as ``LineStream`` does; ``window``: default
    ``WINDOW_BYTES``."""
    window = window or WINDOW_BYTES
    max_line = max_line or MAX_LINE_BYTES
    if pos >= end:
        return lineno  # a range holding only a byte-order mark
    fd = fh.fileno()
    size = os.fstat(fd).st_size
    # the range ends with the line that holds byte end - 1 (RangeChunks)
    stop = size if end >= size else end if os.pread(fd, 1, end - 1) == b"\n" else None
    if stop is None:
        stop = _line_end(fd, end, size)
    at = pos
    span = window
    while at < stop:
        upto = min(stop, at + span)
        found = pf.candidates_fd(fd, at, upto, upto == stop, MAX_DEPTH, max_line)
        if found is None:  # not mappable, or the file shrank: the buffered path goes on
            fh.seek(at)
            with LineStream(RangeChunks(fh, end), max_line) as stream:
                lineno = yield from read_lines_fast(name, stream, stats, pf, lineno)
                stats.bytes_read += at - pos + stream.bytes_read
            return lineno
        lines, kept, used, cands = found
        if used == 0:  # no newline in [at, upto): one line longer than the window
            if upto - at < max_line:
                span *= 2
                continue
            lineno += 1
            stats.reject(f"{name}:{lineno}", f"line longer than {max_line} bytes: not read", RECORD)
            at = _line_end(fd, upto, stop)
            span = window
            continue
        stats.records += lines - kept
        stats.prefiltered += lines - kept
        yield from decode_candidates(name, lineno, cands, None, stats, max_line)
        lineno += lines
        at += used
        span = window
    stats.bytes_read += stop - pos
    return lineno


def mapped_start(fh: IO[bytes], stream: LineStream) -> int | None:
    """Where the lines after those ``stream`` peeked at start in ``fh``, when the rest can be
    read through the mapping (``read_lines_mapped``): ``fh`` a regular file of at least
    ``MAP_MIN_BYTES`` read from its start by ``stream`` (not gzip: the caller checks), the
    lines peeked at whole; else None (the buffered path)."""
    start = stream.peeked_bytes()
    if start is None:
        return None
    try:
        fd = fh.fileno()
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size < MAP_MIN_BYTES:
            return None
        if os.pread(fd, 1, start - 1) != b"\n":
            return None  # not the bytes the stream read (changed under it?)
    except (OSError, ValueError):
        return None
    return start


def read_lines_mapped(
    name: str, fh: IO[bytes], stream: LineStream, start: int, stats: ReadStats, pf: Prefilter
) -> Iterator[Record]:
    """The candidate records of a whole plain JSON Lines file: the lines ``stream`` peeked
    at decoded as ``read_lines_fast`` decodes them, then the rest, from byte ``start``
    (``mapped_start``), through the mapping. ``stats.bytes_read`` counts the whole file; the
    caller does not add ``stream.bytes_read``."""
    while stream.pending_peeked:
        line = stream.next_line()
        assert line is not None
        if line.strip():
            origin = f"{name}:{stream.lineno}"
            yield from record_from_line(origin, line.rstrip(b"\r\n"), stream, stats)
    stats.bytes_read += start
    size = os.fstat(fh.fileno()).st_size
    yield from read_range_mapped(name, fh, start, size, stats, pf, lineno=stream.lineno)
