"""How Java renders the values Elasticsearch's ingest pipeline works on.

The AWS integration stores ``aws.cloudtrail.request_parameters`` (and ``response_elements``,
``additional_eventdata``, ``service_event_details``) as Painless ``toString()`` of the parsed JSON
object: ``java.util.HashMap.toString()``, e.g. ``{policyArn=arn:..., userName=bob}``. The key
order is ``HashMap``'s bucket order, not the JSON order. Elasticsearch's ``json`` processor
parses objects with ``XContentParser.map()``, i.e. a ``new HashMap<>()`` per object (default
capacity 16, load factor 0.75), arrays as ``ArrayList``, integers as ``Integer``/``Long``/
``BigInteger`` and other numbers as ``Double``.

``HashMap`` keeps the nodes of one bucket in insertion order, and a resize splits a bucket
without reordering it, so the iteration order is: by bucket index in the final table, then by
insertion order. Buckets long enough to be turned into trees (8 nodes) are not emulated and
raise ``JavaEmulationError``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

__all__ = [
    "JavaEmulationError",
    "hashmap_capacity_after_puts",
    "hashmap_capacity_for_put_all",
    "hashmap_order",
    "is_dropped",
    "java_double_to_string",
    "java_scalar_to_string",
    "java_string_hash",
    "java_to_string",
]

_TREEIFY_THRESHOLD = 8


class JavaEmulationError(ValueError):
    """A value whose Java rendering this module cannot reproduce faithfully."""


def java_string_hash(s: str) -> int:
    """``String.hashCode()`` as an unsigned 32-bit integer (over UTF-16 code units)."""
    h = 0
    data = s.encode("utf-16-be", "surrogatepass")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h


def _bucket(key: str, capacity: int) -> int:
    h = java_string_hash(key)
    return (h ^ (h >> 16)) & (capacity - 1)


def hashmap_capacity_after_puts(size: int) -> int:
    """Table size of a ``new HashMap<>()`` after ``size`` distinct keys were put."""
    capacity = 16
    while size > capacity * 3 // 4:
        capacity *= 2
    return capacity


def _table_size_for(cap: int) -> int:
    n = 1
    while n < cap:
        n *= 2
    return n


def hashmap_capacity_for_put_all(size: int) -> int:
    """Table size of ``new HashMap<>()`` followed by ``putAll`` of a map with ``size`` keys."""
    if size == 0:
        return 16
    capacity = _table_size_for(int(size / 0.75 + 1.0))
    while size > capacity * 3 // 4:
        capacity *= 2
    return capacity


def hashmap_order(keys: Sequence[str], capacity: int | None = None) -> list[str]:
    """Iteration order of a ``HashMap`` whose distinct ``keys`` were put in this order."""
    if capacity is None:
        capacity = hashmap_capacity_after_puts(len(keys))
    counts: dict[int, int] = {}
    slots = []
    for seq, key in enumerate(keys):
        b = _bucket(key, capacity)
        counts[b] = counts.get(b, 0) + 1
        if counts[b] >= _TREEIFY_THRESHOLD:
            raise JavaEmulationError(
                f"{counts[b]} keys share one HashMap bucket (treeified bins are not emulated)"
            )
        slots.append((b, seq, key))
    slots.sort()
    return [key for _, _, key in slots]


def java_double_to_string(x: float) -> str:
    """``Double.toString(x)`` (shortest round-trip digits, Java's notation rules)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    sign = "-" if x < 0 else ""
    digits_t = Decimal(repr(abs(x))).as_tuple()
    digits = "".join(map(str, digits_t.digits)).rstrip("0") or "0"
    # value = 0.d1d2d3... * 10**point
    point = len(digits_t.digits) + int(digits_t.exponent)
    a = abs(x)
    if 1e-3 <= a < 1e7:
        if point <= 0:
            text = "0." + "0" * (-point) + digits
        elif point >= len(digits):
            text = digits + "0" * (point - len(digits)) + ".0"
        else:
            text = digits[:point] + "." + digits[point:]
        return sign + text
    mantissa = digits[0] + "." + (digits[1:] or "0")
    return f"{sign}{mantissa}E{point - 1}"


def is_dropped(value: Any) -> bool:
    """Whether the integration's "drop null/empty values" script removes ``value``.

    The script removes ``null``, ``""``, and maps and lists that are empty once their own
    dropped entries are removed (recursively).
    """
    if value is None or (isinstance(value, str) and value == ""):
        return True
    if isinstance(value, dict):
        return all(is_dropped(v) for v in value.values())
    if isinstance(value, list):
        return all(is_dropped(v) for v in value)
    return False


def java_to_string(value: Any, *, drop_empty: bool = False) -> str:
    """``toString()`` of the Java object Elasticsearch builds for a parsed JSON value.

    ``value`` is the JSON value as parsed (Python dicts keep the JSON key order, which is the
    order the keys were put into the ``HashMap``). With ``drop_empty``, entries the pipeline's
    null/empty-dropping script removed are skipped; they still count for the table size, as
    ``removeIf`` never shrinks a ``HashMap``.
    """
    if isinstance(value, dict):
        parts = []
        for key in hashmap_order(list(value.keys())):
            item = value[key]
            if drop_empty and is_dropped(item):
                continue
            parts.append(f"{key}={java_to_string(item, drop_empty=drop_empty)}")
        return "{" + ", ".join(parts) + "}"
    if isinstance(value, list):
        items = [
            java_to_string(v, drop_empty=drop_empty)
            for v in value
            if not (drop_empty and is_dropped(v))
        ]
        return "[" + ", ".join(items) + "]"
    return java_scalar_to_string(value)


def java_scalar_to_string(value: Any) -> str:
    """``toString()`` of a parsed JSON scalar (String, Boolean, Integer/Long/BigInteger, Double)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return java_double_to_string(value)
    if isinstance(value, str):
        return value
    raise JavaEmulationError(f"not a JSON value: {type(value).__name__}")
