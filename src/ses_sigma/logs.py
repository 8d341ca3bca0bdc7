"""Read CloudTrail records from files and directories, reporting every problem.

Shapes (detected from the content, the file name is only a tie-breaker):

* S3 delivery objects ``{"Records": [...]}`` as CloudTrail writes them, plain or gzipped;
* JSON Lines (one record per line; ``.jsonl`` / ``.ndjson``, plain or gzipped), where a line may
  also hold a whole ``{"Records": [...]}`` object;
* a JSON array of records, or a single record object;
* directories, walked recursively in sorted order (only files with a log suffix are read there;
  the others are listed in ``ReadStats.skipped``).

Gzip is recognised by its magic bytes, not by the ``.gz`` suffix. JSON Lines are decoded line
by line; a whole JSON document (an S3 object or an array) is decoded at once with orjson.

Nothing is dropped silently: every problem becomes a ``Rejection(origin, message)`` in
``ReadStats`` (optionally passed to a callback as it happens) and reading goes on. Origins are
``file:line`` (JSON Lines), ``file[index]`` (records of an object or array), ``file:line:column``
(malformed JSON) or ``file`` (file-level problems).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from ses_sigma.records import Record, RecordError

__all__ = [
    "LOG_SUFFIXES",
    "ReadStats",
    "Rejection",
    "Skipped",
    "iter_log_files",
    "read_file",
    "read_records",
    "read_stream",
]

#: Suffixes of files read when walking a directory (explicitly named files are always read).
LOG_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")
_LINES_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
_BOM = b"\xef\xbb\xbf"
# Top-level keys that only CloudTrail event records have (any one of them is enough to say
# "this object is meant to be a record"; Record.from_dict then checks eventTime and eventID).
_EVENT_KEYS = frozenset({"eventVersion", "eventTime", "eventID", "eventSource", "eventName"})
# CloudTrail digest files (log file integrity validation) live next to the logs in the bucket.
_DIGEST_KEYS = frozenset({"digestStartTime", "digestEndTime", "digestS3Object"})


@dataclass(frozen=True, slots=True)
class Rejection:
    """One problem met while reading: where (``origin``) and what (``message``)."""

    origin: str
    message: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.message}"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file that was deliberately not read (not a log file), and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class ReadStats:
    """What a read saw: files read, records yielded, and every rejection and skipped file.

    ``on_rejection`` is called with each rejection as soon as it happens (for live reporting).
    """

    files: int = 0
    records: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    on_rejection: Callable[[Rejection], None] | None = field(default=None, repr=False)

    @property
    def rejected(self) -> int:
        """Number of problems reported (rejected records plus file-level problems)."""
        return len(self.rejections)

    def reject(self, origin: str, message: str) -> None:
        """Record one problem and pass it to ``on_rejection``."""
        rejection = Rejection(origin, message)
        self.rejections.append(rejection)
        if self.on_rejection is not None:
            self.on_rejection(rejection)


def _has_log_suffix(path: Path) -> bool:
    name = path.name.lower()
    return any(name.endswith(s) for s in LOG_SUFFIXES)


def iter_log_files(paths: Iterable[str | Path], stats: ReadStats) -> Iterator[Path]:
    """The files to read under ``paths``, in a deterministic order, each once.

    Paths are taken in the order given; a directory is walked recursively (symbolic links to
    directories are not followed) and its log files are yielded sorted by path. Files in a
    directory without a log suffix are recorded in ``stats.skipped``; a missing path is a
    rejection.
    """
    seen: set[Path] = set()

    def once(p: Path) -> bool:
        key = p.resolve()
        if key in seen:
            return False
        seen.add(key)
        return True

    for given in map(Path, paths):
        if given.is_dir():
            found: list[Path] = []
            for root, dirs, files in os.walk(given):
                found.extend(Path(root, name) for name in files)
                for name in dirs:
                    if Path(root, name).is_symlink():
                        stats.skipped.append(
                            Skipped(str(Path(root, name)), "symbolic link to a directory")
                        )
            for p in sorted(found):
                if not _has_log_suffix(p):
                    stats.skipped.append(Skipped(str(p), "not a log file suffix"))
                elif once(p):
                    yield p
        elif given.exists():
            if once(given):
                yield given
        else:
            stats.reject(str(given), "no such file or directory")


def read_records(paths: Iterable[str | Path], stats: ReadStats | None = None) -> Iterator[Record]:
    """Yield every CloudTrail record under ``paths`` (files and directories), one at a time.

    Problems are collected in ``stats`` (pass one to see them) and never stop the read.
    """
    stats = stats if stats is not None else ReadStats()
    for path in iter_log_files(paths, stats):
        yield from read_file(path, stats)


def read_file(path: str | Path, stats: ReadStats | None = None) -> Iterator[Record]:
    """Yield the CloudTrail records of one file, whatever its shape; problems go to ``stats``."""
    stats = stats if stats is not None else ReadStats()
    path = Path(path)
    name = str(path)
    stats.files += 1
    try:
        stream = _Lines(_open_chunks(path))
    except OSError as exc:
        stats.reject(name, f"cannot read: {_os_message(exc)}")
        return
    yield from _read_stream(name, path, stream, stats)


def read_stream(
    fh: BinaryIO, name: str = "<stdin>", stats: ReadStats | None = None
) -> Iterator[Record]:
    """Yield the CloudTrail records of a binary stream (standard input), gzipped or not, in
    any shape ``read_file`` reads; origins are ``name:line`` / ``name[index]``."""
    stats = stats if stats is not None else ReadStats()
    stats.files += 1
    if not hasattr(fh, "peek"):  # gzip is told by its first bytes: they must stay readable
        fh = io.BufferedReader(fh)  # type: ignore[arg-type]
    try:
        magic = fh.peek(2)[:2]
    except OSError as exc:
        stats.reject(name, f"cannot read: {_os_message(exc)}")
        return
    chunks = _gzip_chunks(fh) if magic == _GZIP_MAGIC else _plain_chunks(fh)
    yield from _read_stream(name, Path(name), _Lines(chunks), stats)


def _read_stream(name: str, path: Path, stream: _Lines, stats: ReadStats) -> Iterator[Record]:
    yielded = 0
    with stream:
        peeked = stream.peek_nonblank(2)
        if not peeked:
            if stream.error is None:
                stats.reject(name, "empty file: no JSON content")
        elif _is_lines(peeked, path):
            for rec in _read_lines(name, stream, stats):
                yielded += 1
                yield rec
        else:
            for rec in _read_document(name, stream, stats):
                yielded += 1
                yield rec
        if stream.error is not None:
            origin = f"{name}:{stream.cut_at}" if stream.cut_at else name
            stats.reject(origin, _stream_problem(stream, yielded))


# --- byte streams -------------------------------------------------------------------------


class _StreamError(Exception):
    """The byte stream of a file ended abnormally (truncated or corrupt gzip, I/O error)."""


def _os_message(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _open_chunks(path: Path) -> Iterator[bytes]:
    """Open ``path`` (OSError now if it cannot be opened) and return its decoded byte chunks."""
    fh = path.open("rb")
    try:
        magic = fh.read(2)
        fh.seek(0)
    except OSError:
        fh.close()
        raise
    return _gzip_chunks(fh) if magic == _GZIP_MAGIC else _plain_chunks(fh)


def _plain_chunks(fh: Any) -> Iterator[bytes]:
    with fh:
        while True:
            try:
                chunk = fh.read(_CHUNK)
            except OSError as exc:
                raise _StreamError(f"read error: {_os_message(exc)}") from None
            if not chunk:
                return
            yield chunk


def _gzip_chunks(fh: Any) -> Iterator[bytes]:
    # read1, not read: GzipFile.read(n) sits on a BufferedReader and drops the data it had
    # already decompressed when the stream turns out to be truncated (CPython 3.11, checked:
    # half a truncated member lost ~50 KB with read(64 KiB), nothing with read1).
    with fh, gzip.GzipFile(fileobj=fh, mode="rb") as gz:
        while True:
            try:
                chunk = gz.read1(_CHUNK)
            except EOFError:
                raise _StreamError(
                    "truncated gzip: the compressed stream ends before its end-of-stream marker"
                ) from None
            except (gzip.BadGzipFile, zlib.error) as exc:
                raise _StreamError(f"corrupt gzip: {exc}") from None
            except OSError as exc:
                raise _StreamError(f"read error: {_os_message(exc)}") from None
            if not chunk:
                return
            yield chunk


class _Lines:
    """Lines of a chunk stream, with line numbers; remembers how the stream ended."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._buf = bytearray()
        self._scanned = 0  # bytes of _buf known to hold no newline
        self._eof = False
        self._peeked: list[tuple[int, bytes]] = []
        self.lineno = 0  # number of the last line returned by next_line (1-based)
        self.bytes_read = 0
        self.error: str | None = None
        self.last_line_complete = True
        # Where the data is cut when the stream ended abnormally ("line" or "line:column").
        self.cut_at: str | None = None

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *exc: object) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()

    def _fill(self) -> bool:
        if self._eof:
            return False
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self._eof = True
            return False
        except _StreamError as exc:
            self.error = str(exc)
            self._eof = True
            return False
        self._buf += chunk
        self.bytes_read += len(chunk)
        return True

    def _raw_line(self) -> bytes | None:
        while True:
            i = self._buf.find(b"\n", self._scanned)
            if i >= 0:
                line = bytes(self._buf[: i + 1])
                del self._buf[: i + 1]
                self._scanned = 0
                return line
            self._scanned = len(self._buf)
            if not self._fill():
                if not self._buf:
                    return None
                line = bytes(self._buf)
                self._buf.clear()
                self._scanned = 0
                self.last_line_complete = False
                return line

    def peek_nonblank(self, n: int) -> list[bytes]:
        """The first ``n`` non-blank lines (fewer at EOF), without consuming anything."""
        found = [line for _, line in self._peeked if line.strip()]
        while len(found) < n:
            line = self._raw_line()
            if line is None:
                break
            if not self._peeked and line.startswith(_BOM):
                line = line[len(_BOM) :]
            self._peeked.append((len(self._peeked) + 1, line))
            if line.strip():
                found.append(line)
        return found[:n]

    def next_line(self) -> bytes | None:
        """The next raw line (with its newline, if any); None at the end."""
        if self._peeked:
            self.lineno, line = self._peeked.pop(0)
            return line
        line = self._raw_line()
        if line is not None:
            self.lineno += 1
        return line

    def read_rest(self) -> bytes:
        """Everything not yet returned, as one bytes object (the whole file if nothing was)."""
        parts = [line for _, line in self._peeked]
        self._peeked.clear()
        while self._fill():
            pass
        parts.append(bytes(self._buf))
        self._buf.clear()
        return b"".join(parts)


