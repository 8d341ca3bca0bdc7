"""Live proof against a real Elasticsearch (skipped unless ``ELASTICSEARCH_URL`` is set).

For every fixture case, the case's ECS documents (``ses_sigma.verify.ecs.to_ecs``) are indexed
into a fresh index mapped like the AWS integration's data stream
(``ses_sigma.verify.mapping``), and the converted queries run through Elasticsearch's own APIs:
EQL via ``_eql/search`` (tiebreaker ``event.id``, as the kibana rule sets it), Lucene via
``_search`` with a ``query_string`` query (what Kibana's Lucene language sends), ES|QL via
``_query`` (its ``FROM`` pointed at the test index). Every result must equal the matcher's
alerts, case by case, as in the offline proof (test_elastic_proof.py).

``ELASTICSEARCH_URL`` is the cluster URL (``http://localhost:9200``, credentials in the URL
if needed: ``https://user:password@host:9200``); set ``ELASTICSEARCH_CA_CERTS=false`` to skip
TLS verification of a test cluster. Indices are named ``ses-sigma-proof-*`` and deleted after
each case. Nothing here runs without the variable: the default test run never touches the
network.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import ssl
import urllib.parse
import urllib.request
import uuid
from typing import Any

import pytest

from ses_sigma.convert.elastic import eql_query, esql_query, lucene_query
from ses_sigma.convert.elastic_common import INDEX_PATTERNS
from ses_sigma.harness import Case, load_fixtures
from ses_sigma.match.engine import Engine
from ses_sigma.pack import load_pack, rule_key
from ses_sigma.records import Record
from ses_sigma.verify.ecs import to_ecs
from ses_sigma.verify.mapping import FLATTENED_ROOTS, field_types

URL = os.environ.get("ELASTICSEARCH_URL", "")
pytestmark = pytest.mark.skipif(not URL, reason="ELASTICSEARCH_URL is not set (live proof)")

REFUSED = {
    "lucene": {"aws_ses_enumeration_new_principal", "aws_ses_identity_added_then_deleted"},
    "eql": {"aws_ses_enumeration_new_principal"},
    "esql": {"aws_ses_enumeration_new_principal", "aws_ses_identity_added_then_deleted"},
}


def index_mapping() -> dict[str, Any]:
    """Mappings of the emulated data stream's fields (keyword, flattened, ip, date...)."""
    props: dict[str, Any] = {}

    def put(name: str, spec: dict[str, Any]) -> None:
        node = props
        parts = name.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {"properties": {}})["properties"]
        node[parts[-1]] = spec

    for name, spec in sorted(field_types().items()):
        if spec.type == "match_only_text":
            continue  # multi-fields of keywords; no converted query uses them
        if spec.type == "keyword":
            put(name, {"type": "keyword", "ignore_above": spec.ignore_above or 1024})
        elif spec.type == "constant_keyword":
            put(name, {"type": "constant_keyword"})
        elif spec.type in ("boolean", "ip", "date"):
            put(name, {"type": spec.type})
        elif spec.type == "flattened":
            continue
    for root in FLATTENED_ROOTS:
        put(root, {"type": "flattened"})
    return {"dynamic": False, "properties": props}


class Client:
    """Just enough of Elasticsearch's REST API, with the standard library."""

    def __init__(self, url: str):
        parts = urllib.parse.urlsplit(url)
        self.base = urllib.parse.urlunsplit(
            (parts.scheme, parts.hostname + (f":{parts.port}" if parts.port else ""), "", "", "")
        )
        self.headers = {"Content-Type": "application/json"}
        if parts.username:
            user = urllib.parse.unquote(parts.username)
            token = f"{user}:{urllib.parse.unquote(parts.password or '')}"
            self.headers["Authorization"] = "Basic " + base64.b64encode(token.encode()).decode()
        self.context = None
        if os.environ.get("ELASTICSEARCH_CA_CERTS", "").lower() == "false":
            self.context = ssl._create_unverified_context()

    def call(self, method: str, path: str, body: Any = None, ndjson: str | None = None) -> Any:
        data = ndjson.encode() if ndjson is not None else None
        if body is not None:
            data = json.dumps(body).encode()
        headers = dict(self.headers)
        if ndjson is not None:
            headers["Content-Type"] = "application/x-ndjson"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, context=self.context, timeout=60) as resp:
            return json.loads(resp.read() or b"null")


@pytest.fixture(scope="module")
def client() -> Client:
    return Client(URL)


def _cases() -> list[Any]:
    if not URL:
        return []
    pack = load_pack()
    return [pytest.param(c, id=c.id) for c in load_fixtures(rule_names=[rule_key(r) for r in pack])]


@pytest.mark.parametrize("case", _cases())
def test_live_results_equal_the_matcher(client: Client, case: Case) -> None:
    pack = load_pack()
    alerts = Engine(pack).run([Record.from_dict(copy.deepcopy(e)) for e in case.events])
    docs = [to_ecs(copy.deepcopy(e)) for e in case.events]
    index = f"ses-sigma-proof-{uuid.uuid4().hex[:12]}"
    client.call("PUT", f"/{index}", {"mappings": index_mapping()})
    try:
        bulk = "".join(
            json.dumps({"index": {"_index": index}}) + "\n" + json.dumps(d) + "\n" for d in docs
        )
        result = client.call("POST", "/_bulk?refresh=true", ndjson=bulk)
        assert not result["errors"], result
        for rule in pack:
            name = rule_key(rule)
            want = sorted(a.event_ids for a in alerts if a.rule_name == name)
            if name not in REFUSED["eql"]:
                body = {
                    "query": eql_query(pack, rule),
                    "tiebreaker_field": "event.id",
                    "size": 1000,
                }
                hits = client.call("POST", f"/{index}/_eql/search", body)["hits"]
                if "sequences" in hits:
                    got = [
                        tuple(e["_source"]["event"]["id"] for e in s["events"])
                        for s in hits["sequences"]
                    ]
                else:
                    got = [(e["_source"]["event"]["id"],) for e in hits.get("events", [])]
                assert sorted(got) == want, ("eql", name)
            if name not in REFUSED["lucene"]:
                body = {
                    "query": {"query_string": {"query": lucene_query(pack, rule)}},
                    "size": 1000,
                }
                hits = client.call("POST", f"/{index}/_search", body)["hits"]["hits"]
                got = [(h["_source"]["event"]["id"],) for h in hits]
                assert sorted(got) == want, ("lucene", name)
            if name not in REFUSED["esql"]:
                query = esql_query(pack, rule).replace(", ".join(INDEX_PATTERNS), index, 1)
                answer = client.call("POST", "/_query", {"query": query + "\n| keep event.id"})
                got = [(row[0],) for row in answer["values"]]
                assert sorted(got) == want, ("esql", name)
    finally:
        client.call("DELETE", f"/{index}")
