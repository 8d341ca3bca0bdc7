"""A rule's condition as one generated Python function (the matcher's fast form).

The closures of ``match.detection`` cost a Python call per node of the condition tree and per
field read. Here the folded condition tree (``detection.fold``: comparisons with known
eventSource/eventName values already decided) becomes a single expression: ``and``/``or``/
``not`` for the tree, and for each detection item the fast path of ``match.field_tests``
written in line: read the value at the path (``d.get(key)``, two levels of objects without a
dotted key), test a ``str`` directly (``v.lower() == t``, ``t in v.lower()``,
``v.lower().startswith(t)``...), nothing means no match (or a match for ``null``), and any other
shape calls the item's reference predicate. Consecutive items of one ``and``/``or`` (nested
ones spliced in) on one field share one read of the value and one ``lower()``, with the same
tests and references in the same order. Items without a direct form (fieldref, exists,
keywords...) call their compiled predicate.

The generated source only ever holds names this module makes (``c0``, ``v3``...): every value
from a rule (keys, strings, sets, predicates) is bound in the function's namespace, never
written into the source, so a rule cannot inject code. A condition too deep or too large for
Python's compiler (``SyntaxError``, ``RecursionError``, ``MemoryError``) is refused here and
``detection`` keeps the closures, which give the same answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sigma.conditions import (
    ConditionFieldEqualsValueExpression,
)
from sigma.types import SigmaExists, SigmaFieldReference, SigmaNull

from ses_sigma.match.field_tests import (
    Predicate,
    eq_predicate,
    field_predicate,
    in_predicate,
    keyword_predicate,
)
from ses_sigma.match.fields import MULTI, scalar_getter
from ses_sigma.match.values import string_shape, value_test

__all__ = ["Leaf", "generate"]

#: A folded condition tree: True/False, ("and"|"or", [trees]), ("not", tree), or a Leaf.
Tree = Any


class Leaf:
    """One detection item: ``field`` with ``kind`` (eq, in, contains, startswith, endswith,
    null, other), its ``cased`` flag and ``text`` (a string, or a frozenset for ``in``), its
    reference predicate and, for ``other``, its compiled predicate."""

    __slots__ = ("cased", "field", "kind", "node", "reference", "text")

    def __init__(
        self,
        kind: str,
        field: str | None,
        text: Any = None,
        cased: bool = False,
        node: Any = None,
    ):
        """A leaf of ``kind``; ``node`` is the pySigma item for kinds null/str/other."""
        self.kind = kind
        self.field = field
        self.text = text
        self.cased = cased
        self.node = node
        self.reference = self._reference()

    def _reference(self) -> Predicate:
        if self.kind == "eq" and not self.cased and self.node is None:
            return eq_predicate(self.field or "", self.text, fast=False)
        if self.kind == "in":
            return in_predicate(self.field or "", sorted(self.text), fast=False)
        if isinstance(self.node, ConditionFieldEqualsValueExpression):
            return field_predicate(self.node, fast=False)
        return keyword_predicate(self.node)

    @classmethod
    def of(cls, node: Any) -> Leaf:
        """The leaf of a pySigma field item or keyword (any value type)."""
        if not isinstance(node, ConditionFieldEqualsValueExpression):
            return cls("other", None, node=node)
        if isinstance(node.value, SigmaNull):
            return cls("null", node.field, node=node)
        if isinstance(node.value, SigmaExists | SigmaFieldReference):
            return cls("other", node.field, node=node)
        shape = string_shape(node.value)
        if shape is not None:
            kind, cased, text = shape
            return cls(kind, node.field, text, cased, node=node)
        return cls("str", node.field, node=node)


class _Source:
    """The generated function's text and namespace."""

    def __init__(self) -> None:
        self.ns: dict[str, Any] = {"MULTI": MULTI}
        self.count = 0

    def bind(self, obj: Any) -> str:
        name = f"c{self.count}"
        self.count += 1
        self.ns[name] = obj
        return name

    def var(self) -> str:
        name = f"v{self.count}"
        self.count += 1
        return name


def _value(src: _Source, field: str) -> str:
    """An expression for ``scalar_getter(field)(d)`` (a str, None, or else)."""
    parts = field.split(".")
    if len(parts) == 1:
        return f"d.get({src.bind(field)})"
    if len(parts) == 2:
        node, joined = src.var(), src.bind(field)
        first, second = src.bind(parts[0]), src.bind(parts[1])
        return (
            f"({node}.get({second}) if ({node} := d.get({first})).__class__ is dict "
            f"and {joined} not in d else (None if {node} is None and {joined} not in d "
            "else MULTI))"
        )
    return f"{src.bind(scalar_getter(field))}(d)"


