"""The vendored ATT&CK copy: content, lookups, tag checks, and pySigma using it offline."""

from __future__ import annotations

import hashlib
import re
import urllib.request
from pathlib import Path

import pytest
import sigma.data.mitre_attack as pysigma_attack
import sigma.data.mitre_d3fend as pysigma_d3fend
import sigma.validators.sigmahq.data.base as sigmahq_data
from click.testing import CliRunner
from sigma.backends.elasticsearch import LuceneBackend
from sigma.cli.check import check as sigma_check
from sigma.validators.core.tags import ATTACKTagValidator
from sigma.validators.sigmahq.tags import SigmahqTagsTechniquesWithoutTacticsValidator

from ses_sigma import attack
from ses_sigma.data import build_attack
from ses_sigma.pack import DEFAULT_RULES_DIR, load_pack, rule_key
from ses_sigma.pipelines import ses_cloudtrail_elastic_pipeline

PROVENANCE = attack.BUNDLE_PATH.with_name("PROVENANCE.md")

# Validators of `sigma check` that need data other than ATT&CK (D3FEND, SigmaHQ's taxonomy and
# file-name lists), which is not vendored: they download it. Found by running every validator
# over the pack with the network refused.
NON_ATTACK_DATA_VALIDATORS = (
    "d3_fendtag",
    "sigmahq_fieldname_cast",
    "sigmahq_filename_prefix",
    "sigmahq_invalid_fieldname",
    "sigmahq_logsource_unknown",
    "sigmahq_redundant_field",
)


