"""Read CloudTrail records from files, directories and binary streams, reporting every problem.

Shapes (detected from the content, the file name is only a tie-breaker):

* S3 delivery objects ``{"Records": [...]}`` as CloudTrail writes them, plain or gzipped;
* JSON Lines (one record per line; ``.jsonl`` / ``.ndjson``, plain or gzipped), where a line may
  also hold a whole ``{"Records": [...]}`` object;
* a JSON array of records, or a single record object;
* directories, walked recursively in sorted order (only files with a log suffix are read there;
  the others are listed in ``ReadStats.skipped``).

Gzip is recognised by its magic bytes, not by the ``.gz`` suffix (ISA-L decompresses it). Only
regular files are opened (FIFOs, devices and sockets are rejected, never read); a directory
that cannot be read is a rejection. Lines are bounded (``MAX_LINE_BYTES``), records nested at
most ``MAX_DEPTH`` levels. With a ``Prefilter``, JSON Lines are searched block by block on raw
bytes and only the records that could match are decoded (``fast``); ranges of a file, and whole
plain files of ``mapped.MAP_MIN_BYTES`` or more, are searched through a memory mapping
(``mapped``).

Nothing is dropped silently: every problem becomes a ``Rejection(origin, message, kind)`` in
``ReadStats`` (optionally passed to a callback as it happens) and reading goes on. Origins are
``file:line`` (JSON Lines), ``file[index]`` (records of an object or array), ``file:line:column``
(malformed JSON) or ``file`` (file-level problems).

Modules: ``stats`` (ReadStats, Rejection), ``walk`` (which files), ``streams`` (opening,
lines), ``gz`` (gzip), ``decode`` (shapes, records, salvage), ``fast`` (pre-filtered paths).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from ses_sigma.logs.decode import MAX_DEPTH, is_lines, read_document, read_lines
from ses_sigma.logs.fast import document_raw, document_records_fast, read_lines_fast
from ses_sigma.logs.heap import keep_heap
from ses_sigma.logs.mapped import mapped_start, read_lines_mapped, read_range_mapped
from ses_sigma.logs.sources import BOM, PlainChunks, RangeChunks
from ses_sigma.logs.stats import FILE, RECORD, ReadStats, Rejection, Skipped
from ses_sigma.logs.streams import (
    MAX_LINE_BYTES,
    LineStream,
    NotRegularFile,
    StreamError,
    byte_chunks,
    open_log,
    os_message,
)
from ses_sigma.logs.walk import LOG_SUFFIXES, iter_log_files
from ses_sigma.prefilter import Prefilter
from ses_sigma.records import Record

__all__ = [
    "FILE",
    "LOG_SUFFIXES",
    "MAX_DEPTH",
    "MAX_LINE_BYTES",
    "RECORD",
    "ReadStats",
    "Rejection",
    "Skipped",
    "StreamError",
    "iter_log_files",
    "read_file",
    "read_range",
    "read_records",
    "read_stream",
]

_LINES_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")


def read_records(
    paths: Iterable[str | Path], stats: ReadStats | None = None, prefilter: Prefilter | None = None
) -> Iterator[Record]:
    """Yield every CloudTrail record under ``paths`` (files and directories), one at a time.

    Problems are collected in ``stats`` (pass one to see them) and never stop the read. With a
    ``prefilter``, only the records that could match its rules are yielded (the others are
    counted in ``stats``).
    """
    stats = stats if stats is not None else ReadStats()
    for path in iter_log_files(paths, stats):
        yield from read_file(path, stats, prefilter)


def read_file(
    path: str | Path, stats: ReadStats | None = None, prefilter: Prefilter | None = None
) -> Iterator[Record]:
    """Yield the CloudTrail records of one file, whatever its shape; problems go to ``stats``."""
    stats = stats if stats is not None else ReadStats()
    path = Path(path)
    try:
        fh = open_log(path)
    except NotRegularFile as exc:
        stats.reject(str(path), str(exc), FILE)
        return
    except OSError as exc:
        stats.files += 1
        stats.reject(str(path), f"cannot read: {os_message(exc)}", FILE)
        return
    yield from _read_stream(fh, str(path), stats, prefilter, from_start=True)


def read_stream(
    fh: IO[bytes],
    name: str = "<stdin>",
    stats: ReadStats | None = None,
    prefilter: Prefilter | None = None,
) -> Iterator[Record]:
    """Yield the CloudTrail records of a binary stream (a file, a pipe, stdin) named ``name``
    in messages; the stream is closed at the end."""
    yield from _read_stream(fh, name, stats, prefilter)


def _read_stream(
    fh: IO[bytes],
    name: str,
    stats: ReadStats | None,
    prefilter: Prefilter | None,
    from_start: bool = False,
) -> Iterator[Record]:
    """``read_stream``; ``from_start``: ``fh`` was opened here, at its first byte, so a large
    plain JSON Lines file may be read through the mapping (``mapped.read_lines_mapped``)."""
    stats = stats if stats is not None else ReadStats()
    stats.files += 1
    keep_heap()
    try:
        chunks = byte_chunks(fh)
    except OSError as exc:
        fh.close()
        stats.reject(name, f"cannot read: {os_message(exc)}", FILE)
        return
    yielded = 0
    with LineStream(chunks) as stream:
        peeked = stream.peek_nonblank(2)
        start = None
        if not peeked:
            if stream.error is None:
                stats.reject(name, "empty file: no JSON content", FILE)
        elif is_lines(peeked, name.lower().endswith(_LINES_SUFFIXES)):
            if prefilter is not None and from_start and isinstance(chunks, PlainChunks):
                start = mapped_start(fh, stream)
            if start is not None:
                assert prefilter is not None
                records = read_lines_mapped(name, fh, stream, start, stats, prefilter)
            elif prefilter is not None:
                records = read_lines_fast(name, stream, stats, prefilter)
            else:
                records = read_lines(name, stream, stats)
            for rec in records:
                yielded += 1
                yield rec
        else:
            decode = raw = None
            if prefilter is not None:

                def decode(n: str, v: object, s: ReadStats) -> Iterator[Record]:
                    return document_records_fast(n, v, s, prefilter)

                def raw(n: str, d: bytes, s: ReadStats) -> list[Record] | None:
                    return document_raw(n, d, s, prefilter)

            for rec in read_document(name, stream, stats, decode, raw):
                yielded += 1
                yield rec
        if start is None:  # read_lines_mapped counted the bytes of the file itself
            stats.bytes_read += stream.bytes_read
        if stream.error is not None:
            origin = f"{name}:{stream.cut_at}" if stream.cut_at else name
            stats.reject(origin, _stream_problem(stream, yielded), FILE)


def read_range(
    path: str | Path,
    start: int,
    end: int,
    stats: ReadStats,
    prefilter: Prefilter | None = None,
    mapped: bool = True,
) -> Iterator[Record]:
    """The records of the JSON Lines that start in bytes ``[start, end)`` of a plain file.

    For splitting a large file across workers: the line that ``start`` falls in belongs to the
    previous range. Line numbers in origins count from the range's first line (1); the caller
    shifts them (see ``scan``). Returns the number of lines read as the generator's value.
    With a ``prefilter`` the range is searched through a memory mapping (module ``mapped``;
    ``mapped=False``: read into a buffer, the reference it is tested against).
    """
    name = str(path)
    with open_log(Path(path)) as fh:
        if start > 0:
            fh.seek(start - 1)
            fh.readline()  # the end of the line that belongs to the previous range
        pos = fh.tell()
        if pos >= end:
            return 0
        if prefilter is not None and mapped:
            if pos == 0 and end >= len(BOM) and fh.read(len(BOM)) != BOM:
                fh.seek(0)  # RangeChunks drops a byte-order mark the same way
            return (yield from read_range_mapped(name, fh, fh.tell(), end, stats, prefilter))

        with LineStream(RangeChunks(fh, end)) as stream:
            if prefilter is not None:
                lines = yield from read_lines_fast(name, stream, stats, prefilter)
            else:
                yield from read_lines(name, stream, stats)
                lines = stream.lineno
            stats.bytes_read += stream.bytes_read
    return lines


def _stream_problem(stream: LineStream, yielded: int) -> str:
    text = f"{stream.error}, after {stream.bytes_read} bytes of data"
    if stream.cut_at:
        text += f"; the data is cut at line {stream.cut_at.replace(':', ', column ')}"
    if yielded:
        return f"{text}; the {yielded} record(s) read before the cut were used"
    return f"{text}; no record could be read before the cut"
