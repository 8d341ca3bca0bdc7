"""Benchmark of a scan's per-match row work, apart from reading, matching and stateful feeding.

``python -m ses_sigma.bench_rows FILE [--repeat N]``: the tasks of a 2-worker scan of ``FILE``
are read and matched once, in this process (``run_task``, pre-filter on); then, over their
matched records, each step is timed (CPU, best of ``--repeat``) beside what it replaced, and
checked against it while it is timed:

* the duplicate digest: the C keyed SipHash (``rowkeys.DIGEST``) against the keyed blake2b
  (``rowkeys.blake2b_digest``), and against the pure-Python SipHash on a sample;
* the parent's set of digests: ``KeySet.add_many`` a task at a time against the sorted array
  (``SortedKeySet.add`` per digest), same answers;
* the wire: ``to_wire`` in the worker and ``columns`` in the parent (the rows a parent that
  does not keep alerts reads), ``from_wire`` giving back the same rows; beside the former
  wire's part that can still be made (rows as tuples, marshal version 4; the walk of the
  Alerts that it also did is gone with them).

Prints per matched record, as measured on the machine it runs on. A benchmark, not a test:
nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import copy
import marshal
import sys
from array import array
from pathlib import Path

from ses_sigma.bench_cpu import best_cpu
from ses_sigma.logs.stats import ReadStats
from ses_sigma.match.engine import Engine
from ses_sigma.pack import load_pack
from ses_sigma.rowkeys import (
    DIGEST,
    DIGEST_KEY,
    KeySet,
    SortedKeySet,
    blake2b_digest,
    digest_reference,
)
from ses_sigma.scan_tasks import TaskResult, plan_tasks, run_task
from ses_sigma.scan_wire import from_wire, to_wire

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m ses_sigma.bench_rows")
    parser.add_argument("file", type=Path, help="a CloudTrail log file (JSON Lines)")
    parser.add_argument("--repeat", type=int, default=5, help="runs; the best is printed")
    args = parser.parse_args(argv)
    engine = Engine(load_pack())
    pf = engine.prefilter()
    results = [
        run_task(engine, task, pf) for task in plan_tasks([args.file], ReadStats(), workers=2)
    ]
    pairs = [(e, t) for r in results for e, t in zip(r.event_ids, r.times, strict=True)]
    n = len(pairs)
    if not n:
        print(f"{args.file}: no matched record")
        return 0

    def us(seconds: float) -> str:
        return f"{seconds / n * 1e6:.3f} us"

    if DIGEST is None:
        print("the _rowkeys extension is not built: nothing to compare")
        return 1
    for e, t in pairs[:: max(1, n // 100)]:
        if DIGEST(e, t, DIGEST_KEY) != digest_reference(e, t, DIGEST_KEY):
            raise AssertionError(f"C digest differs from the reference on {e!r}, {t!r}")
    c_time, c_keys = best_cpu(args.repeat, lambda: [DIGEST(e, t, DIGEST_KEY) for e, t in pairs])
    b_time, b_keys = best_cpu(
        args.repeat, lambda: [blake2b_digest(e, t, DIGEST_KEY) for e, t in pairs]
    )
    if len(set(c_keys)) != len(set(b_keys)):
        raise AssertionError("the two digests tell a different number of records apart")
    print(f"{args.file}: {n} matched records in {len(results)} tasks")
    print(f"digest: C SipHash {us(c_time)}, blake2b {us(b_time)} a record")

    tasks = [array("Q", r.keys) for r in results]

    def bulk() -> list[bytes]:
        seen = KeySet()
        return [seen.add_many(keys) for keys in tasks]

    def one_by_one() -> list[bytes]:
        seen = SortedKeySet()
        return [bytes(seen.add(k) for k in keys) for keys in tasks]

    k_time, k_flags = best_cpu(args.repeat, bulk)
    s_time, s_flags = best_cpu(args.repeat, one_by_one)
    if k_flags != s_flags:
        raise AssertionError("KeySet and SortedKeySet disagree")
    print(f"dedupe: KeySet.add_many {us(k_time)}, SortedKeySet.add {us(s_time)} a record")

    copies: list[TaskResult] = []

    def encode() -> list[TaskResult]:
        made = [to_wire(copy.copy(r)) for r in results]
        copies[:] = made
        return made

    w_time, sent = best_cpu(args.repeat, encode)
    r_time, _ = best_cpu(args.repeat, lambda: [r.columns() for r in sent])
    for original, back in zip(results, sent, strict=True):
        if from_wire(copy.copy(back)).rows() != original.rows():
            raise AssertionError(f"task {original.task.index}: the wire changed the rows")
    size = sum(len(r.wire or b"") + len(r.found_wire or b"") for r in sent)
    print(
        f"wire: to_wire {us(w_time)}, columns {us(r_time)} a record, {size / n:.0f} bytes a record"
    )
    # The former wire: one tuple a record, marshal version 4 (its Alert walk not counted).
    rows = [
        [(k, t, e, tuple(f), p, g) for k, (t, e, f, p, g) in zip(r.keys, r.rows(), strict=True)]
        for r in results
    ]
    d_time, blobs = best_cpu(args.repeat, lambda: [marshal.dumps(x, 4) for x in rows])
    l_time, _ = best_cpu(args.repeat, lambda: [marshal.loads(b) for b in blobs])
    print(f"former wire (rows as tuples): dumps {us(d_time)}, loads {us(l_time)} a record")
    return 0


if __name__ == "__main__":
    sys.exit(main())
