"""Compile a Sigma rule's detection into a fast predicate over CloudTrail records.

pySigma parses the rule; this module walks pySigma's condition tree
(``rule.detection.parsed_condition[i].parsed``: ``ConditionAND/OR/NOT`` over
``ConditionFieldEqualsValueExpression`` and ``ConditionValueExpression``) once and turns it into
nested Python closures. Nothing is interpreted per record except those closures.

Semantics (docs/DESIGN.md, "Matching semantics", is the reference):

* plain strings match the whole value, case-insensitively; ``*`` and ``?`` are wildcards
  (pySigma has already resolved escapes and the contains/startswith/endswith modifiers into
  wildcards); ``|cased`` strings are case-sensitive;
* numbers and booleans in the record compare with their JSON text forms (``5`` matches ``'5'``,
  ``true`` matches ``'true'``); a Sigma number matches a JSON number or a numeric string of equal
  value; a Sigma boolean matches a JSON boolean or the string ``true``/``false`` in any case;
* ``|re`` searches the value's text (case-sensitive unless ``|i``; ``|m``, ``|s`` flags) with
  RE2, in time linear in the value (``match.regex``: PCRE's ASCII ``\\d``/``\\w``/``\\b``;
  a pattern RE2 cannot run with its meaning is a load error); wildcard patterns run on RE2 too;
* ``|cidr`` matches string values that parse as an IP address inside the network;
* ``|gt``/``|gte``/``|lt``/``|lte`` compare numerically; a non-numeric value never matches;
* ``|fieldref`` compares with the value(s) of another field of the same record, exactly
  (case-sensitive, text forms), honouring ``|startswith``/``|endswith`` combined with it;
* timestamp parts (``|minute`` ... ``|year``) read an ISO 8601 value and compare the part;
* ``null`` (and ``|exists: false``) means no non-null value at the path; ``|exists: true`` the
  opposite; an empty string is a value;
* a path that meets arrays matches when any element matches (``field_getter``);
* keywords (values without a field) match when any scalar anywhere in the record matches.

Anything else (``|expand`` placeholders left unresolved, query expressions, unknown value
types, a condition that is empty after processing) raises :class:`RuleCompileError` naming the
rule and the construct, when the pack is compiled: a rule is never silently false.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule
from sigma.types import SigmaString

from ses_sigma.match.codegen import Leaf, Tree, field_or_keyword, generate
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.match.field_tests import Predicate, eq_predicate, in_predicate
from ses_sigma.match.values import Unsupported as _Unsupported
from ses_sigma.match.values import ValueTest, value_text
from ses_sigma.pack import rule_key

__all__ = [
    "OTHER",
    "CompiledDetection",
    "Known",
    "Predicate",
    "RuleCompileError",
    "ValueTest",
    "compile_condition",
    "compile_detection",
    "value_text",
]

Node = Any  # a pySigma condition tree node

#: Field values known for every record a specialised predicate sees (``CompiledDetection.
#: specialise``): a field's lower-cased plain value, or OTHER: a string that is none of the
#: plain values the rule compares the field with.
Known = Mapping[str, str | None]
OTHER = None


@dataclass(frozen=True, slots=True)
class CompiledDetection:
    """A single-event rule compiled for matching.

    ``predicate``: the rule's condition over a record dict (with the fast paths of
    ``match.field_tests``); ``reference``: the same without fast paths (the literal semantics,
    kept to check the fast one against). ``event_sources`` / ``event_names``: lower-cased
    values one of which a record's ``eventSource`` / ``eventName`` must have for the rule to
    match, or None when the rule does not pin the field to plain values (the pre-filter uses
    them). ``plain_values``: per field, every lower-cased plain string the rule compares it
    with (``specialise`` folds those comparisons).
    """

    rule: SigmaRule
    predicate: Predicate
    event_sources: frozenset[str] | None
    event_names: frozenset[str] | None
    reference: Predicate
    trees: tuple[Node, ...]
    plain_values: Mapping[str, frozenset[str]]

    def specialise(self, known: Known) -> Predicate | bool:
        """The rule's predicate for records whose ``known`` fields are plain strings with the
        given lower-cased values (or OTHER): comparisons of those fields with plain strings
        folded into constants, True or False when the whole condition folds."""
        tree = _fold_any([_fold(t, known) for t in self.trees])
        if isinstance(tree, bool):
            return tree
        return _build(tree, self.reference)


# --------------------------------------------------------------------------- condition tree


def _plain_string(node: Node) -> str | None:
    """The lower-cased text of a plain (no wildcard, not cased) string value, else None."""
    if not isinstance(node, ConditionFieldEqualsValueExpression):
        return None
    value = node.value
    if type(value) is not SigmaString:  # SigmaCasedString is a subclass: excluded
        return None
    if not all(isinstance(p, str) for p in value.s):
        return None
    return "".join(value.s).lower()


def _fold_all(trees: list[Tree]) -> Tree:
    if any(t is False for t in trees):
        return False
    rest = [t for t in trees if t is not True]
    if not rest:
        return True
    return rest[0] if len(rest) == 1 else ("and", rest)


def _fold_any(trees: list[Tree]) -> Tree:
    if any(t is True for t in trees):
        return True
    rest = [t for t in trees if t is not False]
    if not rest:
        return False
    return rest[0] if len(rest) == 1 else ("or", rest)


def _fold_or(args: list[Node], known: Known) -> Tree:
    # Merge plain-string tests on the same field into one set lookup; keep the rest in order.
    by_field: dict[str, list[str]] = {}
    rest: list[Node] = []
    for arg in args:
        text = _plain_string(arg)
        if text is None:
            rest.append(arg)
        elif arg.field in known:
            if known[arg.field] == text:
                return True
        else:
            by_field.setdefault(arg.field, []).append(text)
    trees: list[Tree] = []
    for field, values in by_field.items():
        if len(values) == 1:
            trees.append(Leaf("eq", field, values[0]))
        else:
            trees.append(Leaf("in", field, frozenset(values)))
    for arg in rest:
        tree = _fold(arg, known)
        if tree is True:
            return True
        trees.append(tree)
    return _fold_any(trees)


def _fold(node: Node, known: Known) -> Tree:
    """``node`` as a tree of Leaf items (``match.codegen``), folded to a constant where the
    ``known`` field values decide it. Every item is checked (Unsupported) unless a constant
    makes it irrelevant, which never happens with nothing known."""
    if isinstance(node, ConditionAND):
        trees: list[Tree] = []
        for arg in node.args:
            tree = _fold(arg, known)
            if tree is False:
                return False
            trees.append(tree)
        return _fold_all(trees)
    if isinstance(node, ConditionOR):
        return _fold_or(list(node.args), known)
    if isinstance(node, ConditionNOT):
        inner = _fold(node.args[0], known)
        if isinstance(inner, bool):
            return not inner
        return ("not", inner)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        text = _plain_string(node)
        if text is None:
            return Leaf.of(node)
        if node.field in known:
            return known[node.field] == text
        return Leaf("eq", node.field, text)
    if isinstance(node, ConditionValueExpression):
        return Leaf.of(node)
    if node is None:
        raise _Unsupported("a condition that is empty after processing")
    raise _Unsupported(f"condition element {type(node).__name__}")


def _all(preds: list[Predicate]) -> Predicate:
    if len(preds) == 1:
        return preds[0]
    tup = tuple(preds)

    def all_of(data: dict[str, Any]) -> bool:
        for p in tup:
            if not p(data):
                return False
        return True

    return all_of


def _any(preds: list[Predicate]) -> Predicate:
    if len(preds) == 1:
        return preds[0]
    tup = tuple(preds)

    def any_of(data: dict[str, Any]) -> bool:
        for p in tup:
            if p(data):
                return True
        return False

    return any_of


def _closures(tree: Tree, fast: bool) -> Predicate:
    """A folded tree (no constants left inside) as nested closures."""
    if isinstance(tree, Leaf):
        if not fast:
            return tree.reference
        if tree.kind == "eq" and tree.node is None:
            return eq_predicate(tree.field or "", tree.text)
        if tree.kind == "in":
            return in_predicate(tree.field or "", sorted(tree.text))
        return field_or_keyword(tree)
    op, args = tree
    if op == "not":
        inner = _closures(args, fast)
        return lambda data: not inner(data)
    preds = [_closures(a, fast) for a in args]
    return _all(preds) if op == "and" else _any(preds)


def _build(tree: Tree, reference: Predicate) -> Predicate:
    """The fast predicate of a folded tree: generated code, or closures if Python refuses
    the generated function."""
    generated = generate(tree, reference)
    return generated if generated is not None else _closures(tree, True)


def compile_condition(node: Node, fast: bool = True) -> Predicate:
    """Compile a pySigma condition tree node into a predicate over record dicts (``fast``:
    generated code with the fast paths of ``match.codegen``; without: the reference
    predicate, closures over ``match.field_tests``)."""
    tree = _fold(node, {})
    if isinstance(tree, bool):  # not with nothing known; kept total all the same
        const = tree
        return lambda data: const
    reference = _closures(tree, False)
    return _build(tree, reference) if fast else reference


def _plain_values(node: Node, field: str, out: set[str]) -> None:
    """Every plain string ``field`` is compared with anywhere in ``node``."""
    if isinstance(node, ConditionAND | ConditionOR | ConditionNOT):
        for arg in node.args:
            _plain_values(arg, field, out)
        return
    text = _plain_string(node)
    if text is not None and node.field == field:
        out.add(text)


def _required_values(node: Node, field: str) -> frozenset[str] | None:
    """Lower-cased plain values one of which ``field`` must hold for ``node`` to be true.

    None when the node does not constrain the field to a finite set of plain values. Used only
    to dispatch records to rules, so a superset is always safe, a subset never.
    """
    if isinstance(node, ConditionFieldEqualsValueExpression):
        if node.field != field:
            return None
        value = node.value
        if isinstance(value, SigmaString) and all(isinstance(p, str) for p in value.s):
            return frozenset(["".join(value.s).lower()])
        return None
    if isinstance(node, ConditionAND):
        found = [r for r in (_required_values(a, field) for a in node.args) if r is not None]
        if not found:
            return None
        return frozenset.intersection(*found)
    if isinstance(node, ConditionOR):
        found = [_required_values(a, field) for a in node.args]
        if any(r is None for r in found):
            return None
        return frozenset().union(*found)  # type: ignore[arg-type]
    return None  # NOT, keywords: no constraint derivable


def compile_detection(rule: SigmaRule) -> CompiledDetection:
    """Compile a single-event Sigma rule once; RuleCompileError if it cannot be evaluated."""
    name = rule_key(rule)
    try:
        trees = tuple(cond.parsed for cond in rule.detection.parsed_condition)
    except SigmaError as exc:
        raise RuleCompileError(f"{name}: condition cannot be parsed: {exc}") from None
    try:
        folded = [_fold(tree, {}) for tree in trees]
        references = [compile_condition(tree, fast=False) for tree in trees]
    except _Unsupported as exc:
        raise RuleCompileError(f"{name}: not supported by the matcher: {exc}") from None
    if not folded:
        raise RuleCompileError(f"{name}: the rule has no condition")
    reference = _first_of(references)
    tree = _fold_any(folded)
    if isinstance(tree, bool):  # not with nothing known; kept total all the same
        const = tree
        predicate: Predicate = lambda data: const  # noqa: E731
    else:
        predicate = _build(tree, reference)

    def required(field: str) -> frozenset[str] | None:
        sets = [_required_values(t, field) for t in trees]
        if any(s is None for s in sets):
            return None
        return frozenset().union(*sets)  # type: ignore[arg-type]

    plain: dict[str, frozenset[str]] = {}
    for field in ("eventSource", "eventName"):
        found: set[str] = set()
        for tree in trees:
            _plain_values(tree, field, found)
        plain[field] = frozenset(found)
    return CompiledDetection(
        rule=rule,
        predicate=predicate,
        event_sources=required("eventSource"),
        event_names=required("eventName"),
        reference=reference,
        trees=trees,
        plain_values=plain,
    )


def _first_of(preds: list[Predicate]) -> Predicate:
    """Several conditions: the rule matches when any of them does."""
    if len(preds) == 1:
        return preds[0]
    tup = tuple(preds)

    def predicate(data: dict[str, Any]) -> bool:
        return any(p(data) for p in tup)

    return predicate
