"""The stateful projection's fast form: one generated function per set of rule names.

``Projector.project`` (match/stateful.py) builds, for a record and the stateful rules its base
rules feed, the payload of first-seen keys and correlation inputs. The generic code
(``Projector.project_reference``) asks each engine in turn, through field getters that return
lists, a memo, ``itertools.product`` and per-value type names. Nearly every record has the
common shape: each field read is a string, or absent, at a path of plain objects. For that
shape the payload is a few tuples of strings, which one function can build directly.

``compile_projection`` writes that function for one plan (the rules of one set of names, in
payload order): it reads every distinct field the set needs once, through the field's scalar
getter (``correlation_plan.scalar_of``: ``fields.scalar_getter``, or
``derived.scalar_value_getter`` for a derived field), and returns None as soon as one of them
says ``MULTI`` (an array, a number, a boolean, an object, a dotted key, a non-object record...):
the caller then runs the reference on that record. Otherwise it returns the payload the
reference gives (tests/match/test_projection.py holds them equal on hostile records, for sets
of the pack's rules): a str value ``v`` is ``("str", v)`` in a typed key and ``v`` itself in a
correlation's value key (``correlation_plan.value_key``); a field without a value leaves the
first-seen keys empty and the correlation input None.

The parts of a payload that depend only on the values read (a rule's item without first-seen,
the first-seen keys, the correlation inputs) are kept in small caches per plan, keyed by those
values (``CACHED`` entries each, emptied when full; values over ``CACHED_CHARS`` characters
never kept): records of known principals then allocate one to three tuples, which also spares
the garbage collector. The parts are immutable tuples of strings, so sharing them between
payloads changes nothing downstream.

As in ``match.codegen``, the generated source only holds names made here (``v0``, ``n1``...);
rule names, getters and suppression specs are bound in the function's namespace, never written
into the source. A plan with a getter that has no scalar form gets no function (None): all its
records take the reference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ses_sigma.match.correlation_plan import scalar_of
from ses_sigma.match.fields import MULTI, FieldGetter
from ses_sigma.match.suppression import group_of
from ses_sigma.records import Record

if TYPE_CHECKING:
    from ses_sigma.match.stateful import Payload, RuleParts

__all__ = ["FastProjection", "compile_projection"]

#: ``(record, suppress, origins)`` -> the payload, or None when the record needs the reference.
FastProjection = Callable[[Record, bool, bool], "Payload | None"]


#: Entries per cache of payload parts (one cache per part of a plan; emptied when full).
CACHED = 4096
#: Longest value (characters) a cache keeps; longer ones are built for their record only.
CACHED_CHARS = 256


class _NoFastForm(Exception):
    """A getter of the plan has no scalar form."""


def _tuple(items: Sequence[str]) -> str:
    """Python source of a tuple of the expressions ``items``."""
    if len(items) == 1:
        return f"({items[0]},)"
    return f"({', '.join(items)})"


def _none_test(names: Sequence[str]) -> str:
    """Source of: one of the variables ``names`` is None (False when there are none)."""
    if not names:
        return "False"
    return " or ".join(f"{n} is None" for n in names)


def _key(names: Sequence[str]) -> str:
    """Source of a cache key of the variables ``names`` (the one variable itself)."""
    return names[0] if len(names) == 1 else _tuple(names)


class _Source:
    """The generated function's body and namespace, being written."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {
            "M": MULTI,
            "group_of": group_of,
            "LIMIT": CACHED,
            "CHARS": CACHED_CHARS,
        }
        self.lines: list[str] = []
        self.vars: dict[FieldGetter, str] = {}

    def var(self, get: FieldGetter) -> str:
        """The variable holding ``get``'s scalar value (read on first use; MULTI: None)."""
        name = self.vars.get(get)
        if name is None:
            scalar = scalar_of(get)
            if scalar is None:
                raise _NoFastForm
            name = self.vars[get] = f"v{len(self.vars)}"
            self.namespace[f"s{name}"] = scalar
            self.lines += [f"{name} = s{name}(data)", f"if {name} is M:", "    return None"]
        return name

    def cached(self, name: str, keys: Sequence[str], expr: str) -> str:
        """``name`` = ``expr``, built once per value of the variables ``keys`` (``expr``
        reads only them): the payloads of records with the same values share their tuples.
        Values longer than ``CACHED_CHARS`` are not kept (the caches stay small whatever the
        records hold)."""
        cache = f"C{name}"
        self.namespace[cache] = {}
        key = _key(keys) if keys else "()"
        short = " and ".join(f"({k} is None or len({k}) <= CHARS)" for k in keys) or "True"
        self.lines += [
            f"{name} = {cache}.get({key})",
            f"if {name} is None:",
            f"    {name} = {expr}",
            f"    if {short}:",
            f"        if len({cache}) >= LIMIT:",
            f"            {cache}.clear()",
            f"        {cache}[{key}] = {name}",
        ]
        return name


def compile_projection(plan: Sequence[RuleParts]) -> FastProjection | None:
    """The fast projection of ``plan`` (``Projector`` plan: per rule, in payload order, its
    name, first-seen engine, suppression spec and correlations), None without one."""
    src = _Source()
    items: list[str] = []
    try:
        for i, (name, first_seen, suppression, correlations) in enumerate(plan):
            src.namespace[f"n{i}"] = name
            corrs: list[str] = []
            used: list[str] = []  # the variables the correlation inputs read
            for corr in correlations:
                value_get, group_gets = corr.getters(name)
                gs = [src.var(g) for g in group_gets]
                values = "()"
                test = gs
                if value_get is not None:
                    v = src.var(value_get)
                    values = f"(('str', {v}),)"
                    test = [v, *gs]
                groups = _tuple([_tuple(gs)])
                corrs.append(f"(None if {_none_test(test)} else ({values}, {groups}))")
                used += [v for v in test if v not in used]
            if first_seen is None:  # the whole item depends on the values only
                items.append(src.cached(f"t{i}", used, f"(n{i}, None, None, {_tuple(corrs)})"))
                continue
            inputs = src.cached(f"c{i}", used, _tuple(corrs)) if corrs else "()"
            vs = [src.var(g) for g in first_seen.getters]
            typed = _tuple([_tuple([f"('str', {v})" for v in vs])])
            keys = src.cached(f"k{i}", vs, f"(() if {_none_test(vs)} else {typed})")
            fs = f"({keys}, data.get('eventTime'), rec.origin if origins else '')"
            sup = "None"
            if suppression is not None:
                src.namespace[f"p{i}"] = suppression
                sup = f"(group_of(p{i}, data) if suppress else None)"
            items.append(f"(n{i}, {fs}, {sup}, {inputs})")
    except _NoFastForm:
        return None
    body = [*src.lines, f"return {_tuple(items)}"]
    source = "def project(rec, suppress, origins):\n    data = rec.data\n" + "".join(
        f"    {line}\n" for line in body
    )
    try:
        exec(compile(source, "<ses_sigma projection>", "exec"), src.namespace)
    except (SyntaxError, RecursionError, MemoryError):
        return None  # too large for Python's compiler: the reference does the work
    return src.namespace["project"]
