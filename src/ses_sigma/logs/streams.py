"""Byte streams of log files: safe opening, gzip (ISA-L), and a line reader with a size bound."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ses_sigma.logs.gz import GZIP_MAGIC, Prefixed, StreamError, gzip_chunks, os_message
from ses_sigma.logs.sources import BOM, PlainChunks
from ses_sigma.logs.walk import not_regular_reason

__all__ = [
    "BLOCK_BYTES",
    "GZIP_MAGIC",
    "MAX_LINE_BYTES",
    "LineStream",
    "NotRegularFile",
    "StreamError",
    "byte_chunks",
    "open_log",
    "os_message",
]

#: Bytes of whole lines handed to the pre-filter at once (``LineStream.take_lines``).
BLOCK_BYTES = 1 << 22
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
    return PlainChunks(fh, head)


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
        self._bom = 0  # bytes of a byte-order mark dropped from the first line peeked at
        self._max = max_line
        # take_lines: the reusable block, its filled length and the end of the last handed out
        self._block: bytearray | None = None
        self._fill = 0
        self._cut = 0
        self._readinto = getattr(chunks, "readinto", None)
        self._pending = b""  # a chunk being copied into the block (sources without readinto)
        self._offset = 0
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
        if not self._buf and not self._eof:
            whole = self._whole_rest()
            if whole is not None:
                return whole
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

    def _whole_rest(self) -> bytes | None:
        """The rest of the stream when it is one unterminated line in one chunk (a compact
        S3 object), without copying it; else None, the chunks read put in the buffer."""
        chunk = self._next_chunk()
        if not chunk or b"\n" in chunk or len(chunk) > self._max:
            self._buf += chunk or b""
            return None
        after = self._next_chunk()
        if after is None:
            self.last_line_complete = False
            return chunk
        self._buf += chunk
        self._buf += after
        return None

    def peek_nonblank(self, n: int) -> list[bytes]:
        """The first ``n`` non-blank lines (fewer at EOF), without consuming anything."""
        found = [line for _, line in self._peeked if line.strip()]
        while len(found) < n:
            line = self._raw_line()
            if line is None:
                break
            if not self._peeked and line.startswith(BOM):
                line = line[len(BOM) :]
                self._bom = len(BOM)
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

    def take_lines(self, size: int = BLOCK_BYTES) -> tuple[bytearray, int] | bytes | None:
        """The next run of whole lines as ``(buffer, end)``: the lines are ``buffer[:end]``,
        the last one ends with a newline unless the data ends without one. The buffer is
        reused by the next call (read with ``readinto`` when the source can, so no bytes
        object is made per block). None at the end.

        A line that does not fit ``max_line`` bytes comes back alone as ``TOO_LONG`` (its
        bytes skipped). Only valid once the peeked lines are consumed; line numbers are not
        tracked here (the caller counts the lines of the block).
        """
        block = self._block
        if block is None:
            block = self._block = bytearray(max(size, len(self._buf)))
            self._fill = len(self._buf)
            block[: self._fill] = self._buf
            self._buf.clear()
            self._scanned = 0
        elif self._cut:
            tail = self._fill - self._cut
            if tail:
                block[:tail] = block[self._cut : self._fill]  # a copy: no overlapping move
            self._fill = tail
        self._cut = 0
        while True:
            while self._fill < len(block) and self._read_into(block):
                pass
            nl = block.rfind(b"\n", 0, self._fill)
            if nl >= 0:
                self._cut = nl + 1
                return block, self._cut
            if self._eof:
                if not self._fill:
                    return None
                self._cut = self._fill
                self.last_line_complete = False  # the data ends without a newline
                return block, self._fill
            if len(block) >= self._max:
                return self._skip_block_line(block)
            block.extend(bytes(min(len(block), self._max - len(block))))

    def _read_into(self, block: bytearray) -> int:
        """Append the next bytes of the source to ``block[_fill:]``; 0 at the end."""
        n = 0
        if self._readinto is not None:
            with memoryview(block) as view:
                try:
                    n = self._readinto(view[self._fill :])
                except StreamError as exc:
                    self.error = str(exc)
        else:
            while not self._pending:
                chunk = self._next_chunk()
                if chunk is None:
                    break
                self._pending, self._offset = chunk, 0
            n = min(len(block) - self._fill, len(self._pending) - self._offset)
            with memoryview(self._pending) as pending:
                block[self._fill : self._fill + n] = pending[self._offset : self._offset + n]
            self._offset += n
            if self._offset == len(self._pending):
                self._pending, self._offset = b"", 0
        if n == 0:
            self._eof = True
        self._fill += n
        self.bytes_read += n if self._readinto is not None else 0
        return n

    def _skip_block_line(self, block: bytearray) -> bytes:
        """Drop the over-long line at the start of ``block``, up to and including its newline."""
        while True:
            self._fill = 0
            if not self._read_into(block):
                return self.TOO_LONG
            nl = block.find(b"\n", 0, self._fill)
            if nl >= 0:
                self._cut = nl + 1
                return self.TOO_LONG

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

    def peeked_bytes(self) -> int | None:
        """The bytes the lines peeked at took in the stream (a byte-order mark included), when
        all of them are whole lines still waiting for next_line; else None."""
        if not self._peeked or self.lineno:
            return None
        lines = [line for _, line in self._peeked]
        if any(line is self.TOO_LONG or not line.endswith(b"\n") for line in lines):
            return None
        return self._bom + sum(map(len, lines))

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
