"""Live proof on a real Splunk: the fixtures' events indexed, each rule's search run, the
results compared with the matcher. Skipped unless ``SPLUNK_URL`` is set.

Environment:

* ``SPLUNK_URL``: the management endpoint (``https://localhost:8089``);
* ``SPLUNK_TOKEN`` (a bearer token) or ``SPLUNK_USERNAME`` + ``SPLUNK_PASSWORD``;
* ``SPLUNK_HEC_URL`` (``https://localhost:8088``) and ``SPLUNK_HEC_TOKEN``: the HTTP Event
  Collector the events are sent to (the token must allow the index);
* ``SPLUNK_INDEX`` (default ``main``); ``SPLUNK_VERIFY_TLS=0`` for a self-signed certificate.

The instance must extract CloudTrail JSON for ``sourcetype=aws:cloudtrail`` (the Splunk Add-on
for AWS, or ``KV_MODE = json`` for that sourcetype). Each case's events are shifted in time so
that they end an hour ago (relative times kept), tagged with a unique ``source``, and every
search is restricted to that source. The ad hoc search runs over the case's range; the saved
search runs once per 15-minute interval holding an event, over its look-back, as the schedule
would. First-seen alerts are compared after the learning period (a deployment precondition).
"""

from __future__ import annotations

import base64
import json
import math
import os
import ssl
import time
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from ses_sigma.convert.splunk import SplunkSearch, convert_rule
from ses_sigma.harness import Case, load_fixtures
from ses_sigma.match.engine import Engine
from ses_sigma.match.first_seen import FirstSeenSpec
from ses_sigma.pack import Pack, load_pack, rule_key
from ses_sigma.pipelines import UnmappedFieldError, splunk_field
from ses_sigma.records import Record, format_time

URL = os.environ.get("SPLUNK_URL")
pytestmark = pytest.mark.skipif(not URL, reason="SPLUNK_URL is not set (live Splunk proof)")

SOURCETYPE = 'sourcetype="aws:cloudtrail"'


def _context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if os.environ.get("SPLUNK_VERIFY_TLS", "1") == "0":
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _auth() -> str:
    token = os.environ.get("SPLUNK_TOKEN")
    if token:
        return f"Bearer {token}"
    user, password = os.environ["SPLUNK_USERNAME"], os.environ["SPLUNK_PASSWORD"]
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _request(url: str, data: bytes, headers: dict[str, str]) -> Any:
    req = urllib.request.Request(url, data=data, headers=headers, method="POST")
    with urllib.request.urlopen(req, context=_context(), timeout=120) as resp:
        return json.loads(resp.read().decode() or "null")


def send_events(events: list[dict[str, Any]], source: str) -> None:
    """Index the records through HEC (``time`` = eventTime, so ``_time`` is the event's)."""
    hec = os.environ["SPLUNK_HEC_URL"].rstrip("/") + "/services/collector/event"
    index = os.environ.get("SPLUNK_INDEX", "main")
    body = "\n".join(
        json.dumps(
            {
                "time": Record.from_dict(e).time,
                "sourcetype": "aws:cloudtrail",
                "source": source,
                "index": index,
                "event": e,
            }
        )
        for e in events
    )
    headers = {"Authorization": f"Splunk {os.environ['SPLUNK_HEC_TOKEN']}"}
    _request(hec, body.encode(), headers)


def search(spl: str, earliest: float, latest: float) -> list[dict[str, Any]]:
    """Run ``spl`` as a oneshot job over ``[earliest, latest)``; the result rows."""
    query = spl if spl.startswith("|") else "search " + spl
    params = {
        "search": query,
        "exec_mode": "oneshot",
        "output_mode": "json",
        "count": "0",
        "earliest_time": f"{earliest:.6f}",
        "latest_time": f"{latest:.6f}",
    }
    url = URL.rstrip("/") + "/services/search/jobs"  # type: ignore[union-attr]
    data = urllib.parse.urlencode(params).encode()
    out = _request(url, data, {"Authorization": _auth()})
    return list(out.get("results", []))


