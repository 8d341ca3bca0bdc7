"""One task of a scan (``scan_tasks.run_task``): the collector paused for a byte range only,
and restored whatever happens."""

from __future__ import annotations

import gc
import itertools
import subprocess
import sys
import weakref
from pathlib import Path

import orjson
import pytest

from ses_sigma.match.engine import Engine
from ses_sigma.pack import load_pack
from ses_sigma.rowkeys import record_key
from ses_sigma.scan_tasks import Task, collector_paused, run_task


def _file(tmp_path: Path) -> Path:
    rec = {
        "eventVersion": "1.09",
        "eventTime": "2026-01-01T00:00:00Z",
        "eventSource": "ses.amazonaws.com",
        "eventName": "DeleteIdentity",
        "eventID": "e1",
    }
    path = tmp_path / "t.jsonl"
    path.write_bytes(orjson.dumps(rec) + b"\n" + orjson.dumps({**rec, "eventID": "e2"}) + b"\n")
    return path


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_paused_for_a_range_and_restored(tmp_path: Path, enabled: bool) -> None:
    engine = Engine(load_pack())
    path = _file(tmp_path)
    size = path.stat().st_size
    seen: list[bool] = []
    real = engine.match_rules

    def spy(*args: object) -> list[str]:
        seen.append(gc.isenabled())
        return real(*args)  # type: ignore[arg-type]

    engine.match_rules = spy  # type: ignore[method-assign]
    was = gc.isenabled()
    try:
        if not enabled:
            gc.disable()
        ranged = run_task(engine, Task(0, str(path), size, 0, size), engine.prefilter())
        assert gc.isenabled() == enabled
        assert seen and not any(seen)  # paused while the range was read
        seen.clear()
        whole = run_task(engine, Task(0, str(path), size), engine.prefilter())
        assert seen and all(s == enabled for s in seen)  # a whole file: as it was
        assert ranged.event_ids == whole.event_ids == ["e1", "e2"]

        def boom(*args: object) -> list[str]:
            raise ValueError("boom")

        engine.match_rules = boom  # type: ignore[method-assign]
        with pytest.raises(ValueError, match="boom"):
            run_task(engine, Task(0, str(path), size, 0, size), engine.prefilter())
        assert gc.isenabled() == enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_the_pause_promotes_what_it_kept_and_leaves_frozen_objects_frozen() -> None:
    if not gc.isenabled():
        pytest.skip("the collector is off in this process")
    kept: list[object] = []
    gc.collect()
    with collector_paused():
        kept.extend([i] for i in range(1000))
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    assert gc.get_count()[0] < 1000  # not left young: promoted
    assert all(gc.is_tracked(x) for x in kept)
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with collector_paused():
            kept.extend([i] for i in range(1000))
        assert gc.get_freeze_count() == frozen  # someone else's freeze is kept
    finally:
        gc.unfreeze()
    # garbage cycles made in the pause are still collected by a full collection
    with collector_paused():
        cycle: list[object] = []
        cycle.append(cycle)
        ref = weakref.ref(_Obj(cycle))
    del cycle
    gc.collect()
    assert ref() is None


class _Obj:
    def __init__(self, other: object) -> None:
        self.other = other
        self.me = self


def test_record_key_tells_records_apart() -> None:
    pairs = [(f"id-{i}", 1767225600.0 + j) for i in range(200) for j in range(5)]
    pairs += [("id-\ud800", 1.5), ("id-\udfff", 1.5), ("", 0.0), ("", -0.0), ("a", 1.0)]
    keys = {record_key(e, t) for e, t in pairs}
    assert len(keys) == len(pairs)
    assert all(0 <= k < 2**64 for k in keys)
    assert record_key("id-1", 2.0) == record_key("id-1", 2.0)


def test_record_key_is_keyed_per_process() -> None:
    """Another process digests the same record differently (a secret key per process), so
    nobody can forge a record that collides with another one."""
    code = "from ses_sigma.rowkeys import record_key; print(record_key('id-1', 2.0))"
    other = {
        int(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True).stdout)
        for _ in range(2)
    }
    assert len(other) == 2
    assert record_key("id-1", 2.0) not in other


