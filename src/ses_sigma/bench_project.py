"""Benchmark of the stateful projection (``Engine.project``) alone.

``python -m ses_sigma.bench_project FILE [--repeat N] [--suppress] [--reference]``: reads
``FILE`` once as a one-worker scan does (``logs.read_file`` with the pack's pre-filter), keeps
the (record, rule names) pairs that ``Engine.match_record`` hands to ``Engine.project``
(``scan_tasks.run_task``), then times ``Engine.project`` over those pairs only: the records
frozen out of the garbage collector (a scan does not hold them), the payloads kept (a scan
does). Prints the pairs, the records that took the fast path, the CPU time (best of
``--repeat``) and whether every payload equals the reference projection's
(``Projector.project_reference``, the generic code); ``--reference`` times the reference
instead. A benchmark, not a test: nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

from ses_sigma.alerts import Alert
from ses_sigma.logs import read_file
from ses_sigma.logs.stats import ReadStats
from ses_sigma.match.engine import Engine
from ses_sigma.pack import load_pack
from ses_sigma.records import Record

__all__ = ["candidates", "main", "project_all"]

Pairs = list[tuple[Record, list[str]]]


def candidates(engine: Engine, path: Path) -> Pairs:
    """The (record, stateful rule names) pairs a one-worker scan of ``path`` projects."""
    pairs: Pairs = []
    match_record = engine.match_record
    for rec in read_file(path, ReadStats(), engine.prefilter()):
        alerts: list[Alert] = []
        names = match_record(rec, alerts)
        if names:
            pairs.append((rec, names))
    return pairs


def project_all(engine: Engine, pairs: Pairs, suppress: bool, reference: bool) -> list:
    """Every pair's payload (the reference projection with ``reference``)."""
    if reference:
        ref = engine._projector().project_reference
        return [ref(rec, names, suppress, True) for rec, names in pairs]
    project = engine.project
    return [project(rec, names, suppress, True) for rec, names in pairs]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m ses_sigma.bench_project")
    parser.add_argument("file", type=Path, help="a JSON Lines file of CloudTrail records")
    parser.add_argument("--repeat", type=int, default=5, help="runs; the best is printed")
    parser.add_argument("--suppress", action="store_true", help="project as scan --suppress")
    parser.add_argument("--reference", action="store_true", help="time the reference path")
    args = parser.parse_args(argv)
    engine = Engine(load_pack())
    pairs = candidates(engine, args.file)
    # A scan drops each record once matched; here they are all held: keep them out of the
    # garbage collector's generations, so its passes cost what they cost in a scan.
    gc.collect()
    gc.freeze()
    best = None
    payloads: list = []
    for _ in range(max(1, args.repeat)):
        payloads = []
        cpu = time.process_time()
        payloads = project_all(engine, pairs, args.suppress, args.reference)
        cpu = time.process_time() - cpu
        best = cpu if best is None else min(best, cpu)
    assert best is not None
    projector = engine._projector()
    fast = sum(1 for rec, names in pairs if projector.fast_path_taken(rec, names))
    same = payloads == project_all(engine, pairs, args.suppress, True)
    per = best / len(pairs) * 1e6 if pairs else 0.0
    print(
        f"{args.file}: {len(pairs)} projected records ({fast} on the fast path); "
        f"{'reference' if args.reference else 'Engine.project'} best CPU {best:.3f} s "
        f"= {per:.2f} us/record; payloads equal the reference: {'yes' if same else 'NO'}"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
