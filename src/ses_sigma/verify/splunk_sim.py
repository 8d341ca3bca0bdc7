"""A small SPL interpreter for the searches the splunk target emits, to check them offline.

Here: commands, pipelines, scheduled runs, results as alerts (events, tokens and search
expressions: ``splunk_search``; eval/where: ``splunk_eval``). Splunk cannot run here, so the
emitted SPL is *executed* over CloudTrail records, stage by stage, with Splunk's documented
semantics (never a restatement of a rule's logic); a simulator, not Splunk, as ``ses-sigma test
--target splunk`` says.

Supported (exactly what the target emits; anything else raises :class:`SplError`):

* search expressions (the implicit first ``search``, ``| search``, multisearch subsearches):
  ``field=value`` (case-insensitive whole value, ``*`` wildcard, CIDR values, any value of a
  multivalue field), ``field=*``, ``field IN (...)``, ``NOT``, ``OR``, ``AND`` (implicit),
  parentheses; precedence NOT > OR > AND (the search command's);
* commands ``multisearch``, ``search``, ``eval``, ``where``, ``regex``, ``stats`` (``max``,
  ``min``, ``count``, ``values`` ``by`` fields; multivalue by-fields split), ``fillnull``,
  ``sort`` (``0``, ``num()``/``str()``), ``streamstats`` (``current``, ``window``, ``global``;
  ``last``/``first``/``count``/``max``/``min`` ``by``), ``mvexpand``, ``rename``, ``table``,
  ``fields -``, ``addinfo``;
* eval/where expressions: literals, ``'field'`` and bare field names, ``+ - * /``, comparisons
  (numeric when both sides are numbers, else case-sensitive strings), ``AND``/``OR``/``NOT``
  (three-valued with null), ``if``, ``null``, ``isnull``, ``isnotnull``, ``mvappend``,
  ``tonumber``, ``tostring``, ``lower``.

Records become Splunk events as the Splunk Add-on for AWS extracts CloudTrail JSON
(:func:`event_from_record`): nested keys joined with ``.``, arrays as ``name{}`` (multivalue),
booleans ``true``/``false``, numbers in their JSON text, **JSON null as the string "null"**
(Splunk's JSON extraction keeps null values as that text), ``_time`` from ``eventTime``,
``sourcetype=aws:cloudtrail``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ses_sigma.verify.splunk_eval import (
    _assignments,
    _number,
    _set,
    _truth,
    eval_expression,
)
from ses_sigma.verify.splunk_search import (
    Row,
    SplError,
    Value,
    event_from_record,
    search_predicate,
    split_pipeline,
    tokenize,
)

__all__ = [
    "Context",
    "Row",
    "SimAlert",
    "SplError",
    "eval_expression",
    "event_from_record",
    "result_alerts",
    "run_scheduled",
    "run_spl",
    "search_predicate",
    "split_pipeline",
]

# ----------------------------------------------------------------------- commands


@dataclass
class Context:
    """What ``addinfo`` reports: the search's time range."""

    min_time: float = 0.0
    max_time: float = float("inf")


def _words(text: str) -> list[str]:
    return [t.unquoted for t in tokenize(text)]


def _by_split(args: str) -> tuple[str, list[str]]:
    m = re.search(r"\sby\s", " " + args + " ")
    if m is None:
        return args, []
    head = (" " + args)[: m.start()]
    return head.strip(), _words((" " + args)[m.end() :])


def _key(row: Row, fields: Sequence[str]) -> tuple[Any, ...] | None:
    values = []
    for f in fields:
        v = row.get(f)
        if not v or len(v) != 1:
            return None
        values.append(v[0])
    return tuple(values)


_AGG = re.compile(r"(\w+)(?:\(([^)]*)\))?(?:\s+as\s+(\S+))?")


def _aggregations(text: str) -> list[tuple[str, str, str]]:
    out = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _AGG.match(text, pos)
        if m is None:
            raise SplError(f"cannot read aggregation at {text[pos:]!r}")
        func, arg, alias = m.group(1), (m.group(2) or "").strip(), m.group(3)
        if m.group(2) is None and func != "count":
            raise SplError(f"aggregation {func} without a field")
        default = func if m.group(2) is None else f"{func}({arg})"
        out.append((func, arg, alias or default))
        pos = m.end()
        while pos < len(text) and text[pos] in " ,":
            pos += 1
    return out


def _aggregate(func: str, values: list[Value]) -> Any:
    if func == "count":
        return len(values)
    if not values:
        return None
    if func == "values":
        return sorted({str(v) for v in values})
    if func in ("max", "min"):
        nums = [_number(v) for v in values]
        if all(n is not None for n in nums):
            return (max if func == "max" else min)(nums)  # type: ignore[type-var]
        strs = [str(v) for v in values]
        return max(strs) if func == "max" else min(strs)
    if func == "last":
        return values[-1]
    if func == "first":
        return values[0]
    raise SplError(f"aggregation {func}() is not supported")


