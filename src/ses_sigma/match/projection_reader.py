"""The field reads of a generated projection (match/projection.py), fused into one walk.

``read_fields`` writes the Python source that reads several field paths of a record at once,
each object on the way looked up once: ``userIdentity.arn``, ``userIdentity.accessKeyId`` and
``userIdentity.sessionContext.sessionIssuer.arn`` share their lookup of ``userIdentity``, and
the dotted keys the generic walk would try first at a level (``"userIdentity.arn"`` stored
flat, ``fields.walk``) are looked for in one C call per object (``dict.keys().isdisjoint``).

The source gives each path the value ``fields.scalar_getter(path)`` gives when that is a str
or None, and returns None (the caller then takes the reference) as soon as one path has any
other shape: an array, a number, a boolean, an object at a leaf, a non-object on the way, a
dotted key that the walk would try at a level, a path that is both a leaf and the parent of
another one with a value there, a record that is not an object. That is more often than the
getters say ``MULTI`` (every path is read, including a derived field's sources after the
one that has a value), never less: declining is always exact, since the reference answers.
tests/match/test_projection.py holds the generated projections equal to the reference on
hostile records.

As everywhere in generated code here, the source holds only names made here (``a3``, ``f1``,
``d0``); field names, which come from rule files, are bound in the namespace.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["coalesce_source", "read_fields"]


class _Node:
    """A path prefix: the objects below it that paths read, and whether a path ends here."""

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.leaf = False
        #: Dotted keys the generic walk tries at this object before the next part.
        self.dotted: set[str] = set()
        self.var = ""


def _trie(paths: Sequence[str]) -> _Node:
    root = _Node()
    for path in paths:
        parts = path.split(".")
        node = root
        for i, part in enumerate(parts):
            # fields.scalar_getter: the keys of parts[i:j] joined, longest first, j > i + 1.
            node.dotted.update(".".join(parts[i:j]) for j in range(len(parts), i + 1, -1))
            node = node.children.setdefault(part, _Node())
        node.leaf = True
    return root


def _leaves(node: _Node) -> list[_Node]:
    out = [node] if node.leaf else []
    for child in node.children.values():
        out += _leaves(child)
    return out


def read_fields(
    paths: Sequence[str], namespace: dict[str, Any]
) -> tuple[list[str], dict[str, str]]:
    """Source lines (function-body level; ``data`` is the record) reading every path of
    ``paths`` once, and the variable holding each path's value (a str or None). Names the
    lines use are added to ``namespace``."""
    root = _trie(paths)
    lines = ["if data.__class__ is not dict:", "    return None"]
    count = [0]

    def fresh(prefix: str) -> str:
        count[0] += 1
        return f"{prefix}{count[0]}"

    def emit(node: _Node, var: str, ind: str) -> None:
        if node.dotted:
            dotted = fresh("d")
            namespace[dotted] = frozenset(node.dotted)
            lines.extend(
                [f"{ind}if not {var}.keys().isdisjoint({dotted}):", f"{ind}    return None"]
            )
        for part, child in node.children.items():
            key = fresh("f")
            namespace[key] = part
            if not child.var:  # (named already when a None branch above set it)
                child.var = fresh("a")
            lines.append(f"{ind}{child.var} = {var}.get({key})")
            if not child.children:
                lines.extend(
                    [
                        f"{ind}if {child.var} is not None and {child.var}.__class__ is not str:",
                        f"{ind}    return None",
                    ]
                )
                continue
            if child.leaf:  # a value here is not a str for one path or not an object for another
                lines.extend([f"{ind}if {child.var} is not None:", f"{ind}    return None"])
                _name_leaves(child)
                lines.extend(f"{ind}{v} = None" for v in _leaf_vars(child))
                continue
            lines.append(f"{ind}if {child.var} is None:")
            _name_leaves(child)
            lines.extend(f"{ind}    {v} = None" for v in _leaf_vars(child))
            lines.extend(
                [
                    f"{ind}elif {child.var}.__class__ is not dict:",
                    f"{ind}    return None",
                    f"{ind}else:",
                ]
            )
            emit(child, child.var, ind + "    ")

    def _name_leaves(node: _Node) -> None:
        """Give the leaves below ``node`` their variables before the branches assign them."""
        for child in node.children.values():
            if not child.var:
                child.var = fresh("a")
            _name_leaves(child)

    def _leaf_vars(node: _Node) -> list[str]:
        return [n.var for n in _leaves(node) if n is not node]

    emit(root, "data", "")
    variables: dict[str, str] = {}
    for path in paths:
        node = root
        for part in path.split("."):
            node = node.children[part]
        variables[path] = node.var
    return lines, variables


def coalesce_source(variables: Sequence[str]) -> str:
    """Source of the first of ``variables`` that is not None (None when all are)."""
    expr = variables[-1]
    for v in reversed(variables[:-1]):
        expr = f"{v} if {v} is not None else {expr}"
    return expr
