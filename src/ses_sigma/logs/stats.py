"""What a read saw: counts, rejections (files and records, kept apart) and skipped files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["FILE", "RECORD", "ReadStats", "Rejection", "Skipped"]

#: A rejection of a whole path (file or directory) or of its unreadable rest.
FILE: Literal["file"] = "file"
#: A rejection of one record (a JSON Lines line, or one element of a record array).
RECORD: Literal["record"] = "record"


@dataclass(frozen=True, slots=True)
class Rejection:
    """One problem met while reading: where (``origin``), what (``message``), and whether it
    rejects a path (``kind="file"``) or one record (``kind="record"``)."""

    origin: str
    message: str
    kind: str = FILE

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
    """What a read saw.

    ``files``: files opened and read; ``records``: records accepted (handed on, decoded or
    counted by the pre-filter as unable to match); every problem is a ``Rejection`` in
    ``rejections``. Records read = ``records`` + ``records_rejected`` (``records_read``).
    ``on_rejection`` is called with each rejection as soon as it happens (for live reporting).
    """

    files: int = 0
    records: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    #: Records the pre-filter counted without decoding them (included in ``records``).
    prefiltered: int = 0
    #: Bytes of log data consumed (decompressed), for progress reporting.
    bytes_read: int = 0
    #: Earliest eventTime (POSIX seconds) of the accepted records, decoded or not.
    first_time: float | None = None
    on_rejection: Callable[[Rejection], None] | None = field(default=None, repr=False)

    @property
    def rejected(self) -> int:
        """Number of problems reported (rejected records plus rejected paths)."""
        return len(self.rejections)

    @property
    def records_rejected(self) -> int:
        """Records rejected one by one (malformed line, not a usable record, too deep...)."""
        return sum(1 for r in self.rejections if r.kind == RECORD)

    @property
    def files_rejected(self) -> int:
        """Paths with a problem of their own (unreadable, not a regular file, not a log...)."""
        return sum(1 for r in self.rejections if r.kind == FILE)

    @property
    def records_read(self) -> int:
        """Every record met: accepted plus rejected."""
        return self.records + self.records_rejected

    def reject(self, origin: str, message: str, kind: str = FILE) -> None:
        """Record one problem and pass it to ``on_rejection``."""
        rejection = Rejection(origin, message, kind)
        self.rejections.append(rejection)
        if self.on_rejection is not None:
            self.on_rejection(rejection)

    def saw_time(self, ts: float) -> None:
        """Note an accepted record's eventTime (keeps the earliest)."""
        if self.first_time is None or ts < self.first_time:
            self.first_time = ts

    def merge(self, other: ReadStats) -> None:
        """Add the counts and lists of ``other`` (a worker's part of the read) to these.

        ``on_rejection`` is called for each of ``other``'s rejections.
        """
        self.files += other.files
        self.records += other.records
        self.prefiltered += other.prefiltered
        self.bytes_read += other.bytes_read
        self.skipped.extend(other.skipped)
        if other.first_time is not None:
            self.saw_time(other.first_time)
        for r in other.rejections:
            self.reject(r.origin, r.message, r.kind)
