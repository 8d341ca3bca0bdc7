"""Benchmark of the matcher's per-candidate work, apart from reading and stateful feeding.

``python -m ses_sigma.bench_match FILE [--repeat N] [--profile]``: the JSON Lines ``FILE`` is
read into memory first; then, for every line, what a scan does with a candidate record: decode
(``orjson``), check and build the ``Record`` (``logs.decode.record_from_line``), match it
against the single-event rules and build its alerts (``Engine.match_record``). Prints records,
single-event alerts, stateful matches and the CPU time per record (best of ``--repeat``), as
measured on the machine it runs on. A benchmark, not a test: nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
from pathlib import Path

from ses_sigma.alerts import Alert
from ses_sigma.bench_cpu import best_cpu
from ses_sigma.logs.decode import record_from_line
from ses_sigma.logs.stats import ReadStats
from ses_sigma.match.engine import Engine
from ses_sigma.pack import load_pack

__all__ = ["main", "match_lines"]


def match_lines(engine: Engine, name: str, lines: list[bytes]) -> tuple[int, int, int]:
    """Decode and match every line as a scan does with a candidate; (records, alerts,
    stateful matches)."""
    stats = ReadStats()
    records = alert_count = stateful_count = 0
    for lineno, line in enumerate(lines, 1):
        for rec in record_from_line(f"{name}:{lineno}", line, None, stats):
            records += 1
            alerts: list[Alert] = []
            stateful = engine.match_record(rec, alerts)
            alert_count += len(alerts)
            stateful_count += len(stateful)
    return records, alert_count, stateful_count


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m ses_sigma.bench_match")
    parser.add_argument("file", type=Path, help="a JSON Lines file of CloudTrail records")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is printed")
    parser.add_argument("--profile", action="store_true", help="cProfile one run, top 25")
    args = parser.parse_args(argv)
    engine = Engine(load_pack())
    lines = [ln.rstrip(b"\r") for ln in args.file.read_bytes().split(b"\n") if ln.strip()]
    if args.profile:
        prof = cProfile.Profile()
        prof.runcall(match_lines, engine, str(args.file), lines)
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    best, found = best_cpu(args.repeat, lambda: match_lines(engine, str(args.file), lines))
    records, alerts, stateful = found
    per = best / records * 1e6 if records else 0.0
    print(
        f"{args.file}: {records} records, {alerts} single-event alerts, {stateful} stateful "
        f"matches; best CPU {best:.3f} s = {per:.2f} us/record"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
