"""The same alerts for any --workers and with or without the pre-filter.

Reference: ``Engine.run`` over every record decoded without pre-filter (what the fixtures pin
down). Compared, after sorting: ``scan_with_engine`` with 1 and 2 workers, pre-filter on and
off, on every fixture case, on the bundled examples and on generated data written in every
layout (JSON Lines split into ranges, gzipped S3 objects), with the pre-filter's hard cases
mixed in: other letter cases, JSON escapes, spaces, arrays, unusual eventTime forms; and the
per-rule literals (TruffleHog user agents, AKIA keys, SMTP user names) with the C kernel and
the pure-Python reference.
"""

from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from ses_sigma.alerts import Alert
from ses_sigma.bench_data import generate_records
from ses_sigma.harness import load_fixtures
from ses_sigma.logs import ReadStats, read_records
from ses_sigma.match.engine import Engine
from ses_sigma.pack import load_pack
from ses_sigma.records import Record
from ses_sigma.scan import scan_with_engine

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
CONFIGS = [(1, True), (1, False), (2, True), (2, False)]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_pack())


def canon(alerts: list[Alert]) -> list[bytes]:
    return sorted(orjson.dumps(a.to_dict()) for a in alerts)


def reference(engine: Engine, paths: list[Path]) -> list[bytes]:
    """Engine.run over every record, each (eventID, eventTime) once (the first copy)."""
    seen: set[tuple[str, float]] = set()
    unique = []
    for rec in read_records(paths, ReadStats()):
        if (rec.event_id, rec.time) not in seen:
            seen.add((rec.event_id, rec.time))
            unique.append(rec)
    return canon(engine.run(unique))


def check_all_configs(engine: Engine, paths: list[Path], **kw: Any) -> list[bytes]:
    want = reference(engine, paths)
    for workers, prefilter in CONFIGS:
        got = scan_with_engine(engine, paths, workers=workers, prefilter=prefilter, **kw)
        assert canon(got.alerts) == want, (workers, prefilter)
        assert got.read.records_read == got.read.records + got.read.records_rejected
    return want


def test_every_fixture_case(engine: Engine, tmp_path: Path) -> None:
    cases = load_fixtures(rule_names=engine.rule_names)
    fired = 0
    for i, case in enumerate(cases):
        path = tmp_path / f"case{i}.jsonl"
        path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in case.events))
        fired += bool(check_all_configs(engine, [path]))
    assert fired > 20  # the comparison is not vacuous


def test_examples(engine: Engine) -> None:
    assert len(check_all_configs(engine, [EXAMPLES])) == 66  # examples/README.md


def _awkward(records: list[dict[str, Any]], rng: random.Random, shapes: bool = True) -> list[bytes]:
    """JSON lines, a share of them written in the forms a raw-bytes search could miss
    (``shapes``: also forms that send a whole block to the full decoder)."""
    lines: list[bytes] = []
    for rec in records:
        line = orjson.dumps(rec)
        roll = rng.random()
        if not shapes and 0.035 <= roll < 0.05:
            roll = 1.0
        if roll < 0.02:
            line = line.replace(b"ses.amazonaws.com", b"SES.AmazonAWS.com")
        elif roll < 0.03:
            line = line.replace(b'"eventSource":"ses', b'"eventSource":"\\u0073es')
        elif roll < 0.035:
            line = line.replace(b"GetAccount", b"Get\\u0041ccount")
        elif roll < 0.04:
            line = json.dumps(rec).encode()  # spaces after ':' and ','
        elif roll < 0.045:
            rec = dict(rec, eventTime=rec["eventTime"].replace("Z", "+00:00"))
            line = orjson.dumps(rec)
        elif roll < 0.05:
            rec = dict(rec, eventSource=[rec["eventSource"]])
            line = orjson.dumps(rec)
        elif roll < 0.055:
            line = line.replace(b"ses.amazonaws.com", b"\xe2\x84\xaa" + b"ms.amazonaws.com")
        lines.append(line + b"\n")
    return lines


