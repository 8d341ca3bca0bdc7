"""Hostile rule text in every artefact: escaped for the format, or refused with the reason.

Each artefact is read back with a reader of its format: savedsearches.conf with a reader that
honours every line break Python's ``str.splitlines`` knows (CR among them) and backslash
continuations; Lucene with luqum; EQL with eql's parser (Elasticsearch syntax); the terminal
output of ``scan --format table`` and of ``convert``'s messages byte for byte.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import eql
import jsonschema
import luqum.parser
import pytest
from click.testing import CliRunner

from ses_sigma.cli import main
from ses_sigma.convert.build import convert_rules
from ses_sigma.convert.splunk_app import ALERT_ACTIONS
from ses_sigma.pack import DEFAULT_RULES_DIR, load_pack

GOOD = DEFAULT_RULES_DIR / "aws_ses_identity_deleted.yml"
STANZA_KEYS = {
    "description",
    "search",
    "disabled",
    "enableSched",
    "cron_schedule",
    "dispatch.earliest_time",
    "dispatch.latest_time",
    "counttype",
    "relation",
    "quantity",
    "alert.digest_mode",
    "alert.severity",
    "alert.suppress",
    "alert.track",
    *(f"action.{a}" for a in ALERT_ACTIONS),
}


def rule_text(title: str = "T", value: str | None = None, modifier: str = "") -> str:
    """The pack's deletion rule renamed ``hx_rule``, with a title and a userAgent condition."""
    text = GOOD.read_text(encoding="utf-8")
    text = text.replace("name: aws_ses_identity_deleted", "name: hx_rule")
    text = text.replace("be7f7a63-c9e1-4f11-9a0f-0f7277506925", str(uuid.uuid4()))
    text = text.replace("title: AWS SES Sender Identity Deleted", f"title: {json.dumps(title)}")
    if value is not None:
        anchor = "      - DeleteVerifiedEmailAddress\n"
        text = text.replace(anchor, f"{anchor}    userAgent{modifier}: {json.dumps(value)}\n")
    return text


def pack_of(tmp_path: Path, text: str):
    (tmp_path / "hx_rule.yml").write_text(text, encoding="utf-8")
    return load_pack([tmp_path / "hx_rule.yml"])


def read_conf(text: str) -> dict[str, dict[str, str]]:
    """A .conf reader as strict as the most lenient one: splitlines() breaks (CR, VT, FF,
    U+001C..1E, NEL, U+2028/9 too), backslash continuations, ``#`` comments."""
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
        key, sep, value = line.partition("=")
        assert sep and current is not None, f"not a .conf line: {line!r}"
        current[key.strip()] = value.strip()
    return stanzas


CONF_ATTACKS = [
    "Title\r[evil]\raction.script = 1",
    "Title\raction.script = 1",
    "Title\x0baction.script = 1",
    "Title\u2028action.script = 1",
    "Title\x85action.script = 1",
    "Title ending in a backslash \\",
]


@pytest.mark.parametrize("title", CONF_ATTACKS)
def test_savedsearches_title_cannot_add_keys_or_stanzas(tmp_path: Path, title: str) -> None:
    pack = pack_of(tmp_path, rule_text(title=title))
    for fmt, path in (
        ("savedsearches", "savedsearches.conf"),
        ("app", "ses_sigma/default/savedsearches.conf"),
    ):
        out = convert_rules(pack, "splunk", fmt)
        conf = read_conf(str(out.files[path]))
        assert set(conf) == {"hx_rule"}, conf
        # The deletion rule carries a suppression attribute: Splunk throttling keys, no others.
        assert set(conf["hx_rule"]) == STANZA_KEYS | {
            "alert.suppress.fields",
            "alert.suppress.period",
        }
        assert conf["hx_rule"]["search"].startswith('sourcetype="aws:cloudtrail"')
        assert conf["hx_rule"]["description"].startswith("Title")


@pytest.mark.parametrize(
    "value", ["x\ry", "x\r[evil]\raction.script = 1", "x\ny", "x\x0by", "x\u2028y", "a\x00b"]
)
def test_splunk_refuses_values_with_line_breaks(tmp_path: Path, value: str) -> None:
    pack = pack_of(tmp_path, rule_text(value=value))
    out = convert_rules(pack, "splunk", "savedsearches")
    assert [r.rule for r in out.refusals] == ["hx_rule"]
    assert "control character" in out.refusals[0].reason
    assert set(read_conf(str(out.files["savedsearches.conf"]))) == set()


@pytest.mark.parametrize(
    ("value", "modifier"), [("a`b`c", ""), ("`evil_macro`", "|contains"), ("a`b", "|re")]
)
def test_splunk_refuses_backticks(tmp_path: Path, value: str, modifier: str) -> None:
    pack = pack_of(tmp_path, rule_text(value=value, modifier=modifier))
    out = convert_rules(pack, "splunk", "spl")
    assert not out.files
    assert "backtick" in out.refusals[0].reason and "macro" in out.refusals[0].reason


def test_splunk_quotes_and_pipes_stay_inside_the_value(tmp_path: Path) -> None:
    pack = pack_of(tmp_path, rule_text(value='a" | delete | search "b\\'))
    spl = str(convert_rules(pack, "splunk", "spl").files["hx_rule.spl"])
    assert 'userAgent="a\\" | delete | search \\"b\\\\"' in spl


@pytest.mark.parametrize(
    "value", ["x\ny", "x\ry", "a\x01b", "a\x1cb", "a\u2028b", "12\x1f", "\t", "a\tb"]
)
def test_lucene_refuses_control_characters(tmp_path: Path, value: str) -> None:
    pack = pack_of(tmp_path, rule_text(value=value))
    out = convert_rules(pack, "lucene", None)
    assert not out.files, out.files
    assert "control character" in out.refusals[0].reason