def test_the_last_round_of_ranges_is_cut_in_halves(tmp_path: Path) -> None:
    """``plan_tasks``: the last ``workers`` ranges of a file cut in halves of ``tail_min`` bytes
    or more; the ranges still cover the file once, in order; not with one worker, halves
    too small, one round only, or another file or standard input last."""
    from ses_sigma.logs import ReadStats
    from ses_sigma.scan_tasks import STDIN, plan_tasks

    rec = orjson.loads(_file(tmp_path).read_bytes().split(b"\n")[0])
    big = tmp_path / "big.jsonl"
    big.write_bytes(
        b"".join(orjson.dumps({**rec, "eventID": f"e{i}"}) + b"\n" for i in range(4000))
    )
    size = big.stat().st_size
    step = size // 8 + 1

    def plan(*paths: object, workers: int = 2, tail_min: int = 1000) -> list[Task]:
        return plan_tasks(list(paths), ReadStats(), step, workers, tail_min)  # type: ignore[arg-type]

    for workers in (2, 3):
        tasks = plan(big, workers=workers)
        plain = plan(big, workers=workers, tail_min=size)
        assert len(tasks) == len(plain) + workers
        assert [t.index for t in tasks] == list(range(len(tasks)))
        assert tasks[0].start == 0 and tasks[-1].end == size
        assert all(a.end == b.start for a, b in itertools.pairwise(tasks))  # once, in order
        assert sum(t.size for t in tasks) == size and all(t.size > 0 for t in tasks)
        assert [t.start for t in tasks[-2 * workers :: 2]] == [t.start for t in plain[-workers:]]
        assert all(t.size * 2 in range(plain[-1].size - 2, plain[-1].size + 3) for t in tasks[-2:])
    assert len(plan(big, workers=1)) == len(plan(big, workers=1, tail_min=size))
    two = plan_tasks([big], ReadStats(), size // 2 + 1, 2, 1000)
    assert len(two) == 2  # one round only: nothing to even out
    small = tmp_path / "small.jsonl"
    small.write_bytes(big.read_bytes()[:1000].rsplit(b"\n", 1)[0] + b"\n")
    assert plan(big, small)[-1].path == str(small)
    assert len(plan(big, small)) == len(plan(big, small, tail_min=size))
    assert plan(big, STDIN)[-1].path == STDIN
    assert len(plan(big, STDIN)) == len(plan(big, STDIN, tail_min=size))


def test_the_shared_flag_is_seen_by_a_forked_process() -> None:
    import os

    from ses_sigma.scan_pool import SharedFlag

    flag = SharedFlag(1)
    assert flag.value == 1
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.read(read, 1)
        os._exit(10 + flag.value)
    flag.value = False
    os.write(write, b"x")
    _, status = os.waitpid(pid, 0)
    os.close(read)
    os.close(write)
    assert os.waitstatus_to_exitcode(status) == 10 and flag.value == 0
    flag.value = True
    assert flag.value == 1


def test_jsonl_files_are_judged_on_their_first_two_lines(tmp_path: Path) -> None:
    """``_is_jsonl_file`` reads 64 KiB first, the rest of its 1 MiB head only when two whole
    non-blank lines are not there: the verdict of judging on the whole head, at each edge."""
    from ses_sigma.logs.decode import is_lines
    from ses_sigma.scan_plan import _is_jsonl_file

    def whole_head(path: Path) -> bool:  # the former reading: 1 MiB at once
        head = path.read_bytes()[: 1 << 20]
        lines = [line for line in head.split(b"\n")[:-1] if line.strip()][:2]
        return len(lines) == 2 and is_lines(lines, path.name.endswith(".jsonl"))

    rec = _file(tmp_path).read_bytes().split(b"\n")[0]
    padded = orjson.dumps({**orjson.loads(rec), "pad": "x" * 200_000})
    cases = {
        "plain": rec + b"\n" + rec + b"\n",
        "blank_lines_first": b"\n" * 70_000 + rec + b"\n" + rec + b"\n",
        "long_first_line": padded + b"\n" + rec + b"\n",
        "edge": b" " * ((1 << 16) - len(rec) - 2) + b"\n" + rec + b"\n" + rec + b"\n",
        "one_line": rec + b"\n",
        "second_not_ended": rec + b"\n" + rec,
        "second_past_head": b"\n" * ((1 << 20) - len(rec) - 1) + rec + b"\n" + rec + b"\n",
        "not_json": b"hello\nworld\n" * 10,
    }
    verdicts = {}
    for name, data in cases.items():
        path = tmp_path / f"{name}.jsonl"
        path.write_bytes(data)
        verdicts[name] = _is_jsonl_file(path)
        assert verdicts[name] == whole_head(path), name
    assert verdicts["blank_lines_first"] and verdicts["long_first_line"] and verdicts["edge"]
    assert not verdicts["second_past_head"] and not verdicts["one_line"]
