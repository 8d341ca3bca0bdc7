"""Decoding: shape detection, JSON Lines and whole documents, salvage, record checks.

Every record handed on has passed ``make_record``: a JSON object with CloudTrail event keys,
a valid ``eventTime`` and ``eventID``, nested at most ``MAX_DEPTH`` levels (deeper input would
exhaust the matcher's recursion; orjson itself stops at 1024).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from ses_sigma.logs.stats import FILE, RECORD, ReadStats, Skipped
from ses_sigma.logs.streams import LineStream
from ses_sigma.records import Record, RecordError

__all__ = [
    "DIGEST_KEYS",
    "EVENT_KEYS",
    "MAX_DEPTH",
    "depth_exceeds",
    "is_lines",
    "make_record",
    "read_document",
    "read_lines",
    "record_from_line",
    "records_of",
]

#: Deepest nesting of arrays and objects accepted in a record (CloudTrail's are < 20 deep).
MAX_DEPTH = 100
#: Largest whole JSON document (S3 object, array) decoded at once, decompressed.
MAX_DOCUMENT_BYTES = 1 << 30
# Top-level keys that only CloudTrail event records have (any one of them is enough to say
# "this object is meant to be a record"; Record.from_dict then checks eventTime and eventID).
EVENT_KEYS = frozenset({"eventVersion", "eventTime", "eventID", "eventSource", "eventName"})
# CloudTrail digest files (log file integrity validation) live next to the logs in the bucket.
DIGEST_KEYS = frozenset({"digestStartTime", "digestEndTime", "digestS3Object"})
_DEEP = f"nested deeper than {MAX_DEPTH} levels of arrays and objects: not read"


def depth_exceeds(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when ``value`` nests arrays/objects more than ``limit`` levels (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def _orjson_too_deep(exc: orjson.JSONDecodeError) -> bool:
    """orjson stops at 1024 levels ("depth limit exceeded"; "recursion limit" in older
    versions)."""
    msg = exc.msg.lower()
    return "depth limit" in msg or "recursion" in msg


def _shallow_raw(raw: bytes) -> bool:
    """Cheap proof from the raw bytes that the value cannot nest more than MAX_DEPTH levels."""
    return raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH


# --- shape detection --------------------------------------------------------------------------


def _parses_as_object(line: bytes) -> bool:
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        return False


def is_lines(peeked: list[bytes], lines_suffix: bool) -> bool:
    """Decide between JSON Lines and one JSON document from the first two non-blank lines.

    A file that starts with ``[`` or holds a single non-blank line is one document. If the first
    line is a JSON object on its own, the file is JSON Lines. Otherwise the first line is either
    a bad JSON Lines line or the opening of a pretty-printed document (which ends in ``{``,
    ``[`` or ``,``): a second line that is an object on its own means JSON Lines unless the
    first looks like an opening, an opening followed by a non-object means a document, and
    what remains ambiguous is decided by the suffix (``lines_suffix``: .jsonl/.ndjson).
    """
    first = peeked[0].strip()
    if first.startswith(b"[") or len(peeked) < 2:
        return False
    if _parses_as_object(first):
        return True
    opening = first.endswith((b"{", b"[", b","))
    second_is_object = _parses_as_object(peeked[1])
    if second_is_object and not opening:
        return True
    if opening and not second_is_object:
        return False
    return lines_suffix


# --- records ---------------------------------------------------------------------------------


def make_record(
    origin: str, value: Any, stats: ReadStats, raw: bytes | None = None
) -> Record | None:
    """``value`` as a Record, or None after a rejection naming ``origin`` and the reason."""
    if isinstance(value, dict) and value.keys().isdisjoint(EVENT_KEYS):
        keys = ", ".join(sorted(value)[:5]) or "none"
        stats.reject(
            origin,
            "not a CloudTrail record: no eventTime, eventID, eventSource or eventName "
            f"(keys: {keys})",
            RECORD,
        )
        return None
    shallow = raw is not None and _shallow_raw(raw)
    if isinstance(value, dict | list) and not shallow and depth_exceeds(value):
        stats.reject(origin, _DEEP, RECORD)
        return None
    try:
        rec = Record.from_dict(value, origin=origin)
    except RecordError as exc:
        stats.reject(origin, str(exc), RECORD)
        return None
    stats.records += 1
    if stats.first_time is None or rec.time < stats.first_time:
        stats.first_time = rec.time
    return rec


def records_of(prefix: str, items: Any, stats: ReadStats) -> Iterator[Record]:
    """The records of a ``Records`` array (origins ``prefix[index]``)."""
    if not isinstance(items, list):
        stats.reject(
            prefix,
            f"not a CloudTrail log: 'Records' is a {type(items).__name__}, not an array",
            FILE,
        )
        return
    for index, item in enumerate(items):
        rec = make_record(f"{prefix}[{index}]", item, stats)
        if rec is not None:
            yield rec


# --- JSON Lines -------------------------------------------------------------------------------


def record_from_line(
    origin: str, line: bytes, stream: LineStream | None, stats: ReadStats
) -> Iterator[Record]:
    """Decode one non-blank JSON Lines line (a record, or a whole ``{"Records": [...]}``)."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        if stream is not None and stream.error is not None and not stream.last_line_complete:
            # The last line was cut by the broken stream: reported once, by read_file.
            stream.cut_at = origin.rsplit(":", 1)[-1]
        elif _orjson_too_deep(exc):
            stats.reject(origin, _DEEP, RECORD)
        else:
            stats.reject(f"{origin}:{exc.colno}", f"malformed JSON: {exc.msg}", RECORD)
        return
    if isinstance(value, dict) and "Records" in value and not EVENT_KEYS & value.keys():
        if not _shallow_raw(line) and depth_exceeds(value, MAX_DEPTH + 2):
            yield from _salvage_records(origin, line, stats)
            return
        yield from records_of(origin, value["Records"], stats)
        return
    rec = make_record(origin, value, stats, raw=line)
    if rec is not None:
        yield rec


def read_lines(name: str, stream: LineStream, stats: ReadStats) -> Iterator[Record]:
    """Every record of a JSON Lines stream, line by line (the path without pre-filter)."""
    while (line := stream.next_line()) is not None:
        origin = f"{name}:{stream.lineno}"
        if line is LineStream.TOO_LONG:
            stats.reject(origin, f"line longer than {stream.max_line} bytes: not read", RECORD)
            continue
        if not line.strip():
            continue
        yield from record_from_line(origin, line.rstrip(b"\r\n"), stream, stats)


# --- whole documents --------------------------------------------------------------------------


def read_document(
    name: str,
    stream: LineStream,
    stats: ReadStats,
    records: Callable[[str, Any, ReadStats], Iterator[Record]] | None = None,
    raw: Callable[[str, bytes, ReadStats], list[Record] | None] | None = None,
) -> Iterator[Record]:
    """The records of one JSON document: an S3 object, an array, or a single record.

    ``records`` turns the decoded document into records (``document_records`` by default);
    ``raw`` may take the undecoded bytes first (the pre-filter), returning None to decline.
    """
    data = stream.read_rest(MAX_DOCUMENT_BYTES)
    if data is None:
        stats.reject(name, f"JSON document larger than {MAX_DOCUMENT_BYTES} bytes: not read")
        return
    if raw is not None:
        found = raw(name, data, stats)
        if found is not None:
            yield from found
            return
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        yield from _broken_document(name, data, exc, stream, stats)
        return
    del data  # the decoded document is all that is needed from here on
    yield from (records or document_records)(name, value, stats)


def document_records(name: str, value: Any, stats: ReadStats) -> Iterator[Record]:
    """The records of a decoded JSON document (see ``read_document``)."""
    if isinstance(value, list):
        yield from records_of(name, value, stats)
    elif isinstance(value, dict):
        if "Records" in value:
            yield from records_of(name, value["Records"], stats)
        elif EVENT_KEYS & value.keys():
            rec = make_record(name, value, stats)
            if rec is not None:
                yield rec
        elif DIGEST_KEYS & value.keys():
            stats.skipped.append(
                Skipped(name, "CloudTrail digest file (log integrity validation), no events")
            )
        else:
            keys = ", ".join(sorted(value)[:5]) or "none"
            stats.reject(
                name,
                "not a CloudTrail log: a JSON object with neither 'Records' nor event fields "
                f"(eventTime, eventSource, eventName); its keys: {keys}",
            )
    else:
        stats.reject(
            name,
            f"not a CloudTrail log: the JSON document is a {type(value).__name__}, "
            "expected an object or an array",
        )


def _broken_document(
    name: str, data: bytes, exc: orjson.JSONDecodeError, stream: LineStream, stats: ReadStats
) -> Iterator[Record]:
    where = f"{name}:{exc.lineno}:{exc.colno}"
    if _orjson_too_deep(exc):
        # Too deep for orjson somewhere: the elements are decoded one by one, the deep ones
        # rejected by index, the others used.
        yield from _salvage_records(name, data, stats)
        return
    records = list(_salvage_records(name, data, stats))
    if stream.error is not None:
        # Cut by the broken stream: reported once, by read_file, with what was used.
        stream.cut_at = f"{exc.lineno}:{exc.colno}"
    elif records:
        stats.reject(
            where,
            f"malformed JSON: {exc.msg}; the {len(records)} complete record(s) before "
            "the error were used",
        )
    else:
        stats.reject(where, f"malformed JSON: {exc.msg}")
    yield from records


# --- salvage ----------------------------------------------------------------------------------

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)


def _skip_value(text: str, i: int) -> int | None:
    """The index just after the JSON value starting at ``i`` (strings and brackets only are
    followed, so it works at any depth), or None if it does not end."""
    depth = 0
    for m in _TOKEN.finditer(text, i):
        tok = m.group()
        if tok in "[{":
            depth += 1
        elif tok in "]}":
            depth -= 1
        if depth <= 0:
            return m.end()
    return None


def _salvage_records(prefix: str, data: bytes, stats: ReadStats) -> Iterator[Record]:
    """The records of a ``[...`` or ``{"Records": [...`` document decoded element by element.

    orjson has no incremental decoding, so the stdlib decoder's ``raw_decode`` walks the
    elements one by one. An element nested too deeply is rejected by index and skipped; any
    other element that does not decode ends the salvage (the document is broken there).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = data[: exc.start].decode("utf-8")
    decoder = json.JSONDecoder(parse_constant=_no_constant)
    i = _skip_ws(text, 0)
    if text.startswith("{", i):
        i = _skip_ws(text, i + 1)
        if not text.startswith('"Records"', i):
            return
        i = _skip_ws(text, i + len('"Records"'))
        if not text.startswith(":", i):
            return
        i = _skip_ws(text, i + 1)
    if not text.startswith("[", i):
        return
    i += 1
    index = 0
    while True:
        i = _skip_ws(text, i)
        origin = f"{prefix}[{index}]"
        try:
            item, end = decoder.raw_decode(text, i)
        except RecursionError:
            end = _skip_value(text, i)
            stats.reject(origin, _DEEP, RECORD)
            if end is None:
                return
        except ValueError:
            return
        else:
            rec = make_record(origin, item, stats)
            if rec is not None:
                yield rec
        index += 1
        i = _skip_ws(text, end)
        if not text.startswith(",", i):
            return
        i += 1


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
