"""The DuckDB side of ``make bench``: the pack's single-event rules as one DuckDB scan.

pySigma's DuckDB backend (``pysigma-backend-duckdb``) converts each single-event rule to a SQL
condition; ``duckdb_query`` puts them side by side as one boolean column per rule in one
``SELECT`` over a view of the fields they read, so DuckDB reads the file once, as the scan does.

Upstream bug worked around (pysigma-backend-duckdb 0.1.x): a Sigma ``not`` becomes SQL ``NOT``,
and SQL's three-valued logic makes ``NOT (x ILIKE '%.amazonaws.com' OR ...)`` NULL, not true,
when ``x`` is missing (NULL): every record without ``userIdentity.invokedBy`` failed the
service-caller exclusions, and three of the pack's rules matched nothing. In Sigma a comparison
on a missing field is false, so ``_SigmaNullsDuckDB`` writes ``NOT coalesce(<expr>, false)``.
Left as upstream has it: plain equality is SQL ``=``, case-sensitive, where Sigma's is not
(the generated workload writes every value in its canonical case, so the results agree on it;
``rule_counts`` and the bench check that they do).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ses_sigma.pack import Pack

__all__ = ["duckdb_query", "rule_counts", "single_event_rules"]


def _rule_fields(rule: Any) -> set[str]:
    """Every field name a rule's detections test (pySigma detection items, nested)."""
    from sigma.rule import SigmaDetection

    out: set[str] = set()
    todo = list(rule.detection.detections.values())
    while todo:
        item = todo.pop()
        if isinstance(item, SigmaDetection):
            todo.extend(item.detection_items)
        elif item.field is not None:
            out.add(item.field)
    return out


def single_event_rules(pack: Pack) -> list[Any]:
    """The pack's rules that one event decides (not first-seen rules, not correlations)."""
    from ses_sigma.match.first_seen import FirstSeenSpec

    return [r for r in pack.rules if FirstSeenSpec.from_rule(r) is None]


def _backend() -> Any:
    from sigma_backend_duckdb import DuckDBBackend

    class _SigmaNullsDuckDB(DuckDBBackend):  # type: ignore[misc]
        """DuckDB backend whose ``not`` treats a missing field as Sigma does (module doc)."""

        def convert_condition_not(self, cond: Any, state: Any) -> Any:
            out = super().convert_condition_not(cond, state)
            prefix = self.not_token + self.token_separator
            if isinstance(out, str) and out.startswith(prefix):
                return f"{prefix}coalesce({out[len(prefix) :]}, false)"
            if isinstance(out, str):  # a backend change we have not seen: do not guess
                raise NotImplementedError(f"unexpected NOT form from the DuckDB backend: {out}")
            return out

    return _SigmaNullsDuckDB()


def duckdb_query(path: Path, pack: Pack) -> tuple[str, str, list[str]]:
    """(view SQL, query SQL, rule names): ``pack``'s single-event rules converted by pySigma's
    DuckDB backend, one boolean column per rule (in ``rule names`` order), one scan of
    ``path``; a row per record that matches any of them."""
    backend = _backend()
    fields: set[str] = {"eventSource", "eventName"}
    flags: list[tuple[str, str]] = []
    for rule in single_event_rules(pack):
        [query] = backend.convert_rule(rule)
        fields |= _rule_fields(rule)
        # Depending on the rule, the backend gives a full SELECT or only its condition.
        flags.append((rule.name, query.removeprefix("SELECT * FROM logs WHERE ")))
    columns: dict[str, str] = {"eventID": "VARCHAR", "eventTime": "VARCHAR"}
    exprs: list[str] = []
    for name in sorted(fields):
        top, _, rest = name.partition(".")
        if rest:
            columns[top] = "JSON"
            exprs.append(f"json_extract_string({top}, '$.{rest}') AS \"{name}\"")
        else:
            columns.setdefault(top, "VARCHAR")
            exprs.append(f'{top} AS "{name}"')
    select = ", ".join(exprs)
    spec = ", ".join(f"{k!r}: {v!r}" for k, v in columns.items())
    view = (
        f"CREATE VIEW logs AS SELECT eventID, eventTime, {select} "
        f"FROM read_ndjson('{_sql_str(path)}', columns={{{spec}}})"
    )
    cols = ", ".join(f'coalesce(({where}), false) AS "{name}"' for name, where in flags)
    where = " OR ".join(f"({w})" for _, w in flags)
    query = f"SELECT eventID, {cols} FROM logs WHERE {where}"
    return view, query, [name for name, _ in flags]


def rule_counts(path: Path, pack: Pack, threads: int = 1) -> Counter[str]:
    """Records of ``path`` each single-event rule matches, by DuckDB (for the agreement check)."""
    import duckdb

    view, query, names = duckdb_query(path, pack)
    con = duckdb.connect()
    con.execute(f"SET threads={threads}")
    con.execute(view)
    counts: Counter[str] = Counter()
    for row in con.execute(query).fetchall():
        counts.update(name for name, flag in zip(names, row[1:], strict=True) if flag)
    return counts


def _sql_str(path: Path) -> str:
    """``path`` inside a single-quoted SQL string."""
    return str(path).replace("'", "''")
