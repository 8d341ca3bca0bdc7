"""Property tests over every converter: hostile values and titles, real parsers, real meaning.

For a rule ``userAgent<modifier>: <value>`` (or the value with a trailing ``*`` / ``?``
wildcard) and a title, both drawn from quotes, backslashes, wildcards, query syntax, control
characters, line breaks and unicode, every target either refuses the rule with a reason or
writes an artefact that

* parses with the format's real parser (luqum for Lucene, eql's Elasticsearch syntax for EQL, a
  splitlines-based reader for savedsearches.conf, the JSON Schema of Kibana's rule import, the
  string-literal grammar of ES|QL), and
* still means the value where an offline engine exists: the matcher fires on the record whose
  userAgent carries the value and not on one without it, and so do the Splunk SPL (the
  project's SPL simulator), the Lucene query (Apache Lucene) and the EQL query (eql's
  PythonEngine), each over the documents its platform would index.

An evaluator that cannot reproduce a construct raises (never answers "no match"); such examples
keep their parse checks and are counted with ``hypothesis.event``.
"""

from __future__ import annotations

import copy
import json
import re
import tempfile
from pathlib import Path

import eql
import jsonschema
import luqum.parser
from fuzz_strategies import MODIFIERS, hostile_text, record, rule_yaml
from hypothesis import event, example, given
from hypothesis import strategies as st

from ses_sigma.convert.build import convert_rules
from ses_sigma.convert.splunk_app import ALERT_ACTIONS
from ses_sigma.match.engine import Engine
from ses_sigma.pack import Pack, load_pack
from ses_sigma.records import Record
from ses_sigma.verify.ecs import to_ecs
from ses_sigma.verify.eql_run import EqlRunError, run_eql
from ses_sigma.verify.lucene import LuceneQueryError, compile_query
from ses_sigma.verify.splunk_sim import SplError, event_from_record, run_spl

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "schemas" / "kibana_rule.schema.json").read_text("utf-8")
)
CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def _user_agents(value: str, modifier: str) -> tuple[str, str]:
    """A userAgent the rule must match, and one it must not."""
    hit = {
        "": value,
        "|contains": f"<{value}>",
        "|startswith": f"{value}>",
        "|endswith": f"<{value}",
        "*": f"{value}<any>",
        "?": f"{value}z",
    }
    return hit[modifier], ""


def _read_conf(text: str) -> dict[str, dict[str, str]]:
    stanzas: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    lines = iter(text.splitlines())
    for raw in lines:
        line = raw
        while line.endswith("\\"):
            line = line[:-1] + "\n" + next(lines, "")
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            current = stanzas.setdefault(stripped[1:-1], {})
            continue
        key, sep, val = line.partition("=")
        assert sep and current is not None, f"not a .conf line: {line!r}"
        current[key.strip()] = val.strip()
    return stanzas


_ESQL_STRING = re.compile(r'"((?:\\[tnr"\\]|[^"\\\n\r])*)"')


def _esql_strings(query: str) -> list[str]:
    """The string literals of an ES|QL query, decoded; AssertionError when a quote or a
    backslash is left outside a well-formed literal (ES|QL's QUOTED_STRING grammar)."""
    rest = _ESQL_STRING.sub("S", query)
    assert '"' not in rest and "\\" not in rest, query
    unescape = {"t": "\t", "n": "\n", "r": "\r", '"': '"', "\\": "\\"}
    return [
        re.sub(r"\\(.)", lambda m: unescape[m.group(1)], m.group(1))
        for m in _ESQL_STRING.finditer(query)
    ]


def _ids(rows: list) -> list[str]:
    return sorted(str(r) for r in rows)


def _check(pack: Pack, value: str, modifier: str, title: str) -> None:
    hit, miss = _user_agents(value, modifier)
    records = [record(hit, "fz-hit"), record(miss, "fz-miss")]

    # the matcher, the reference
    alerts = Engine(pack).run([Record.from_dict(copy.deepcopy(r)) for r in records])
    assert [a.event_ids for a in alerts] == [("fz-hit",)], (value, modifier)

    # Splunk: SPL (interpreted), savedsearches.conf (read back)
    spl_out = convert_rules(pack, "splunk", "spl")
    conf_out = convert_rules(pack, "splunk", "savedsearches")
    conf = _read_conf(str(conf_out.files["savedsearches.conf"]))
    if spl_out.refusals:
        assert spl_out.refusals[0].reason and not conf
    else:
        spl = str(spl_out.files["fz_rule.spl"]).rstrip("\n")
        assert "`" not in spl and not CONTROL.search(spl.replace("\n", " "))
        assert set(conf) == {"fz_rule"}
        assert set(conf["fz_rule"]) >= {
            "search",
            "description",
            *(f"action.{a}" for a in ALERT_ACTIONS),
        }
        assert conf["fz_rule"]["search"].replace(" \n", "\n") == spl
        try:
            rows = run_spl(spl, [event_from_record(copy.deepcopy(r)) for r in records])
            assert _ids([row["eventID"][0] for row in rows]) == ["fz-hit"], spl
        except SplError as exc:
            event(f"splunk: not interpreted: {str(exc)[:40]}")

    docs = [to_ecs(copy.deepcopy(r)) for r in records]

    lucene_out = convert_rules(pack, "lucene", None)
    lucene = None
    if not lucene_out.refusals:
        lucene = str(lucene_out.files["fz_rule.lucene"]).rstrip("\n")
        luqum.parser.parser.parse(lucene)
        try:
            got = compile_query(lucene).filter(docs)
            assert _ids([d["event"]["id"] for d in got]) == ["fz-hit"], lucene
        except LuceneQueryError as exc:
            event(f"lucene: not evaluated: {str(exc)[:40]}")

    eql_out = convert_rules(pack, "eql", None)
    if not eql_out.refusals:
        query = str(eql_out.files["fz_rule.eql"]).rstrip("\n")
        with eql.parser.elasticsearch_syntax, eql.parser.ignore_missing_functions:
            eql.parse_query(query)
        try:
            got = [m[0]["event"]["id"] for m in run_eql(query, docs)]
            assert got == ["fz-hit"], query
        except EqlRunError as exc:
            event(f"eql: not run: {str(exc)[:40]}")

    esql_out = convert_rules(pack, "esql", None)
    if not esql_out.refusals:
        query = str(esql_out.files["fz_rule.esql"])
        strings = _esql_strings(query)
        if modifier == "":
            assert value.lower() in strings, (query, value)

    kibana_out = convert_rules(pack, "kibana", None)
    for line in str(kibana_out.files.get("ses_sigma_detection_rules.ndjson", "")).splitlines():
        obj = json.loads(line)
        jsonschema.validate(obj, SCHEMA)
        assert obj["name"] == title
        assert obj["query"] == lucene
    if kibana_out.refusals:
        assert lucene is None


@given(value=hostile_text, modifier=st.sampled_from(MODIFIERS), title=hostile_text)
@example(value="GetAccount", modifier="", title="Plain")
@example(value='a"b\\c*d?e`f', modifier="|contains", title="T\r[x]\raction.script = 1")
@example(value="x\ny\rz", modifier="", title="\u2028")
def test_every_converter_escapes_or_refuses(
    value: str, modifier: str, title: str, lucene: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fz_rule.yml"
        path.write_text(rule_yaml(value, modifier, title), encoding="utf-8")
        _check(load_pack([path]), value, modifier, title)
