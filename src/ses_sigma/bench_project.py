"""Benchmark of the stateful projection and its packing (``Engine.project_packed``) alone.

``python -m ses_sigma.bench_project FILE [--repeat N] [--suppress] [--reference]``: reads
``FILE`` once as a one-worker scan does (``logs.read_file`` with the pack's pre-filter), keeps
the (record, rule names) pairs that ``Engine.match_record`` hands to the projection
(``scan_tasks.run_task``), then times, over those pairs only, what a scan calls:
``Engine.project_packed`` (the payload as marshal bytes), and ``Engine.project`` (the payload
itself): the records frozen out of the garbage collector (a scan does not hold them), the
results kept (a scan does). Prints the pairs, the records that took the fast paths, the CPU
times (best of ``--repeat``) and whether every payload equals the reference projection's
(``Projector.project_reference``, the generic code), and every packed one its marshal bytes
(``projection.pack``); ``--reference`` times the reference (and its packing) instead. A
benchmark, not a test: nothing asserts a speed. The records are read long before they are
projected, so their objects are out of the CPU's caches, which a scan's are not (it projects
a record as soon as it is matched): per record, the figures are higher than in a scan.
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

from ses_sigma.alerts import Alert
from ses_sigma.bench_cpu import best_cpu
from ses_sigma.logs import read_file
from ses_sigma.logs.stats import ReadStats
from ses_sigma.match.engine import Engine
from ses_sigma.match.projection import pack
from ses_sigma.pack import load_pack
from ses_sigma.records import Record

__all__ = ["candidates", "main", "pack_all", "project_all"]

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


def pack_all(engine: Engine, pairs: Pairs, suppress: bool, reference: bool) -> list:
    """Every pair's packed payload, as a scan makes it (the reference projection packed
    with ``reference``, as the scan did before ``project_packed``)."""
    if reference:
        ref = engine._projector().project_reference
        return [pack(ref(rec, names, suppress, True)) for rec, names in pairs]
    project = engine.project_packed
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
    ref = args.reference
    packed_cpu, packed = best_cpu(args.repeat, lambda: pack_all(engine, pairs, args.suppress, ref))
    cpu, payloads = best_cpu(args.repeat, lambda: project_all(engine, pairs, args.suppress, ref))
    projector = engine._projector()
    fast = sum(1 for rec, names in pairs if projector.fast_path_taken(rec, names))
    template = sum(1 for rec, names in pairs if projector.packed_path_taken(rec, names))
    want = project_all(engine, pairs, args.suppress, True)
    same = payloads == want
    same_packed = packed == [pack(p) for p in want]
    n = max(1, len(pairs))
    print(
        f"{args.file}: {len(pairs)} projected records ({fast} on the fast path, {template} "
        f"packed from a template); best CPU: "
        f"{'reference packed' if ref else 'Engine.project_packed'} {packed_cpu:.3f} s "
        f"= {packed_cpu / n * 1e6:.2f} us/record, "
        f"{'reference' if ref else 'Engine.project'} {cpu:.3f} s = {cpu / n * 1e6:.2f} "
        f"us/record; payloads equal the reference: {'yes' if same else 'NO'}, packed bytes "
        f"equal its: {'yes' if same_packed else 'NO'}"
    )
    return 0 if same and same_packed else 1


if __name__ == "__main__":
    sys.exit(main())
