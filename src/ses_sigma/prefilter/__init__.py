"""An exact pre-filter on raw JSON Lines bytes: which records could match any rule at all.

Every pack rule pins ``eventSource`` (and usually ``eventName``), and many need literal text
somewhere in the record (``userAgent|contains: TruffleHog``, ``accessKeyId|startswith:
AKIA``). ``pins`` derives those requirements per rule condition from pySigma; ``reference``
states the line rules that make the search sound (backslashes, repeated or odd keys, non-ASCII
values: the line is decoded). A buffer of whole lines is searched in one pass by the C kernel
``_rawscan`` (built with the package; the pure-Python ``reference`` runs when it is not
importable, with the same results: property tests compare them), and only candidate lines are
decoded; the others are counted, never parsed. A rule that pins no plain ``eventSource``
(third-party ``--rules``, keyword rules) switches the pre-filter off: every record takes the
full path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sigma.rule import SigmaRule

from ses_sigma.prefilter.pins import Pin, rule_pins
from ses_sigma.prefilter.reference import Plan, SourcePlan, candidates_reference, scan_reference

try:
    from ses_sigma.prefilter import _rawscan
except ImportError:  # a source tree without the built extension: the reference runs
    _rawscan = None  # type: ignore[assignment]

__all__ = ["KERNEL", "BlockScan", "Candidates", "Pin", "Prefilter", "wants_record"]

#: Which implementation scans the raw bytes: "c" (the _rawscan kernel) or "python".
KERNEL = "c" if _rawscan is not None else "python"
#: Longest pinned value the kernel compares (values are copied to a fixed buffer).
_MAX_VALUE = 255
_PLAIN = frozenset(chr(c) for c in range(0x20, 0x7F)) - {'"', "\\"}


@dataclass(slots=True)
class BlockScan:
    """What the pre-filter found in a buffer of lines.

    ``lines``: lines in it (blank ones included); ``candidates``: (line index, 0-based; start;
    end, without the newline) of each line that must be decoded (blank lines are candidates).
    """

    lines: int
    candidates: list[tuple[int, int, int]]


#: What ``Prefilter.candidates`` takes from a run of lines: (lines, kept, consumed bytes,
#: [(line index, bytes without trailing CRs or None when over-long, shallow), ...]).
Candidates = tuple[int, int, int, list[tuple[int, bytes | None, bool]]]


class Prefilter:
    """Raw-bytes candidate search for a set of rule pins."""

    def __init__(self, pins: Iterable[Pin], kernel: str | None = None):
        """``pins``: one per rule condition (values lower-cased). ``kernel``: "c" or "python"
        (default: ``KERNEL``). ValueError when a pinned value is not plain ASCII text."""
        self.pins = tuple(pins)
        for pin in self.pins:
            for value in [*pin.sources, *(pin.names or ())]:
                if not value or len(value) > _MAX_VALUE or not set(value) <= _PLAIN:
                    raise ValueError(f"value {value!r} is not plain ASCII text")
        self.kernel = kernel or KERNEL
        if self.kernel == "c" and _rawscan is None:
            raise ValueError("the C kernel ses_sigma.prefilter._rawscan is not built")
        grouped: dict[str, list[Pin]] = {}
        for pin in self.pins:
            for source in pin.sources:
                grouped.setdefault(source, []).append(pin)
        sources = {}
        for source, group in grouped.items():
            union = None
            if all(p.names is not None for p in group):
                union = frozenset(n.encode() for p in group for n in p.names or ())
            entries = {
                (
                    None if p.names is None else frozenset(n.encode() for n in p.names),
                    tuple(lit.encode() for lit in p.literals),
                )
                for p in group
            }
            # pins without literals first: the kernel stops at the first that holds
            ordered = sorted(entries, key=lambda e: (len(e[1]), sorted(e[0] or ()), e[1]))
            sources[source.encode()] = SourcePlan(union, tuple(ordered))
        self.plan = Plan(sources, any(p.names is not None for p in self.pins))
        self._capsule: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"pins": self.pins, "kernel": self.kernel}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["pins"], state["kernel"])  # type: ignore[misc]

    @classmethod
    def for_rules(cls, rules: Iterable[SigmaRule]) -> Prefilter | None:
        """The pre-filter for single-event rules, or None when one rule does not pin
        eventSource to plain values (then every record is decoded)."""
        pins: list[Pin] = []
        for rule in rules:
            found = rule_pins(rule)
            if found is None:
                return None
            pins.extend(found)
        if not pins:
            return None
        try:
            return cls(pins)
        except ValueError:
            return None

    def _kernel_plan(self) -> Any:
        if self._capsule is None:
            self._capsule = _rawscan.compile_plan(
                self.plan.need_names,
                tuple(
                    (
                        source,
                        None if sp.names is None else tuple(sorted(sp.names)),
                        tuple(
                            (None if names is None else tuple(sorted(names)), lits)
                            for names, lits in sp.entries
                        ),
                    )
                    for source, sp in sorted(self.plan.sources.items())
                ),
            )
        return self._capsule

    def scan(
        self,
        buf: bytes | bytearray | memoryview,
        start: int = 0,
        end: int | None = None,
        pieces: bool = False,
    ) -> BlockScan:
        """Search the lines of ``buf[start:end]`` (the last one may lack its newline).

        ``pieces``: the lines were cut out of a document and may be pieces of one record (rule
        5 of ``reference``)."""
        end = len(buf) if end is None else end
        if self.kernel == "c":
            lines, found = _rawscan.scan(buf, start, end, self._kernel_plan(), pieces)
        else:
            lines, found = scan_reference(buf, start, end, self.plan, pieces)
        return BlockScan(lines, found)

    def candidates(
        self,
        buf: bytes | bytearray | memoryview,
        start: int,
        end: int,
        depth: int,
        max_line: int = 0,
    ) -> Candidates:
        """The lines of ``buf[start:end]`` the JSON Lines reader must look at, as bytes: the
        candidates and the lines of at least ``max_line`` bytes (> 0), the last line kept
        even without its newline (``reference.candidates_reference`` states it; blank ones
        are counted in ``kept`` only; shallow: at most ``depth`` of ``[`` and ``{``)."""
        if self.kernel == "c":
            return _rawscan.candidates(buf, start, end, self._kernel_plan(), depth, max_line)
        return candidates_reference(buf, start, end, self.plan, depth, max_line)

    def candidates_fd(
        self, fd: int, start: int, end: int, final: bool, depth: int, max_line: int = 0
    ) -> Candidates | None:
        """``candidates`` over bytes ``[start, end)`` of the open file ``fd``, read through a
        read-only mapping (the C kernel; the reference reads them with ``os.pread``): whole
        lines only, up to the last newline, unless ``final``. None when the file cannot be
        read that way (not mappable, or it shrank under the mapping: no SIGBUS, the C
        kernel guards its reads); the caller then reads it through its buffered path."""
        if self.kernel == "c":
            return _rawscan.candidates_fd(
                fd, start, end, final, self._kernel_plan(), depth, max_line
            )
        data = _pread_all(fd, start, end)
        if data is None:
            return None
        return candidates_reference(data, 0, len(data), self.plan, depth, max_line, final)

    def split_records(self, data: bytes, start: int, end: int) -> bytes:
        """``data[start:end]`` with every ``},{"eventVersion":`` cut into two lines (the comma
        becomes a newline: same length, one compact S3 record per line)."""
        if self.kernel == "c":
            return _rawscan.split_records(data, start, end)
        return data[start:end].replace(b'},{"eventVersion":', b'}\n{"eventVersion":')


def _pread_all(fd: int, start: int, end: int) -> bytes | None:
    """Bytes ``[start, end)`` of ``fd``; None when fewer are there (the file shrank)."""
    data = os.pread(fd, end - start, start)
    return data if len(data) == end - start else None


_MISSING = object()


def wants_record(pf: Prefilter, item: dict) -> bool:
    """The pre-filter's test on an already decoded record (documents, arrays): exact on
    eventSource/eventName (the dict holds the decoded values; literals are not used). Absent
    or null eventSource/eventName cannot satisfy a pinned value; other non-string values are
    left to the matcher."""
    src = item.get("eventSource")
    if src is None:
        return False
    if type(src) is not str:
        return True
    sp = pf.plan.sources.get(src.lower().encode("utf-8", "surrogatepass"), _MISSING)
    if sp is _MISSING:
        return False
    assert isinstance(sp, SourcePlan)
    if sp.names is None:
        return True
    name = item.get("eventName")
    if name is None:
        return False
    if type(name) is not str:
        return True
    return name.lower().encode("utf-8", "surrogatepass") in sp.names
