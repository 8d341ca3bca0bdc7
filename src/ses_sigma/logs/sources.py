"""Byte sources that can read straight into the caller's buffer (``readinto``).

``LineStream.take_lines`` fills one reusable buffer from them: no bytes object per read, no
page faults on fresh memory. They are also iterators of bytes chunks, for the line reader.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from ses_sigma.logs.gz import StreamError, os_message

__all__ = ["BOM", "CHUNK", "PlainChunks", "RangeChunks"]

CHUNK = 1 << 20
BOM = b"\xef\xbb\xbf"


class PlainChunks:
    """The chunks of an uncompressed stream. The bytes given as ``head`` (the magic-number
    probe) come out first."""

    def __init__(self, fh: IO[bytes], head: bytes):
        self._fh = fh
        self._head = head

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            return head
        try:
            chunk = self._fh.read(CHUNK)
        except OSError as exc:
            raise StreamError(f"read error: {os_message(exc)}") from None
        if not chunk:
            raise StopIteration
        return chunk

    def _read(self, view: memoryview) -> int:
        try:
            return self._fh.readinto(view) or 0
        except OSError as exc:
            raise StreamError(f"read error: {os_message(exc)}") from None

    def readinto(self, view: memoryview) -> int:
        """Fill the start of ``view``; 0 at the end. StreamError on an I/O error."""
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        return self._read(view)

    def close(self) -> None:
        """Close the underlying stream."""
        self._fh.close()


class RangeChunks(PlainChunks):
    """The bytes of a plain file from its position up to ``end``, then up to the end of the
    line ``end`` falls in (a worker's share of a large file). A byte-order mark at the start
    of the file is dropped."""

    def __init__(self, fh: IO[bytes], end: int):
        pos = fh.tell()
        head = fh.read(min(len(BOM), end)) if pos == 0 else b""
        super().__init__(fh, b"" if head == BOM else head)
        self._left = end - pos - len(head)
        self._last = b"\n"  # the last byte handed out
        self._done = False

    def __next__(self) -> bytes:
        # PlainChunks.__next__ reads to the end of the file: the line-by-line path (no
        # pre-filter) iterates chunks, so a range must bound them as readinto does.
        buf = bytearray(CHUNK)
        n = self.readinto(memoryview(buf))
        if n == 0:
            raise StopIteration
        del buf[n:]
        return bytes(buf)

    def readinto(self, view: memoryview) -> int:
        """Fill the start of ``view``; 0 at the end of the range."""
        if self._head:
            n = super().readinto(view)
        elif self._left > 0:
            n = self._read(view[: min(len(view), self._left)])
            self._left -= n
            if n == 0:
                self._left = 0
                self._done = True
        elif not self._done:  # finish the range's last line
            self._done = True
            if self._last != b"\n":
                self._head = self._fh.readline()
            return self.readinto(view) if self._head else 0
        else:
            return 0
        if n:
            self._last = bytes(view[n - 1 : n])
        return n
