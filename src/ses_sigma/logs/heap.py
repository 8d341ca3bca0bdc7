"""The allocator setting of the read path (``keep_heap``)."""

from __future__ import annotations

try:
    from ses_sigma.prefilter import _rawscan
except ImportError:  # a source tree without the built extension
    _rawscan = None  # type: ignore[assignment]

__all__ = ["keep_heap"]


def keep_heap() -> bool:
    """Ask glibc's malloc to keep the read path's buffers (decompressed S3 objects and their
    copies, a few MiB each) in its heap between files instead of mapping and unmapping them
    each time (a page fault per 4 KiB page). True when done (glibc and the C extension);
    process-wide and idempotent. Peak memory is unchanged: freed memory is reused."""
    return bool(_rawscan is not None and _rawscan.keep_heap())
