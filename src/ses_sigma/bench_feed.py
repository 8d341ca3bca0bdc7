"""Benchmark of the stateful engines' feeding (``StatefulRunner.feed`` / ``finish``) alone.

``python -m ses_sigma.bench_feed FILE [--repeat N] [--suppress] [--reference] [--in-order]``:
scans ``FILE`` once with one worker (``scan.scan_with_engine``), keeping the (eventTime, eventID,
payload) triples the scan hands to its stateful stream (``StatefulStream.add``, after the
duplicate check), sorts them in (eventTime, eventID) order, then times a fresh
``Engine.stateful_runner`` fed every triple and finished: the triples frozen out of the garbage
collector (a scan holds them in its reorder buffer), the alerts kept. Prints the triples, the
CPU time (best of ``--repeat``) and whether the alerts (with suppression: the suppressed alerts
and every (alert, group) pair) equal those of the reference runner
(``Engine.stateful_runner(reference=True)``, the engines as they were before the fast path);
``--reference`` times the reference instead; ``--in-order`` remakes the payloads in feed order
first (marshal, as the exact run of a batch scan unpacks each just before feeding it): the
scan's are made in read order (random time order here) and, fed in time order, are out of the
CPU's caches (about 1.6 times the CPU time, load 3). A benchmark, not a test: nothing asserts
a speed.
"""

from __future__ import annotations

import argparse
import gc
import marshal
import sys
from pathlib import Path
from typing import Any

from ses_sigma.alerts import Alert
from ses_sigma.bench_cpu import best_cpu
from ses_sigma.match.engine import Engine
from ses_sigma.match.stateful import Payload
from ses_sigma.pack import load_pack
from ses_sigma.scan import scan_with_engine
from ses_sigma.scan_stream import StatefulStream
from ses_sigma.scan_tasks import PackedPayload, unpack_payload

__all__ = ["collect", "feed_all", "main"]

Triples = list[tuple[float, str, Payload]]

_DUMPS = marshal.dumps
_LOADS = marshal.loads


def collect(engine: Engine, path: Path, suppress: bool = False) -> Triples:
    """The (eventTime, eventID, payload) triples a one-worker scan of ``path`` feeds its
    stateful stream, in (eventTime, eventID) order."""
    triples: Triples = []
    original = StatefulStream.add

    def add(self: StatefulStream, ts: float, event_id: str, payload: PackedPayload) -> None:
        triples.append((ts, event_id, unpack_payload(payload)))
        original(self, ts, event_id, payload)

    StatefulStream.add = add  # type: ignore[method-assign]
    try:
        # An endless reorder window: no candidate is late, so none skips ``add`` (batch mode
        # takes the workers' sorted runs instead, ``scan_runs``).
        scan_with_engine(
            engine,
            [path],
            workers=1,
            keep_alerts=False,
            suppress=suppress,
            reorder_window=float("inf"),
        )
    finally:
        StatefulStream.add = original  # type: ignore[method-assign]
    triples.sort(key=lambda t: (t[0], t[1]))
    return triples


def feed_all(
    engine: Engine, triples: Triples, suppress: bool, reference: bool
) -> tuple[list[Alert], list[tuple[Alert, Any]] | None]:
    """A fresh runner fed every triple, then finished: its alerts (and groups)."""
    groups: list[tuple[Alert, Any]] | None = [] if suppress else None
    runner = engine.stateful_runner(None, groups, reference=reference)
    feed = runner.feed
    alerts: list[Alert] = []
    for ts, event_id, payload in triples:
        found = feed(ts, event_id, payload)
        if found:
            alerts.extend(found)
    alerts.extend(runner.finish())
    return alerts, groups


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m ses_sigma.bench_feed")
    parser.add_argument("file", type=Path, help="a JSON Lines file of CloudTrail records")
    parser.add_argument("--repeat", type=int, default=5, help="runs; the best is printed")
    parser.add_argument("--suppress", action="store_true", help="feed as scan --suppress")
    parser.add_argument("--reference", action="store_true", help="time the reference runner")
    parser.add_argument(
        "--in-order",
        action="store_true",
        help="payloads remade in feed order first (as an exact run unpacks them: the scan's "
        "are in read order, out of the CPU's caches when fed)",
    )
    args = parser.parse_args(argv)
    engine = Engine(load_pack())
    triples = collect(engine, args.file, args.suppress)
    if args.in_order:
        triples = [(ts, event_id, _LOADS(_DUMPS(p))) for ts, event_id, p in triples]
    gc.collect()
    gc.freeze()
    best, out = best_cpu(
        args.repeat, lambda: feed_all(engine, triples, args.suppress, args.reference)
    )
    ref = feed_all(engine, triples, args.suppress, True)
    same = out == ref
    if args.suppress and same:
        assert out[1] is not None and ref[1] is not None
        same = engine.suppress(out[1]) == engine.suppress(ref[1])
    per = best / len(triples) * 1e6 if triples else 0.0
    print(
        f"{args.file}: {len(triples)} payloads fed, {len(out[0])} alerts; "
        f"{'reference' if args.reference else 'StatefulRunner'} feed+finish best CPU "
        f"{best:.3f} s = {per:.2f} us/payload; alerts equal the reference: "
        f"{'yes' if same else 'NO'}"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
