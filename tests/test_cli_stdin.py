"""``ses-sigma scan -``: CloudTrail from standard input (plain or gzipped); a reader that
closes the pipe early (``| head``) ends the run quietly."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ses_sigma.cli import main

ROOT = Path(__file__).resolve().parents[1]


def records(count: int) -> bytes:
    lines = [
        json.dumps(
            {
                "eventVersion": "1.11",
                "eventTime": f"2026-11-20T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
                "eventID": f"e{i:06d}",
                "eventSource": "ses.amazonaws.com",
                "eventName": "GetAccount",
                "awsRegion": "us-east-1",
                "userIdentity": {"type": "IAMUser", "accessKeyId": "AKIAEXAMPLE"},
            }
        )
        for i in range(count)
    ]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("compress", [False, True])
def test_scan_reads_standard_input(compress: bool) -> None:
    data = records(3)
    result = CliRunner().invoke(
        main, ["scan", "-"], input=gzip.compress(data) if compress else data
    )
    assert result.exit_code == 0, result.output
    alerts = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["event_ids"] for a in alerts] == [["e000000"], ["e000001"], ["e000002"]]
    assert "scanned 1 file(s), 3 record(s): 3 alert(s), 0 rejected" in result.stderr


def test_stdin_with_files_and_rejections_named_stdin(tmp_path: Path) -> None:
    logs = tmp_path / "a.jsonl"
    logs.write_bytes(records(1))
    result = CliRunner().invoke(main, ["scan", str(logs), "-"], input=b"{not json\n")
    assert result.exit_code == 1
    assert "rejected: <stdin>" in result.stderr
    assert len(result.stdout.splitlines()) == 1


def test_a_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    """20,000 alerts (about 3 MB) into a reader that stops after 100 bytes."""
    (tmp_path / "logs.jsonl").write_bytes(records(20_000))
    command = f"{sys.executable} -m ses_sigma.cli scan logs.jsonl | head -c 100 >/dev/null"
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Error" not in result.stderr
