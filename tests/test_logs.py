"""CloudTrail readers: every input shape, every kind of problem, deterministic streaming order."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import pytest

from ses_sigma.logs import ReadStats, Rejection, read_file, read_records

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "logs"
EXAMPLES = ROOT / "examples"


def rec(i: int, **changes: Any) -> dict[str, Any]:
    """A small but complete-looking CloudTrail record number ``i``."""
    data: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "arn": "arn:aws:iam::111122223333:user/ci-deploy",
            "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
        },
        "eventTime": f"2025-03-11T14:{i // 60:02d}:{i % 60:02d}Z",
        "eventSource": "ses.amazonaws.com",
        "eventName": "GetAccount",
        "awsRegion": "us-east-1",
        "eventID": f"00000000-0000-4000-8000-{i:012d}",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not ...}


def dumps(obj: Any, indent: int | None = None) -> bytes:
    return json.dumps(obj, indent=indent).encode()


def jsonl(*objs: Any) -> bytes:
    return b"".join(dumps(o) + b"\n" for o in objs)


def read(path: Path) -> tuple[list[Any], ReadStats]:
    stats = ReadStats()
    return list(read_file(path, stats)), stats


def ids(records: list[Any]) -> list[str]:
    return [r.event_id for r in records]


def origins(records: list[Any]) -> list[str]:
    return [r.origin for r in records]


# --- shapes -----------------------------------------------------------------------------------


def test_s3_object_plain() -> None:
    path = DATA / "five_records.json"
    records, stats = read(path)
    expected = json.loads(path.read_text())["Records"]
    assert ids(records) == [r["eventID"] for r in expected]
    assert [r.data for r in records] == expected
    assert origins(records) == [f"{path}[{i}]" for i in range(5)]
    assert (stats.files, stats.records, stats.rejected) == (1, 5, 0)


def test_s3_object_gzip(tmp_path: Path) -> None:
    src = (DATA / "five_records.json").read_bytes()
    path = tmp_path / "object.json.gz"
    path.write_bytes(gzip.compress(src))
    records, stats = read(path)
    plain, _ = read(DATA / "five_records.json")
    assert [r.data for r in records] == [r.data for r in plain]
    assert origins(records) == [f"{path}[{i}]" for i in range(5)]
    assert stats.rejected == 0


@pytest.mark.parametrize("name", ["events.jsonl", "events.ndjson", "events.jsonl.gz"])
def test_json_lines(tmp_path: Path, name: str) -> None:
    content = dumps(rec(1)) + b"\n\n" + dumps(rec(2)) + b"\r\n" + dumps(rec(3))  # no final \n
    path = tmp_path / name
    path.write_bytes(gzip.compress(content) if name.endswith(".gz") else content)
    records, stats = read(path)
    assert ids(records) == [rec(i)["eventID"] for i in (1, 2, 3)]
    assert origins(records) == [f"{path}:1", f"{path}:3", f"{path}:4"]
    assert (stats.records, stats.rejected) == (3, 0)


def test_json_array(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_bytes(dumps([rec(1), rec(2)], indent=2))
    records, stats = read(path)
    assert ids(records) == [rec(1)["eventID"], rec(2)["eventID"]]
    assert origins(records) == [f"{path}[0]", f"{path}[1]"]
    assert stats.rejected == 0


@pytest.mark.parametrize("indent", [None, 2])
def test_single_record_object(tmp_path: Path, indent: int | None) -> None:
    path = tmp_path / "event.json"
    path.write_bytes(dumps(rec(7), indent=indent))
    records, stats = read(path)
    assert [r.data for r in records] == [rec(7)]
    assert origins(records) == [str(path)]
    assert stats.rejected == 0


def test_pretty_printed_s3_object() -> None:
    path = EXAMPLES / "logs" / "trail-export-2025-03-03_10.json"
    records, stats = read(path)
    assert b"\n  " in path.read_bytes()  # really multi-line
    assert len(records) == len(json.loads(path.read_text())["Records"]) > 0
    assert origins(records)[:2] == [f"{path}[0]", f"{path}[1]"]
    assert stats.rejected == 0


def test_pretty_printed_object_with_one_record_per_line_is_not_json_lines(tmp_path: Path) -> None:
    # Line 2 is an object on its own; the opening line tells it is one document.
    path = tmp_path / "object.json"
    path.write_bytes(b'{"Records": [\n' + dumps(rec(1)) + b"\n]}\n")
    records, stats = read(path)
    assert origins(records) == [f"{path}[0]"]
    assert stats.rejected == 0


def test_content_decides_over_suffix(tmp_path: Path) -> None:
    lines_in_json = tmp_path / "a.json"
    lines_in_json.write_bytes(jsonl(rec(1), rec(2)))
    object_in_jsonl = tmp_path / "b.jsonl"
    object_in_jsonl.write_bytes(dumps({"Records": [rec(3), rec(4)]}))
    gzip_without_gz = tmp_path / "c.json"
    gzip_without_gz.write_bytes(gzip.compress(dumps({"Records": [rec(5)]})))
    plain_with_gz = tmp_path / "d.json.gz"
    plain_with_gz.write_bytes(dumps({"Records": [rec(6)]}))
    assert origins(read(lines_in_json)[0]) == [f"{lines_in_json}:1", f"{lines_in_json}:2"]
    assert origins(read(object_in_jsonl)[0]) == [f"{object_in_jsonl}[0]", f"{object_in_jsonl}[1]"]
    assert ids(read(gzip_without_gz)[0]) == [rec(5)["eventID"]]
    assert ids(read(plain_with_gz)[0]) == [rec(6)["eventID"]]


def test_json_lines_of_s3_objects(tmp_path: Path) -> None:
    path = tmp_path / "objects.jsonl"
    path.write_bytes(jsonl({"Records": [rec(1)]}, {"Records": [rec(2), rec(3)]}))
    records, stats = read(path)
    assert origins(records) == [f"{path}:1[0]", f"{path}:2[0]", f"{path}:2[1]"]
    assert stats.records == 3


def test_panther_event_time_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "panther.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf" + jsonl(rec(1, eventTime="2025-01-20 16:52:14.000000000"), rec(2))
    )
    records, stats = read(path)
    assert stats.rejected == 0
    assert records[0].time == 1737391934.0


# --- problems ---------------------------------------------------------------------------------


def test_malformed_json_line(tmp_path: Path) -> None:
    path = DATA / "one_bad_line.jsonl"
    records, stats = read(path)
    assert origins(records) == [f"{path}:1", f"{path}:2", f"{path}:5"]
    [rejection] = stats.rejections
    line3 = path.read_bytes().split(b"\n")[2]
    assert rejection.origin == f"{path}:3:{len(line3) + 1}"
    assert "malformed JSON" in rejection.message
    assert (stats.records, stats.rejected) == (3, 1)


def test_truncated_json_gz_uses_the_complete_records() -> None:
    path = DATA / "truncated.json.gz"
    records, stats = read(path)
    intact = json.loads((DATA / "five_records.json").read_text())["Records"]
    assert [r.data for r in records] == intact[:1]
    assert origins(records) == [f"{path}[0]"]
    [rejection] = stats.rejections
    assert rejection.origin.startswith(f"{path}:1:")
    assert "truncated gzip" in rejection.message
    assert "the 1 record(s) read before the cut were used" in rejection.message


def test_truncated_jsonl_gz_reports_the_cut_line(tmp_path: Path) -> None:
    content = jsonl(*(rec(i) for i in range(200)))
    whole = gzip.compress(content)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    records, stats = read(path)
    n = len(records)
    assert 0 < n < 200
    assert ids(records) == [rec(i)["eventID"] for i in range(n)]
    [rejection] = stats.rejections
    assert rejection.origin == f"{path}:{n + 1}"
    assert "truncated gzip" in rejection.message
    assert f"the {n} record(s) read before the cut were used" in rejection.message


def test_gzip_crc_error_keeps_the_data_and_says_so(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(jsonl(rec(1), rec(2))))
    data[-8] ^= 0xFF  # the CRC32 of the trailer
    path = tmp_path / "crc.jsonl.gz"
    path.write_bytes(bytes(data))
    records, stats = read(path)
    assert ids(records) == [rec(1)["eventID"], rec(2)["eventID"]]
    [rejection] = stats.rejections
    assert rejection.origin == str(path)
    assert "corrupt gzip" in rejection.message and "CRC" in rejection.message
    assert "the 2 record(s) read before the cut were used" in rejection.message


def test_corrupt_deflate_data(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(jsonl(*(rec(i) for i in range(50)))))
    for i in range(40, 60):
        data[i] ^= 0x5A
    path = tmp_path / "corrupt.json.gz"
    path.write_bytes(bytes(data))
    records, stats = read(path)
    assert stats.rejected >= 1
    assert any("corrupt gzip" in r.message for r in stats.rejections)
    assert all(r.origin.startswith(str(path)) for r in stats.rejections)
    assert set(ids(records)) <= {rec(i)["eventID"] for i in range(50)}


def test_not_cloudtrail_json() -> None:
    path = DATA / "not_cloudtrail.json"
    records, stats = read(path)
    assert records == []
    assert stats.rejections == [
        Rejection(
            str(path),
            "not a CloudTrail log: a JSON object with neither 'Records' nor event fields "
            "(eventTime, eventSource, eventName); its keys: dependencies, name, private, "
            "scripts, version",
        )
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'"just a string"', "not a CloudTrail log: the JSON document is a str"),
        (b'{"Records": {"a": 1}}', "'Records' is a dict, not an array"),
        (b"", "empty file"),
        (b"  \n\n", "empty file"),
    ],
)
def test_file_level_problems(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x.json"
    path.write_bytes(content)
    records, stats = read(path)
    assert records == []
    [rejection] = stats.rejections
    assert rejection.origin == str(path)
    assert message in rejection.message


def test_bad_records_are_rejected_with_their_index(tmp_path: Path) -> None:
    path = tmp_path / "object.json"
    items = [
        rec(0),
        7,
        rec(2, eventTime=...),
        rec(3, eventTime="yesterday"),
        rec(4, eventID=...),
        {"name": "web"},
        rec(6),
    ]
    path.write_bytes(dumps({"Records": items}))
    records, stats = read(path)
    assert origins(records) == [f"{path}[0]", f"{path}[6]"]
    got = {r.origin: r.message for r in stats.rejections}
    assert set(got) == {f"{path}[{i}]" for i in (1, 2, 3, 4, 5)}
    assert "must be a JSON object, not int" in got[f"{path}[1]"]
    assert "eventTime is missing" in got[f"{path}[2]"]
    assert "not an ISO 8601 timestamp: 'yesterday'" in got[f"{path}[3]"]
    assert "eventID is missing" in got[f"{path}[4]"]
    assert "not a CloudTrail record" in got[f"{path}[5]"]
    assert (stats.records, stats.rejected) == (2, 5)


def test_bad_records_in_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(jsonl(rec(0), [1, 2], rec(2, eventID=""), rec(3)))
    records, stats = read(path)
    assert origins(records) == [f"{path}:1", f"{path}:4"]
    got = {r.origin: r.message for r in stats.rejections}
    assert "must be a JSON object, not list" in got[f"{path}:2"]
    assert "eventID is missing" in got[f"{path}:3"]


def test_malformed_document_keeps_the_records_before_the_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    text = json.dumps({"Records": [rec(0), rec(1), rec(2)]}, indent=2)
    cut = text.index('"eventVersion"', text.index(rec(1)["eventID"]))
    path.write_text(text[:cut] + "oops " + text[cut:])
    records, stats = read(path)
    assert ids(records) == [rec(0)["eventID"], rec(1)["eventID"]]
    [rejection] = stats.rejections
    line = text[:cut].count("\n") + 1
    assert rejection.origin.startswith(f"{path}:{line}:")
    assert "malformed JSON" in rejection.message
    assert "the 2 complete record(s) before the error were used" in rejection.message


def test_not_json_at_all(tmp_path: Path) -> None:
    path = tmp_path / "notes.json"
    path.write_text("eventTime,eventName\n2025-03-11,GetAccount\n")
    records, stats = read(path)
    assert records == []
    [rejection] = stats.rejections
    assert rejection.origin == f"{path}:1:1"
    assert rejection.message.startswith("malformed JSON")


def test_unreadable_and_missing_paths(tmp_path: Path) -> None:
    dangling = tmp_path / "logs" / "gone.json"
    dangling.parent.mkdir()
    os.symlink(tmp_path / "nowhere.json", dangling)
    (tmp_path / "logs" / "ok.jsonl").write_bytes(jsonl(rec(1)))
    stats = ReadStats()
    records = list(read_records([tmp_path / "missing", tmp_path / "logs"], stats))
    assert ids(records) == [rec(1)["eventID"]]
    assert [r.origin for r in stats.rejections] == [str(tmp_path / "missing"), str(dangling)]
    assert stats.rejections[0].message == "no such file or directory"
    assert stats.rejections[1].message.startswith("cannot read: No such file or directory")


def test_on_rejection_sees_each_problem_as_it_happens(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(jsonl(rec(0)) + b"{bad\n" + jsonl(rec(2)) + b"[\n")
    seen: list[tuple[Rejection, int]] = []
    stats = ReadStats()
    stats.on_rejection = lambda r: seen.append((r, stats.records))
    list(read_file(path, stats))
    assert [(r.origin, n) for r, n in seen] == [(f"{path}:2:2", 1), (f"{path}:4:2", 2)]
    assert [r for r, _ in seen] == stats.rejections


# --- directories, order, streaming ---------------------------------------------------------------


def test_directory_walk_is_sorted_recursive_and_filters_suffixes(tmp_path: Path) -> None:
    # Created in reverse order: the read order must not depend on it.
    layout = {
        "z/late.jsonl": jsonl(rec(1)),
        "b/deep/x.json.gz": gzip.compress(dumps({"Records": [rec(2)]})),
        "b/a.ndjson": jsonl(rec(3)),
        "a.json": dumps([rec(4)]),
        "README.md": b"# notes\n",
        "b/deep/digest.txt": b"x",
    }
    for rel, content in layout.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content)
    stats = ReadStats()
    records = list(read_records([tmp_path], stats))
    assert ids(records) == [rec(i)["eventID"] for i in (4, 3, 2, 1)]
    assert [s.path for s in stats.skipped] == [
        str(tmp_path / "README.md"),
        str(tmp_path / "b/deep/digest.txt"),
    ]
    assert (stats.files, stats.rejected) == (4, 0)


def test_explicit_file_is_read_whatever_its_suffix_and_only_once(tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    path.write_bytes(jsonl(rec(1)))
    stats = ReadStats()
    records = list(read_records([path, tmp_path, path], stats))
    assert ids(records) == [rec(1)["eventID"]]
    assert stats.files == 1
    assert [s.path for s in stats.skipped] == [str(path)]  # not a log suffix inside the dir


def test_cloudtrail_digest_files_are_skipped_not_rejected(tmp_path: Path) -> None:
    path = tmp_path / "111122223333_CloudTrail-Digest_us-east-1_x.json.gz"
    digest = {
        "awsAccountId": "111122223333",
        "digestStartTime": "2025-03-11T13:55:00Z",
        "digestEndTime": "2025-03-11T14:55:00Z",
        "digestS3Object": "AWSLogs/...",
        "logFiles": [],
    }
    path.write_bytes(gzip.compress(dumps(digest)))
    records, stats = read(path)
    assert records == [] and stats.rejected == 0
    assert [s.path for s in stats.skipped] == [str(path)]
    assert "digest" in stats.skipped[0].reason


def test_examples_read_deterministically_and_cleanly() -> None:
    first_stats, second_stats = ReadStats(), ReadStats()
    first = [(r.origin, r.event_id) for r in read_records([EXAMPLES], first_stats)]
    second = [(r.origin, r.event_id) for r in read_records([EXAMPLES], second_stats)]
    assert first == second
    assert first_stats.rejected == 0
    assert first_stats.files == 3
    assert len(first) == len({eid for _, eid in first}) == first_stats.records
    # Out of time order across files, as the demo intends.
    times = [r.time for r in read_records([EXAMPLES])]
    assert times != sorted(times)


def test_reading_is_lazy_across_files_and_lines(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(jsonl(rec(1), rec(2)) + b"{bad\n")
    (tmp_path / "b.jsonl").write_bytes(jsonl(rec(3)))
    stats = ReadStats()
    it = read_records([tmp_path], stats)
    first = next(it)
    assert first.event_id == rec(1)["eventID"]
    assert stats.files == 1 and stats.rejected == 0  # the bad line 3 is not read yet
    rest = list(it)
    assert ids(rest) == [rec(2)["eventID"], rec(3)["eventID"]]
    assert (stats.files, stats.rejected) == (2, 1)


def test_examples_are_what_the_generator_writes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_examples", EXAMPLES / "make_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = module.build()
    assert built
    for rel, data in built.items():
        committed = (EXAMPLES / "logs" / rel).read_bytes()
        if rel.endswith(".gz"):  # compare content: compressed bytes may vary with zlib
            assert gzip.decompress(committed) == gzip.decompress(data), rel
        else:
            assert committed == data, rel


def test_symlinked_directories_are_listed_as_skipped(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.jsonl").write_bytes(jsonl(rec(1)))
    (tmp_path / "top").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "top" / "link")
    stats = ReadStats()
    assert list(read_records([tmp_path / "top"], stats)) == []
    assert [str(s) for s in stats.skipped] == [
        f"{tmp_path / 'top' / 'link'}: symbolic link to a directory"
    ]