class NetworkUsed(AssertionError):
    """Raised by the patched urlopen: something tried to download."""


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every urlopen pySigma's data loaders could reach raises."""

    def refuse(url: object, *args: object, **kwargs: object) -> None:
        raise NetworkUsed(f"network access attempted: {url}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    for module in (pysigma_attack, pysigma_d3fend, sigmahq_data):
        monkeypatch.setattr(module, "urlopen", refuse)


@pytest.fixture
def vendored(tmp_path: Path, no_network: None):
    """pySigma pointed at the vendored copy with a fresh cache; back to the default after."""
    cache = attack.use_vendored_attack(tmp_path / "attack-cache")
    yield cache
    attack.use_vendored_attack()


def test_bundle_matches_provenance_hash_and_counts() -> None:
    digest = hashlib.sha256(attack.BUNDLE_PATH.read_bytes()).hexdigest()
    assert digest in PROVENANCE.read_text(encoding="utf-8")
    data = attack.load_attack()
    assert data.version == "17.0" == attack.attack_version()
    assert len(data.tactics) == 14
    subs = [t for t in data.techniques if "." in t]
    assert (len(data.techniques) - len(subs), len(subs)) == (211, 454)
    assert (len(data.intrusion_sets), len(data.software)) == (166, 754)


def test_known_gaps_are_absent_and_listed_in_provenance() -> None:
    data = attack.load_attack()
    text = PROVENANCE.read_text(encoding="utf-8")
    for gap in attack.KNOWN_MISSING_TECHNIQUES:
        assert gap not in data.techniques
        assert gap.split(".")[0] in data.techniques  # the parent technique is there
        assert f"| {gap} |" in text
    for gap in attack.KNOWN_MISSING_SOFTWARE:
        assert gap not in data.software
        assert f"| {gap} |" in text


def test_build_bundle_round_trip_through_pysigma(tmp_path: Path, no_network: None) -> None:
    src = {
        "mitre_attack_version": "9.9",
        "mitre_attack_tactics": {"TA0011": "command-and-control", "TA0007": "discovery"},
        "mitre_attack_techniques": {"T1526": "Cloud Service Discovery", "T1071.005": "Pub/Sub"},
        "mitre_attack_techniques_tactics_mapping": {
            "T1526": ["discovery"],
            "T1071.005": ["command-and-control"],
        },
        "mitre_attack_intrusion_sets": {"G0001": "Axiom"},
        "mitre_attack_software": {"S0002": "Mimikatz"},
    }
    bundle_bytes = build_attack.dump_bundle(build_attack.build_bundle(src))
    assert bundle_bytes == build_attack.dump_bundle(build_attack.build_bundle(src))
    path = tmp_path / "bundle.json"
    path.write_bytes(bundle_bytes)
    pysigma_attack.set_cache_dir(str(tmp_path / "cache"))
    pysigma_attack.set_url(str(path))
    try:
        assert pysigma_attack.mitre_attack_version == "9.9"
        assert pysigma_attack.mitre_attack_tactics == src["mitre_attack_tactics"]
        assert pysigma_attack.mitre_attack_techniques == src["mitre_attack_techniques"]
        assert (
            pysigma_attack.mitre_attack_techniques_tactics_mapping
            == src["mitre_attack_techniques_tactics_mapping"]
        )
        assert pysigma_attack.mitre_attack_intrusion_sets == {"G0001": "Axiom"}
        assert pysigma_attack.mitre_attack_software == {"S0002": "Mimikatz"}
        ours = attack.load_attack(path)
        assert ours.tactics["command-and-control"].name == "Command and Control"
        assert ours.techniques["T1071.005"].parent == "T1071"
        assert ours.techniques["T1071.005"].url == "https://attack.mitre.org/techniques/T1071/005"
    finally:
        attack.use_vendored_attack()


def test_pysigma_loader_and_lookups_agree(vendored: Path) -> None:
    data = attack.load_attack()
    assert pysigma_attack.mitre_attack_version == data.version
    assert set(pysigma_attack.mitre_attack_tactics.values()) == set(data.tactics)
    assert {t.id: t.shortname for t in data.tactics.values()} == (
        pysigma_attack.mitre_attack_tactics
    )
    assert pysigma_attack.mitre_attack_techniques == {k: t.name for k, t in data.techniques.items()}
    assert pysigma_attack.mitre_attack_techniques_tactics_mapping == {
        k: list(t.tactics) for k, t in data.techniques.items()
    }
    assert pysigma_attack.mitre_attack_intrusion_sets == data.intrusion_sets
    assert pysigma_attack.mitre_attack_software == data.software
    assert vendored.is_dir() and any(vendored.iterdir())  # the cache is ours, not ~/.cache


def test_use_vendored_attack_is_idempotent(vendored: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert pysigma_attack.mitre_attack_version == "17.0"

    def must_not_reset(*args: object) -> None:
        raise AssertionError("use_vendored_attack reset pySigma a second time")

    with monkeypatch.context() as m:
        m.setattr(pysigma_attack, "set_url", must_not_reset)
        m.setattr(pysigma_attack, "set_cache_dir", must_not_reset)
        assert attack.use_vendored_attack(vendored) == vendored
        with pytest.raises(AssertionError, match="a second time"):
            attack.use_vendored_attack(vendored / "elsewhere")


def test_default_cache_dir_is_not_the_users_cache() -> None:
    cache = attack.default_cache_dir()
    assert not cache.is_relative_to(Path.home() / ".cache")
    assert cache.name.startswith("mitre-attack-")


def test_lookups() -> None:
    t = attack.tactic("discovery")
    assert (t.id, t.name, t.url) == (
        "TA0007",
        "Discovery",
        "https://attack.mitre.org/tactics/TA0007",
    )
    assert attack.tactic("Defense-Evasion").id == "TA0005"
    tech = attack.technique("t1585.002")
    assert (tech.id, tech.name, tech.parent, tech.tactics) == (
        "T1585.002",
        "Email Accounts",
        "T1585",
        ("resource-development",),
    )
    assert tech.url == "https://attack.mitre.org/techniques/T1585/002"
    assert attack.technique("T1526").parent is None
    with pytest.raises(KeyError, match="known gap"):
        attack.technique("T1496.004")
    with pytest.raises(KeyError, match="unknown ATT&CK tactic"):
        attack.tactic("exfil")


@pytest.mark.parametrize(
    "tag",
    ["attack.t1526", "attack.t1585.002", "attack.discovery", "attack.g0001", "attack.s0002"],
)
def test_valid_tags(tag: str) -> None:
    assert attack.attack_tag_problem(tag) is None
    assert attack.is_valid_attack_tag(tag)


@pytest.mark.parametrize(
    ("tag", "reason"),
    [
        ("attack.t9999", "no technique T9999"),
        ("attack.t1526.999", "no technique T1526.999"),
        ("attack.defense_evasion", "use hyphens"),
        ("attack.Discovery", "lower case"),
        ("attack.g9999", "not a tactic, technique, group or software"),
        ("attack.exfil", "not a tactic, technique, group or software"),
        ("attack.t1496.004", "missing from the vendored copy"),
    ],
)
def test_invalid_tags_rejected(tag: str, reason: str) -> None:
    problem = attack.attack_tag_problem(tag)
    assert problem is not None and reason in problem and problem.startswith(tag)
    assert not attack.is_valid_attack_tag(tag)


def test_non_attack_tag_is_not_judged() -> None:
    with pytest.raises(ValueError, match="not an ATT&CK tag"):
        attack.attack_tag_problem("cve.2021-44228")
    with pytest.raises(ValueError, match="not a Sigma tag"):
        attack.attack_tag_problem("attack")


def test_pack_rule_tags_are_valid_except_known_gaps() -> None:
    pack = load_pack()
    seen = 0
    invalid: dict[str, list[str]] = {}
    for rule in pack:
        for tag in rule.tags:
            if tag.namespace != "attack":
                continue
            seen += 1
            problem = attack.attack_tag_problem(tag)
            if problem is not None:
                invalid.setdefault(rule_key(rule), []).append(problem)
    assert seen >= len(pack) * 2  # every rule has a tactic and a technique tag
    # Only known gaps of the vendored copy are tolerated (attack.t1496.004 on
    # aws_ses_identity_modification_attempt at the time of writing: reported to the lead).
    for problems in invalid.values():
        for problem in problems:
            assert "missing from the vendored copy" in problem, problem


def test_pysigma_attack_validators_work_offline(vendored: Path) -> None:
    pack = load_pack()
    tag_issues = []
    tactic_issues = []
    for rule in pack:
        tag_issues += ATTACKTagValidator().validate(rule)
        tactic_issues += SigmahqTagsTechniquesWithoutTacticsValidator().validate(rule)
    reported = {str(issue.tag) for issue in tag_issues}
    expected = {
        str(tag)
        for rule in pack
        for tag in rule.tags
        if tag.namespace == "attack" and not attack.is_valid_attack_tag(tag)
    }
    assert reported == expected
    assert tactic_issues == []  # every technique tag comes with its tactic tags


def test_sigma_check_runs_offline(vendored: Path) -> None:
    args: list[str] = []
    for name in NON_ATTACK_DATA_VALIDATORS:
        args += ["--exclude", name]
    result = CliRunner().invoke(sigma_check, [*args, str(DEFAULT_RULES_DIR)])
    assert result.exception is None, result.output
    assert result.exit_code == 0, result.output
    invalid = {
        str(tag)
        for rule in load_pack()
        for tag in rule.tags
        if tag.namespace == "attack" and not attack.is_valid_attack_tag(tag)
    }
    reported = set(re.findall(r"tag=(attack\.[\w.-]+)", result.output))
    assert reported == invalid


def test_sigma_check_without_excludes_would_download(vendored: Path) -> None:
    """The excluded validators really need the network: keeps the list above honest."""
    result = CliRunner().invoke(sigma_check, [str(DEFAULT_RULES_DIR)])
    assert isinstance(result.exception, NetworkUsed)


def test_elasticsearch_siem_rule_threat_offline(vendored: Path) -> None:
    pack = load_pack()
    rule = pack.get("aws_ses_discovery_long_term_key")
    backend = LuceneBackend(ses_cloudtrail_elastic_pipeline())
    [siem_rule] = backend.convert_rule(rule, "siem_rule")
    [threat] = siem_rule["params"]["threat"]
    assert threat["tactic"]["id"] == "TA0007"
    assert threat["technique"][0]["id"] == "T1526"
    assert threat["technique"][0]["name"] == "Cloud Service Discovery"
