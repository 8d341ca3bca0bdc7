"""Byte streams of log files: safe opening, gzip (ISA-L), and a line reader with a size bound."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ses_sigma.logs.gz import GZIP_MAGIC, Prefixed, StreamError, gzip_chunks, os_message
from ses_sigma.logs.walk import not_regular_reason

__all__ = [
    "GZIP_MAGIC",
    "MAX_LINE_BYTES",
    "LineStream",
    "NotRegularFile",
    "StreamError",
    "byte_chunks",
    "open_log",
    "os_message",
]

CHUNK = 1 << 20
BOM = b"\xef\xbb\xbf"
#: Longest JSON Lines line accepted (CloudTrail caps an event at 256 KB; this leaves room for
#: a line holding a whole S3 object). A longer line is rejected, and never held in memory.
MAX_LINE_BYTES = 64 << 20


class NotRegularFile(OSError):
    """The path is not a regular file (FIFO, device, socket...): it is not read."""


def open_log(path: Path) -> IO[bytes]:
    """Open ``path`` for reading without ever blocking on a FIFO or a device.

    The file is opened non-blocking and checked with ``fstat`` (no race between a check and
    the open): anything but a regular file raises ``NotRegularFile``.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        reason = not_regular_reason(os.fstat(fd).st_mode)
        if reason is not None:
            raise NotRegularFile(reason)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", closefd=True)
    except BaseException:
        os.close(fd)
        raise


def byte_chunks(fh: IO[bytes]) -> Iterator[bytes]:
    """The decoded byte chunks of a binary stream (gzip recognised by its magic bytes).

    Works on any readable binary stream (a file, a pipe, stdin): the first bytes are read once
    and put back in front of the rest, no seeking needed.
    """
    head = fh.read(2)
    if head == GZIP_MAGIC:
        if fh.seekable():
            fh.seek(0)
            return gzip_chunks(fh)
        return gzip_chunks(io.BufferedReader(Prefixed(head, fh)))
    return _plain_chunks(fh, head)


def _plain_chunks(fh: IO[bytes], head: bytes) -> Iterator[bytes]:
    with fh:
        if head:
            yield head
        while True:
            try:
                chunk = fh.read(CHUNK)
            except OSError as exc:
                raise StreamError(f"read error: {os_message(exc)}") from None
            if not chunk:
                return
            yield chunk


class LineStream:
    """Lines of a chunk stream, with line numbers; remembers how the stream ended.

    A line longer than ``max_line`` is not kept: ``next_line`` returns ``TOO_LONG`` for it (its
    bytes are skipped up to the next newline).
    """

    TOO_LONG = b"\0too long\0"

    def __init__(self, chunks: Iterator[bytes], max_line: int = MAX_LINE_BYTES):
        self._chunks = chunks
        self._buf = bytearray()
        self._scanned = 0  # bytes of _buf known to hold no newline
        self._eof = False
        self._peeked: list[tuple[int, bytes]] = []
        self._max = max_line
        self.lineno = 0  # number of the last line returned by next_line (1-based)
        self.bytes_read = 0
        self.error: str | None = None
        self.last_line_complete = True
        # Where the data is cut when the stream ended abnormally ("line" or "line:column").
        self.cut_at: str | None = None

    def __enter__(self) -> LineStream:
        return self

    def __exit__(self, *exc: object) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()

    def fill(self) -> bool:
        """Read one more chunk into the buffer; False at the end (or on a stream error)."""
        if self._eof:
            return False
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self._eof = True
            return False
        except StreamError as exc:
            self.error = str(exc)
            self._eof = True
            return False
        self._buf += chunk
        self.bytes_read += len(chunk)
        return True

    def _skip_long_line(self) -> bytes:
        """Drop the rest of an over-long line (up to and including its newline)."""
        while True:
            i = self._buf.find(b"\n")
            if i >= 0:
                del self._buf[: i + 1]
                self._scanned = 0
                return self.TOO_LONG
            self._buf.clear()
            if not self.fill():
                self._scanned = 0
                return self.TOO_LONG

    def _raw_line(self) -> bytes | None:
        while True:
            i = self._buf.find(b"\n", self._scanned)
            if i >= 0:
                if i + 1 > self._max:
                    return self._skip_long_line()
                with memoryview(self._buf) as view:
                    line = bytes(view[: i + 1])  # one copy (a bytearray slice would be two)
                del self._buf[: i + 1]
                self._scanned = 0
                return line
            self._scanned = len(self._buf)
            if self._scanned > self._max:
                return self._skip_long_line()
            if not self.fill():
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
            if not self._peeked and line.startswith(BOM):
                line = line[len(BOM) :]
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

    def take_block(self, min_size: int) -> bytes | None:
        """The next run of whole lines (at least ``min_size`` bytes unless the data ends),
        ending with a newline, or the unterminated last line; None at the end.

        A line longer than the bound comes back alone as ``TOO_LONG`` (its bytes skipped). Only
        valid once the peeked lines are consumed; line numbers are not tracked here (the caller
        counts the newlines of the block). Chunks are joined once (no bytearray round trip).
        """
        parts: list[bytes] = [bytes(self._buf)] if self._buf else []
        self._buf.clear()
        self._scanned = 0
        size = len(parts[0]) if parts else 0
        newline = bool(parts) and b"\n" in parts[0]
        while not (newline and size >= min_size):
            if not newline and size > self._max:
                self._buf += b"".join(parts)
                return self._skip_long_line()
            chunk = self._next_chunk()
            if chunk is None:
                break
            parts.append(chunk)
            size += len(chunk)
            newline = newline or b"\n" in chunk
        if not parts:
            return None
        for k in range(len(parts) - 1, -1, -1):
            i = parts[k].rfind(b"\n")
            if i >= 0:
                if i + 1 < len(parts[k]):
                    self._buf += parts[k][i + 1 :]
                for rest in parts[k + 1 :]:
                    self._buf += rest
                if k == 0 and i + 1 == len(parts[0]):
                    return parts[0]
                return b"".join([*parts[:k], parts[k][: i + 1]])
        self.last_line_complete = False  # the data ends without a newline
        return b"".join(parts)

    def _next_chunk(self) -> bytes | None:
        if self._eof:
            return None
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self._eof = True
            return None
        except StreamError as exc:
            self.error = str(exc)
            self._eof = True
            return None
        self.bytes_read += len(chunk)
        return chunk

    @property
    def max_line(self) -> int:
        """The longest line accepted, in bytes."""
        return self._max

    @property
    def pending_peeked(self) -> bool:
        """True while lines peeked at are still waiting to be returned by next_line."""
        return bool(self._peeked)

    def read_rest(self, limit: int) -> bytes | None:
        """Everything not yet returned, as one bytes object; None if it exceeds ``limit``."""
        parts = [line for _, line in self._peeked]
        self._peeked.clear()
        base = sum(map(len, parts))
        while base + len(self._buf) <= limit and self.fill():
            pass
        size = base + len(self._buf)
        if size > limit:
            return None
        if self._buf:
            parts.append(bytes(self._buf))
            self._buf.clear()
        return parts[0] if len(parts) == 1 else b"".join(parts)
