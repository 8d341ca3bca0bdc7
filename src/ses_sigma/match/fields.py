"""Field access on CloudTrail records, with Sigma's nested-path semantics.

A Sigma field name such as ``userIdentity.sessionContext.sessionIssuer.userName`` walks nested
objects. Where the walk meets an array, every element is followed (``resources.ARN`` looks at
each resource). A key that itself contains dots (``requestParameters.serviceCode`` stored flat)
is found too: at every level the longest key present wins.

``null`` and absence are the same thing to the matcher (Sigma's ``null`` means "absent or
null"), so None values are never returned.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = [
    "MULTI",
    "FieldGetter",
    "ScalarGetter",
    "field_getter",
    "leaf_values",
    "scalar_getter",
    "walk",
]

#: Returns every non-null value at the path; a list value is returned as its elements.
FieldGetter = Callable[[Any], list[Any]]


def _walk(node: Any, parts: tuple[str, ...], out: list[Any]) -> None:
    if node is None:
        return
    if isinstance(node, list):
        for item in node:
            _walk(item, parts, out)
        return
    if not parts:
        out.append(node)
        return
    if not isinstance(node, dict):
        return
    # Longest key first: "a.b.c" may be stored as {"a.b": {"c": ..}} or {"a": {"b.c": ..}}.
    for i in range(len(parts), 0, -1):
        key = parts[0] if i == 1 else ".".join(parts[:i])
        if key in node:
            _walk(node[key], parts[i:], out)
            return


def walk(data: Any, path: str) -> list[Any]:
    """Every non-null value at ``path`` by the generic walk alone (the reference semantics
    that ``field_getter`` and ``scalar_getter`` shortcut)."""
    out: list[Any] = []
    _walk(data, tuple(path.split(".")), out)
    return out


def field_getter(path: str) -> FieldGetter:
    """Compile a Sigma field path into a fast getter returning a list of values.

    The common cases (a plain top-level key; a nested path through objects to a string or to
    nothing, ``scalar_getter``) avoid the generic walk (``walk``, which they equal). Values
    that are lists are expanded into their elements (one level, recursively for nested
    lists); None is dropped.
    """
    parts = tuple(path.split("."))

    if len(parts) == 1:
        key = parts[0]

        def get_top(data: Any) -> list[Any]:
            value = data.get(key) if isinstance(data, dict) else None
            if value is None:
                return []
            if isinstance(value, list):
                out: list[Any] = []
                _walk(value, (), out)
                return out
            return [value]

        return get_top

    one = scalar_getter(path)

    def get_nested(data: Any) -> list[Any]:
        v = one(data)  # the common shape first: a str or nothing, no list built to find it
        if v.__class__ is str:
            return [v]
        if v is None:
            return []
        out: list[Any] = []
        _walk(data, parts, out)
        return out

    return get_nested


def leaf_values(node: Any) -> list[Any]:
    """Every scalar value anywhere in a record (for Sigma keyword search)."""
    out: list[Any] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif item is not None:
            out.append(item)
    return out


#: Returned by a ``scalar_getter`` when the path needs the full walk of ``field_getter``.
MULTI: Any = object()

#: What a ``scalar_getter`` returns: the str at the path, None when there is no value, or MULTI.
ScalarGetter = Callable[[Any], Any]


def scalar_getter(path: str) -> ScalarGetter:
    """A fast getter for the common shape of ``path`` in a record (objects all along, no
    dotted key that could also match, a string or nothing at the end).

    Returns the ``str`` value at the path (what ``field_getter(path)`` returns as ``[value]``),
    None when ``field_getter(path)`` returns ``[]`` for sure, and ``MULTI`` in every other case
    (arrays, numbers, booleans, objects, dotted keys, non-dict containers): the caller then
    uses ``field_getter(path)``.
    """
    parts = tuple(path.split("."))
    if len(parts) == 1:
        key = parts[0]

        def one(data: Any) -> Any:
            if data.__class__ is not dict:
                return MULTI
            v = data.get(key)
            return v if v is None or v.__class__ is str else MULTI

        return one
    if len(parts) == 2:
        first, second = parts

        def two(data: Any) -> Any:
            if data.__class__ is not dict or path in data:
                return MULTI
            node = data.get(first)
            if node.__class__ is dict:
                v = node.get(second)
                return v if v is None or v.__class__ is str else MULTI
            return None if node is None else MULTI

        return two
    # Each level: the keys longer than one part that the walk would try first, then the part.
    steps = tuple(
        (tuple(".".join(parts[i:j]) for j in range(len(parts), i + 1, -1)), parts[i])
        for i in range(len(parts))
    )

    def deep(data: Any) -> Any:
        node = data
        for longer, key in steps:
            if node.__class__ is not dict:
                return None if node is None else MULTI
            for k in longer:
                if k in node:
                    return MULTI
            node = node.get(key)
        return node if node is None or node.__class__ is str else MULTI

    return deep
