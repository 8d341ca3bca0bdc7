"""The stateful projection's fast form: one generated function per set of rule names.

``Projector.project`` (match/stateful.py) builds, for a record and the stateful rules its base
rules feed, the payload of first-seen keys and correlation inputs. The generic code
(``Projector.project_reference``) asks each engine in turn, through field getters that return
lists, a memo, ``itertools.product`` and per-value type names. Nearly every record has the
common shape: each field read is a string, or absent, at a path of plain objects. For that
shape the payload is a few tuples of strings, which one function can build directly.

``compile_projection`` writes that function for one plan (the rules of one set of names, in
payload order): it reads every distinct field path the set needs once, in one walk
(``projection_reader``: the paths of the shared getters, ``correlation_plan.sources_of``, a
derived field's sources coalesced), and returns None as soon as one of them has another shape
(an array, a number, a boolean, an object, a dotted key, a non-object record...), or the
record's time is one a first-seen engine may find implausible (its payload then carries the
raw eventTime and origin: ``FirstSeenEngine.project``): the caller then runs the reference
on that record. Otherwise it returns the payload the reference gives
(tests/match/test_projection.py holds them equal on hostile records, for sets of the pack's
rules): a str value ``v`` is ``("str", v)`` in a typed key and ``v`` itself in a
correlation's value key (``correlation_plan.value_key``); a field without a value leaves the
first-seen keys empty and the correlation input None.

The parts of a payload that depend only on the values read (a rule's item without first-seen,
the first-seen keys, the correlation inputs) are kept in small caches per plan, keyed by those
values (``CACHED`` entries each, emptied when full; values over ``CACHED_CHARS`` characters
never kept): records of known principals then allocate one to three tuples, which also spares
the garbage collector. The parts are immutable tuples of strings, so sharing them between
payloads changes nothing downstream.

``compile_packed`` writes the form a scan uses (``Projector.project_packed``): the payload's
marshal bytes, ``pack`` of it, made from a template of constant bytes and the values' bytes.

As in ``match.codegen``, the generated source only holds names made here (``v0``, ``n1``...);
rule names, field names and suppression specs are bound in the function's namespace, never
written into the source. A plan with a getter that is not a shared getter gets no function
(None): all its records take the reference.
"""

from __future__ import annotations

import marshal
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ses_sigma.match.correlation_plan import sources_of
from ses_sigma.match.fields import MULTI, FieldGetter
from ses_sigma.match.first_seen import EARLIEST_PLAUSIBLE
from ses_sigma.match.projection_reader import coalesce_source, read_fields
from ses_sigma.match.suppression import group_of
from ses_sigma.records import Record

if TYPE_CHECKING:
    from ses_sigma.match.stateful import Payload, RuleParts

__all__ = [
    "MARSHAL_VERSION",
    "FastProjection",
    "PackedProjection",
    "compile_packed",
    "compile_projection",
    "pack",
]

#: ``(record, suppress, origins)`` -> the payload, or None when the record needs the reference.
FastProjection = Callable[[Record, bool, bool], "Payload | None"]

#: ``(record, suppress, origins)`` -> ``pack`` of the payload without suppression groups, or
#: None when the record needs the reference.
PackedProjection = Callable[[Record, bool, bool], "bytes | None"]

#: marshal's format version of packed payloads: 2 writes no references (0.45 + 0.49 µs a
#: payload to write and read, against 0.66 + 0.66 for version 4: a payload shares few
#: objects).
MARSHAL_VERSION = 2
_DUMPS = marshal.dumps


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
        self._sources: dict[str, tuple[str, ...]] = {}
        #: No caches: ``cached`` gives the expression itself (``compile_packed``).
        self.raw = False

    def var(self, get: FieldGetter) -> str:
        """The variable holding ``get``'s value (a str or None: any other shape makes the
        function return None), read with the others before the body (``reader``)."""
        name = self.vars.get(get)
        if name is None:
            sources = sources_of(get)
            if sources is None:
                raise _NoFastForm
            name = self.vars[get] = f"v{len(self.vars)}"
            self._sources[name] = sources
        return name

    def reader(self) -> list[str]:
        """The lines that read every variable's fields (``projection_reader``, one walk)."""
        paths = list(dict.fromkeys(p for sources in self._sources.values() for p in sources))
        lines, at = read_fields(paths, self.namespace)
        for name, sources in self._sources.items():
            lines.append(f"{name} = {coalesce_source([at[p] for p in sources])}")
        return lines

    def cached(self, name: str, keys: Sequence[str], expr: str) -> str:
        """``name`` = ``expr``, built once per value of the variables ``keys`` (``expr``
        reads only them): the payloads of records with the same values share their tuples.
        Values longer than ``CACHED_CHARS`` are not kept (the caches stay small whatever the
        records hold)."""
        if self.raw:
            return f"({expr})"
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


def _corr_input(src: _Source, corr: Any, name: str) -> tuple[str, list[str]]:
    """Source of one correlation's input for base rule ``name`` (None when a value it needs
    is missing), and the variables it reads."""
    value_get, group_gets = corr.getters(name)
    gs = [src.var(g) for g in group_gets]
    values = "()"
    test = gs
    if value_get is not None:
        v = src.var(value_get)
        values = f"(('str', {v}),)"
        test = [v, *gs]
    groups = _tuple([_tuple(gs)])
    return f"(None if {_none_test(test)} else ({values}, {groups}))", test


def _typed_keys(vs: Sequence[str]) -> str:
    """Source of a first-seen input's keys over the variables ``vs``."""
    typed = _tuple([_tuple([f"('str', {v})" for v in vs])])
    return f"(() if {_none_test(vs)} else {typed})"