def _stats(rows: list[Row], args: str) -> list[Row]:
    head, by = _by_split(args)
    aggs = _aggregations(head)
    groups: dict[tuple[Any, ...], list[Row]] = {}
    for row in rows:
        combos: list[tuple[Any, ...]] = [()]
        for f in by:
            vals = list(dict.fromkeys(row.get(f, [])))
            combos = [(*c, v) for c in combos for v in vals]
        for combo in combos:
            groups.setdefault(combo, []).append(row)
    out = []
    for combo in sorted(groups, key=lambda c: tuple(str(v) for v in c)):
        members = groups[combo]
        res: Row = {f: [v] for f, v in zip(by, combo, strict=True)}
        for func, arg, alias in aggs:
            values = [v for r in members for v in r.get(arg, [])] if arg else []
            _set(res, alias, _aggregate(func, values if arg else [0] * len(members)))
        out.append(res)
    return out


def _options(text: str, names: Iterable[str]) -> tuple[dict[str, str], str]:
    opts: dict[str, str] = {}
    rest = text
    pattern = re.compile(r"^\s*(" + "|".join(names) + r")=(\S+)")
    while (m := pattern.match(rest)) is not None:
        opts[m.group(1)] = m.group(2)
        rest = rest[m.end() :]
    return opts, rest.strip()


def _flag(opts: dict[str, str], name: str, default: bool) -> bool:
    v = opts.get(name)
    if v is None:
        return default
    return v.lower() in ("t", "true", "1")


def _streamstats(rows: list[Row], args: str) -> list[Row]:
    opts, rest = _options(args, ("current", "window", "global"))
    current = _flag(opts, "current", True)
    window = int(opts.get("window", "0"))
    global_window = _flag(opts, "global", True)
    if window and global_window:
        raise SplError("streamstats window with global=true is not supported")
    head, by = _by_split(rest)
    aggs = _aggregations(head)
    history: dict[tuple[Any, ...], list[Row]] = {}
    out = []
    for row in rows:
        key = _key(row, by) if by else ()
        res = dict(row)
        if key is not None:
            seen = history.setdefault(key, [])
            pool = [*seen, row] if current else list(seen)
            if window:
                pool = pool[-window:]
            for func, arg, alias in aggs:
                values = [v for r in pool for v in r.get(arg, [])[-1:]] if arg else [0] * len(pool)
                _set(res, alias, _aggregate(func, values))
            seen.append(row)
        out.append(res)
    return out


def _sort(rows: list[Row], args: str) -> list[Row]:
    words = args.split()
    if words and words[0].isdigit():
        if words[0] != "0":
            raise SplError("sort with a limit other than 0 is not supported")
        words = words[1:]
    keys: list[tuple[str, str]] = []
    for w in words:
        m = re.fullmatch(r"(num|str)\((.+)\)", w)
        keys.append((m.group(1), m.group(2)) if m else ("auto", w))

    def sort_key(row: Row) -> tuple[Any, ...]:
        out: list[Any] = []
        for kind, f in keys:
            v = row.get(f, [None])[0]
            if kind == "str":
                out.append((v is None, "" if v is None else str(v)))
            else:
                n = _number(v)
                out.append((n is None, n if n is not None else 0.0))
        return tuple(out)

    return sorted(rows, key=sort_key)


def _multisearch(events: list[Row], args: str, ctx: Context) -> list[Row]:
    subs = re.findall(r"\[((?:[^\[\]\"']|\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')*)\]", args)
    if not subs:
        raise SplError("multisearch without subsearches")
    out: list[Row] = []
    for sub in subs:
        text = sub.strip()
        if not text.startswith("search "):
            raise SplError(f"multisearch subsearch must start with search: {text!r}")
        out.extend(run_spl(text[len("search ") :], events, ctx))
    return out


def _rename(rows: list[Row], args: str) -> list[Row]:
    pairs = []
    for part in args.split(","):
        words = _words(part)
        if len(words) != 3 or words[1] != "as":
            raise SplError(f"rename: {part!r}")
        pairs.append((words[0], words[2]))
    out = []
    for row in rows:
        res = dict(row)
        for old, new in pairs:
            if old in res:
                res[new] = res.pop(old)
            else:
                res.pop(new, None)
        out.append(res)
    return out


