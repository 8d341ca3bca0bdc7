"""The read path's allocator setting (ses_sigma.logs.heap): S3 objects read one after the
other reuse the heap instead of faulting in fresh pages for every object."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

from ses_sigma.bench_data import generate_records, write_s3_objects
from ses_sigma.logs.heap import keep_heap
from ses_sigma.prefilter import KERNEL

pytestmark = pytest.mark.skipif(
    KERNEL != "c" or platform.libc_ver()[0] != "glibc", reason="glibc and the C kernel"
)

# In a fresh process (the setting is process-wide): the minor page faults of a second read.
_READ_TWICE = """
import resource, sys
from ses_sigma.logs import read_records
from ses_sigma.logs.stats import ReadStats
from ses_sigma.prefilter import Pin, Prefilter
pf = Prefilter([Pin(frozenset({"ses.amazonaws.com"}), None, ())])
for _ in range(2):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    stats = ReadStats()
    found = sum(1 for _ in read_records([sys.argv[1]], stats, pf))
    assert found and stats.records == 6000 and not stats.rejected, stats
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def test_keep_heap_is_idempotent() -> None:
    assert keep_heap() is True
    assert keep_heap() is True


def test_objects_read_again_fault_in_few_pages(tmp_path: Path) -> None:
    records = generate_records(6000, seed=3)
    write_s3_objects(records, tmp_path, per_file=2000)  # 3 objects of about 1.8 MB each
    size = sum(len(str(r)) for r in records)
    out = subprocess.run(
        [sys.executable, "-c", _READ_TWICE, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    # with malloc's defaults every object and its copies are mapped afresh: several faults per
    # 4 KiB of data (about 3 x size / 4096, measured); with keep_heap a few pages
    assert int(out.stdout) < size / 4096 / 4, out.stdout