def _compile(src: _Source, body: list[str], name: str) -> Callable[..., Any] | None:
    """The function ``name(rec, suppress, origins)`` of ``body`` (its lines after the field
    reads)."""
    source = f"def {name}(rec, suppress, origins):\n    data = rec.data\n" + "".join(
        f"    {line}\n" for line in [*src.reader(), *body]
    )
    try:
        exec(compile(source, "<ses_sigma projection>", "exec"), src.namespace)
    except (SyntaxError, RecursionError, MemoryError):
        return None  # too large for Python's compiler: the reference does the work
    return src.namespace[name]  # type: ignore[no-any-return]


def _items(src: _Source, plan: Sequence[RuleParts], groups: bool) -> list[str]:
    """The payload's items for ``plan``, as expressions (their cached parts in ``src.lines``);
    ``groups``: with the suppression groups of first-seen alerts when ``suppress``."""
    items: list[str] = []
    notes: list[float] = []
    for i, (name, first_seen, suppression, correlations) in enumerate(plan):
        src.namespace[f"n{i}"] = name
        corrs: list[str] = []
        used: list[str] = []  # the variables the correlation inputs read
        for corr in correlations:
            expr, test = _corr_input(src, corr, name)
            corrs.append(expr)
            used += [v for v in test if v not in used]
        if first_seen is None:  # the whole item depends on the values only
            items.append(src.cached(f"t{i}", used, f"(n{i}, None, None, {_tuple(corrs)})"))
            continue
        notes.append(first_seen.note_after)
        inputs = src.cached(f"c{i}", used, _tuple(corrs)) if corrs else "()"
        vs = [src.var(g) for g in first_seen.getters]
        keys = src.cached(f"k{i}", vs, _typed_keys(vs))
        sup = "None"
        if suppression is not None and groups:
            src.namespace[f"p{i}"] = suppression
            sup = f"(group_of(p{i}, data) if suppress else None)"
        # Without its raw eventTime and origin (FirstSeenEngine.project): the time test below.
        items.append(f"(n{i}, ({keys}, None, ''), {sup}, {inputs})")
    if notes:  # a time an engine may find implausible: the reference writes its note
        src.namespace.update(EARLIEST=EARLIEST_PLAUSIBLE, NOTE_AFTER=min(notes))
        src.lines[:0] = ["if not EARLIEST <= rec.time <= NOTE_AFTER:", "    return None"]
    return items


def compile_projection(plan: Sequence[RuleParts]) -> FastProjection | None:
    """The fast projection of ``plan`` (``Projector`` plan: per rule, in payload order, its
    name, first-seen engine, suppression spec and correlations), None without one."""
    src = _Source()
    try:
        items = _items(src, plan, groups=True)
    except _NoFastForm:
        return None
    return _compile(src, [*src.lines, f"return {_tuple(items)}"], "project")


# --------------------------------------------------------------------------- packed


def pack(payload: Payload) -> bytes | Payload:
    """``payload`` as marshal bytes (version 2), or the payload itself when marshal cannot
    write it (``scan_tasks.pack_payload``)."""
    try:
        return _DUMPS(payload, MARSHAL_VERSION)
    except ValueError:
        return payload


class _Slot:
    """Where a variable's value goes in a packed payload's template (``compile_packed``)."""

    def __init__(self, name: str):
        self.name = name


def _template(obj: Any, out: list[bytes | _Slot]) -> None:
    """``obj``'s marshal bytes (version 2) into ``out``, with its ``_Slot`` leaves left as
    they are: marshal writes a tuple as ``(``, its length and its elements one after the
    other, and (before version 3) shares nothing between them."""
    if isinstance(obj, _Slot):
        out.append(obj)
    elif type(obj) is tuple:
        out.append(b"(" + len(obj).to_bytes(4, "little", signed=True))
        for item in obj:
            _template(item, out)
    else:
        out.append(_DUMPS(obj, MARSHAL_VERSION))


def compile_packed(plan: Sequence[RuleParts]) -> PackedProjection | None:
    """The fast projection of ``plan`` packed: ``pack`` of the payload that
    ``compile_projection``'s function gives without suppression groups, None without one.

    A payload of the fast form depends only on the values read (no record's time or origin:
    ``FirstSeenEngine.project``), and when every value is there (a str), its shape is fixed:
    its marshal bytes are constant bytes with the values' own marshal bytes between them
    (``_template``, made once). A record then costs its field reads, a marshal of each value
    and one ``bytes.join``, with no cache to fill or miss. A record without some value
    gets None (the caller packs ``project``'s payload)."""
    src = _Source()
    src.raw = True
    try:
        items = _items(src, plan, groups=False)
    except _NoFastForm:
        return None
    names = list(src.vars.values())
    parts: list[bytes | _Slot] = []
    _template(eval(_tuple(items), {**src.namespace, **{v: _Slot(v) for v in names}}), parts)
    pieces: list[str] = []
    const = b""
    for part in [*parts, b""]:
        if isinstance(part, bytes):
            const += part
            continue
        if const:
            pieces.append(f"b{len(pieces)}")
            src.namespace[pieces[-1]] = const
            const = b""
        pieces.append(f"e{part.name[1:]}")
    if const:
        pieces.append(f"b{len(pieces)}")
        src.namespace[pieces[-1]] = const
    used = [v for v in names if f"e{v[1:]}" in pieces]
    src.namespace.update(dumps=_DUMPS, join=b"".join)
    body = [
        *src.lines,  # the time test, if any (_items)
        f"if {_none_test(names)}:",
        "    return None",
        *(f"e{v[1:]} = dumps({v}, 2)" for v in used),
        f"return join({_tuple(pieces)})",
    ]
    return _compile(src, body, "project_packed")
