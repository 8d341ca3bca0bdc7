"""Scan CloudTrail logs with a rule pack: paths + pack -> ScanResult (alerts and what was read).

The orchestration behind ``ses-sigma scan``, kept out of the CLI so tests and other commands
can call it: read the records lazily (``logs.read_records``), match them with the compiled
pack (``match.engine.Engine``), and return the alerts with the read statistics, every
rejection included. ``state``: a first-seen baseline file (``match/baseline.py``) loaded
before the scan (if it exists) and saved after it; ``suppress``: apply the rules' suppression
attributes (``match/suppression.py``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ses_sigma.alerts import Alert
from ses_sigma.logs import ReadStats, Rejection, read_records, read_stream
from ses_sigma.match.baseline import Baseline
from ses_sigma.match.engine import Engine, RunStats
from ses_sigma.pack import DEFAULT_RULES_DIR, Pack, load_pack
from ses_sigma.records import Record

__all__ = ["STDIN", "ScanResult", "scan", "scan_with_engine"]

#: The path that means standard input.
STDIN = "-"


@dataclass
class ScanResult:
    """The alerts of one scan, what was read (``read``) and what the matcher saw (``run``)."""

    alerts: list[Alert]
    read: ReadStats
    run: RunStats
    #: Rules left out because the matcher cannot evaluate them (``skip_unsupported``), and why.
    skipped_rules: list[str] = field(default_factory=list)
    #: Baseline (``state``) rules whose saved state could not be used, and why.
    state_warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every input was read without a rejection."""
        return not self.read.rejections


def scan_with_engine(
    engine: Engine,
    paths: Iterable[str | Path],
    on_rejection: Callable[[Rejection], None] | None = None,
    stdin: BinaryIO | None = None,
    state: str | Path | None = None,
    suppress: bool = False,
) -> ScanResult:
    """Run a compiled ``engine`` over the CloudTrail records under ``paths``.

    A path ``-`` is standard input (``stdin``, default ``sys.stdin.buffer``), gzipped or not.
    ``on_rejection`` sees each problem as it is met; all of them are also in the result.
    ``state`` is loaded before reading any log (``BaselineError`` if it is not a valid
    baseline) and written back after the scan.
    """
    baseline = Baseline.load_or_new(state) if state is not None else None
    stats = ReadStats(on_rejection=on_rejection)
    alerts = engine.run(_records(list(paths), stats, stdin), baseline=baseline, suppress=suppress)
    if baseline is not None and state is not None:
        baseline.save(state)
    return ScanResult(
        alerts=alerts,
        read=stats,
        run=engine.stats,
        skipped_rules=list(engine.skipped),
        state_warnings=list(baseline.warnings) if baseline is not None else [],
    )


def _records(paths: list[str | Path], stats: ReadStats, stdin: BinaryIO | None) -> Iterator[Record]:
    """The records of ``paths`` in order; ``-`` reads standard input."""
    pending: list[str | Path] = []
    for path in paths:
        if str(path) != STDIN:
            pending.append(path)
            continue
        yield from read_records(pending, stats)
        pending = []
        yield from read_stream(stdin if stdin is not None else sys.stdin.buffer, "<stdin>", stats)
    yield from read_records(pending, stats)


def scan(
    paths: Iterable[str | Path],
    rules: Iterable[str | Path] | Pack = (DEFAULT_RULES_DIR,),
    on_rejection: Callable[[Rejection], None] | None = None,
    skip_unsupported: bool = False,
    stdin: BinaryIO | None = None,
    state: str | Path | None = None,
    suppress: bool = False,
    filters: Iterable[str | Path] = (),
) -> ScanResult:
    """Load the pack (rule paths and ``filters``, or an already loaded Pack), compile it and
    scan ``paths``.

    Raises ``PackLoadError`` (a rule file does not load) or ``RuleCompileError`` (a rule the
    matcher cannot evaluate faithfully) before reading any log; with ``skip_unsupported`` the
    latter are left out instead and listed in ``ScanResult.skipped_rules``.
    """
    pack = rules if isinstance(rules, Pack) else load_pack(rules, filters=filters)
    engine = Engine(pack, skip_unsupported=skip_unsupported)
    return scan_with_engine(engine, paths, on_rejection, stdin, state=state, suppress=suppress)