def _str_test(src: _Source, leaf: Leaf, v: str, lowered: str | None = None) -> str:
    """An expression testing the str ``v`` against ``leaf`` (``lowered``: a name holding
    ``v.lower()``, else it is computed here)."""
    s = v if leaf.cased else lowered or f"{v}.lower()"
    if leaf.kind == "eq":
        return f"{s} == {src.bind(leaf.text)}"
    if leaf.kind == "in":
        return f"{s} in {src.bind(leaf.text)}"
    if leaf.kind == "contains":
        return f"{src.bind(leaf.text)} in {s}"
    if leaf.kind in ("startswith", "endswith"):
        return f"{s}.{leaf.kind}({src.bind(leaf.text)})"
    test = value_test(leaf.node.value)  # "str": any other value type, on a str
    return f"{src.bind(test)}({v})"


def _leaf(src: _Source, leaf: Leaf) -> str:
    if leaf.kind == "other" or leaf.field is None:
        return f"{src.bind(field_or_keyword(leaf))}(d)"
    ref = src.bind(leaf.reference)
    v = src.var()
    value = _value(src, leaf.field)
    if leaf.kind == "null":  # nothing: true; a str: false; anything else: the reference
        return f"(({v} := {value}) is None or ({v}.__class__ is not str and {ref}(d)))"
    return (
        f"(({_str_test(src, leaf, v)}) if ({v} := {value}).__class__ is str "
        f"else ({v} is not None and {ref}(d)))"
    )


#: Leaf kinds tested on a str value alone (``_str_test``): a run of them on one field shares
#: one read of the value and one ``lower()`` (``_group``).
_STR_KINDS = frozenset({"eq", "in", "contains", "startswith", "endswith", "str"})


def _groupable(tree: Tree) -> str | None:
    """The field of a leaf that ``_group`` can join (None: not one)."""
    if isinstance(tree, Leaf) and tree.kind in _STR_KINDS and tree.field is not None:
        return tree.field
    return None


def _group(src: _Source, op: str, leaves: list[Leaf]) -> str:
    """``leaf1 op leaf2 op ...`` for consecutive leaves on one field, the value read once and
    lowered once: a str is tested by every leaf's str test, a value that is neither a str nor
    None by every leaf's reference (what each leaf alone does, in the same order, with the
    same short-circuits), and nothing is no match."""
    field = leaves[0].field
    assert field is not None
    v = src.var()
    low = src.var() if any(not leaf.cased for leaf in leaves) else None
    tests = f" {op} ".join(f"({_str_test(src, leaf, v, low)})" for leaf in leaves)
    refs = f" {op} ".join(f"{src.bind(leaf.reference)}(d)" for leaf in leaves)
    on_str = f"(({low} := {v}.lower()) is not None and ({tests}))" if low else f"({tests})"
    value = _value(src, field)
    return f"({on_str} if ({v} := {value}).__class__ is str else ({v} is not None and ({refs})))"


def _flat(op: str, args: list[Tree]) -> list[Tree]:
    """``args`` of an ``op`` node with nested ``op`` nodes spliced in (same order)."""
    out: list[Tree] = []
    for arg in args:
        if isinstance(arg, tuple) and arg[0] == op:
            out.extend(_flat(op, arg[1]))
        else:
            out.append(arg)
    return out


def field_or_keyword(leaf: Leaf) -> Predicate:
    """The compiled (fast) predicate of an item without a direct generated form."""
    if isinstance(leaf.node, ConditionFieldEqualsValueExpression):
        return field_predicate(leaf.node, fast=True)
    return keyword_predicate(leaf.node)


def _expr(src: _Source, tree: Tree) -> str:
    if tree is True or tree is False:
        return repr(tree)
    if isinstance(tree, Leaf):
        return _leaf(src, tree)
    op, args = tree
    if op == "not":
        return f"(not {_expr(src, args)})"
    # Runs of leaves on one field (``userAgent|contains: [a, b, c]``, nested ORs of filters)
    # share the read of the value and its lower(): the same answers in the same order.
    parts: list[str] = []
    items = _flat(op, args)
    i = 0
    while i < len(items):
        field = _groupable(items[i])
        j = i + 1
        while field is not None and j < len(items) and _groupable(items[j]) == field:
            j += 1
        if j - i > 1:
            parts.append(_group(src, op, items[i:j]))
        else:
            parts.append(_expr(src, items[i]))
        i = j
    return "(" + f" {op} ".join(parts) + ")"


def generate(tree: Tree, reference: Predicate) -> Predicate | None:
    """The folded ``tree`` as one function of a record dict (``reference`` answers for
    records that are not dicts), or None when Python cannot compile it (too deep, too big)."""
    src = _Source()
    body = _expr(src, tree)
    ref = src.bind(reference)
    text = (
        "def predicate(d):\n"
        f"    if d.__class__ is not dict:\n        return {ref}(d)\n"
        f"    return {body}\n"
    )
    try:
        code = compile(text, "<ses_sigma.match.codegen>", "exec")
        exec(code, src.ns)  # the source holds only names made here (see the docstring)
    except (SyntaxError, RecursionError, MemoryError):
        return None
    fn: Callable[[dict[str, Any]], bool] = src.ns["predicate"]
    return fn