def _stream_problem(stream: _Lines, yielded: int) -> str:
    text = f"{stream.error}, after {stream.bytes_read} bytes of data"
    if stream.cut_at:
        text += f"; the data is cut at line {stream.cut_at.replace(':', ', column ')}"
    if yielded:
        return f"{text}; the {yielded} record(s) read before the cut were used"
    return f"{text}; no record could be read before the cut"


# --- shape detection --------------------------------------------------------------------------


def _parses_as_object(line: bytes) -> bool:
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        return False


def _is_lines(peeked: list[bytes], path: Path) -> bool:
    """Decide between JSON Lines and one JSON document from the first two non-blank lines.

    A file that starts with ``[`` or holds a single non-blank line is one document. If the first
    line is a JSON object on its own, the file is JSON Lines. Otherwise the first line is either
    a bad JSON Lines line or the opening of a pretty-printed document (which ends in ``{``,
    ``[`` or ``,``): a second line that is an object on its own means JSON Lines unless the
    first looks like an opening, an opening followed by a non-object means a document, and
    what remains ambiguous is decided by the suffix (``.jsonl``/``.ndjson`` = JSON Lines).
    """
    first = peeked[0].strip()
    if first.startswith(b"[") or len(peeked) < 2:
        return False
    if _parses_as_object(first):
        return True
    opening = first.endswith((b"{", b"[", b","))
    second_is_object = _parses_as_object(peeked[1])
    if second_is_object and not opening:
        return True
    if opening and not second_is_object:
        return False
    return path.name.lower().endswith(_LINES_SUFFIXES)


