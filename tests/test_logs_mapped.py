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


def read_whole(path: Path, pf: Prefilter, mapped: bool) -> tuple:
    """read_file (a large plain file: through the mapping) or read_stream over the same
    file (the buffered path): records, rejections, statistics."""
    from ses_sigma.logs import read_file, read_stream

    stats = ReadStats()
    if mapped:
        recs = list(read_file(path, stats, pf))
    else:
        recs = list(read_stream(path.open("rb"), str(path), stats, pf))
    rejections = [(r.origin, r.message, r.kind) for r in stats.rejections]
    got = [(r.event_id, r.origin, r.time) for r in recs]
    return got, rejections, (stats.files, stats.records, stats.prefiltered, stats.bytes_read)


@pytest.mark.parametrize("kernel", ["c", "python"])
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_a_large_plain_file_read_whole_is_mapped_with_the_buffered_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel: str, bom: bytes, newline: bytes
) -> None:
    monkeypatch.setattr(mapped_module, "WINDOW_BYTES", 1 << 16)
    monkeypatch.setattr(mapped_module, "MAP_MIN_BYTES", 1 << 17)
    lines = [line(i, "s3.amazonaws.com" if i % 3 else "ses.amazonaws.com") for i in range(3000)]
    lines[1] = b"\n"  # a blank line among those peeked at
    lines[500] = b'{"eventSource":"s3.amazonaws.com","eventID":"cut\n'  # malformed
    lines[900] = b"not json at all\n"
    lines[1400] = b'{"eventVersion":"1.09"}\n'  # no time, no id: rejected
    body = b"".join(ln.replace(b"\n", newline) for ln in lines) + b'{"eventSource":"ses.am'
    path = tmp_path / "big.jsonl"
    path.write_bytes(bom + body)
    pf = Prefilter(PINS, kernel)
    calls: list[int] = []
    real = pf.candidates_fd

    def spy(*args: object) -> object:
        calls.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(pf, "candidates_fd", spy)
    want = read_whole(path, pf, mapped=False)
    assert not calls  # read_stream: the buffered path
    got = read_whole(path, pf, mapped=True)
    assert calls  # read_file: the mapping
    assert got == want
    assert want[2][1] == 3000 - 4 and want[2][3] == len(bom + body)  # 1 blank, 3 bad
    assert [o for o, _, _ in want[1]][-1] == f"{path}:3001:23"  # the cut last line


def test_a_small_plain_file_read_whole_takes_the_buffered_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "small.jsonl"
    path.write_bytes(b"".join(line(i) for i in range(100)))
    pf = Prefilter(PINS, "c")
    monkeypatch.setattr(pf, "candidates_fd", None)  # never called
    assert len(read_whole(path, pf, mapped=True)[0]) == 100
