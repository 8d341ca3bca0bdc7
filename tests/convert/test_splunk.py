"""The splunk target on the pack: every rule in every format, the SPL of each rule, the
savedsearches.conf (parsed by a strict .conf parser), the app directory and its .tgz, and
splunk-appinspect when it is installed."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaConversionError

from ses_sigma import __version__
from ses_sigma.convert.base import ConversionOutput, get_target
from ses_sigma.convert.build import write_output
from ses_sigma.convert.common import Schedule
from ses_sigma.convert.splunk import SplunkSearch, convert_rule
from ses_sigma.convert.splunk_app import (
    SavedSearch,
    cron_for,
    relative_time,
    render_savedsearches,
    tgz,
)
from ses_sigma.match.suppression import SuppressionSpec
from ses_sigma.pack import Pack, load_pack, rule_key

SUCCESS = '(NOT errorCode=* OR errorCode="null") OR errorCode="success"'
PACK_RULES = {
    "aws_ses_discovery_long_term_key",
    "aws_ses_enumeration_new_principal",
    "aws_ses_feedback_forwarding_disabled",
    "aws_ses_identity_added_then_deleted",
    "aws_ses_identity_created",
    "aws_ses_identity_deleted",
    "aws_ses_identity_modification_attempt",
    "aws_ses_identity_policy_changed",
    "aws_ses_production_access_requested",
    "aws_ses_quota_increase_requested",
    "aws_ses_receipt_rule_changed",
    "aws_ses_sending_enabled",
    "aws_ses_smtp_user_created",
}


@pytest.fixture(scope="module")
def pack() -> Pack:
    return load_pack()


@pytest.fixture(scope="module")
def outputs(pack: Pack) -> dict[str, ConversionOutput]:
    target = get_target("splunk")
    return {fmt: target.convert(pack, list(pack), fmt) for fmt in target.formats}


@pytest.fixture(scope="module")
def spl(outputs: dict[str, ConversionOutput]) -> dict[str, str]:
    files = outputs["spl"].files
    assert all(str(text).endswith("\n") for text in files.values())
    return {name.removesuffix(".spl"): str(text).removesuffix("\n") for name, text in files.items()}


# --- a strict .conf parser (Splunk's rules) ---------------------------------------------------


class ConfError(ValueError):
    pass


def parse_conf(text: str) -> dict[str, dict[str, str]]:
    """``[stanza]`` headers, ``key = value``, whole-line ``#`` comments, blank lines, and values
    continued by a trailing backslash (the newline is kept). Anything else is an error, as are
    duplicate stanzas, duplicate keys and keys outside a stanza."""
    stanzas: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    lines = text.split("\n")
    if lines[-1] != "":
        raise ConfError("file does not end with a newline")
    i = 0
    while i < len(lines) - 1:
        line = lines[i]
        i += 1
        if not line.strip() or line.startswith("#"):
            continue
        header = re.fullmatch(r"\[([^\[\]]*)\]", line)
        if header:
            name = header.group(1)
            if name in stanzas:
                raise ConfError(f"line {i}: duplicate stanza [{name}]")
            current = stanzas[name] = {}
            continue
        kv = re.fullmatch(r"([A-Za-z0-9_.:-]+) = (.*)", line)
        if kv is None:
            raise ConfError(f"line {i}: not a stanza, key = value, comment or blank: {line!r}")
        if current is None:
            raise ConfError(f"line {i}: key outside a stanza")
        key, value = kv.group(1), kv.group(2)
        while value.endswith("\\"):
            if i >= len(lines) - 1:
                raise ConfError(f"line {i}: continuation at end of file")
            value = value[:-1] + "\n" + lines[i]
            i += 1
        if key in current:
            raise ConfError(f"line {i}: duplicate key {key}")
        current[key] = value
    return stanzas


def test_conf_parser_is_strict() -> None:
    assert parse_conf("[a]\nk = v \\\nw\n") == {"a": {"k": "v \nw"}}
    for bad in ("k = v\n", "[a]\nnot a line\n", "[a]\nk = 1\nk = 2\n", "[a]\n[a]\n", "[a]"):
        with pytest.raises(ConfError):
            parse_conf(bad)


# --- every rule, every format -----------------------------------------------------------------


def test_every_pack_rule_converts_in_every_format(
    pack: Pack, outputs: dict[str, ConversionOutput]
) -> None:
    assert {rule_key(r) for r in pack} == PACK_RULES
    for fmt, out in outputs.items():
        assert out.refusals == [], fmt
    assert set(outputs["spl"].files) == {f"{name}.spl" for name in PACK_RULES}
    conf = parse_conf(str(outputs["savedsearches"].files["savedsearches.conf"]))
    assert set(conf) == PACK_RULES


def test_conversion_is_deterministic_and_leaves_the_pack_alone(pack: Pack) -> None:
    rule = pack.get("aws_ses_identity_deleted")
    fields_before = list(rule.fields)
    target = get_target("splunk")
    first = target.convert(pack, list(pack), "app").files
    second = target.convert(pack, list(reversed(list(pack))), "app").files
    assert first == second
    assert rule.fields == fields_before  # converted from a fresh copy, not from this object
    with pytest.raises(SigmaConversionError):  # the caller's rule object was never converted
        rule.get_conversion_result()


def test_selected_rules_only(pack: Pack) -> None:
    out = get_target("splunk").convert(
        pack, [pack.get("aws_ses_identity_added_then_deleted")], "spl"
    )
    # The correlation carries its base rules' searches; they get no file of their own here.
    assert list(out.files) == ["aws_ses_identity_added_then_deleted.spl"]


# --- the SPL of each pack rule ----------------------------------------------------------------


def _search_part(text: str) -> str:
    return text.split("\n| ")[0]


@pytest.mark.parametrize(
    ("rule", "names", "success"),
    [
        ("aws_ses_identity_created", ["VerifyEmailIdentity", "CreateEmailIdentity"], True),
        ("aws_ses_identity_deleted", ["DeleteIdentity", "DeleteEmailIdentity"], True),
        ("aws_ses_discovery_long_term_key", ["GetAccount", "GetAccountSendingEnabled"], False),
        ("aws_ses_identity_modification_attempt", ["VerifyEmailIdentity", "DeleteIdentity"], False),
    ],
)
def test_single_event_rule_spl(spl: dict[str, str], rule: str, names: list[str], success: bool):
    text = spl[rule]
    search = _search_part(text)
    assert search.startswith('sourcetype="aws:cloudtrail" eventSource="ses.amazonaws.com" ')
    assert re.search(r"eventName IN \(([^)]*)\)", search)
    listed = re.search(r"eventName IN \(([^)]*)\)", search).group(1)  # type: ignore[union-attr]
    for name in names:
        assert f'"{name}"' in listed
    assert (SUCCESS in search) is success
    assert ("errorCode" in search) is success  # refused calls count for the attempt rule
    # Output: the event's time and id first, then the rule's fields; nothing else is piped.
    assert text.count("\n| ") == 1
    assert text.split("\n| ")[1].startswith("table _time eventID userIdentity.arn ")
    for bad in ("| bin", "| regex", "| rex", "transaction"):
        assert bad not in text


def test_long_term_key_prefix_is_a_wildcard(spl: dict[str, str]) -> None:
    assert 'userIdentity.accessKeyId="AKIA*"' in spl["aws_ses_discovery_long_term_key"]


def test_correlation_spl(spl: dict[str, str]) -> None:
    text = spl["aws_ses_identity_added_then_deleted"]
    lines = text.split("\n")
    assert lines[0] == "| multisearch"
    created = _search_part(spl["aws_ses_identity_created"])
    deleted = _search_part(spl["aws_ses_identity_deleted"])
    # Each subsearch is the base rule's own search, tagged with its step and its group value.
    identity = (
        "coalesce(nullif('requestParameters.emailIdentity', \"null\"), "
        "nullif('requestParameters.emailAddress', \"null\"), "
        "nullif('requestParameters.domain', \"null\"), "
        "nullif('requestParameters.identity', \"null\"))"
    )
    assert lines[1] == (
        f'[ search {created} | eval sigma_base_rule="aws_ses_identity_created", '
        f"sigma_step_1=1, sigma_group_1='userIdentity.arn', sigma_group_2={identity} ]"
    )
    assert lines[2] == (
        f'[ search {deleted} | eval sigma_base_rule="aws_ses_identity_deleted", '
        f"sigma_step_2=1, sigma_group_1='userIdentity.arn', sigma_group_2={identity} ]"
    )
    stages = [line.split(" ")[1] for line in lines[3:]]
    assert stages == [
        "stats", "where", "fillnull", "sort", "streamstats", "where", "eval", "rename", "table",
    ]  # fmt: skip
    # One row per (event, principal, identity); order by (time, step, eventID): the tie rule;
    # the previous row of the same group; the sliding, inclusive one-hour window in seconds.
    assert lines[3].endswith(" by _time eventID sigma_group_1 sigma_group_2")
    assert lines[6] == "| sort 0 num(_time) num(sigma_step_2) str(eventID)"
    assert lines[7].startswith("| streamstats current=f window=1 global=f last(_time) as ")
    assert lines[7].endswith(" by sigma_group_1 sigma_group_2")
    assert lines[8] == (
        "| where sigma_step_2=1 AND sigma_prev_step_1=1 AND _time - sigma_prev_time <= 3600"
    )
    assert "sigma_event_ids=mvappend(sigma_prev_event_id, eventID)" in lines[9]
    assert lines[10] == "| rename sigma_group_1 as userIdentity.arn, sigma_group_2 as sesIdentity"
    for fixed_bucket in ("bin ", "span=", "bucket", "transaction"):
        assert fixed_bucket not in text


def test_first_seen_spl(spl: dict[str, str]) -> None:
    text = spl["aws_ses_enumeration_new_principal"]
    lines = text.split("\n")
    search = lines[0]
    assert search.startswith('sourcetype="aws:cloudtrail" (eventSource="ses.amazonaws.com" ')
    assert 'OR (eventSource="servicequotas.amazonaws.com" eventName="ListServiceQuotas" ' in search
    assert search.endswith(
        'NOT (sourceIPAddress="*.amazonaws.com" OR userIdentity.type="AWSService" OR '
        'userIdentity.invokedBy="*.amazonaws.com")'
    )
    assert lines[1:7] == [
        "| eval sigma_seen_1=coalesce(nullif('userIdentity.sessionContext.sessionIssuer.arn', "
        '"null"), nullif(\'userIdentity.arn\', "null"))',
        '| where isnotnull(sigma_seen_1) AND sigma_seen_1!="null"',
        "| sort 0 num(_time) str(eventID)",
        "| streamstats current=f window=1 global=f last(_time) as sigma_last_seen by sigma_seen_1",
        "| where isnull(sigma_last_seen) OR _time - sigma_last_seen > 2592000",  # 30d, exclusive
        "| rename sigma_seen_1 as sesPrincipal",
    ]
    assert lines[7].startswith("| table _time sesPrincipal eventID ")


# --- savedsearches.conf ---------------------------------------------------------------------

REQUIRED_KEYS = {
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
}


@pytest.fixture(scope="module")
def conf(outputs: dict[str, ConversionOutput]) -> dict[str, dict[str, str]]:
    return parse_conf(str(outputs["savedsearches"].files["savedsearches.conf"]))


def test_savedsearches_header_and_order(outputs: dict[str, ConversionOutput]) -> None:
    text = str(outputs["savedsearches"].files["savedsearches.conf"])
    assert text.startswith(f"# Generated by ses-sigma {__version__} ")
    assert "do not edit" in text.splitlines()[0]
    stanzas = re.findall(r"^\[(.*)\]$", text, re.MULTILINE)
    assert stanzas == sorted(stanzas)
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text.split("\n\n")[0])  # no timestamp


def test_every_stanza_is_complete(conf: dict[str, dict[str, str]], pack: Pack) -> None:
    for name, keys in conf.items():
        assert set(keys) >= REQUIRED_KEYS, (name, REQUIRED_KEYS - set(keys))
        assert keys["enableSched"] == "1"
        assert keys["cron_schedule"] == "*/15 * * * *"
        assert keys["dispatch.latest_time"] == "-15m@m"
        assert (keys["counttype"], keys["relation"], keys["quantity"]) == (
            "number of events",
            "greater than",
            "0",
        )
        assert keys["alert.digest_mode"] == "0"  # one alert per result, as the matcher
        suppression = SuppressionSpec.from_rule(pack.get(name))
        if suppression is None:
            assert keys["alert.suppress"] == "0"
        else:  # throttling per result on the rule's suppression fields and period
            assert keys["alert.suppress"] == "1"
            assert keys["alert.suppress.fields"] == ",".join(suppression.fields)
            assert keys["alert.suppress.period"] in ("1h", "1d")
        actions = {k: v for k, v in keys.items() if k.startswith("action.")}
        assert actions and set(actions.values()) == {"0"}


@pytest.mark.parametrize(
    ("rule", "earliest", "severity"),
    [
        ("aws_ses_identity_created", "-30m@m", "2"),  # informational
        ("aws_ses_identity_deleted", "-30m@m", "3"),  # low
        ("aws_ses_identity_added_then_deleted", "-90m@m", "4"),  # medium: 1h window + 15m + 15m
        ("aws_ses_enumeration_new_principal", "-43230m@m", "4"),  # 30d + 15m + 15m
    ],
)
def test_look_back_and_severity(
    conf: dict[str, dict[str, str]], rule: str, earliest: str, severity: str
) -> None:
    assert conf[rule]["dispatch.earliest_time"] == earliest
    assert conf[rule]["alert.severity"] == severity


def test_scheduled_search_is_the_spl_plus_the_interval_filter(
    conf: dict[str, dict[str, str]], spl: dict[str, str]
) -> None:
    window = (
        "\n| addinfo\n| where _time >= info_max_time - 900\n"
        "| fields - info_min_time info_max_time info_search_time info_sid"
    )
    for name in PACK_RULES:
        stateful = name in (
            "aws_ses_identity_added_then_deleted",
            "aws_ses_enumeration_new_principal",
        )
        expected = spl[name] + (window if stateful else "")
        assert conf[name]["search"] == expected, name


def test_first_seen_description_states_the_precondition(conf: dict[str, dict[str, str]]) -> None:
    text = conf["aws_ses_enumeration_new_principal"]["description"]
    assert "Deployment precondition: enable this search only once at least 7d" in text
    assert "30d (forget_after)" in text
    assert "\n" not in text
    assert "Deployment precondition" not in conf["aws_ses_identity_deleted"]["description"]


# --- the app ------------------------------------------------------------------------------

APP_FILES = {
    "ses_sigma/README.md",
    "ses_sigma/default/app.conf",
    "ses_sigma/default/savedsearches.conf",
    "ses_sigma/metadata/default.meta",
}


def test_app_layout_and_app_conf(outputs: dict[str, ConversionOutput]) -> None:
    files = outputs["app"].files
    assert set(files) == APP_FILES | {"ses_sigma.tgz"}
    app = parse_conf(str(files["ses_sigma/default/app.conf"]))
    assert set(app) >= {"launcher", "package", "ui", "install", "id"}
    assert app["launcher"]["version"] == __version__
    assert app["id"] == {"name": "ses_sigma", "version": __version__}
    assert app["package"]["id"] == "ses_sigma"
    assert app["ui"]["is_visible"] == "false"
    assert (
        files["ses_sigma/default/savedsearches.conf"]
        == (outputs["savedsearches"].files["savedsearches.conf"])
    )
    meta = parse_conf(str(files["ses_sigma/metadata/default.meta"]))
    assert meta[""]["export"] == "system"


def test_tgz_is_deterministic_and_holds_the_app(pack: Pack, outputs: dict[str, ConversionOutput]):
    blob = outputs["app"].files["ses_sigma.tgz"]
    assert isinstance(blob, bytes)
    again = get_target("splunk").convert(pack, list(pack), "app").files["ses_sigma.tgz"]
    assert blob == again
    assert blob[4:8] == b"\x00\x00\x00\x00"  # gzip header mtime 0
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names == sorted(names)
        files = {m.name: tar.extractfile(m).read().decode() for m in members if m.isfile()}  # type: ignore[union-attr]
        assert {m.name for m in members if m.isdir()} == {
            "ses_sigma",
            "ses_sigma/default",
            "ses_sigma/metadata",
        }
        for m in members:
            assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (0, 0, 0, "root", "root")
    assert files == {k: v for k, v in outputs["app"].files.items() if k != "ses_sigma.tgz"}


def _appinspect() -> str | None:
    """The splunk-appinspect CLI: $SPLUNK_APPINSPECT, next to this Python, or on PATH."""
    candidates = [
        os.environ.get("SPLUNK_APPINSPECT"),
        str(Path(sys.executable).with_name("splunk-appinspect")),
        shutil.which("splunk-appinspect"),
    ]
    return next((c for c in candidates if c and Path(c).is_file()), None)


@pytest.mark.skipif(
    _appinspect() is None,
    reason="splunk-appinspect is not installed (pip install splunk-appinspect==4.3.1, or set "
    "SPLUNK_APPINSPECT to its CLI)",
)
def test_app_passes_appinspect(outputs: dict[str, ConversionOutput], tmp_path: Path) -> None:
    write_output(outputs["app"].files, tmp_path)
    report = tmp_path / "report.json"
    cli = _appinspect()
    assert cli is not None
    run = subprocess.run(
        [cli, "inspect", str(tmp_path / "ses_sigma.tgz"), "--data-format", "json",
         "--output-file", str(report)],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    import json

    data = json.loads(report.read_text())
    bad = [
        (check["name"], check["result"], [m.get("message") for m in check["messages"]])
        for rep in data["reports"]
        for group in rep["groups"]
        for check in group["checks"]
        if check["result"] in ("failure", "error", "warning", "manual_check")
    ]
    assert bad == []
    summary = data["summary"]
    assert summary["failure"] == 0 and summary["error"] == 0 and summary["success"] > 50


# --- refusals of the target (the pack has none) --------------------------------------------


def test_convert_rule_returns_searches(pack: Pack) -> None:
    for rule in pack:
        result = convert_rule(pack, rule)
        assert isinstance(result, SplunkSearch), result
        assert result.name == rule_key(rule)
        kind = isinstance(rule, SigmaCorrelationRule)
        assert (result.schedule.window == 3600) is kind or result.schedule.window == 2592000


# --- the rendering helpers ------------------------------------------------------------------


def test_cron_and_relative_times() -> None:
    assert cron_for(900) == "*/15 * * * *"
    assert cron_for(60) == "* * * * *"
    for bad in (90, 420, 0):
        with pytest.raises(ValueError):
            cron_for(bad)
    assert relative_time(900) == "-15m@m"
    assert relative_time(0) == "now"
    assert relative_time(1890, round_up=True) == "-32m@m"
    with pytest.raises(ValueError):
        relative_time(1890)


def _saved(name: str, search: str) -> SavedSearch:
    return SavedSearch(name, "T", "d", search, Schedule(900, 900, 0), 3)


def test_conf_values_survive_continuations() -> None:
    search = "x=1\n" + r"| where p=\\" + "\n| table x"  # the second line ends in a backslash
    assert search.split("\n")[1].endswith("\\")
    conf = parse_conf(render_savedsearches([_saved("b", search), _saved("a", "y")]))
    assert list(conf) == ["a", "b"]
    # That line gets a space, so that it is not read as a continuation of the value.
    assert conf["b"]["search"] == search.replace("\\\n", "\\ \n")
    assert conf["b"]["search"].count("\n") == 2
    with pytest.raises(ValueError, match="duplicate"):
        render_savedsearches([_saved("a", "x"), _saved("a", "y")])
    with pytest.raises(ValueError, match="stanza name"):
        render_savedsearches([_saved("a]b", "x")])


def test_tgz_refuses_unsafe_paths() -> None:
    for bad in ("../x", "/abs", "a//b", "a/../b"):
        with pytest.raises(ValueError, match="not a safe archive path"):
            tgz({bad: "x"})