def restrict(spl: str, source: str) -> str:
    """Every base search of ``spl`` restricted to one case's events."""
    assert SOURCETYPE in spl
    return spl.replace(SOURCETYPE, f'{SOURCETYPE} source="{source}"')


def shifted(events: tuple[dict[str, Any], ...]) -> tuple[list[dict[str, Any]], float]:
    """The events moved by whole seconds so that the last one is an hour old; the shift."""
    last = max(Record.from_dict(e).time for e in events)
    shift = math.floor(time.time() - 3600 - last)
    out = []
    for e in events:
        copy = dict(e)
        copy["eventTime"] = format_time(Record.from_dict(e).time + shift)
        out.append(copy)
    return out, shift


def column(name: str) -> str:
    try:
        return splunk_field(name)
    except UnmappedFieldError:
        return name


def rows_as_alerts(rows: list[dict[str, Any]], groups: list[str]) -> list[tuple]:
    out = []
    for row in rows:
        ids = row.get("sigma_event_ids") or row["eventID"]
        ids = [ids] if isinstance(ids, str) else ids
        group = tuple((g, str(row[g])) for g in groups)
        out.append((_seconds(row["_time"]), tuple(ids), group))
    return sorted(out)


def _seconds(value: str) -> float:
    """``_time`` as REST returns it (ISO 8601 with offset, or epoch seconds)."""
    try:
        return float(value)
    except ValueError:
        return datetime.fromisoformat(value).timestamp()


def wait_indexed(source: str, count: int, earliest: float, latest: float) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        rows = search(f'{SOURCETYPE} source="{source}" | stats count', earliest, latest)
        if rows and int(rows[0]["count"]) >= count:
            return
        time.sleep(2)
    raise AssertionError(f"{count} events of {source} not searchable after 120s")


@pytest.fixture(scope="module")
def pack() -> Pack:
    return load_pack()


def _cases() -> list[Case]:
    return load_fixtures(rule_names=[rule_key(r) for r in load_pack()])


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c.id)
def test_fixture_case_on_live_splunk_equals_the_matcher(case: Case, pack: Pack) -> None:
    result = convert_rule(pack, pack.get(case.rule))
    assert isinstance(result, SplunkSearch), result
    events, shift = shifted(case.events)
    records = [Record.from_dict(e) for e in events]
    rule = pack.get(case.rule)
    spec = FirstSeenSpec.from_rule(rule) if isinstance(rule, SigmaRule) else None
    if isinstance(rule, SigmaCorrelationRule):
        names = list(rule.group_by or [])
    else:
        names = list(spec.fields) if spec else []
    groups = [column(n) for n in names]
    want = sorted(
        (a.time, a.event_ids, tuple((column(k), str(v)) for k, v in a.group))
        for a in Engine(pack).run(records)
        if a.rule_name == case.rule
    )
    source = f"ses-sigma-test:{case.id}:{uuid.uuid4()}"
    send_events(events, source)
    first = min(r.time for r in records)
    last = max(r.time for r in records)
    wait_indexed(source, len({(r.time, r.event_id) for r in records}), first, last + 1)

    adhoc = rows_as_alerts(search(restrict(result.spl, source), first, last + 1), groups)
    sched = result.schedule
    scheduled: list[tuple] = []
    for end in sorted(
        {(math.floor(r.time / sched.interval) + 1) * sched.interval for r in records}
    ):
        rows = search(restrict(result.scheduled, source), end - sched.lookback, end)
        scheduled.extend(rows_as_alerts(rows, groups))
    scheduled.sort()
    if spec is not None:
        start = first + spec.learning_period
        adhoc = [a for a in adhoc if a[0] >= start]
        scheduled = [a for a in scheduled if a[0] >= start]
    detail = f"shift {shift}s, now {datetime.now(tz=UTC).isoformat()}"
    assert adhoc == want, detail
    assert scheduled == want, detail
