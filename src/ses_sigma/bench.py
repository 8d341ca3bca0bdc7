"""``make bench``: ses-sigma scan side by side with DuckDB on the same file and rules.

Generates a deterministic synthetic CloudTrail workload (mostly non-SES management events, as
in a real trail, with ~5 % SES calls, a share of them failed, spread over 10 days, 500
principals), written once as one JSON Lines file and once as gzipped S3 delivery objects
(``{"Records": [...]}``, 2,000 records each). Then, each in a fresh child process (so that its
peak RSS is its own, the largest process of its tree):

* DuckDB (the ``bench`` extra: ``duckdb``, ``pysigma-backend-duckdb``): the pack's
  single-event rules converted by pySigma's DuckDB backend, run as one scan with one flag
  column per rule over a view of the fields they need, on 1 and 2 threads (JSON Lines only:
  the S3-object layout would need a different SQL reader);
* ``ses-sigma scan`` (``scan_with_engine``, the whole pack, output discarded) with 1 and 2
  workers, on both layouts.

Timings are wall clock of the scan alone (rule loading excluded, on both sides), best of
``--repeat``. ``--memory`` also compares peak RSS at 250 k and 4 M records (1 worker).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ses_sigma.bench_data import generate_records, write_jsonl, write_s3_objects
from ses_sigma.pack import Pack

__all__ = ["generate_records", "main", "single_event_pack"]

#: The command line of a measurement child (``_child``).
_CHILD = [sys.executable, "-m", "ses_sigma.bench", "--child"]


def _cpu() -> float:
    """CPU seconds (user + system) of this process and its waited-for children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def single_event_pack(pack: Pack) -> Pack:
    """``pack`` reduced to the rules DuckDB runs (``bench_duckdb.single_event_rules``)."""
    from sigma.collection import SigmaCollection

    from ses_sigma.bench_duckdb import single_event_rules
    from ses_sigma.pack import rule_key

    rules = single_event_rules(pack)
    keys = {rule_key(r) for r in rules}
    files = {k: v for k, v in pack.files.items() if k in keys}
    return Pack(SigmaCollection(rules), files=files)


def _pack(which: str) -> Pack:
    from ses_sigma.pack import load_pack

    pack = load_pack()
    return single_event_pack(pack) if which == "single" else pack


