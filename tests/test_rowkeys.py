"""The scan's per-row helpers (``ses_sigma.rowkeys``): the keyed record digest and the set of
digests, the C module against its pure-Python reference."""

from __future__ import annotations

import os
import random
import struct
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ses_sigma import rowkeys
from ses_sigma.rowkeys import (
    DIGEST,
    KERNEL,
    KeySet,
    SortedKeySet,
    digest_input,
    digest_reference,
    record_key,
    siphash24,
)

TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
TIMES = st.floats() | st.sampled_from([0.0, -0.0, -1.0, -2.0, 1767383144.0, 2.0**61, 1e18])
KEYS = st.sampled_from([0, 1, 2, 2**63, 2**64 - 1]) | st.integers(0, 2**64 - 1)


def test_the_extension_is_built() -> None:
    """The package builds ``_rowkeys`` (setup.py): the scan uses the C digest and set."""
    assert KERNEL == "c" and DIGEST is not None and KeySet is not SortedKeySet
    assert rowkeys.RECORD_DIGEST is DIGEST


def test_blake2b_fallback_tells_records_apart() -> None:
    """Without the extension, record_key is a keyed blake2b of the same pair."""
    key = os.urandom(16)
    pairs = [(f"id-{i}", t) for i in range(100) for t in (0.0, -0.0, -1.0, -2.0, 1.0, 2.0**61)]
    pairs += [("id-\ud800", 1.5), ("id-\udfff", 1.5)]
    assert len({rowkeys.blake2b_digest(e, t, key) for e, t in pairs}) == len(pairs)
    assert rowkeys.blake2b_digest("a", 1.0, key) != rowkeys.blake2b_digest("a", 1.0, key[::-1])


def test_siphash_reference_gives_the_published_vectors() -> None:
    """SipHash-2-4 with key 00..0f over 00..(n-1): the reference implementation's vectors."""
    key = bytes(range(16))
    assert siphash24(key, b"") == 0x726FDB47DD0E0E31
    assert siphash24(key, bytes(range(8))) == 0x93F5F5799A932462
    assert siphash24(key, bytes(range(15))) == 0xA129CA6149BE45E5  # the paper's example


@settings(max_examples=300)
@given(event_id=TEXT, ts=TIMES, key=st.binary(min_size=16, max_size=16))
def test_c_digest_is_the_reference(event_id: str, ts: float, key: bytes) -> None:
    assert DIGEST is not None
    assert DIGEST(event_id, ts, key) == digest_reference(event_id, ts, key)


def test_c_digest_of_long_and_wide_ids() -> None:
    assert DIGEST is not None
    key = os.urandom(16)
    for event_id in ["x" * 300, "\U0001f600" * 100, "\udc80" * 200, "é" * 257, ""]:
        for ts in (0.0, -0.0, 1.5, float("inf")):
            assert DIGEST(event_id, ts, key) == digest_reference(event_id, ts, key)
    with pytest.raises(TypeError):
        DIGEST(b"x", 1.0, key)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        DIGEST("x", 1.0, key[:8])


@settings(max_examples=300)
@given(a=st.tuples(TEXT, TIMES), b=st.tuples(TEXT, TIMES))
def test_digest_input_tells_pairs_apart(a: tuple[str, float], b: tuple[str, float]) -> None:
    """Injective: different (eventID, time bits) pairs are different bytes to hash."""
    same = a[0] == b[0] and struct.pack("<d", a[1]) == struct.pack("<d", b[1])
    assert (digest_input(*a) == digest_input(*b)) == same


def test_python_hash_would_be_forgeable_and_the_digest_is_not() -> None:
    """Why record_key is not hash((eventID, eventTime)): a float's hash is not keyed, so one
    eventID with two times of equal float hash collides under any hash seed."""
    assert hash(("e", -1.0)) == hash(("e", -2.0))  # hash(-1) is -2
    assert hash(("e", 1.0)) == hash(("e", 2.0**61))  # equal modulo 2**61 - 1
    assert record_key("e", -1.0) != record_key("e", -2.0)
    assert record_key("e", 1.0) != record_key("e", 2.0**61)
    pairs = [(f"id-{i}", t) for i in range(300) for t in (-2.0, -1.0, 0.0, -0.0, 1.0, 2.0**61)]
    assert len({record_key(e, t) for e, t in pairs}) == len(pairs)


@pytest.mark.parametrize(
    "make", [KeySet, lambda: SortedKeySet(recent=7)], ids=["KeySet", "SortedKeySet"]
)
@settings(max_examples=150)
@given(ops=st.lists(st.tuples(st.booleans(), st.lists(KEYS, max_size=40)), max_size=30))
def test_key_sets_are_sets(make: object, ops: list[tuple[bool, list[int]]]) -> None:
    seen = make()  # type: ignore[operator]
    reference: set[int] = set()
    for bulk, keys in ops:
        if bulk:
            flags = seen.add_many(array("Q", keys))
            want = []
            for k in keys:
                want.append(int(k not in reference))
                reference.add(k)
            assert flags == bytes(want)
        else:
            for k in keys:
                assert seen.add(k) == (k not in reference)
                reference.add(k)
        assert len(seen) == len(reference)
    for k in [0, 1, 2**64 - 1, *reference]:
        assert (k in seen) == (k in reference)


@pytest.mark.parametrize("make", [KeySet, SortedKeySet], ids=["KeySet", "SortedKeySet"])
def test_key_sets_grow_and_refuse_what_is_not_a_key(make: type) -> None:
    rng = random.Random(7)
    seen = make()
    keys = [rng.getrandbits(64) for _ in range(50_000)]
    assert seen.add_many(array("Q", keys)) == b"\x01" * len(set(keys))
    assert seen.add_many(array("Q", keys[::-1])) == b"\x00" * len(keys)
    assert len(seen) == len(set(keys))
    assert seen.add_many(b"") == b""
    with pytest.raises(ValueError):
        seen.add_many(b"1234567")
    with pytest.raises(OverflowError):
        seen.add(-1)
    with pytest.raises(OverflowError):
        seen.add(2**64)
    assert -1 not in seen and "x" not in seen


def test_key_set_memory_is_flat() -> None:
    """At most 21.3 bytes a key (8-byte slots, load between 3/8 and 3/4) past the first
    table."""
    seen = KeySet()
    rng = random.Random(1)
    for n in (10_000, 100_000, 400_000):
        seen.add_many(array("Q", (rng.getrandbits(64) for _ in range(n - len(seen)))))
        assert seen.__sizeof__() / len(seen) <= 8 / 0.375 + 0.1
