"""The scan's stateful half in pieces: duplicate digests, the disk spill, the reorder buffer."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from ses_sigma.match.engine import Engine
from ses_sigma.pack import load_pack
from ses_sigma.rowkeys import SortedKeySet
from ses_sigma.scan import scan_with_engine
from ses_sigma.scan_spill import ChunkLog, SortedSpill
from ses_sigma.scan_stream import SeenKeys


@pytest.mark.parametrize(
    "make",
    [SeenKeys, lambda: SortedKeySet(recent=50)],  # the latter: many moves into the sorted array
    ids=["SeenKeys", "SortedKeySet"],
)
def test_seen_keys_is_a_set(make: Callable[[], Any]) -> None:
    rng = random.Random(4)
    seen = make()
    reference: set[int] = set()
    pool: list[int] = []
    for _ in range(5000):
        if pool and rng.random() < 0.3:
            digest = rng.choice(pool)
        else:
            digest = rng.choice([0, 2**64 - 1, rng.getrandbits(64)])
            pool.append(digest)
        assert seen.add(digest) == (digest not in reference)
        reference.add(digest)
    assert len(seen) == len(reference)


def test_sorted_spill_merges_runs_of_every_level() -> None:
    rng = random.Random(5)
    items = [(rng.randrange(500) * 1.0, f"id{i:05d}", ("payload", i, None)) for i in range(9000)]
    spill = SortedSpill(run_size=40)  # 225 runs: merged over two levels
    for item in items:
        spill.add(item)
    assert list(spill.sorted()) == sorted(items, key=lambda i: (i[0], i[1]))
    spill.close()


def test_chunk_log_keeps_order_and_odd_text() -> None:
    log = ChunkLog(chunk=3)
    items = [(1.5, "a\udc80b", ((None, True, 2**70, "x"),)), (2.0, "é", ())] * 5
    log.extend(items)
    assert list(log.read()) == items
    assert list(log.read()) == items  # readable again
    log.close()


def _record(when: str, event_id: str, name: str = "GetAccount") -> bytes:
    return orjson.dumps(
        {
            "userIdentity": {
                "type": "IAMUser",
                "arn": "arn:aws:iam::111122223333:user/dev",
                "accessKeyId": "AKIAEXAMPLEKEY000001",
            },
            "eventTime": when,
            "eventSource": "ses.amazonaws.com",
            "eventName": name,
            "awsRegion": "us-east-1",
            "eventID": event_id,
        }
    )


def test_a_far_future_record_does_not_make_the_others_late(tmp_path: Path) -> None:
    """A forged eventTime years ahead does not move the watermark (it is implausible): the
    records after it are not late, nothing is evaluated twice."""
    engine = Engine(load_pack())
    lines = [_record("2026-03-01T10:00:00Z", "a"), _record("2099-01-01T00:00:00Z", "future")]
    lines += [_record(f"2026-03-01T10:{m:02d}:00Z", f"b{m}") for m in range(1, 40)]
    path = tmp_path / "logs.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = scan_with_engine(engine, [path])
    assert result.late.records == 0
    assert result.matched == 41


def test_tasks_follow_cloudtrail_timestamps_and_ranges_balance(tmp_path: Path) -> None:
    from ses_sigma.logs import ReadStats
    from ses_sigma.scan_tasks import plan_tasks

    names = [
        "111122223333_CloudTrail_us-east-1_20260301T1015Z_b.json.gz",
        "111122223333_CloudTrail_eu-west-1_20260301T1005Z_a.json.gz",
        "111122223333_CloudTrail_us-east-1_20260301T1000Z_c.json.gz",
        "111122223333_CloudTrail_eu-west-1_20260301T1010Z_d.json.gz",
    ]
    for region, name in zip(["us-east-1", "eu-west-1"] * 2, names, strict=True):
        folder = tmp_path / region
        folder.mkdir(exist_ok=True)
        (folder / name).write_bytes(b"")
    tasks = plan_tasks([tmp_path], ReadStats())
    stamps = [Path(t.path).name.split("_")[3] for t in tasks]
    assert stamps == sorted(stamps) and len(stamps) == 4  # not region by region
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"".join(_record("2026-03-01T10:00:00Z", f"e{i}") + b"\n" for i in range(3000)))
    size = big.stat().st_size
    for workers, count in ((1, 5), (2, 6), (3, 6), (4, 8)):
        ranges = plan_tasks([big], ReadStats(), range_bytes=size // 5 + 1, workers=workers)
        assert len(ranges) == count  # at least 5 to keep under range_bytes, a multiple of N
        sizes = [t.size for t in ranges]
        assert sum(sizes) == size and max(sizes) - min(sizes) <= len(ranges)
        assert [t.start for t in ranges] == sorted(t.start for t in ranges)


def test_far_future_records_wait_on_disk_not_in_the_buffer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forged eventTimes years ahead cannot grow the reorder buffer (memory): they wait in a
    spill and reach the rules after every plausible record, in time order; the alerts are those
    of a window wide enough to hold everything."""
    from ses_sigma import scan as scan_module
    from ses_sigma.scan_stream import StatefulStream

    streams: list[StatefulStream] = []

    class Watched(StatefulStream):
        def finish(self):  # type: ignore[no-untyped-def]
            out = super().finish()
            streams.append(self)
            return out

    monkeypatch.setattr(scan_module, "StatefulStream", Watched)
    lines = []
    for m in range(40):
        lines.append(_record(f"2026-03-01T10:{m:02d}:00Z", f"b{m}"))
        lines.append(_record(f"2099-01-01T00:{m:02d}:00Z", f"future{m}", "CreateEmailIdentity"))
    random.Random(5).shuffle(lines[40:])  # the second half out of order too
    path = tmp_path / "logs.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    got = scan_with_engine(Engine(load_pack()), [path], workers=1)
    [stream] = streams
    assert stream.peak_buffer <= 40  # the plausible records only (the window holds them)
    assert stream._future.count == 40
    wide = scan_with_engine(Engine(load_pack()), [path], workers=1, reorder_window=1e12)
    assert [a.to_dict() for a in got.alerts] == [a.to_dict() for a in wide.alerts]
    assert got.late.records == 0 and got.matched == 80


