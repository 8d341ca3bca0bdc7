"""The stage benchmarks' one timing rule: the best CPU time of N runs (``best_cpu``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["best_cpu"]

T = TypeVar("T")


def best_cpu(repeat: int, step: Callable[[], T]) -> tuple[float, T]:
    """Call ``step`` ``repeat`` times (at least once); the least CPU seconds (this process,
    ``time.process_time``) one call took, and what the last call returned."""
    best: float | None = None
    out: T
    for _ in range(max(1, repeat)):
        cpu = time.process_time()
        out = step()
        cpu = time.process_time() - cpu
        best = cpu if best is None else min(best, cpu)
    assert best is not None
    return best, out
