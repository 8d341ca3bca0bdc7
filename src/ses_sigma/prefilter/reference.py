"""The pre-filter's line rules in plain Python: the reference for the C kernel, and its fallback.

A buffer holds JSON Lines; a line ends at ``\\n`` (a last line may lack it). A line is a
*candidate* (decoded in full, the matcher decides) when:

0. it is not shaped like one JSON object: spaces, tabs and CRs aside, it does not start with
   ``{`` and end with ``}`` (a truncated or garbled line, a blank one: decoded, so that the
   reader reports what is wrong instead of counting it as a record no rule matched); or
1. it holds a backslash anywhere (an escaped key or value, or a ``"`` inside a string); or
2. the key token ``"eventSource"`` does not occur exactly once, or that occurrence is not
   followed by ``:"``, a value without a byte >= 0x80 and a closing ``"`` on the line; or
3. its eventSource value is pinned, some rule pins eventName, and the same does not hold for
   ``"eventName"``; or
4. for SOME pin (one rule condition, see ``pins``): the ASCII-lower-cased eventSource value is
   one of its sources, the eventName value one of its names (or it pins no name), and each of
   its literals occurs in the ASCII-lower-cased line, or the line holds a byte >= 0x80; or
5. with ``pieces`` (lines cut out of an S3 object, which may be pieces of one record): some
   pin holds on eventSource and eventName but not on its literals, and the line is not one
   JSON object (a ``{`` whose bracket depth, outside strings, first returns to 0 at the end).

Why a line that is not a candidate cannot match any pinned rule: without a backslash, every
``"`` in valid JSON opens or closes a string, so every occurrence of the bytes
``"eventSource"`` is a string token ``eventSource`` (key or value), and a top-level key
``eventSource`` in any spacing is one of them; one occurrence followed by ``:"`` is therefore
the only key of that name, and its value is the bytes up to the next ``"`` (no escapes). A
rule compares it case-insensitively (``str.lower``); on ASCII that is the byte-wise lower
case, and a value with a non-ASCII byte (KELVIN SIGN lower-cases to ``k``, dotted capital I
to ``i`` + a dot) is left to the matcher. A literal a rule needs inside some field's value is
then a byte string of the line; a non-ASCII line is again left to the matcher. Lines that are
not valid JSON can only be candidates or be counted: a non-candidate line (object-shaped, but
it may still be malformed inside) is counted as a record without being decoded (the
pre-filter's bargain, see ``logs/fast.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Plan", "SourcePlan", "object_shaped", "scan_reference"]

_SOURCE = b'"eventSource"'
_NAME = b'"eventName"'


@dataclass(frozen=True, slots=True)
class SourcePlan:
    """The pins of one eventSource value: the union of their names (None: any) and each
    pin's (names, literals), as lower-cased bytes."""

    names: frozenset[bytes] | None
    entries: tuple[tuple[frozenset[bytes] | None, tuple[bytes, ...]], ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """Every pin, grouped by eventSource value; ``need_names``: some pin has names."""

    sources: Mapping[bytes, SourcePlan]
    need_names: bool


def _value(line: bytes, key: bytes) -> bytes | None:
    """The lower-cased plain value of the single ``key`` of ``line``; None if not plain."""
    if line.count(key) != 1:
        return None
    i = line.find(key) + len(key)
    if line[i : i + 2] != b':"':
        return None
    j = line.find(b'"', i + 2)
    if j < 0:
        return None
    value = line[i + 2 : j]
    return value.lower() if value.isascii() else None


def balanced(line: bytes) -> bool:
    """Rule 5: the line (without backslashes) is one JSON object, by bracket depth."""
    if not line.startswith(b"{"):
        return False
    depth = 0
    i = 0
    while i < len(line):
        c = line[i]
        if c == 0x22:  # '"': strings hold no quote (no backslash in the line)
            i = line.find(b'"', i + 1)
            if i < 0:
                return False
        elif c in b"{[":
            depth += 1
        elif c in b"}]":
            depth -= 1
            if depth == 0:
                return i + 1 == len(line)
        i += 1
    return False


def object_shaped(line: bytes) -> bool:
    """Rule 0: the line, spaces, tabs and CRs aside, starts with ``{`` and ends with ``}``."""
    body = line.strip(b" \t\r")
    return len(body) >= 2 and body[:1] == b"{" and body[-1:] == b"}"


def is_candidate(plan: Plan, line: bytes, pieces: bool = False) -> bool:
    """Rules 0-5 of the module docstring for one line (without its newline)."""
    if b"\\" in line or not object_shaped(line):
        return True
    source = _value(line, _SOURCE)
    if source is None:
        return True
    sp = plan.sources.get(source)
    if sp is None:
        return False
    name = None
    if plan.need_names:
        name = _value(line, _NAME)
        if name is None:
            return True
    if sp.names is not None and name not in sp.names:
        return False
    low = None
    for names, literals in sp.entries:
        if names is not None and name not in names:
            continue
        if not literals or not line.isascii():
            return True
        low = line.lower() if low is None else low
        if all(lit in low for lit in literals):
            return True
    return pieces and low is not None and not balanced(line)


def scan_reference(
    buf: bytes | bytearray | memoryview, start: int, end: int, plan: Plan, pieces: bool = False
) -> tuple[int, list[tuple[int, int, int]]]:
    """(lines in ``buf[start:end]``, [(line index, start, end) of each candidate line]);
    ``end`` of a line excludes its newline; positions are offsets into ``buf``."""
    data = bytes(buf[start:end])
    lines = 0
    found: list[tuple[int, int, int]] = []
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        stop = len(data) if nl < 0 else nl
        if is_candidate(plan, data[pos:stop], pieces):
            found.append((lines, start + pos, start + stop))
        lines += 1
        pos = stop + 1
    return lines, found


#: Whitespace that makes a line blank (``bytes.strip``'s set).
_BLANK = b" \t\n\r\x0b\x0c"


def candidates_reference(
    buf: bytes | bytearray | memoryview,
    start: int,
    end: int,
    plan: Plan,
    depth: int,
    max_line: int,
    final: bool = True,
) -> tuple[int, int, int, list[tuple[int, bytes | None, bool]]]:
    """What the JSON Lines reader takes from the whole lines of ``buf[start:end]`` (up to its
    last newline; everything when ``final``, where a last line without newline is always
    kept): ``(lines, kept, consumed, found)``. A line is kept when it is a candidate
    (``is_candidate``) or at least ``max_line`` bytes long (``max_line`` > 0); ``found`` has
    ``(index, line without trailing CRs, shallow)`` per kept line that is not blank, ``None``
    for the bytes of an over-long one; shallow: at most ``depth`` of ``[`` and ``{``."""
    data = bytes(buf[start:end])
    whole = data.rfind(b"\n") + 1
    if final:
        whole = len(data)
    lines = data[:whole].split(b"\n")
    if lines and lines[-1] == b"" and (whole == 0 or data[whole - 1 : whole] == b"\n"):
        lines.pop()  # after the last newline: no line
    kept = 0
    found: list[tuple[int, bytes | None, bool]] = []
    for index, line in enumerate(lines):
        tail = final and index == len(lines) - 1 and not data[:whole].endswith(b"\n")
        long = max_line > 0 and len(line) >= max_line
        if not (long or tail or is_candidate(plan, line)):
            continue
        kept += 1
        if long:
            found.append((index, None, False))
        elif line.strip(_BLANK):
            text = line.rstrip(b"\r")
            found.append((index, text, text.count(b"[") + text.count(b"{") <= depth))
    return len(lines), kept, whole, found
