"""Property tests over the log reader (``logs.read_file``, the current API).

* Well-formed CloudTrail in every shape the reader knows (S3 object, JSON Lines, array, single
  record; plain or gzipped), with hostile strings and nested values in the attacker-chosen
  fields: every record comes out, equal to what was written, in order, with no rejection.
* JSON Lines with one line replaced by garbage: the reader never raises, every other record
  still comes out, and the bad line is a rejection naming ``file:line``.
* Arbitrary bytes: the reader never raises; whatever it cannot read is a rejection.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

from fuzz_strategies import HOSTILE, record
from hypothesis import given
from hypothesis import strategies as st

from ses_sigma.logs import ReadStats, read_file

text = st.text(alphabet=st.sampled_from(HOSTILE), max_size=20)
scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | text
nested = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=12,
)


@st.composite
def records(draw: st.DrawFn) -> list[dict]:
    out = []
    for i in range(draw(st.integers(1, 5))):
        rec = record(draw(text), f"fz-{i}")
        rec["requestParameters"] = {"identity": draw(text), "extra": draw(nested)}
        out.append(rec)
    return out


SHAPES = ("s3", "lines", "array", "single")


def _write(folder: Path, shape: str, recs: list[dict], gz: bool) -> Path:
    if shape == "lines":
        data = "".join(json.dumps(r) + "\n" for r in recs)
        suffix = ".jsonl"
    else:
        doc = {"Records": recs} if shape == "s3" else recs if shape == "array" else recs[0]
        data = json.dumps(doc)
        suffix = ".json"
    raw = data.encode("utf-8")
    path = folder / ("trail" + suffix + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(raw, mtime=0) if gz else raw)
    return path


def _read(path: Path) -> tuple[list[dict], ReadStats]:
    stats = ReadStats()
    return [r.data for r in read_file(path, stats)], stats


@given(recs=records(), shape=st.sampled_from(SHAPES), gz=st.booleans())
def test_every_well_formed_record_comes_out(recs: list[dict], shape: str, gz: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), shape, recs, gz)
        got, stats = _read(path)
    expected = recs[:1] if shape == "single" else recs
    assert got == expected
    assert stats.rejections == [] and stats.records == len(expected)


@given(
    recs=records(),
    bad_index=st.integers(0, 4),
    garbage=st.binary(min_size=1, max_size=40).filter(lambda b: b"\n" not in b and b"\r" not in b),
)
def test_a_bad_line_is_named_and_the_rest_read(
    recs: list[dict], bad_index: int, garbage: bytes
) -> None:
    lines = [json.dumps(r).encode() for r in recs]
    bad = min(bad_index, len(lines) - 1)
    lines[bad] = b"{" + garbage  # never a CloudTrail record
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trail.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")
        got, stats = _read(path)
    assert got == [r for i, r in enumerate(recs) if i != bad]
    assert any(str(r).startswith(f"{path}:{bad + 1}") for r in stats.rejections), stats.rejections


@given(data=st.binary(max_size=300), suffix=st.sampled_from([".json", ".jsonl", ".json.gz"]))
def test_arbitrary_bytes_never_raise(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("x" + suffix)
        path.write_bytes(data)
        stats = ReadStats()
        got = list(read_file(path, stats))
    for rec in got:
        assert isinstance(rec.data, dict)
    if not got:
        assert stats.rejections  # nothing read is always said