def test_generated_data_in_every_layout(engine: Engine, tmp_path: Path) -> None:
    rng = random.Random(3)
    records = generate_records(6000, seed=11, ses_share=0.3)
    # Duplicates (at-least-once delivery): some records appear twice, in other files.
    records += [records[i] for i in range(0, 6000, 97)]
    rng.shuffle(records)
    lines = _awkward(records, rng)
    jsonl = tmp_path / "jsonl"
    jsonl.mkdir()
    (jsonl / "big.jsonl").write_bytes(b"".join(lines[:4000]))
    (jsonl / "rest.jsonl.gz").write_bytes(gzip.compress(b"".join(lines[4000:])))
    s3 = tmp_path / "s3"
    s3.mkdir()
    for k in range(0, len(records), 500):
        doc = orjson.dumps({"Records": records[k : k + 500]})
        (s3 / f"obj{k:05d}.json.gz").write_bytes(gzip.compress(doc))
    fast = tmp_path / "fast"
    fast.mkdir()
    (fast / "fast.jsonl").write_bytes(b"".join(_awkward(records, rng, shapes=False)))
    for folder in (jsonl, s3, fast):
        want = check_all_configs(engine, [folder], range_bytes=200_000)
        assert len(want) > 100
    # The block-wise search did run on the simple file (records counted, never decoded).
    assert scan_with_engine(engine, [fast]).read.prefiltered > 3000
    # Duplicated records are matched once: the scan has fewer alerts than the raw reference.
    result = scan_with_engine(engine, [s3], workers=2, range_bytes=200_000)
    assert result.duplicates > 0
    assert result.matched > 0


def test_workers_split_large_files_into_ranges(engine: Engine, tmp_path: Path) -> None:
    records = generate_records(3000, seed=5, ses_share=0.3)
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    bad_line = 2500
    lines = path.read_bytes().split(b"\n")
    lines[bad_line - 1] = b'{"eventSource": "ses.amazonaws.com", broken'
    path.write_bytes(b"\n".join(lines))
    one = scan_with_engine(engine, [path], workers=1)
    split = scan_with_engine(engine, [path], workers=2, range_bytes=100_000)
    assert canon(one.alerts) == canon(split.alerts)
    assert [r.origin.split(":")[:2] for r in split.read.rejections] == [[str(path), str(bad_line)]]
    assert (split.read.files, split.read.records_read) == (1, 3000)
    # Without the pre-filter each range reads its own lines only (and reports the bad one once).
    plain = scan_with_engine(engine, [path], workers=2, range_bytes=100_000, prefilter=False)
    assert canon(plain.alerts) == canon(one.alerts)
    assert (plain.read.files, plain.read.records_read, plain.duplicates) == (1, 3000, 0)
    assert [r.origin.split(":")[:2] for r in plain.read.rejections] == [[str(path), str(bad_line)]]


def test_standard_input_among_files_with_workers(engine: Engine, tmp_path: Path) -> None:
    import io

    records = generate_records(900, seed=9, ses_share=0.3)
    lines = [orjson.dumps(r) + b"\n" for r in records]
    (tmp_path / "a.jsonl").write_bytes(b"".join(lines[:300]))
    (tmp_path / "c.jsonl").write_bytes(b"".join(lines[600:]))
    piped = gzip.compress(b"".join(lines[300:600]))
    paths = [tmp_path / "a.jsonl", "-", tmp_path / "c.jsonl"]
    whole = tmp_path / "all.jsonl"
    whole.write_bytes(b"".join(lines))
    want = reference(engine, [whole])
    for workers in (1, 2):
        got = scan_with_engine(engine, paths, workers=workers, stdin=io.BytesIO(piped))
        assert canon(got.alerts) == want
        assert (got.read.files, got.read.records_read) == (3, 900)


