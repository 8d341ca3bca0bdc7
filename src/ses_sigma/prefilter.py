"""An exact pre-filter on raw JSON Lines bytes: which records could match any rule at all.

Every pack rule pins ``eventSource`` (and usually ``eventName``) to plain values, which the
matcher compares whole and case-insensitively. A record can only match such a rule if its raw
line holds ``"eventSource":"<one of the values, any case>"``, unless the value is written with
JSON escapes (``\\u0073``) or holds one of the two non-ASCII characters whose lower case is
ASCII (``K`` KELVIN SIGN -> ``k``, and ``İ``): such values always count as candidates. So a
whole block of lines is searched at C speed (``re`` with a literal prefix, ``bytes.count``),
and only candidate lines are decoded; the other records are counted, never parsed.

The block is taken this way only when its shape proves the count right: exactly one
``"eventSource":"`` per line (so no line hides its eventSource in another form, an array, or
behind an escaped key, unless another line of the same block carries a second, nested copy
of that exact key — only a writer that escapes plain ASCII keys could do that; AWS does not),
and, when a first-seen rule needs the earliest ``eventTime`` of all records, exactly one
canonical ``"eventTime":"YYYY-MM-DDTHH:MM:SS[.f]Z"`` per line. Any other block goes through the
full decoder, line by line. Rules that pin no ``eventSource`` (third-party ``--rules``, keyword
rules) switch the pre-filter off: every record takes the full path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["BlockScan", "Prefilter"]

_TIME = re.compile(rb'"eventTime":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z)"')
# CloudTrail writes eventTime just before eventSource: one pass proves both per line.
_TIME_SOURCE = re.compile(
    rb'"eventTime":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z)","eventSource":"'
)
_ODD_VALUE = re.compile(rb'"eventSource":"[^"\\\xe2\xc4]*[\\\xe2\xc4]')
_PLAIN = re.compile(r"[A-Za-z0-9._:/@ -]+")


@dataclass(slots=True)
class BlockScan:
    """What the pre-filter found in one block of whole lines.

    ``lines``: records in the block (one per line); ``candidates``: (line number within the
    block, 0-based; start; end) of each line that must be decoded; ``min_time``: the earliest
    canonical eventTime of the block's records (text), when asked for.
    """

    lines: int
    candidates: list[tuple[int, int, int]]
    min_time: bytes | None


class Prefilter:
    """Raw-bytes candidate search for a set of pinned eventSource -> eventName values."""

    def __init__(self, pins: Mapping[str, frozenset[str] | None], need_times: bool):
        """``pins``: lower-cased eventSource value -> the lower-cased eventName values one of
        which a rule with that source needs (None: any name). ``need_times``: also compute
        each block's earliest eventTime (for first-seen rules' learning period)."""
        for value in [*pins, *(n for names in pins.values() if names for n in names)]:
            if not _PLAIN.fullmatch(value):
                raise ValueError(f"value {value!r} is not plain ASCII text")
        self.pins = dict(pins)
        self.need_times = need_times
        # Searched in the ASCII-lowered block: one fast substring search per pinned value.
        self._needles = [(b'"eventsource":"' + v.encode() + b'"', v) for v in sorted(self.pins)]
        self._names = {
            s: None
            if names is None
            else re.compile(
                b'"(?:' + b"|".join(re.escape(n.encode()) for n in sorted(names)) + b')"'
            )
            for s, names in self.pins.items()
        }

    @classmethod
    def for_rules(
        cls,
        rules: list[tuple[frozenset[str] | None, frozenset[str] | None]],
        need_times: bool,
    ) -> Prefilter | None:
        """The pre-filter for rules given as (event_sources, event_names) pairs, or None when
        one rule does not pin eventSource to plain values (then every record is decoded)."""
        pins: dict[str, frozenset[str] | None] = {}
        for sources, names in rules:
            if sources is None:
                return None
            for source in sources:
                if source in pins and (pins[source] is None or names is None):
                    pins[source] = None
                elif source in pins:
                    pins[source] = pins[source] | names  # type: ignore[operator]
                else:
                    pins[source] = names
        if not pins:
            return None
        try:
            return cls(pins, need_times)
        except ValueError:
            return None

    def _hits(self, block: bytes, low: bytes, odd: bool) -> list[tuple[int, str | None]]:
        """Positions of ``"eventSource":"`` whose value is pinned (any case), or holds an
        escape or an odd lead byte (then the source is None: always decoded)."""
        hits: list[tuple[int, str | None]] = []
        for needle, source in self._needles:
            i = low.find(needle)
            while i >= 0:
                hits.append((i, source))
                i = low.find(needle, i + 1)
        if odd:
            hits.extend((m.start(), None) for m in _ODD_VALUE.finditer(block))
            hits.sort()
        elif len(self._needles) > 1:
            hits.sort()
        return hits

    def scan(self, block: bytes) -> BlockScan | None:
        """Search one block of whole lines (ending with a newline); None when its shape is not
        provably simple (then the caller decodes every line)."""
        low = block.lower()
        candidates: list[tuple[int, int, int]] = []
        lineno = 0
        counted = 0  # bytes of block whose newlines are counted in lineno
        last_start = -1
        find = block.find
        count = block.count
        odd = b"\\" in block or b"\xe2" in block or b"\xc4" in block
        for pos, source in self._hits(block, low, odd):
            start = block.rfind(b"\n", 0, pos) + 1
            if start == last_start:
                continue
            last_start = start
            end = find(b"\n", pos)
            if source is not None:
                names = self._names[source]
                if (
                    names is not None
                    and not (
                        odd
                        and (
                            find(b"\\", start, end) >= 0
                            or find(b"\xe2", start, end) >= 0
                            or find(b"\xc4", start, end) >= 0
                        )
                    )
                    and names.search(low, start, end) is None
                ):
                    continue
            lineno += count(b"\n", counted, start)
            counted = start
            candidates.append((lineno, start, end))
        lines = lineno + count(b"\n", counted)
        min_time = None
        if self.need_times:
            times = _TIME_SOURCE.findall(block)
            if len(times) != lines:
                times = _TIME.findall(block)
                if len(times) != lines or count(b'"eventSource":"') != lines:
                    return None
            min_time = _earliest(times)
        elif count(b'"eventSource":"') != lines:
            return None
        return BlockScan(lines, candidates, min_time)


def _earliest(times: list[bytes]) -> bytes | None:
    """The earliest of canonical UTC timestamps (text with optional fraction)."""
    if not times:
        return None
    first = min(times)
    second = first[:19]
    # "...:05.5Z" sorts before "...:05Z" as text: compare the same second's forms as numbers.
    same = [t for t in times if t.startswith(second)] if b"." in first else [first]
    return min(same, key=lambda t: float(t[17:-1]))


_MISSING = object()


def wants_record(pf: Prefilter, item: dict) -> bool:
    """The pre-filter's test on an already decoded record (S3 objects, arrays): exact, since
    the dict holds the decoded values. Absent or null eventSource/eventName cannot satisfy a
    pinned value; other non-string values are left to the matcher."""
    src = item.get("eventSource")
    if src is None:
        return False
    if type(src) is not str:
        return True
    names = pf.pins.get(src.lower(), _MISSING)
    if names is _MISSING:
        return False
    if names is None:
        return True
    name = item.get("eventName")
    if name is None:
        return False
    if type(name) is not str:
        return True
    return name.lower() in names  # type: ignore[operator]
