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

__all__ = ["duckdb_query", "generate_records", "main"]

# Columns read as JSON text from each line; a dotted rule field ``a.b`` is
# ``json_extract_string(a, '$.b')`` over column ``a`` (typed JSON), a plain one a VARCHAR column.


def _rule_fields(rule: Any) -> set[str]:
    """Every field name a rule's detections test (pySigma detection items, nested)."""
    from sigma.rule import SigmaDetection

    out: set[str] = set()
    todo = list(rule.detection.detections.values())
    while todo:
        item = todo.pop()
        if isinstance(item, SigmaDetection):
            todo.extend(item.detection_items)
        elif item.field is not None:
            out.add(item.field)
    return out


def duckdb_query(path: Path) -> tuple[str, str, int]:
    """(view SQL, query SQL, rule count): the pack's single-event rules converted by
    pySigma's DuckDB backend, one boolean column per rule, one scan of ``path``."""
    from sigma_backend_duckdb import DuckDBBackend

    from ses_sigma.match.first_seen import FirstSeenSpec
    from ses_sigma.pack import load_pack

    pack = load_pack()
    backend = DuckDBBackend()
    fields: set[str] = {"eventSource", "eventName"}
    flags: list[str] = []
    for rule in pack.rules:
        if FirstSeenSpec.from_rule(rule) is not None:
            continue  # stateful: not a single-event query
        [query] = backend.convert_rule(rule)
        where = query.removeprefix("SELECT * FROM logs WHERE ")
        fields |= _rule_fields(rule)
        flags.append(f'({where}) AS "{rule.name}"')
    columns: dict[str, str] = {"eventID": "VARCHAR", "eventTime": "VARCHAR"}
    exprs: list[str] = []
    for name in sorted(fields):
        top, _, rest = name.partition(".")
        if rest:
            columns[top] = "JSON"
            exprs.append(f"json_extract_string({top}, '$.{rest}') AS \"{name}\"")
        else:
            columns.setdefault(top, "VARCHAR")
            exprs.append(f'{top} AS "{name}"')
    select = ", ".join(exprs)
    view = (
        f"CREATE VIEW logs AS SELECT eventID, eventTime, {select} FROM read_ndjson('{path}', "
        f"columns={{{', '.join(f'{k!r}: {v!r}' for k, v in columns.items())}}})"
    )
    names = [f.rsplit(" AS ", 1)[1] for f in flags]
    query = f"SELECT eventID, {', '.join(flags)} FROM logs WHERE " + " OR ".join(
        f"({f.rsplit(' AS ', 1)[0]})" for f in flags
    )
    return view, query, len(names)


def _cpu() -> float:
    """CPU seconds (user + system) of this process and its waited-for children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _child(argv: list[str]) -> None:
    """One measurement in this (child) process: prints {"secs", "records", "matches"}."""
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
    if kind == "duckdb":
        import duckdb

        view, query, _ = duckdb_query(path)
        con = duckdb.connect()
        con.execute(f"SET threads={n}")
        con.execute(view)
        t0, c0 = time.perf_counter(), _cpu()
        rows = con.execute(query).fetchall()
        secs, cpu = time.perf_counter() - t0, _cpu() - c0
        print(json.dumps({"secs": secs, "cpu": cpu, "records": None, "matches": len(rows)}))
        return
    from ses_sigma.match.engine import Engine
    from ses_sigma.pack import load_pack
    from ses_sigma.scan import scan_with_engine

    engine = Engine(load_pack())
    t0, c0 = time.perf_counter(), _cpu()
    result = scan_with_engine(engine, [path], workers=n, keep_alerts=False)
    secs, cpu = time.perf_counter() - t0, _cpu() - c0
    if not result.ok:
        raise SystemExit(f"bench input rejected: {result.read.rejections[:3]}")
    out = {"secs": secs, "cpu": cpu, "records": result.read.records_read}
    out["matches"] = result.alert_count
    print(json.dumps(out))


def _measure(kind: str, path: Path, n: int, repeat: int) -> dict[str, Any]:
    """Best of ``repeat`` child runs (wall clock), with the largest peak RSS (MB) seen; each
    run also reports the CPU seconds its scan used (all threads and worker processes)."""
    best: dict[str, Any] = {}
    rss = 0.0
    for _ in range(repeat):
        proc = subprocess.Popen(
            [sys.executable, "-m", "ses_sigma.bench", "--child", kind, str(path), str(n)],
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
        f"{label:<36} {rate:>10,.0f} rec/s {ratio:>6}  {m['secs']:>6.2f} s"
        f"  cpu {m['cpu']:>6.2f} s = {records / max(m['cpu'], 1e-9):>9,.0f} rec/cpu-s"
        f"  rss {m['rss_mb']:>5.0f} MB  ({m['matches']} alerts/rows)"
    )


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
    args = parser.parse_args(argv)
    unique = min(args.records, 250_000)
    n = unique * max(1, args.records // unique)
    with tempfile.TemporaryDirectory(prefix="ses-sigma-bench-") as tmp:
        folder = Path(tmp)
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "ses_sigma.bench",
                "--child",
                "generate",
                tmp,
                str(n),
                str(args.ses_share),
            ],
            check=True,
            stdout=subprocess.PIPE,
        ).stdout
        sizes = json.loads(out)
        jsonl, s3 = folder / "cloudtrail.jsonl", folder / "s3"
        print(
            f"workload: {n:,} records ({args.ses_share:.0%} SES) as JSON Lines "
            f"({sizes['jsonl'] / 1e6:,.0f} MB); {unique:,} records as {-(-unique // 2000)} "
            f".json.gz S3 objects ({sizes['s3'] / 1e6:.0f} MB); {os.cpu_count()} CPUs; "
            f"best of {args.repeat}; os load average {os.getloadavg()[0]:.1f}"
        )
        duck = {t: _measure("duckdb", jsonl, t, args.repeat) for t in (1, 2)}
        for t in (1, 2):
            print(_row(f"duckdb jsonl, {t} thread(s)", n, duck[t], None))
        for w in (1, 2):
            m = _measure("sigma", jsonl, w, args.repeat)
            print(_row(f"ses-sigma jsonl, {w} worker(s)", n, m, n / duck[w]["secs"]))
        for w in (1, 2):
            m = _measure("sigma", s3, w, args.repeat)
            print(_row(f"ses-sigma .json.gz S3, {w} worker(s)", unique, m, None))
        if args.memory:
            small = _measure("sigma", folder / "small.jsonl", 1, 1)
            jsonl.unlink()
            big = folder / "big.jsonl"
            write_jsonl_big = [sys.executable, "-m", "ses_sigma.bench", "--child", "big", tmp]
            subprocess.run([*write_jsonl_big, "16", str(args.ses_share)], check=True)
            large = _measure("sigma", big, 1, 1)
            print(
                f"memory: peak RSS {small['rss_mb']:.0f} MB at {unique:,} records, "
                f"{large['rss_mb']:.0f} MB at {unique * 16:,} records "
                f"({large['rss_mb'] / small['rss_mb'] - 1:+.0%})"
            )
    print("load average after:", " ".join(f"{x:.1f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