def _literal_cases(records: list[dict[str, Any]], rng: random.Random) -> list[bytes]:
    """JSON lines where the pre-filter's per-rule literals decide: TruffleHog user agents on
    GetCallerIdentity in every case and escaped, AKIA keys with a KELVIN SIGN (lower-cases to
    ``k``), SMTP user names, and the same calls without the literal."""
    agents = ["TruffleHog", "trufflehog/3.63", "x TRUFFLEHOG y", "Trufflehog-ish", "aws-cli/2"]
    lines = []
    for rec in records:
        roll = rng.random()
        if roll < 0.15:
            rec = dict(rec, eventSource="sts.amazonaws.com", eventName="GetCallerIdentity")
            rec["userAgent"] = rng.choice(agents)
        elif roll < 0.2:
            ident = dict(rec["userIdentity"], accessKeyId="A\u212aIA" + "0" * 16)
            rec = dict(rec, userIdentity=ident)
        elif roll < 0.25:
            rec = dict(rec, eventSource="iam.amazonaws.com", eventName="CreateUser")
            rec["requestParameters"] = {"userName": rng.choice(["ses-smtp-user.1", "SES-SMTP-x"])}
        line = orjson.dumps(rec)
        if rng.random() < 0.05:
            line = line.replace(b"TruffleHog", b"Truffle\\u0048og")
        lines.append(line + (b"\r\n" if rng.random() < 0.05 else b"\n"))
    return lines


@pytest.mark.parametrize("kernel", ["c", "python"])
def test_per_rule_literals_with_both_kernels(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel: str
) -> None:
    import ses_sigma.prefilter as prefilter_module

    monkeypatch.setattr(prefilter_module, "KERNEL", kernel)
    pf = engine.prefilter()
    assert pf is not None and pf.kernel == kernel
    assert any(p.literals == ("trufflehog",) for p in pf.pins)
    rng = random.Random(21)
    records = generate_records(4000, seed=17, ses_share=0.2)
    lines = _literal_cases(records, rng)
    jsonl = tmp_path / "jsonl"
    jsonl.mkdir()
    (jsonl / "lit.jsonl").write_bytes(b"".join(lines))
    s3 = tmp_path / "s3"
    s3.mkdir()
    decoded = [orjson.loads(x) for x in lines]
    for k in range(0, len(decoded), 700):
        doc = orjson.dumps({"Records": decoded[k : k + 700]})
        (s3 / f"obj{k:05d}.json.gz").write_bytes(gzip.compress(doc))
    for folder in (jsonl, s3):
        want = check_all_configs(engine, [folder], range_bytes=300_000)
        fired = {orjson.loads(a)["rule_name"] for a in want}
        assert {"aws_sts_key_validated_by_secret_scanner", "aws_ses_smtp_user_created"} <= fired
    # the literals did rule records out without decoding them
    result = scan_with_engine(engine, [jsonl])
    assert result.read.prefiltered > 2500


def test_campaign_replays_and_a_benign_day(engine: Engine, tmp_path: Path) -> None:
    from ses_sigma.evaluate.benign import benign_corpus
    from ses_sigma.evaluate.campaigns import load_campaigns

    campaigns = load_campaigns(ROOT / "scenarios" / "campaigns")
    assert len(campaigns) >= 10
    records = [r for c in campaigns for r in c.replay().records]
    path = tmp_path / "campaigns.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    want = check_all_configs(engine, [path])
    assert len(want) > 50
    # the benign corpus alone: the pre-filter rules most of it out, the alerts stay the same
    benign = tmp_path / "benign.jsonl"
    benign.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in benign_corpus(days=1)))
    check_all_configs(engine, [benign])
    assert scan_with_engine(engine, [benign]).read.prefiltered > 0


# --------------------------------------------------------------------------- stateful streaming


