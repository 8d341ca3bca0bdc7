"""Hostile and unlucky log input (issue 10, logs): no traceback, no hang, nothing lost."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import orjson
import pytest

from ses_sigma.logs import MAX_DEPTH, ReadStats
from ses_sigma.logs.streams import LineStream
from ses_sigma.match.engine import Engine
from ses_sigma.pack import load_pack
from ses_sigma.scan import scan_with_engine

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DEMO_ALERTS = 66  # examples/README.md


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_pack())


def deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


def record(i: int, **extra: object) -> dict:
    return {
        "eventVersion": "1.08",
        "eventTime": f"2025-03-11T10:00:{i:02d}Z",
        "eventSource": "ses.amazonaws.com",
        "eventName": "GetAccount",
        "eventID": f"id-{i}",
        "userIdentity": {"arn": "arn:aws:iam::1:user/x", "accessKeyId": "AKIAX"},
        **extra,
    }


@pytest.mark.parametrize("workers", [1, 2])
def test_deeply_nested_record_inside_records_object(
    engine: Engine, tmp_path: Path, workers: int
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    nested = b'{"eventSource":"ses.amazonaws.com","x":' + deep(1100) + b"}"
    body = b",".join([orjson.dumps(record(1)), nested, orjson.dumps(record(3))])
    (logs / "a_deep.json").write_bytes(b'{"Records": [' + body + b"]}")
    (logs / "b_deep.jsonl").write_bytes(
        orjson.dumps(record(4)) + b"\n" + b'{"eventSource":' + deep(1100) + b"}\n"
    )
    middle = {"eventSource": "ses.amazonaws.com", "x": orjson.loads(deep(MAX_DEPTH + 5))}
    (logs / "c_deep.json").write_bytes(orjson.dumps({"Records": [record(5, **middle)]}))
    result = scan_with_engine(engine, [logs, EXAMPLES], workers=workers)
    # Every alert of the other files survives.
    assert sum(1 for a in result.alerts if not a.event_ids[0].startswith("id-")) == DEMO_ALERTS
    read = result.read
    rejected = {r.origin: r.message for r in read.rejections}
    assert f"{logs / 'a_deep.json'}[1]" in rejected
    assert "nested deeper" in rejected[f"{logs / 'a_deep.json'}[1]"]
    assert f"{logs / 'b_deep.jsonl'}:2" in rejected
    assert f"{logs / 'c_deep.json'}[0]" in rejected
    # The records beside the deep ones are read: ids 1, 3, 4 in, 5 rejected.
    assert read.records_read == read.records + read.records_rejected
    assert read.records_rejected == 3
    assert {a.event_ids[0] for a in result.alerts if a.event_ids[0].startswith("id-")} <= {
        "id-1",
        "id-3",
        "id-4",
    }


def test_over_long_line_is_rejected_and_the_rest_read(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    path.write_bytes(
        orjson.dumps(record(1)) + b"\n" + b"x" * 5000 + b"\n" + orjson.dumps(record(2)) + b"\n"
    )
    stats = ReadStats()
    from ses_sigma.logs import decode, streams

    with streams.open_log(path) as fh:
        stream = LineStream(streams.byte_chunks(fh), max_line=1000)
        got = list(decode.read_lines(str(path), stream, stats))
    assert [r.event_id for r in got] == ["id-1", "id-2"]
    [rejection] = stats.rejections
    assert rejection.origin == f"{path}:2"
    assert "longer than 1000 bytes" in rejection.message


def test_fifo_is_reported_and_skipped_never_a_hang(engine: Engine, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    os.mkfifo(logs / "pipe.json")
    (logs / "ok.jsonl").write_bytes(orjson.dumps(record(1)) + b"\n")
    done: list[object] = []
    thread = threading.Thread(
        target=lambda: done.append(scan_with_engine(engine, [logs, logs / "pipe.json"])),
        daemon=True,
    )
    thread.start()
    thread.join(20)
    assert done, "the scan hung on a FIFO"
    result = done[0]
    assert result.read.records == 1
    messages = [str(r) for r in result.read.rejections]
    assert messages == [f"{logs / 'pipe.json'}: not a regular file (a FIFO (named pipe)): not read"]
    assert result.read.files_rejected == 1


def test_unreadable_directory_is_a_rejection(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The suite runs as root, where chmod 000 does not stop reading: the refusal is simulated.
    locked = tmp_path / "logs" / "locked"
    locked.mkdir(parents=True)
    (locked / "hidden.jsonl").write_bytes(orjson.dumps(record(1)) + b"\n")
    (tmp_path / "logs" / "ok.jsonl").write_bytes(orjson.dumps(record(2)) + b"\n")
    real = os.scandir

    def scandir(path: object) -> object:
        if Path(str(path)) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", scandir)
    result = scan_with_engine(engine, [tmp_path / "logs"])
    assert [str(r) for r in result.read.rejections] == [
        f"{locked}: cannot read directory: Permission denied"
    ]
    assert not result.ok
    assert result.read.records == 1


def test_duplicated_records_are_matched_once(engine: Engine, tmp_path: Path) -> None:
    one = orjson.dumps(record(1)) + b"\n" + orjson.dumps(record(2)) + b"\n"
    (tmp_path / "a.jsonl").write_bytes(one)
    (tmp_path / "b.jsonl").write_bytes(one)  # an overlapping export
    (tmp_path / "c.json").write_bytes(orjson.dumps({"Records": [record(1), record(1)]}))
    for workers in (1, 2):
        result = scan_with_engine(engine, [tmp_path], workers=workers)
        ids = [
            a.event_ids for a in result.alerts if a.rule_name == "aws_ses_discovery_long_term_key"
        ]
        assert ids == [("id-1",), ("id-2",)]
        assert (result.matched, result.duplicates) == (2, 4)
        assert result.read.records_read == 6


def test_summary_counts_hold_together(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        orjson.dumps(record(1))
        + b"\n{bad\n"
        + b'{"eventTime": "x", "eventID": "q"}\n'
        + orjson.dumps(record(2))
        + b"\n"
    )
    (tmp_path / "empty.json").write_bytes(b"")
    for prefilter in (True, False):
        read = scan_with_engine(engine, [tmp_path], prefilter=prefilter).read
        assert (read.records_read, read.records, read.records_rejected) == (4, 2, 2)
        assert (read.files, read.files_rejected) == (2, 1)
        assert read.records_read == read.records + read.records_rejected
        assert read.rejected == read.files_rejected + read.records_rejected


def test_reader_takes_a_binary_stream(tmp_path: Path) -> None:
    import gzip
    import io

    from ses_sigma.logs import read_stream

    data = gzip.compress(orjson.dumps({"Records": [record(1), record(2)]}))

    class Pipe(io.RawIOBase):  # not seekable, like stdin
        def __init__(self) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

        def readinto(self, b: bytearray) -> int:  # type: ignore[override]
            chunk = self._data.read(min(len(b), 7))
            b[: len(chunk)] = chunk
            return len(chunk)

    stats = ReadStats()
    got = list(read_stream(io.BufferedReader(Pipe()), "<stdin>", stats))
    assert [r.event_id for r in got] == ["id-1", "id-2"]
    assert not stats.rejections


def test_duplicates_feeding_only_stateful_rules_are_matched_once(
    engine: Engine, tmp_path: Path
) -> None:
    # With the first-seen enumeration rule alone, GetSendQuota feeds only a stateful rule (no
    # single-event alert).
    rule = ROOT / "rules" / "aws_ses_enumeration_new_principal.yml"
    first_seen_only = Engine(load_pack([rule]))
    rec = record(1, eventName="GetSendQuota")
    line = orjson.dumps(rec) + b"\n"
    (tmp_path / "a.jsonl").write_bytes(line * 3)
    (tmp_path / "b.jsonl").write_bytes(line)
    for workers in (1, 2):
        result = scan_with_engine(first_seen_only, [tmp_path], workers=workers)
        assert (result.matched, result.duplicates) == (1, 3)
        assert result.run.candidates == 1  # copies are dropped before the stateful rules