# --- JSON Lines -------------------------------------------------------------------------------


def _read_lines(name: str, stream: _Lines, stats: ReadStats) -> Iterator[Record]:
    while (line := stream.next_line()) is not None:
        if not line.strip():
            continue
        origin = f"{name}:{stream.lineno}"
        try:
            value = orjson.loads(line.rstrip(b"\r\n"))
        except orjson.JSONDecodeError as exc:
            if stream.error is not None and not stream.last_line_complete:
                # The last line was cut by the broken stream: reported once, by read_file.
                stream.cut_at = str(stream.lineno)
            else:
                stats.reject(f"{origin}:{exc.colno}", f"malformed JSON: {exc.msg}")
            continue
        if isinstance(value, dict) and "Records" in value and not _EVENT_KEYS & value.keys():
            yield from _records_of(f"{origin}", value["Records"], stats)
            continue
        rec = _record(origin, value, stats)
        if rec is not None:
            stats.records += 1
            yield rec


# --- whole documents --------------------------------------------------------------------------


def _read_document(name: str, stream: _Lines, stats: ReadStats) -> Iterator[Record]:
    data = stream.read_rest()
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        salvaged = _salvage(data) or []
        if stream.error is not None:
            # Cut by the broken stream: reported once, by read_file, with what was used.
            stream.cut_at = f"{exc.lineno}:{exc.colno}"
        elif salvaged:
            stats.reject(
                f"{name}:{exc.lineno}:{exc.colno}",
                f"malformed JSON: {exc.msg}; the {len(salvaged)} complete record(s) before "
                "the error were used",
            )
        else:
            stats.reject(f"{name}:{exc.lineno}:{exc.colno}", f"malformed JSON: {exc.msg}")
        yield from _records_of(name, salvaged, stats)
        return
    del data  # the decoded document is all that is needed from here on
    if isinstance(value, list):
        yield from _records_of(name, value, stats)
    elif isinstance(value, dict):
        if "Records" in value:
            yield from _records_of(name, value["Records"], stats)
        elif _EVENT_KEYS & value.keys():
            rec = _record(name, value, stats)
            if rec is not None:
                stats.records += 1
                yield rec
        elif _DIGEST_KEYS & value.keys():
            stats.skipped.append(
                Skipped(name, "CloudTrail digest file (log integrity validation), no events")
            )
        else:
            keys = ", ".join(sorted(value)[:5]) or "none"
            stats.reject(
                name,
                "not a CloudTrail log: a JSON object with neither 'Records' nor event fields "
                f"(eventTime, eventSource, eventName); its keys: {keys}",
            )
    else:
        stats.reject(
            name,
            f"not a CloudTrail log: the JSON document is a {type(value).__name__}, "
            "expected an object or an array",
        )