def _write_lines(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def test_workers_input_order_and_reorder_window(engine: Engine, tmp_path: Path) -> None:
    """Workers 1, 2 and 3, pre-filter on and off, the input shuffled three ways, and reorder
    windows from none (almost every stateful record late) to one wider than the data (nothing
    late: the streamed run is the exact one): the same alerts as ``Engine.run``."""
    records = generate_records(4000, seed=21, ses_share=0.4)
    records += [records[i] for i in range(0, 4000, 89)]  # copies
    want = None
    late_seen = set()
    for order in range(3):
        rng = random.Random(order)
        shuffled = list(records)
        if order == 1:
            shuffled.sort(key=lambda r: r["eventTime"])  # time order: nothing late
        else:
            rng.shuffle(shuffled)
        folder = tmp_path / f"order{order}"
        folder.mkdir()
        for k in range(0, len(shuffled), 700):
            _write_lines(folder / f"part{k:05d}.jsonl", shuffled[k : k + 700])
        if want is None:
            want = reference(engine, [folder])
            assert len(want) > 200
        for workers, prefilter, window in [
            (1, True, 900.0),
            (2, False, 900.0),
            (3, True, 900.0),
            (2, True, 0.0),
            (3, False, 1e9),
        ]:
            got = scan_with_engine(
                engine,
                [folder],
                workers=workers,
                prefilter=prefilter,
                reorder_window=window,
                range_bytes=150_000,
            )
            assert canon(got.alerts) == want, (order, workers, prefilter, window)
            late_seen.add((order, window, got.late.records > 0))
            if window == 1e9:
                assert got.late.records == 0  # nothing released before the end
    assert (1, 900.0, False) in late_seen  # time-ordered input streams exactly
    assert (0, 900.0, True) in late_seen  # shuffled input takes the exact run


def test_suppression_and_state_through_the_late_path(engine: Engine, tmp_path: Path) -> None:
    records = generate_records(3000, seed=8, ses_share=0.4)
    rng = random.Random(2)
    rng.shuffle(records)
    shuffled = _write_lines(tmp_path / "shuffled.jsonl", records)
    ordered = _write_lines(
        tmp_path / "ordered.jsonl", sorted(records, key=lambda r: r["eventTime"])
    )
    want = canon(engine.run(list(read_records([ordered], ReadStats())), suppress=True))
    for path in (shuffled, ordered):
        got = scan_with_engine(engine, [path], suppress=True)
        assert canon(got.alerts) == want
    # The first-seen baseline saved after a shuffled scan is that of the time-ordered one.
    saved = []
    for path in (shuffled, ordered):
        state = tmp_path / f"state-{path.stem}.json"
        result = scan_with_engine(engine, [path], state=state)
        saved.append(json.loads(state.read_text()))
        assert result.late.records > 0 if path is shuffled else result.late.records == 0
    assert saved[0] == saved[1]


def _ses(name: str, when: str, event_id: str, identity: str = "x@example.com") -> dict[str, Any]:
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "arn": "arn:aws:iam::111122223333:user/dev",
            "accountId": "111122223333",
            "accessKeyId": "AKIAEXAMPLEKEY000001",
            "userName": "dev",
        },
        "eventTime": when,
        "eventSource": "ses.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": {"emailIdentity": identity},
        "responseElements": None,
        "eventID": event_id,
        "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333",
    }


