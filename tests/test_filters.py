"""Site tuning with Sigma filter documents: loading, refusals, examples, conversions."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ses_sigma.convert.elastic import lucene_query
from ses_sigma.convert.splunk import SplunkSearch, convert_rule
from ses_sigma.lint.filters import check_filters, filter_files
from ses_sigma.match.engine import Engine
from ses_sigma.pack import PackLoadError, load_pack
from ses_sigma.records import Record

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FILTERS_DIR = ROOT / "filters"
EXAMPLES = DEFAULT_FILTERS_DIR / "examples"
MONITORING = EXAMPLES / "known_monitoring_keys.yml.example"
FIXTURE_COPY = ROOT / "fixtures" / "_filters" / "known_monitoring_keys.yml"


def filter_text(rules: str, logsource: str = "{product: aws, service: cloudtrail}") -> str:
    return (
        "title: F\nname: f\nlogsource: " + logsource + "\nfilter:\n  rules: " + rules + "\n"
        "  sel:\n    userIdentity.accessKeyId: AKIA3EXAMPLESESMON01\n  condition: not sel\n"
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "f.yml"
    path.write_text(text)
    return path


def poll(eid: str, key: str) -> Record:
    return Record.from_dict(
        {
            "eventTime": "2026-11-20T10:00:00Z",
            "eventID": eid,
            "eventSource": "ses.amazonaws.com",
            "eventName": "GetAccount",
            "sourceIPAddress": "198.51.100.80",
            "userIdentity": {"type": "IAMUser", "arn": "arn:x", "accessKeyId": key},
        }
    )


def test_a_filter_is_applied_to_the_rules_it_names(tmp_path: Path) -> None:
    path = write(tmp_path, filter_text("[aws_ses_discovery_long_term_key]"))
    pack = load_pack(filters=[path])
    assert pack.applied_filters == {"aws_ses_discovery_long_term_key": [path]}
    alerts = Engine(pack).run(
        [poll("a", "AKIA3EXAMPLESESMON01"), poll("b", "AKIAOTHERKEY00000001")]
    )
    assert [a.event_ids for a in alerts if a.rule_name == "aws_ses_discovery_long_term_key"] == [
        ("b",)
    ]


@pytest.mark.parametrize(
    ("rules", "logsource", "message"),
    [
        ("[no_such_rule]", None, "names rule 'no_such_rule', which is not in the pack"),
        (
            "[aws_ses_identity_added_then_deleted]",
            None,
            "names the correlation 'aws_ses_identity_added_then_deleted'",
        ),
        ("[aws_ses_discovery_long_term_key]", "{product: windows}", "its log source differs"),
        ("any", "{product: windows}", "applies to no rule of the pack"),
    ],
)
def test_a_filter_that_would_not_apply_is_a_load_error(
    tmp_path: Path, rules: str, logsource: str | None, message: str
) -> None:
    text = filter_text(rules) if logsource is None else filter_text(rules, logsource)
    path = write(tmp_path, text)
    with pytest.raises(PackLoadError) as info:
        load_pack(filters=[path])
    assert [(p, m) for p, m in info.value.problems if message in m and p == str(path)]


def test_no_filter_is_active_in_the_bundled_pack() -> None:
    active = [p for p in filter_files(DEFAULT_FILTERS_DIR) if p.suffix in (".yml", ".yaml")]
    assert active == []
    assert load_pack(filters=[DEFAULT_FILTERS_DIR]).applied_filters == {}


def test_every_example_loads_applies_and_maps() -> None:
    examples = sorted(EXAMPLES.glob("*.yml.example"))
    assert len(examples) == 3
    rule_files = sorted((ROOT / "rules").glob("*.yml"))
    assert check_filters(rule_files, examples) == []
    for path in examples:
        assert any(path in v for v in load_pack(filters=[path]).applied_filters.values())


def test_the_fixture_copy_is_the_example() -> None:
    def doc(path: Path) -> object:
        return yaml.safe_load(path.read_text())

    assert doc(FIXTURE_COPY) == doc(MONITORING)


def test_filtered_conversions_are_deterministic_and_keep_the_filter() -> None:
    outputs = set()
    for _ in range(3):
        pack = load_pack(filters=[MONITORING])
        rule = pack.get("aws_ses_discovery_long_term_key")
        search = convert_rule(pack, rule)
        assert isinstance(search, SplunkSearch)
        outputs.add((search.spl, lucene_query(pack, rule)))
    assert len(outputs) == 1
    spl, lucene = outputs.pop()
    assert 'NOT (userIdentity.accessKeyId="AKIA3EXAMPLESESMON01"' in spl
    # Lucene compares keywords case-sensitively: the value is a class per letter.
    assert "NOT (" in lucene and "[mM][oO][nN]01/ AND source.address:198.51.100.80" in lucene