def _records_of(prefix: str, items: Any, stats: ReadStats) -> Iterator[Record]:
    if not isinstance(items, list):
        stats.reject(
            prefix,
            f"not a CloudTrail log: 'Records' is a {type(items).__name__}, not an array",
        )
        return
    for index, item in enumerate(items):
        rec = _record(f"{prefix}[{index}]", item, stats)
        if rec is not None:
            stats.records += 1
            yield rec


def _record(origin: str, value: Any, stats: ReadStats) -> Record | None:
    if isinstance(value, dict) and not _EVENT_KEYS & value.keys():
        keys = ", ".join(sorted(value)[:5]) or "none"
        stats.reject(
            origin,
            "not a CloudTrail record: no eventTime, eventID, eventSource or eventName "
            f"(keys: {keys})",
        )
        return None
    try:
        return Record.from_dict(value, origin=origin)
    except RecordError as exc:
        stats.reject(origin, str(exc))
        return None


def _salvage(data: bytes) -> list[Any] | None:
    """The complete elements at the start of a cut or broken record array, or None.

    Works on ``[...`` and ``{"Records": [...`` documents (the only shapes where a prefix still
    means something). orjson has no incremental decoding, so the stdlib decoder's ``raw_decode``
    walks the elements one by one; the first that does not decode ends the salvage.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = data[: exc.start].decode("utf-8")
    decoder = json.JSONDecoder(parse_constant=_no_constant)
    i = _skip_ws(text, 0)
    if text.startswith("{", i):
        i = _skip_ws(text, i + 1)
        if not text.startswith('"Records"', i):
            return None
        i = _skip_ws(text, i + len('"Records"'))
        if not text.startswith(":", i):
            return None
        i = _skip_ws(text, i + 1)
    if not text.startswith("[", i):
        return None
    i += 1
    items: list[Any] = []
    while True:
        i = _skip_ws(text, i)
        try:
            item, end = decoder.raw_decode(text, i)
        except ValueError:
            return items
        items.append(item)
        i = _skip_ws(text, end)
        if not text.startswith(",", i):
            return items
        i += 1


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