def _run_command(rows: list[Row], cmd: str, ctx: Context, events: list[Row]) -> list[Row]:
    m = re.match(r"(\S+)\s*(.*)", cmd, re.DOTALL)
    if m is None:
        raise SplError("empty command")
    name, args = m.group(1), m.group(2).strip()
    if name == "search":
        pred = search_predicate(args)
        return [r for r in rows if pred(r)]
    if name == "multisearch":
        return _multisearch(events, args, ctx)
    if name == "eval":
        assigns = _assignments(args)
        out = []
        for row in rows:
            res = dict(row)
            for field, expr in assigns:
                _set(res, field, expr(res))
            out.append(res)
        return out
    if name == "where":
        expr = eval_expression(args)
        return [r for r in rows if _truth(expr(r)) is True]
    if name == "regex":
        m = re.fullmatch(r"(\S+?)(!?=)\"((?:[^\"\\]|\\.)*)\"", args, re.DOTALL)
        if m is None:
            raise SplError(f"regex: {args!r}")
        field, op = m.group(1), m.group(2)
        if op != "=":
            raise SplError("regex != is not supported")
        pattern = re.compile(re.sub(r"\\([\\\"])", r"\1", m.group(3)))
        return [r for r in rows if any(pattern.search(str(v)) for v in r.get(field, [])[:1])]
    if name == "stats":
        return _stats(rows, args)
    if name == "streamstats":
        return _streamstats(rows, args)
    if name == "fillnull":
        opts, rest = _options(args, ("value",))
        value = opts.get("value", "0")
        fields = _words(rest)
        return [{**r, **{f: [value] for f in fields if f not in r}} for r in rows]
    if name == "sort":
        return _sort(rows, args)
    if name == "mvexpand":
        [field] = _words(args)
        out = []
        for row in rows:
            for v in row.get(field, []):
                out.append({**row, field: [v]})
        return out
    if name == "rename":
        return _rename(rows, args)
    if name == "table":
        fields = _words(args.replace(",", " "))
        return [{f: r[f] for f in fields if f in r} for r in rows]
    if name == "fields":
        words = _words(args)
        if not words or words[0] != "-":
            raise SplError("only `fields - ...` is supported")
        drop = set(words[1:])
        return [{f: v for f, v in r.items() if f not in drop} for r in rows]
    if name == "addinfo":
        info = {
            "info_min_time": [ctx.min_time],
            "info_max_time": [ctx.max_time],
            "info_search_time": [ctx.max_time],
            "info_sid": ["sim"],
        }
        return [{**r, **info} for r in rows]
    raise SplError(f"command {name!r} is not supported")


def run_spl(spl: str, events: Sequence[Row], ctx: Context | None = None) -> list[Row]:
    """Run ``spl`` over ``events`` (already restricted to the search's time range)."""
    ctx = ctx or Context()
    base = [dict(e) for e in events]
    commands = split_pipeline(spl)
    first, rest = commands[0], commands[1:]
    rows = base if not first else _run_command(base, "search " + first, ctx, base)
    if not first and (not rest or not rest[0].startswith("multisearch")):
        raise SplError("a search must start with a search expression or multisearch")
    for cmd in rest:
        rows = _run_command(rows, cmd, ctx, base)
    return rows


# ----------------------------------------------------------------------- results as alerts


@dataclass(frozen=True, order=True)
class SimAlert:
    """One result row read as an alert: the completing time, the event ids, the group."""

    time: float
    event_ids: tuple[str, ...]
    group: tuple[tuple[str, str], ...] = ()


def result_alerts(rows: Iterable[Row], group_fields: Sequence[str] = ()) -> list[SimAlert]:
    """Result rows of a converted rule as alerts, sorted.

    The event ids are ``sigma_event_ids`` (correlations) or ``eventID``; ``group`` the values of
    ``group_fields`` (correlation group-by names, first-seen fields) in that order.
    """
    out = []
    for row in rows:
        ids = row.get("sigma_event_ids") or row.get("eventID")
        if not ids or "_time" not in row:
            raise SplError(f"result without _time or event ids: {row}")
        missing = [f for f in group_fields if len(row.get(f, [])) != 1]
        if missing:
            raise SplError(f"result without one value of {missing}: {row}")
        group = tuple((f, str(row[f][0])) for f in group_fields)
        out.append(SimAlert(float(row["_time"][0]), tuple(str(i) for i in ids), group))
    return sorted(out)


def run_scheduled(spl: str, events: Sequence[Row], interval: int, lookback: int) -> list[Row]:
    """Every run of a saved search that has something to judge, results concatenated.

    A run's window ends at a multiple of ``interval`` (cron ``*/N`` with
    ``dispatch.latest_time = -<delay>m@m``, the delay a multiple of the interval); the run
    ending at ``end`` reads the events with ``_time`` in ``[end - lookback, end)`` and
    ``addinfo`` reports ``info_max_time = end``. Only runs whose last interval holds an event
    are made (the others can only return nothing: every result is an event of that interval).
    """
    times = [float(e["_time"][0]) for e in events]
    rows: list[Row] = []
    for end in sorted({(math.floor(t / interval) + 1) * interval for t in times}):
        start = end - lookback
        window = [e for e in events if start <= float(e["_time"][0]) < end]
        rows.extend(run_spl(spl, window, Context(min_time=start, max_time=end)))
    return rows
