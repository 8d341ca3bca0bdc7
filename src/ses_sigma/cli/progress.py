"""A progress bar on stderr for long scans (rich), only when stderr is a terminal."""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

__all__ = ["ScanProgress"]

#: The bar appears once a scan has run this long (short scans print nothing extra).
DELAY_SECONDS = 2.0


class ScanProgress:
    """``update(done, total)`` with input bytes; shows a transient bar after DELAY_SECONDS."""

    def __init__(self, delay: float = DELAY_SECONDS, force: bool | None = None):
        """``force``: show the bar whatever stderr is (tests); default: only on a terminal."""
        self._enabled = sys.stderr.isatty() if force is None else force
        self._delay = delay
        self._start = time.monotonic()
        self._progress: Progress | None = None
        self._task = None

    def __enter__(self) -> ScanProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def update(self, done: int, total: int) -> None:
        """Input bytes done out of total."""
        if not self._enabled:
            return
        if self._progress is None:
            if time.monotonic() - self._start < self._delay or done >= total:
                return
            self._progress = Progress(
                "scanning",
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("scan", total=total)
        assert self._task is not None
        self._progress.update(self._task, completed=done, total=total)