def _child(argv: list[str]) -> None:
    """One measurement in this (child) process: prints {"secs", "cpu", "records", "matches"}."""
    kind, path, n = argv[0], Path(argv[1]), int(argv[2])
    if kind == "generate":  # path: a folder; n: records; argv[3]: SES share
        share = float(argv[3])
        unique = min(n, 250_000)
        records = generate_records(unique, ses_share=share)
        sizes = {
            "jsonl": write_jsonl(records, path / "cloudtrail.jsonl", max(1, n // unique)),
            "small": write_jsonl(records, path / "small.jsonl", 1),
        }
        (path / "s3").mkdir()
        sizes["s3"] = write_s3_objects(records, path / "s3")
        print(json.dumps(sizes))
        return
    if kind == "big":  # path: a folder; n: copies of 250 k records
        records = generate_records(250_000, ses_share=float(argv[3]))
        write_jsonl(records, path / "big.jsonl", n)
        return
    if kind == "agree":  # path: a JSON Lines file; the per-rule counts of both sides
        print(json.dumps(_agreement(path)))
        return
    which = argv[3] if len(argv) > 3 else "all"
    if kind == "duckdb":
        import duckdb

        from ses_sigma.bench_duckdb import duckdb_query

        view, query, _ = duckdb_query(path, _pack("all"))
        con = duckdb.connect()
        con.execute(f"SET threads={n}")
        con.execute(view)
        t0, c0 = time.perf_counter(), _cpu()
        rows = con.execute(query).fetchall()
        secs, cpu = time.perf_counter() - t0, _cpu() - c0
        print(json.dumps({"secs": secs, "cpu": cpu, "records": None, "matches": len(rows)}))
        return
    from ses_sigma.match.engine import Engine
    from ses_sigma.scan import scan_with_engine

    engine = Engine(_pack(which))
    t0, c0 = time.perf_counter(), _cpu()
    result = scan_with_engine(engine, [path], workers=n, keep_alerts=False)
    secs, cpu = time.perf_counter() - t0, _cpu() - c0
    if not result.ok:
        raise SystemExit(f"bench input rejected: {result.read.rejections[:3]}")
    out = {"secs": secs, "cpu": cpu, "records": result.read.records_read}
    out["matches"] = result.alert_count
    print(json.dumps(out))


def _agreement(path: Path) -> dict[str, dict[str, int]]:
    """Per single-event rule, the records DuckDB and ``ses-sigma scan`` find in ``path``."""
    from collections import Counter

    from ses_sigma.bench_duckdb import rule_counts
    from ses_sigma.match.engine import Engine
    from ses_sigma.scan import scan_with_engine

    pack = _pack("single")
    duck = rule_counts(path, pack)
    result = scan_with_engine(Engine(pack), [path])
    ours = Counter(a.rule_name for a in result.alerts)
    names = sorted({r.name for r in pack.rules})
    return {"duckdb": {k: duck[k] for k in names}, "ses-sigma": {k: ours[k] for k in names}}


def _measure(kind: str, path: Path, n: int, repeat: int, which: str = "all") -> dict[str, Any]:
    """Best of ``repeat`` child runs (wall clock), with the largest peak RSS (MB) seen; each
    run also reports the CPU seconds its scan used (all threads and worker processes)."""
    best: dict[str, Any] = {}
    rss = 0.0
    for _ in range(repeat):
        proc = subprocess.Popen(
            [*_CHILD, kind, str(path), str(n), which],
            stdout=subprocess.PIPE,
        )
        out = proc.stdout.read() if proc.stdout else b""
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            raise SystemExit(f"bench child {kind} {n} failed ({proc.returncode})")
        got = json.loads(out)
        rss = max(rss, usage.ru_maxrss / 1024)
        if not best or got["secs"] < best["secs"]:
            best = got
    best["rss_mb"] = rss
    return best


def _row(label: str, records: int, m: dict[str, Any], ref: float | None) -> str:
    rate = records / m["secs"]
    ratio = f"{rate / ref:.2f}x" if ref else "-"
    return (
        f"{label:<44} {rate:>10,.0f} rec/s {ratio:>6}  {m['secs']:>6.2f} s"
        f"  cpu {m['cpu']:>6.2f} s = {records / max(m['cpu'], 1e-9):>9,.0f} rec/cpu-s"
        f"  rss {m['rss_mb']:>5.0f} MB  ({m['matches']} alerts/rows)"
    )


def _check_agreement(path: Path) -> int:
    """Run the agreement child on ``path``; print the verdict; the rule count (exit if they
    disagree: a faster engine that finds other records proves nothing)."""
    out = subprocess.run(
        [*_CHILD, "agree", str(path), "0"],
        check=True,
        stdout=subprocess.PIPE,
    ).stdout
    got = json.loads(out)
    duck, ours = got["duckdb"], got["ses-sigma"]
    differ = {k: (duck[k], ours[k]) for k in duck if duck[k] != ours[k]}
    if differ:
        raise SystemExit(f"DuckDB and ses-sigma disagree (rule: duckdb, ses-sigma): {differ}")
    print(
        f"agreement: DuckDB and ses-sigma find the same records for each of the {len(duck)} "
        f"single-event rules on {path.name} ({sum(ours.values()):,} rule matches)"
    )
    return len(duck)


def main(argv: list[str] | None = None) -> int:
    """Run the side-by-side benchmark and print one line per measurement."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        _child(argv[1:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--ses-share", type=float, default=0.05)
    parser.add_argument("--memory", action="store_true", help="also 250 k vs 4 M peak RSS")
    parser.add_argument("--data", type=Path, help="reuse a folder a previous run generated")
    args = parser.parse_args(argv)
    unique = min(args.records, 250_000)
    n = unique * max(1, args.records // unique)
    with tempfile.TemporaryDirectory(prefix="ses-sigma-bench-") as tmp:
        folder = args.data or Path(tmp)
        if args.data is None:
            out = subprocess.run(
                [*_CHILD, "generate", tmp, str(n), str(args.ses_share)],
                check=True,
                stdout=subprocess.PIPE,
            ).stdout
            sizes = json.loads(out)
        else:
            sizes = {k: _size(folder / f) for k, f in (("jsonl", "cloudtrail.jsonl"),)}
            sizes["s3"] = sum(_size(f) for f in (folder / "s3").iterdir())
        jsonl, s3 = folder / "cloudtrail.jsonl", folder / "s3"
        print(
            f"workload: {n:,} records ({args.ses_share:.0%} SES) as JSON Lines "
            f"({sizes['jsonl'] / 1e6:,.0f} MB); {unique:,} records as {-(-unique // 2000)} "
            f".json.gz S3 objects ({sizes['s3'] / 1e6:.0f} MB); {os.cpu_count()} CPUs; "
            f"best of {args.repeat}; os load average {os.getloadavg()[0]:.1f}"
        )
        single = _check_agreement(folder / "small.jsonl")
        duck = {t: _measure("duckdb", jsonl, t, args.repeat) for t in (1, 2)}
        for t in (1, 2):
            print(_row(f"duckdb jsonl, {single} rules, {t} thread(s)", n, duck[t], None))
        for which, label in (("single", f"same {single} rules"), ("all", "whole pack")):
            for w in (1, 2):
                m = _measure("sigma", jsonl, w, args.repeat, which)
                ref = n / duck[w]["secs"]
                print(_row(f"ses-sigma jsonl, {label}, {w} worker(s)", n, m, ref))
        for w in (1, 2):
            m = _measure("sigma", s3, w, args.repeat)
            print(_row(f"ses-sigma .json.gz S3, whole pack, {w} worker(s)", unique, m, None))
        if args.memory:
            small = _measure("sigma", folder / "small.jsonl", 1, 1)
            big = Path(tmp) / "big.jsonl"
            if args.data is None:
                jsonl.unlink()
            subprocess.run([*_CHILD, "big", tmp, "16", str(args.ses_share)], check=True)
            large = _measure("sigma", big, 1, 1)
            print(
                f"memory: peak RSS {small['rss_mb']:.0f} MB at {unique:,} records, "
                f"{large['rss_mb']:.0f} MB at {unique * 16:,} records "
                f"({large['rss_mb'] / small['rss_mb'] - 1:+.0%})"
            )
    print("load average after:", " ".join(f"{x:.1f}" for x in os.getloadavg()))
    return 0


def _size(path: Path) -> int:
    return path.stat().st_size


if __name__ == "__main__":
    sys.exit(main())