def test_late_record_makes_the_exact_run_and_says_so(engine: Engine, tmp_path: Path) -> None:
    """A creation that arrives after later records were released changes which creation the
    deletion pairs with: the streamed alert is withdrawn, the exact one added at the end."""
    first = [
        _ses("CreateEmailIdentity", "2026-03-01T10:00:00Z", "c-early"),
        _ses("DeleteEmailIdentity", "2026-03-01T10:30:00Z", "d-1"),
        # Newer records move the watermark past the deletion (reorder window 15 minutes).
        _ses("GetAccount", "2026-03-01T11:00:00Z", "g-1"),
        _ses("CreateEmailIdentity", "2026-03-01T12:00:00Z", "c-other", "y@example.com"),
    ]
    late = [_ses("CreateEmailIdentity", "2026-03-01T10:20:00Z", "c-late")]
    a = _write_lines(tmp_path / "a.jsonl", first)
    b = _write_lines(tmp_path / "b.jsonl", late)
    rule = "aws_ses_identity_added_then_deleted"
    streamed: list[Alert] = []
    for workers in (1, 2):
        streamed.clear()
        got = scan_with_engine(engine, [a, b], workers=workers, on_alert=streamed.append)
        assert canon(got.alerts) == reference(engine, [a, b])
        pairs = [a.event_ids for a in got.alerts if a.rule_name == rule]
        assert pairs == [("c-late", "d-1")]
        assert got.late.records == 1
        assert got.late.max_behind == 2400.0  # behind 11:00, the last record released
        assert [x.event_ids for x in got.late.withdrawn] == [("c-early", "d-1")]
        assert got.late.added >= 1
        # What on_alert saw, minus what was withdrawn, is the result.
        seen = Counter(streamed)
        seen.subtract(got.late.withdrawn)
        assert canon(list(seen.elements())) == canon(got.alerts)
    # In time order, nothing is late and the pair streams before the input ends.
    ordered = _write_lines(
        tmp_path / "ordered.jsonl", sorted(first + late, key=lambda r: r["eventTime"])
    )
    events: list[str] = []
    got = scan_with_engine(
        engine,
        [ordered],
        on_alert=lambda x: events.append(x.rule_name),
        reorder_window=60.0,
    )
    assert got.late.records == 0 and not got.late.withdrawn
    assert [x.event_ids for x in got.alerts if x.rule_name == rule] == [("c-late", "d-1")]
    assert rule in events


def test_forged_duplicates_across_tasks_first_in_task_order_wins(
    engine: Engine, tmp_path: Path
) -> None:
    """A record that repeats another's eventID and eventTime with other content, in another
    task (file), is a duplicate: the copy first in task order counts, whatever the workers,
    the pre-filter and whether alerts are kept (the parent counts them per task when a task
    has no duplicate, per row when it has)."""
    when = "2026-01-02T03:04:05Z"
    first = _ses("DeleteIdentity", when, "forged-1")
    forged = _ses("CreateEmailIdentity", when, "forged-1")  # same eventID and eventTime
    alone = {
        name: engine.run([Record.from_dict(rec)]) for name, rec in [("a", first), ("b", forged)]
    }
    assert alone["a"] and alone["b"] and canon(alone["a"]) != canon(alone["b"])
    filler = generate_records(600, seed=4, ses_share=0.3)
    a = _write_lines(tmp_path / "a.jsonl", [*filler[:300], first])
    b = _write_lines(tmp_path / "b.jsonl", [forged, *filler[300:]])
    for paths in ([a, b], [b, a]):
        want = reference(engine, paths)  # the first copy in read order
        winner = alone["a"] if paths[0] == a else alone["b"]
        assert set(canon(winner)) <= set(want)
        for workers, prefilter in [*CONFIGS, (3, True)]:
            kept = scan_with_engine(engine, paths, workers=workers, prefilter=prefilter)
            assert canon(kept.alerts) == want, (paths, workers, prefilter)
            assert kept.duplicates == 1
            counted = scan_with_engine(
                engine,
                paths,
                workers=workers,
                prefilter=prefilter,
                keep_alerts=False,
            )
            assert counted.alert_count == kept.alert_count == len(want)
            assert (counted.matched, counted.duplicates) == (kept.matched, 1)


