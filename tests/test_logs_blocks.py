"""Blocks of whole lines in one reusable buffer (``LineStream.take_lines``) and the byte
sources read straight into it (``logs.sources``)."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest

from ses_sigma.logs.sources import BOM, PlainChunks, RangeChunks
from ses_sigma.logs.streams import LineStream


def blocks(stream: LineStream, size: int) -> list[bytes | str]:
    out: list[bytes | str] = []
    while (taken := stream.take_lines(size)) is not None:
        if taken is LineStream.TOO_LONG:
            out.append("TOO_LONG")
        else:
            buf, end = taken  # type: ignore[misc]
            out.append(bytes(buf[:end]))
    return out


def sample(seed: int) -> bytes:
    rng = random.Random(seed)
    lines = [b"x" * rng.choice([0, 1, 5, 30, 200]) for _ in range(300)]
    return b"\n".join(lines) + rng.choice([b"", b"\n"])


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("readinto", [True, False])
def test_blocks_hold_whole_lines_and_every_byte(seed: int, readinto: bool) -> None:
    data = sample(seed)
    if readinto:
        source = PlainChunks(io.BytesIO(data), b"")
    else:
        rng = random.Random(seed)
        cuts = sorted(rng.sample(range(1, len(data)), 40))
        source = iter([data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)])
    stream = LineStream(source, max_line=10_000)  # type: ignore[arg-type]
    got = blocks(stream, 64)
    assert b"".join(got) == data  # type: ignore[arg-type]
    assert all(b.endswith(b"\n") for b in got[:-1])  # type: ignore[union-attr]
    assert stream.last_line_complete == data.endswith(b"\n")
    assert stream.bytes_read == len(data)


def test_a_line_longer_than_the_block_grows_it_and_a_too_long_one_is_skipped() -> None:
    data = b"a\n" + b"b" * 300 + b"\n" + b"c" * 5000 + b"\nd\n"
    stream = LineStream(PlainChunks(io.BytesIO(data), b""), max_line=1024)
    got = blocks(stream, 16)
    assert got[0] == b"a\n"
    assert got[1] == b"b" * 300 + b"\n"
    assert "TOO_LONG" in got
    assert got[-1] == b"d\n"


def test_peeked_bytes_come_first(tmp_path: Path) -> None:
    data = b'{"a":1}\n{"b":2}\n' + b"z\n" * 50
    stream = LineStream(PlainChunks(io.BytesIO(data[2:]), data[:2]))
    assert stream.peek_nonblank(1) == [b'{"a":1}\n']
    assert stream.next_line() == b'{"a":1}\n'
    assert b"".join(blocks(stream, 8)) == data[8:]  # type: ignore[arg-type]


def test_ranges_partition_the_lines_and_drop_a_bom(tmp_path: Path) -> None:
    lines = [f'{{"n":{i}}}'.encode() + b"\n" for i in range(500)]
    path = tmp_path / "f.jsonl"
    path.write_bytes(BOM + b"".join(lines))
    size = path.stat().st_size
    parts = []
    for start in range(0, size, 777):
        end = min(start + 777, size)
        with path.open("rb") as fh:
            if start > 0:
                fh.seek(start - 1)
                fh.readline()
            if fh.tell() >= end:
                continue
            stream = LineStream(RangeChunks(fh, end))
            parts.extend(blocks(stream, 100))
    assert b"".join(parts) == b"".join(lines)  # type: ignore[arg-type]


def test_a_cut_last_line_is_decoded_and_reported(tmp_path: Path) -> None:
    from ses_sigma.logs import ReadStats, read_file
    from ses_sigma.prefilter import Pin, Prefilter

    pf = Prefilter([Pin(frozenset({"ses.amazonaws.com"}), None, ())])
    good = b'{"eventVersion":"1","eventTime":"2025-01-01T00:00:00Z","eventID":"a",'
    good += b'"eventSource":"s3.amazonaws.com","eventName":"GetObject"}\n'
    path = tmp_path / "cut.jsonl"
    path.write_bytes(good * 10 + good[:-20])  # the last record is cut: no rule pins s3
    stats = ReadStats()
    assert len(list(read_file(path, stats, pf))) == 2  # the two lines peeked at
    assert stats.prefiltered == 8
    assert [r.origin.rsplit(":", 1)[0] for r in stats.rejections] == [f"{path}:11"]


def test_a_stream_of_one_unterminated_chunk_is_one_line_without_a_copy() -> None:
    doc = b'{"Records":[' + b"x" * 100_000 + b"]}"
    stream = LineStream(iter([doc]))
    assert stream.peek_nonblank(2) == [doc]
    assert stream.next_line() is doc
    assert not stream.last_line_complete and stream.bytes_read == len(doc)
    two = LineStream(iter([doc, b"\n", b"{}"]))
    assert [two.next_line(), two.next_line(), two.next_line()] == [doc + b"\n", b"{}", None]


def test_ranges_without_prefilter_read_only_their_lines(tmp_path: Path) -> None:
    """The line-by-line path (no pre-filter) iterates a range's chunks: each range must yield
    its own records only (it once read to the end of the file: 4x the records on 4 ranges)."""
    from ses_sigma.logs import ReadStats, read_range

    body = b'{"eventTime":"2025-01-01T00:00:00Z","eventID":"%d","eventSource":"s"}\n'
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"".join(body % i for i in range(3000)))
    size = path.stat().st_size
    for step in (size // 4 + 1, 4097, 1 << 20):
        ids: list[str] = []
        read = 0
        for start in range(0, size, step):
            stats = ReadStats()
            ids.extend(r.event_id for r in read_range(path, start, min(start + step, size), stats))
            read += stats.records_read
        assert ids == [str(i) for i in range(3000)], step
        assert read == 3000
