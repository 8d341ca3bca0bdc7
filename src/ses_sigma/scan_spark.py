"""``ses-sigma scan --engine spark``: the same scan as :mod:`ses_sigma.scan`, run by Spark.

Spark lists and reads the inputs (local paths, ``s3://``/``s3a://`` or any Hadoop URI) with its
``binaryFile`` reader, one file per row, so a cluster reads a year of S3 delivery objects in
parallel. On the executors each file is parsed by the embedded reader
(:func:`ses_sigma.logs.read_file`: the same shapes, gzip handling and rejection messages) and
every record is tested against the detection of every single-event rule
(:func:`ses_sigma.match.detection.compile_detection`, the matcher itself). What comes back to the
driver is small: the records some detection matches, the earliest record of each file, the
rejections and the counts. The driver then runs the ordinary :class:`~ses_sigma.match.engine.Engine`
over the matched records plus the earliest record of the whole input (the run's first time, as
the embedded scan sees it): single-event alerts, correlations and first-seen rules are the
embedded scanner's, since every record they depend on is there.

The executors need ``ses-sigma`` installed (``pip install ses-sigma[spark]`` on the cluster, or
``--py-files`` of a wheel); the rule files travel with the job. Files are read whole (an S3
delivery object is small; split very large JSON Lines files first). In directories only the log
suffixes of :data:`ses_sigma.logs.LOG_SUFFIXES` are read; for local directories the files left
out are listed as in the embedded scan, for remote ones Spark's listing leaves them out silently.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson

from ses_sigma.logs import LOG_SUFFIXES, ReadStats, Rejection, iter_log_files, read_file
from ses_sigma.match.detection import compile_detection
from ses_sigma.match.engine import Engine
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.pack import DEFAULT_RULES_DIR, Pack, load_pack
from ses_sigma.records import Record
from ses_sigma.scan import ScanResult

__all__ = ["is_remote", "scan_spark"]

_GLOB = "*{" + ",".join(LOG_SUFFIXES) + "}"


def is_remote(path: str | Path) -> bool:
    """Whether ``path`` is a URI (``s3://bucket/key``...) rather than a local path."""
    return "://" in str(path)


def _rule_texts(pack: Pack) -> dict[str, str]:
    """The text of every file of the pack (rules, filters), by a unique relative name."""
    files = sorted(str(p) for p in pack.source_files())  # rules and Sigma filters
    return {
        f"{i:04d}_{Path(f).name}": Path(f).read_text(encoding="utf-8") for i, f in enumerate(files)
    }


class _Detections:
    """The pack's single-event detections, dispatched on ``eventSource``/``eventName`` like the
    Engine does (a record is only tested against rules that can match its source and name)."""

    def __init__(self, pack: Pack):
        self.by_source: dict[str, list[Any]] = {}
        self.any_source: list[Any] = []
        for rule in pack.rules:
            try:
                compiled = compile_detection(rule)
            except RuleCompileError:
                continue  # the driver's Engine refuses or skips it (skip_unsupported)
            if compiled.event_sources is None:
                self.any_source.append(compiled)
            else:
                for source in compiled.event_sources:
                    self.by_source.setdefault(source, []).append(compiled)
        self.all = [c for cs in self.by_source.values() for c in cs] + self.any_source

    def match(self, data: dict[str, Any]) -> bool:
        """Whether some detection matches the record."""
        source, name = data.get("eventSource"), data.get("eventName")
        if not isinstance(source, str) or not isinstance(name, str):
            candidates = self.all
        else:
            candidates = [*self.by_source.get(source.lower(), ()), *self.any_source]
            lowered = name.lower()
            candidates = [
                c for c in candidates if c.event_names is None or lowered in c.event_names
            ]
        return any(c.predicate(data) for c in candidates)


_DETECTIONS: dict[int, _Detections] = {}


def _detections(texts: dict[str, str]) -> _Detections:
    """The pack's detections, compiled once per executor process."""
    key = hash(tuple(sorted(texts.items())))
    if key not in _DETECTIONS:
        with tempfile.TemporaryDirectory(prefix="ses-sigma-rules-") as tmp:
            for name, text in texts.items():
                Path(tmp, name).write_text(text, encoding="utf-8")
            _DETECTIONS[key] = _Detections(load_pack([tmp]))
    return _DETECTIONS[key]


def _scan_file(path: str, content: bytes, texts: dict[str, str]) -> Iterator[tuple[Any, ...]]:
    """Read one file as the embedded scanner does; yield what the driver needs."""
    detections = _detections(texts)
    name = unquote(path.removeprefix("file:"))  # Spark gives local files as file: URIs
    suffix = next((s for s in LOG_SUFFIXES if name.lower().endswith(s)), ".json")
    stats = ReadStats()
    fd, tmp = tempfile.mkstemp(prefix="ses-sigma-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        earliest: Record | None = None
        for rec in read_file(tmp, stats):
            origin = rec.origin.replace(tmp, name, 1)
            if earliest is None or rec.time < earliest.time:
                earliest = rec
            if detections.match(rec.data):
                yield ("match", origin, orjson.dumps(rec.data))
        if earliest is not None:
            yield ("first", earliest.origin.replace(tmp, name, 1), orjson.dumps(earliest.data))
    finally:
        os.unlink(tmp)
    for rejection in stats.rejections:
        yield ("rejected", rejection.origin.replace(tmp, name, 1), rejection.message)
    yield ("counts", name, stats.files, stats.records)


def _input_paths(paths: Iterable[str | Path], stats: ReadStats) -> tuple[dict[str, str], list[str]]:
    """(local files to read: absolute path -> the name the embedded scan gives it, remote URIs
    to list with Spark); problems with local paths go to ``stats``."""
    local = [p for p in paths if not is_remote(p)]
    remote = [str(p) for p in paths if is_remote(p)]
    files = {str(Path(p).resolve()): str(p) for p in iter_log_files(local, stats)}
    return files, remote


def scan_spark(
    paths: Iterable[str | Path],
    rules: Iterable[str | Path] | Pack = (DEFAULT_RULES_DIR,),
    on_rejection: Callable[[Rejection], None] | None = None,
    skip_unsupported: bool = False,
    session: Any = None,
    master: str | None = None,
) -> ScanResult:
    """Scan ``paths`` with Spark; the same alerts as :func:`ses_sigma.scan.scan`.

    ``session``: an existing SparkSession (else one from Spark's settings, ``master`` if given).
    Raises ``PackLoadError`` / ``RuleCompileError`` before any Spark job, like ``scan``.
    """
    pack = rules if isinstance(rules, Pack) else load_pack(rules)
    engine = Engine(pack, skip_unsupported=skip_unsupported)
    stats = ReadStats(on_rejection=on_rejection)
    files, remote = _input_paths(list(paths), stats)
    if session is None:
        from ses_sigma.verify.spark_session import spark_session

        session = spark_session(master)
    texts = _rule_texts(pack)
    frames = []
    reader = session.read.format("binaryFile")
    if files:
        frames.append(reader.load(list(files)))
    if remote:
        frames.append(
            reader.option("recursiveFileLookup", "true")
            .option("pathGlobFilter", _GLOB)
            .load(remote)
        )
    rows: list[tuple[Any, ...]] = []
    for frame in frames:
        rows.extend(
            frame.select("path", "content")
            .rdd.flatMap(lambda row: _scan_file(row[0], bytes(row[1]), texts))
            .collect()
        )
    return _finish(engine, [_renamed(row, files) for row in rows], stats)


def _renamed(row: tuple[Any, ...], names: dict[str, str]) -> tuple[Any, ...]:
    """A row whose origin names a local file as the user named it (as the embedded scan does)."""
    origin = row[1]
    for absolute, given in names.items():
        if origin == absolute or origin.startswith((absolute + ":", absolute + "[")):
            return (row[0], given + origin[len(absolute) :], *row[2:])
    return row


def _finish(engine: Engine, rows: list[tuple[Any, ...]], stats: ReadStats) -> ScanResult:
    """Run the Engine over the matched records and the earliest record of all."""
    matched: dict[str, Record] = {}
    firsts: list[Record] = []
    for row in sorted(rows, key=lambda r: (r[0], r[1])):
        kind = row[0]
        if kind == "match":
            matched[row[1]] = Record.from_dict(orjson.loads(row[2]), origin=row[1])
        elif kind == "first":
            firsts.append(Record.from_dict(orjson.loads(row[2]), origin=row[1]))
        elif kind == "rejected":
            stats.reject(row[1], row[2])
        else:
            stats.files += row[2]
            stats.records += row[3]
    records = list(matched.values())
    if firsts:
        earliest = min(firsts, key=lambda r: r.time)
        if earliest.origin not in matched:
            records.append(earliest)  # only its time matters: no detection matches it
    alerts = engine.run(records)
    return ScanResult(
        alerts=alerts, read=stats, run=engine.stats, skipped_rules=list(engine.skipped)
    )