def test_the_last_round_cut_in_halves(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last round of ranges cut in halves (``scan_plan._halve_tail``): the same alerts,
    records and rejections (line numbers file-absolute) as one worker, bad lines in the
    halves included."""
    from ses_sigma import scan_plan

    records = generate_records(3000, seed=6, ses_share=0.3)
    path = tmp_path / "big.jsonl"
    lines = [orjson.dumps(r) for r in records]
    for bad in (2900, 2990):
        lines[bad - 1] = b'{"eventSource": "ses.amazonaws.com", broken'
    path.write_bytes(b"\n".join(lines) + b"\n")
    monkeypatch.setattr(scan_plan, "TAIL_MIN_BYTES", 1000)
    tasks = scan_plan.plan_tasks([path], ReadStats(), 100_000, 2)
    assert tasks[-1].size < tasks[0].size // 2 + 2  # halved
    assert tasks[-1].start < path.stat().st_size * 2950 // 3000  # the bad lines are in halves
    one = scan_with_engine(engine, [path], workers=1)
    for prefilter in (True, False):
        split = scan_with_engine(
            engine, [path], workers=2, range_bytes=100_000, prefilter=prefilter
        )
        assert canon(split.alerts) == canon(one.alerts)
        got = [r.origin.split(":")[:2] for r in split.read.rejections]
        assert got == [[str(path), "2900"], [str(path), "2990"]]
        assert (split.read.files, split.read.records_read) == (1, one.read.records_read)


@pytest.mark.parametrize("keep", [False, True])
def test_a_task_that_switches_to_batch_mode_gives_the_rest_as_its_runs(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep: bool
) -> None:
    """Shuffled input: the task whose rows switch the stream to batch mode gives its later
    candidates as its worker's runs, without the rows already streamed and the copies; the
    alerts (kept, or only counted) and counts are those of the reference."""
    from ses_sigma import scan_stream

    monkeypatch.setattr(scan_stream, "BATCH_MIN_LATE", 30)
    records = generate_records(2000, seed=14, ses_share=0.4)
    random.Random(4).shuffle(records)
    records += records[:600:7]  # true copies, in a later task
    folder = tmp_path / "logs"
    folder.mkdir()
    for k in range(0, len(records), 700):
        chunk = records[k : k + 700]
        (folder / f"p{k:05d}.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in chunk))
    want = reference(engine, [folder])
    taken: list[tuple[int, int]] = []
    real = scan_stream.StatefulStream.add_run

    def spy(self: Any, runs: Any, dropped: list[int]) -> None:
        taken.append((runs.records, len(dropped)))
        real(self, runs, dropped)

    monkeypatch.setattr(scan_stream.StatefulStream, "add_run", spy)
    one = scan_with_engine(engine, [folder], workers=1)
    taken.clear()
    got = scan_with_engine(engine, [folder], workers=2, keep_alerts=keep)
    if keep:
        assert canon(got.alerts) == want
    assert got.alert_count == len(want)
    counts = (got.matched, got.duplicates, got.run.candidates)
    assert counts == (one.matched, one.duplicates, one.run.candidates) and got.duplicates > 0
    if not scan_pool_forks():
        return  # no pool under a JVM (tests/test_scan_exact.py): no runs before batch mode
    assert got.late.batch_from is not None and got.late.batch_from >= 30
    assert 0 < taken[0][1] < taken[0][0]  # the switching task: the rows before it dropped


def scan_pool_forks() -> bool:
    from ses_sigma import scan_pool

    return not scan_pool.other_threads()


@pytest.mark.parametrize("ordered", [False, True])
def test_results_through_wire_files_and_nothing_left_behind(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ordered: bool
) -> None:
    """Every worker result through a file (``scan_wire.WIRE_FILE_MIN`` 0), streamed or in
    batch mode: the reference's alerts, and the scan's temporary directory is gone after it,
    also after a scan stopped by an error."""
    import tempfile

    from ses_sigma import scan_stream, scan_wire

    monkeypatch.setattr(scan_wire, "WIRE_FILE_MIN", 0)
    monkeypatch.setattr(scan_stream, "BATCH_MIN_LATE", 30)
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    records = generate_records(2000, seed=15, ses_share=0.4)
    if ordered:
        records.sort(key=lambda r: r["eventTime"])
    else:
        random.Random(5).shuffle(records)
    folder = tmp_path / "logs"
    folder.mkdir()
    for k in range(0, len(records), 500):
        chunk = records[k : k + 500]
        (folder / f"p{k:05d}.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in chunk))
    want = reference(engine, [folder])
    for keep in (True, False):
        got = scan_with_engine(engine, [folder], workers=2, keep_alerts=keep)
        assert got.alert_count == len(want) and (not keep or canon(got.alerts) == want)
        assert (got.late.batch_from is None) == ordered
        assert list(temp.iterdir()) == []

    def stop(alert: Alert) -> None:
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        scan_with_engine(engine, [folder], workers=2, on_alert=stop)
    assert list(temp.iterdir()) == []