@pytest.mark.parametrize(
    "value", ['quo"te', "back\\slash", "a:b (c) [d] {e} ~f ^g !h", "sp ace", "ünï"]
)
def test_lucene_output_parses(tmp_path: Path, value: str) -> None:
    pack = pack_of(tmp_path, rule_text(value=value))
    out = convert_rules(pack, "lucene", None)
    for query in out.files.values():
        luqum.parser.parser.parse(str(query))  # raises on a query that does not parse


@pytest.mark.parametrize("value", ['quo"te', "x\ny", "x\ry", "tab\tx", "ünï", "a'b"])
def test_eql_and_esql_escape_strings(tmp_path: Path, value: str) -> None:
    pack = pack_of(tmp_path, rule_text(value=value))
    eql_out = convert_rules(pack, "eql", None)
    with eql.parser.elasticsearch_syntax, eql.parser.ignore_missing_functions:
        for query in eql_out.files.values():
            eql.parse_query(str(query))
    esql_out = convert_rules(pack, "esql", None)
    assert esql_out.files or esql_out.refusals
    for esql in esql_out.files.values():
        body = str(esql).split("\n", 1)[1]
        assert "\r" not in body and body.count("\n") == 1  # only the final newline


def cloudtrail(event_id: str, user_agent: str) -> dict:
    return {
        "eventVersion": "1.08",
        "eventTime": "2025-03-11T10:00:00Z",
        "eventSource": "ses.amazonaws.com",
        "eventName": "DeleteIdentity",
        "awsRegion": "us-east-1",
        "eventID": event_id,
        "userAgent": user_agent,
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/\x1b]0;pwned\x07x"},
        "requestParameters": {"identity": "x@example.com"},
        "recipientAccountId": "111122223333",
    }


def test_scan_table_escapes_log_text(tmp_path: Path) -> None:
    hostile_id = "\x1b[2J\x1b[31m[bold red]fake[/bold red]\r\nrow"
    (tmp_path / "trail.json").write_text(
        json.dumps({"Records": [cloudtrail(hostile_id, "ua")]}), encoding="utf-8"
    )
    result = CliRunner().invoke(
        main, ["scan", "--format", "table", str(tmp_path)], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout and "\r" not in result.stdout
    flat = "".join(result.stdout.split()).replace("│", "")
    assert "\\x1b[2J\\x1b[31m[boldred]fake[/boldred]\\x0d\\x0arow" in flat


def test_scan_messages_escape_file_names(tmp_path: Path) -> None:
    (tmp_path / "bad\x1b[2Jname\r.json").write_text("{not json", encoding="utf-8")
    result = CliRunner().invoke(main, ["scan", str(tmp_path)])
    assert result.exit_code == 1
    assert "\x1b" not in result.stderr and "\r" not in result.stderr
    assert "bad\\x1b[2Jname\\x0d.json" in result.stderr


def test_convert_messages_escape_rule_text(tmp_path: Path) -> None:
    pack_of(tmp_path, rule_text(value="\x1b[2Jx\ry"))
    result = CliRunner().invoke(main, ["convert", "-t", "lucene", "--rules", str(tmp_path)])
    assert result.exit_code == 1
    assert "\x1b" not in result.stderr and "\r" not in result.stderr
    assert "control character" in result.stderr


def test_lone_surrogate_in_a_rule_is_named_not_a_crash(tmp_path: Path) -> None:
    text = rule_text().replace('title: "T"', 'title: "broken \\ud800 text"')
    pack_of(tmp_path, text)
    out = tmp_path / "out"
    runner = CliRunner()
    stopped = runner.invoke(
        main, ["convert", "-t", "kibana", "--rules", str(tmp_path), "-o", str(out)]
    )
    assert stopped.exit_code == 2 and "lone surrogate" in stopped.stderr
    skipped = runner.invoke(
        main, ["convert", "--all", "--skip-unsupported", "--rules", str(tmp_path), "-o", str(out)]
    )
    assert skipped.exit_code == 0 and "hx_rule.yml" in skipped.stderr


def test_lone_surrogate_in_a_log_is_printed_as_an_escape(tmp_path: Path) -> None:
    raw = json.dumps({"Records": [cloudtrail("id-\ud800", "ua")]})  # json writes \ud800
    (tmp_path / "trail.json").write_text(raw, encoding="utf-8")
    result = CliRunner().invoke(main, ["scan", str(tmp_path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    alerts = [json.loads(line) for line in result.stdout.splitlines()]
    assert alerts  # the record is read (orjson refuses it, the salvage path takes it)
    assert all(alert["event_ids"] == ["id-\ud800"] for alert in alerts)


KIBANA_SCHEMA = json.loads(
    (Path(__file__).parents[1] / "schemas" / "kibana_rule.schema.json").read_text("utf-8")
)


@pytest.mark.parametrize("title", ['T"itle\\', "T\r\ni\u2028t\u2029l\x85e", "\x1b[2J", "ünï ✓"])
def test_kibana_ndjson_keeps_one_rule_per_line(tmp_path: Path, title: str) -> None:
    pack = pack_of(tmp_path, rule_text(title=title, value="x"))
    text = str(convert_rules(pack, "kibana", None).files["ses_sigma_detection_rules.ndjson"])
    [line] = text.splitlines()  # splitlines: the strictest line reader there is
    obj = json.loads(line)
    jsonschema.validate(obj, KIBANA_SCHEMA)
    assert obj["name"] == title
