"""The mapped read path of JSON Lines ranges (``logs.mapped``): a file that shrinks under the
mapping (the kernel catches the SIGBUS, the buffered path goes on), a mapping refused part
way, and the same results as the buffered path (``read_range(..., mapped=False)``).
The property tests are in tests/fuzz/test_fuzz_read_mapped.py."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from ses_sigma.logs import ReadStats, read_range
from ses_sigma.logs import mapped as mapped_module
from ses_sigma.prefilter import Pin, Prefilter

PINS = [Pin(frozenset({"ses.amazonaws.com"}), None, ())]


def line(i: int, source: str = "ses.amazonaws.com") -> bytes:
    rec = {
        "eventVersion": "1.09",
        "eventTime": f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z",
        "eventSource": source,
        "eventName": "GetAccount",
        "eventID": f"id-{i}",
        "pad": "x" * 80,
    }
    return orjson.dumps(rec) + b"\n"


def read(path: Path, start: int, end: int, pf: Prefilter, mapped: bool = True) -> tuple:
    stats = ReadStats()
    gen = read_range(path, start, end, stats, pf, mapped=mapped)
    recs = []
    while True:
        try:
            rec = next(gen)
        except StopIteration as stop:
            lines = stop.value
            break
        recs.append((rec.event_id, rec.origin, rec.time))
    rejections = [(r.origin, r.message) for r in stats.rejections]
    return recs, rejections, (stats.records, stats.prefiltered, stats.bytes_read), lines


@pytest.mark.parametrize("kernel", ["c", "python"])
def test_a_file_that_shrinks_under_the_mapping_is_read_on_without_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel: str
) -> None:
    lines = [line(i) for i in range(3000)]
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"".join(lines))
    size = path.stat().st_size
    keep = sum(map(len, lines[:1000]))
    monkeypatch.setattr(mapped_module, "WINDOW_BYTES", 8192)
    pf = Prefilter(PINS, kernel)
    calls: list[bool] = []
    real = pf.candidates_fd

    def spy(*args: object) -> object:
        out = real(*args)  # type: ignore[arg-type]
        calls.append(out is None)
        return out

    monkeypatch.setattr(pf, "candidates_fd", spy)
    stats = ReadStats()
    gen = read_range(path, 0, size, stats, pf)
    first = next(gen)
    os.truncate(path, keep)  # the rest of the range is gone (SIGBUS on its pages)
    rest = list(gen)
    ids = [first.event_id] + [r.event_id for r in rest]
    assert ids == [f"id-{i}" for i in range(1000)]
    assert [r.origin for r in rest[-2:]] == [f"{path}:999", f"{path}:1000"]
    assert calls[-1] is True  # the kernel saw the shrink and handed over
    assert not stats.rejections


def test_the_kernel_refuses_bytes_past_the_end_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(line(1) * 10)
    pf = Prefilter(PINS, "c")
    with path.open("rb") as fh:
        size = path.stat().st_size
        assert pf.candidates_fd(fh.fileno(), 0, size + (1 << 20), True, 100) is None
        assert pf.candidates_fd(fh.fileno(), 0, size, True, 100)[:3] == (10, 10, size)


def test_a_mapping_refused_part_way_hands_over_to_the_buffered_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [line(i, "s3.amazonaws.com" if i % 3 else "ses.amazonaws.com") for i in range(900)]
    lines[10] = b"not json\n"
    lines[400] = b'{"eventSource":"ses.amazonaws.com", broken\r\n'
    lines[401] = b"  \r\n"
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"".join(lines) + b'{"eventSource":"ses.amazonaws.com"')
    size = path.stat().st_size
    monkeypatch.setattr(mapped_module, "WINDOW_BYTES", 4096)
    for start, end in [(0, size), (0, 50_000), (50_000, size), (777, 31_000)]:
        pf = Prefilter(PINS, "c")
        want = read(path, start, end, pf, mapped=False)
        assert read(path, start, end, pf) == want
        real = pf.candidates_fd
        count = [0]

        def refuse_second(*args: object, count: list[int] = count, real=real) -> object:  # type: ignore[no-untyped-def]
            count[0] += 1
            return None if count[0] == 2 else real(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(pf, "candidates_fd", refuse_second)
        assert read(path, start, end, pf) == want
        assert count[0] >= 2
    recs, rejections, _, lines_read = read(path, 0, size, Prefilter(PINS, "c"))
    assert lines_read == 901
    assert [o for o, _ in rejections] == [f"{path}:11:1", f"{path}:401:37", f"{path}:901:35"]
    assert len(recs) == 300  # i % 3 == 0: the SES records (none of them replaced)