def _watch_streams(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every StatefulStream a scan makes, with how many alerts it emitted before ``finish``."""
    from ses_sigma import scan as scan_module
    from ses_sigma.scan_stream import StatefulStream

    streams: list[Any] = []

    class Watched(StatefulStream):
        def finish(self):  # type: ignore[no-untyped-def]
            self.emitted_before_end = self._streamed.count
            streams.append(self)
            return super().finish()

    monkeypatch.setattr(scan_module, "StatefulStream", Watched)
    return streams


def _canon(alerts: list[Any]) -> list[bytes]:
    return sorted(orjson.dumps(a.to_dict()) for a in alerts)


@pytest.mark.parametrize("workers", [1, 2])
def test_unordered_input_switches_to_batch_mode_with_the_same_alerts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """Shuffled input: streaming stops once late records are many (batch mode); the final
    alerts, and what on_alert saw minus the withdrawn ones, are those of ``Engine.run`` and of
    the same scan that never switches."""
    from ses_sigma import scan_stream
    from ses_sigma.bench_data import generate_records
    from ses_sigma.logs import ReadStats, read_records

    engine = Engine(load_pack())
    records = generate_records(3000, seed=12, ses_share=0.4)
    random.Random(3).shuffle(records)
    folder = tmp_path / "logs"
    folder.mkdir()
    for k in range(0, len(records), 500):
        part = records[k : k + 500]
        (folder / f"p{k:05d}.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in part))
    want = _canon(engine.run(list(read_records([folder], ReadStats()))))
    assert len(want) > 100
    results = {}
    for batch in (False, True):
        monkeypatch.setattr(scan_stream, "BATCH_MIN_LATE", 40 if batch else 10**9)
        streams = _watch_streams(monkeypatch)
        seen: list[Any] = []
        got = scan_with_engine(
            engine, [folder], workers=workers, on_alert=seen.append, range_bytes=100_000
        )
        [stream] = streams
        assert _canon(got.alerts) == want, batch
        shown = Counter(seen)
        shown.subtract(got.late.withdrawn)
        assert min(shown.values(), default=0) >= 0  # only streamed alerts are withdrawn
        assert _canon(list(shown.elements())) == want
        late = got.late
        if batch:
            assert late.batch_from is not None and 40 <= late.batch_from < got.run.candidates
            assert late.deferred > 0
            assert late.deferred + late.batch_from >= got.run.candidates - late.records
            # Streaming stopped: the streamed run took only what came before the switch.
            assert stream.runner is not None and stream._released_log.count < late.batch_from
        else:
            assert late.batch_from is None and late.deferred == 0
        results[batch] = (late.records > 0, stream._released_log.count)
    assert results[True][1] < results[False][1]  # fewer records went through the streamed run


def test_time_ordered_input_still_streams(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Input in time order never switches to batch mode (even with a low threshold): its
    stateful alerts stream out before the end, and nothing is evaluated twice."""
    from ses_sigma import scan_stream
    from ses_sigma.bench_data import generate_records

    monkeypatch.setattr(scan_stream, "BATCH_MIN_LATE", 1)
    streams = _watch_streams(monkeypatch)
    records = sorted(generate_records(3000, seed=12, ses_share=0.4), key=lambda r: r["eventTime"])
    path = tmp_path / "ordered.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    got = scan_with_engine(Engine(load_pack()), [path])
    [stream] = streams
    assert got.late.records == 0 and got.late.batch_from is None
    assert stream.emitted_before_end > 20  # streamed as they became final


def test_batch_mode_keeps_the_retraction_of_a_streamed_alert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first late record switches to batch mode (threshold 1): the pair streamed before it
    is withdrawn and the exact one added, as without the switch."""
    from ses_sigma import scan_stream

    monkeypatch.setattr(scan_stream, "BATCH_MIN_LATE", 1)

    def ses(name: str, when: str, event_id: str, identity: str = "x@example.com") -> bytes:
        record = orjson.loads(_record(when, event_id, name))
        record["requestParameters"] = {"emailIdentity": identity}
        return orjson.dumps(record)

    lines = [
        ses("CreateEmailIdentity", "2026-03-01T10:00:00Z", "c-early"),
        ses("DeleteEmailIdentity", "2026-03-01T10:30:00Z", "d-1"),
        ses("GetAccount", "2026-03-01T11:00:00Z", "g-1"),
        ses("CreateEmailIdentity", "2026-03-01T12:00:00Z", "c-other", "y@example.com"),
        ses("CreateEmailIdentity", "2026-03-01T10:20:00Z", "c-late"),  # late: the switch
        ses("CreateEmailIdentity", "2026-03-01T12:30:00Z", "c-after", "z@example.com"),
    ]
    path = tmp_path / "logs.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    streamed: list[Any] = []
    got = scan_with_engine(Engine(load_pack()), [path], on_alert=streamed.append)
    rule = "aws_ses_identity_added_then_deleted"
    # Deferred: the 12:00 record still in the reorder buffer at the switch, and the one after.
    assert got.late.batch_from == 5 and got.late.deferred == 2
    assert [a.event_ids for a in got.late.withdrawn] == [("c-early", "d-1")]
    assert [a.event_ids for a in got.alerts if a.rule_name == rule] == [("c-late", "d-1")]
    assert ("c-early", "d-1") in [a.event_ids for a in streamed]


def test_a_stream_that_runs_for_days_moves_its_far_future_bound() -> None:
    """The reorder buffer's far-future bound (wall clock + FUTURE_SLACK) moves when the clock
    has moved (at most once per BOUND_EVERY): records spilled as "far future" that the new
    bound covers go back into the buffer, in order, none late; the alerts are the exact ones."""
    from ses_sigma.records import Record, parse_event_time
    from ses_sigma.scan_stream import BOUND_EVERY, StatefulStream

    start = parse_event_time("2026-03-01T10:00:00Z")
    now = [start]
    engine = Engine(load_pack(), clock=lambda: now[0])
    emitted: list[Any] = []
    stream = StatefulStream(engine, emitted.append, clock=lambda: now[0])
    records: list[Record] = []

    def feed(when: str, event_id: str, name: str = "GetAccount") -> None:
        r = Record(orjson.loads(_record(when, event_id, name)), parse_event_time(when), event_id)
        records.append(r)
        names = engine.match_record(r, [])
        if names:
            stream.add(r.time, r.event_id, engine.project(r, names))

    for m in range(5):
        feed(f"2026-03-01T10:{m:02d}:00Z", f"a{m}")
    feed("2026-03-04T10:00:00Z", "ahead", "CreateEmailIdentity")  # 3 days past the clock
    assert stream._future.count == 1
    now[0] = start + BOUND_EVERY / 2  # the clock moved, but not enough to read it again
    feed("2026-03-04T10:01:00Z", "ahead2", "ListIdentities")
    assert stream._future.count == 2
    now[0] = start + 3 * 86400.0  # three days into the stream
    feed("2026-03-04T10:02:00Z", "c0")
    assert stream._future.count == 0  # both placed again: plausible now
    feed("2026-03-04T10:30:00Z", "c1", "ListIdentities")
    feed(f"2026-03-04T10:{59:02d}:00Z", "c2")
    now[0] = start  # a clock stepped back: the bound does not move down
    feed("2026-03-05T09:00:00Z", "c3")  # within FUTURE_SLACK of the bound it reached
    assert stream._future.count == 0
    feed("2026-03-09T10:00:00Z", "far")  # past it, the clock stepped back: far future
    assert stream._future.count == 1
    stream.finish()
    assert stream.late.records == 0
    exact = Engine(load_pack(), clock=lambda: start + 3 * 86400.0).run(records)
    stateful = _stateful_rule_names()
    expected = sorted(orjson.dumps(a.to_dict()) for a in exact if a.rule_name in stateful)
    assert sorted(orjson.dumps(a.to_dict()) for a in emitted) == expected
    # the records placed again were plausible to the rules; the one past every bound was not
    assert {note[1] for note in stream.runner.implausible()} == {"far"}


def _stateful_rule_names() -> set[str]:
    """The pack's correlation and first-seen rules."""
    from sigma.correlations import SigmaCorrelationRule
    from sigma.rule import SigmaRule

    from ses_sigma.match.first_seen import FirstSeenSpec
    from ses_sigma.pack import rule_key

    return {
        rule_key(r)
        for r in load_pack().rules
        if isinstance(r, SigmaCorrelationRule)
        or (isinstance(r, SigmaRule) and FirstSeenSpec.from_rule(r) is not None)
    }
