"""Per-row helpers of the scan: the duplicate digest of a matched record and the set of those
digests the parent keeps.

* ``digest(event_id, ts, key)``: SipHash-2-4 (64-bit) under a 16-byte secret ``key`` of
  ``ts`` as 8 little-endian IEEE bytes, the str's kind (1, 2 or 4 bytes a code point: the
  narrowest that holds it, as CPython stores it) as one byte, and its code points in that
  many little-endian bytes each. The encoding is injective (fixed-length time, then a kind
  that says how the rest reads), lone surrogates included, and SipHash is a keyed PRF: whoever
  writes log records cannot aim two different (eventID, eventTime) pairs at one digest.
* ``KeySet``: a set of 64-bit ints, ``add(key) -> bool`` and ``add_many(buffer) -> bytes``
  (native uint64 keys, one flag per key: 1 new, 0 already there).

Both are in C (``_rowkeys``, built with the package); ``siphash24`` / ``digest_reference`` and
``SortedKeySet`` are the pure-Python references the property tests compare them with, and what
runs when the extension is not built (then ``DIGEST`` is None: ``record_key`` is a keyed
blake2b, cheaper than SipHash in Python).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import struct
from array import array
from bisect import bisect_left
from collections.abc import Callable

try:
    from ses_sigma.rowkeys import _rowkeys
except ImportError:  # a source tree without the built extension
    _rowkeys = None  # type: ignore[assignment]

__all__ = [
    "DIGEST",
    "DIGEST_KEY",
    "RECORD_DIGEST",
    "KeySet",
    "SortedKeySet",
    "blake2b_digest",
    "digest_input",
    "digest_reference",
    "record_key",
    "siphash24",
]

_MASK = (1 << 64) - 1


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _MASK


def siphash24(key: bytes, data: bytes) -> int:
    """SipHash-2-4 of ``data`` under the 16-byte ``key`` (the reference algorithm, slow)."""
    k0 = int.from_bytes(key[:8], "little")
    k1 = int.from_bytes(key[8:16], "little")
    v = [
        0x736F6D6570736575 ^ k0,
        0x646F72616E646F6D ^ k1,
        0x6C7967656E657261 ^ k0,
        0x7465646279746573 ^ k1,
    ]

    def rounds(count: int) -> None:
        v0, v1, v2, v3 = v
        for _ in range(count):
            v0 = (v0 + v1) & _MASK
            v1 = _rotl(v1, 13) ^ v0
            v0 = _rotl(v0, 32)
            v2 = (v2 + v3) & _MASK
            v3 = _rotl(v3, 16) ^ v2
            v0 = (v0 + v3) & _MASK
            v3 = _rotl(v3, 21) ^ v0
            v2 = (v2 + v1) & _MASK
            v1 = _rotl(v1, 17) ^ v2
            v2 = _rotl(v2, 32)
        v[:] = [v0, v1, v2, v3]

    whole = len(data) - len(data) % 8
    blocks = [int.from_bytes(data[i : i + 8], "little") for i in range(0, whole, 8)]
    blocks.append(int.from_bytes(data[whole:], "little") | ((len(data) & 0xFF) << 56))
    for m in blocks:
        v[3] ^= m
        rounds(2)
        v[0] ^= m
    v[2] ^= 0xFF
    rounds(4)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


_CODECS = {1: "latin-1", 2: "utf-16-le", 4: "utf-32-le"}


def digest_input(event_id: str, ts: float) -> bytes:
    """The bytes ``digest`` hashes (module docstring)."""
    top = max(map(ord, event_id), default=0)
    kind = 1 if top < 0x100 else 2 if top < 0x10000 else 4
    units = event_id.encode(_CODECS[kind], "surrogatepass")
    return struct.pack("<dB", ts, kind) + units


def digest_reference(event_id: str, ts: float, key: bytes) -> int:
    """``digest`` in pure Python (the reference the C one is tested against)."""
    return siphash24(key, digest_input(event_id, ts))


#: The C digest (event_id, ts, key) -> int, or None when the extension is not built.
DIGEST: Callable[[str, float, bytes], int] | None = (
    _rowkeys.digest if _rowkeys is not None else None
)

#: The record digest's secret key, drawn once per process (the scan's worker processes are
#: forked: they share it). Collisions are not chosen: with a known key, whoever writes log
#: records could make two of them collide in about 2**32 tries and have the second dropped as
#: a duplicate.
DIGEST_KEY = os.urandom(16)

_PACK_TIME = struct.Struct("<d").pack


def blake2b_digest(event_id: str, ts: float, key: bytes) -> int:
    """The record digest without the extension: keyed blake2b (8 bytes) of the time's 8 IEEE
    bytes and the eventID in UTF-8 (lone surrogates kept): cheaper than SipHash in Python."""
    data = _PACK_TIME(ts) + event_id.encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8, key=key).digest(), "little")


#: The record digest (event_id, ts, key) -> int: ``DIGEST``, else ``blake2b_digest``.
RECORD_DIGEST: Callable[[str, float, bytes], int] = DIGEST or blake2b_digest


def record_key(event_id: str, ts: float) -> int:
    """A 64-bit digest of (eventID, eventTime): the set of matched records stays small
    (``KeySet``, 8 bytes a slot). Two different records share one with odds of about n²/2⁶⁵
    (1e-9 for 200,000 matched records), and nobody can aim for one: the digest is a keyed PRF
    (SipHash-2-4 in C, else blake2b) under a secret drawn per process (``DIGEST_KEY``), of an
    injective encoding of the pair (``digest_input``: the time as its 8 IEEE bytes, fixed
    length, then the eventID). The C digest costs about 0.05 µs against 0.5-0.8 µs for
    blake2b (measured, per call).

    Not Python's ``hash((event_id, ts))``: a str's hash is keyed (when hash randomisation is
    on), but a float's is not, and the tuple hash only mixes the two: with one eventID, two
    times of equal float hash collide whatever the key, e.g. ``hash(-1.0) == hash(-2.0)``, and
    floats equal modulo 2**61 - 1 as rationals (tests/test_rowkeys.py)."""
    return RECORD_DIGEST(event_id, ts, DIGEST_KEY)


class SortedKeySet:
    """A set of 64-bit ints: recent ones in a set, older ones in a sorted array (8 bytes
    each), so the set of a large scan stays small. The pure-Python ``KeySet``."""

    def __init__(self, recent: int = 1 << 15):
        """``recent``: keys kept in the set before they move to the array."""
        self._recent: set[int] = set()
        self._limit = recent
        self._sorted = array("Q")

    def add(self, key: int) -> bool:
        """Add ``key``; False when it was already there."""
        if key in self._recent:
            return False
        if not 0 <= key <= _MASK:
            raise OverflowError(f"not a 64-bit key: {key}")
        old = self._sorted
        if old:
            i = bisect_left(old, key)
            if i < len(old) and old[i] == key:
                return False
        self._recent.add(key)
        if len(self._recent) >= self._limit:
            self._merge()
        return True

    def add_many(self, keys: bytes | array[int]) -> bytes:
        """Add native uint64 ``keys`` in order: per key 1 (new) or 0 (already there)."""
        if len(memoryview(keys).cast("B")) % 8:
            raise ValueError("add_many: the buffer's length is not a multiple of 8")
        add = self.add
        return bytes(add(k) for k in memoryview(keys).cast("B").cast("Q"))

    def __contains__(self, key: object) -> bool:
        if key in self._recent:
            return True
        if type(key) is not int or not 0 <= key <= _MASK:
            return False
        i = bisect_left(self._sorted, key)
        return i < len(self._sorted) and self._sorted[i] == key

    def _merge(self) -> None:
        """Move the recent keys into the sorted array, a slice at a time (few int objects
        alive at once: the peak memory stays that of the array)."""
        recent = sorted(self._recent)
        self._recent = set()
        old = self._sorted
        merged = array("Q")
        start = 0
        step = self._limit
        for i in range(0, len(old), step):
            part = old[i : i + step]
            end = bisect_left(recent, part[-1], start)
            merged.extend(sorted(itertools.chain(part, recent[start:end])))
            start = end
        merged.extend(recent[start:])
        self._sorted = merged

    def __len__(self) -> int:
        return len(self._recent) + len(self._sorted)


#: The set of digests: the C table, or ``SortedKeySet`` when the extension is not built.
KeySet: type = _rowkeys.KeySet if _rowkeys is not None else SortedKeySet
#: Which implementation runs: "c" or "python".
KERNEL = "c" if _rowkeys is not None else "python"
