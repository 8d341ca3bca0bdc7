"""The vendored MITRE ATT&CK copy: wire it into pySigma, and look things up in it.

pySigma 1.x (``sigma.data.mitre_attack``) downloads ``enterprise-attack.json`` on first use and
caches it in ``~/.cache/pysigma``. :func:`use_vendored_attack` points it at the bundle in
``ses_sigma/data`` (ATT&CK 17.0 as shipped by pySigma 0.11.23, see PROVENANCE.md there) and at a
cache directory of our own, so the validators, ``sigma check`` and the Elasticsearch backend's
rule formats never touch the network or the user's cache.

The lookups (:func:`tactic`, :func:`technique`, :func:`attack_tag_problem`...) read the same
bundle directly; they do not depend on pySigma's global state.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import re
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from sigma.data import mitre_attack as _pysigma_attack
from sigma.rule import SigmaRuleTag

__all__ = [
    "BUNDLE_PATH",
    "KNOWN_MISSING_SOFTWARE",
    "KNOWN_MISSING_TECHNIQUES",
    "AttackData",
    "Tactic",
    "Technique",
    "attack_tag_problem",
    "attack_version",
    "default_cache_dir",
    "is_valid_attack_tag",
    "load_attack",
    "tactic",
    "technique",
    "use_vendored_attack",
]

#: The vendored ATT&CK bundle, package data of ses_sigma.data (importlib.resources).
BUNDLE_PATH = Path(
    str(importlib.resources.files("ses_sigma.data") / "enterprise-attack-17.0-pysigma-0.11.23.json")
)

#: ATT&CK v16 sub-techniques missing from the vendored copy (ATT&CK 17.0 has them); checked
#: against MITRE's v16 and v17 release notes, see data/PROVENANCE.md.
KNOWN_MISSING_TECHNIQUES: frozenset[str] = frozenset(
    {
        "T1070.010",
        "T1071.005",
        "T1098.007",
        "T1213.004",
        "T1213.005",
        "T1480.002",
        "T1485.001",
        "T1496.001",
        "T1496.002",
        "T1496.003",
        "T1496.004",
        "T1546.017",
        "T1557.004",
        "T1558.005",
    }
)
#: Software missing from the vendored copy (VPNFilter, new to Enterprise in ATT&CK v16).
KNOWN_MISSING_SOFTWARE: frozenset[str] = frozenset({"S1010"})

_TECHNIQUE_RE = re.compile(r"^T\d{4}(\.\d{3})?$")


@dataclass(frozen=True)
class Tactic:
    """An ATT&CK tactic: ``TA0007``, ``discovery``, ``Discovery``, its attack.mitre.org URL."""

    id: str
    shortname: str
    name: str
    url: str


@dataclass(frozen=True)
class Technique:
    """An ATT&CK technique or sub-technique, its tactics (shortnames) and parent (or None)."""

    id: str
    name: str
    url: str
    tactics: tuple[str, ...]
    parent: str | None


@dataclass(frozen=True)
class AttackData:
    """Everything the lookups need, read once from the bundle."""

    version: str
    tactics: dict[str, Tactic]  # by shortname
    techniques: dict[str, Technique]  # by id (upper case)
    intrusion_sets: dict[str, str]  # G0001 -> name
    software: dict[str, str]  # S0001 -> name


def _external(obj: dict[str, Any]) -> tuple[str, str] | None:
    for ref in obj.get("external_references", []):
        if ref.get("source_name") == "mitre-attack" and ref.get("external_id"):
            return str(ref["external_id"]), str(ref.get("url", ""))
    return None


@cache
def load_attack(path: Path = BUNDLE_PATH) -> AttackData:
    """Parse a STIX bundle the way pySigma does (revoked and deprecated objects skipped)."""
    bundle = orjson.loads(path.read_bytes())
    version = "unknown"
    tactics: dict[str, Tactic] = {}
    techniques: dict[str, Technique] = {}
    groups: dict[str, str] = {}
    software: dict[str, str] = {}
    for obj in bundle.get("objects", []):
        if obj.get("revoked") or obj.get("x_mitre_deprecated"):
            continue
        kind = obj.get("type")
        if kind == "x-mitre-collection":
            version = str(obj.get("x_mitre_version", version))
            continue
        ext = _external(obj)
        if ext is None:
            continue
        ext_id, url = ext
        if kind == "x-mitre-tactic":
            short = obj["x_mitre_shortname"]
            tactics[short] = Tactic(ext_id, short, obj["name"], url)
        elif kind == "attack-pattern":
            phases = tuple(
                p["phase_name"]
                for p in obj.get("kill_chain_phases", [])
                if p.get("kill_chain_name") == "mitre-attack"
            )
            parent = ext_id.split(".")[0] if "." in ext_id else None
            techniques[ext_id] = Technique(ext_id, obj["name"], url, phases, parent)
        elif kind == "intrusion-set":
            groups[ext_id] = obj["name"]
        elif kind in ("malware", "tool"):
            software[ext_id] = obj["name"]
    return AttackData(version, tactics, techniques, groups, software)


def attack_version() -> str:
    """The ATT&CK version of the vendored copy (``17.0``)."""
    return load_attack().version


def tactic(shortname: str) -> Tactic:
    """A tactic by shortname (``discovery``, ``defense-evasion``); KeyError if unknown."""
    try:
        return load_attack().tactics[shortname.lower()]
    except KeyError:
        raise KeyError(f"unknown ATT&CK tactic {shortname!r}") from None


def technique(technique_id: str) -> Technique:
    """A technique by id (``T1526``, ``t1585.002``); KeyError if the copy lacks it."""
    key = technique_id.upper()
    try:
        return load_attack().techniques[key]
    except KeyError:
        gap = " (a known gap of the vendored copy)" if key in KNOWN_MISSING_TECHNIQUES else ""
        raise KeyError(
            f"ATT&CK technique {key} is not in the vendored ATT&CK {attack_version()}{gap}"
        ) from None


def _tag_parts(tag: str | SigmaRuleTag) -> tuple[str, str]:
    if isinstance(tag, SigmaRuleTag):
        return tag.namespace, tag.name
    namespace, sep, name = str(tag).partition(".")
    if not sep or not name:
        raise ValueError(f"{tag!r} is not a Sigma tag (namespace.name)")
    return namespace, name


def attack_tag_problem(tag: str | SigmaRuleTag) -> str | None:
    """Why an ``attack.*`` tag is invalid, or None if it is valid.

    Valid: a tactic shortname (``attack.discovery``), a technique or sub-technique
    (``attack.t1526``, ``attack.t1585.002``), an intrusion set (``attack.g0001``) or software
    (``attack.s0001``) of the vendored copy, written in lower case as Sigma requires. Raises
    ValueError for a tag outside the ``attack`` namespace.
    """
    namespace, name = _tag_parts(tag)
    if namespace != "attack":
        raise ValueError(f"{namespace}.{name} is not an ATT&CK tag")
    text = f"attack.{name}"
    if name != name.lower():
        return f"{text}: Sigma tags are lower case"
    data = load_attack()
    upper = name.upper()
    if name in data.tactics or upper in data.intrusion_sets or upper in data.software:
        return None
    if upper in data.techniques:
        return None
    if upper in KNOWN_MISSING_TECHNIQUES or upper in KNOWN_MISSING_SOFTWARE:
        return (
            f"{text}: {upper} is in ATT&CK {data.version} but missing from the vendored copy "
            "(pySigma 0.11.23's data; see ses_sigma/data/PROVENANCE.md)"
        )
    if _TECHNIQUE_RE.match(upper):
        return f"{text}: no technique {upper} in ATT&CK {data.version}"
    if "_" in name and name.replace("_", "-") in data.tactics:
        return f"{text}: tactic shortnames use hyphens (attack.{name.replace('_', '-')})"
    return f"{text}: not a tactic, technique, group or software of ATT&CK {data.version}"


def is_valid_attack_tag(tag: str | SigmaRuleTag) -> bool:
    """True if an ``attack.*`` tag names something in the vendored copy (see above)."""
    return attack_tag_problem(tag) is None


def default_cache_dir() -> Path:
    """pySigma's ATT&CK cache for the vendored bundle: per user, per bundle content, in TMP."""
    digest = hashlib.sha256(BUNDLE_PATH.read_bytes()).hexdigest()[:16]
    user = str(os.getuid()) if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    return Path(tempfile.gettempdir()) / f"ses-sigma-{user}" / f"mitre-attack-{digest}"


def use_vendored_attack(cache_dir: str | Path | None = None) -> Path:
    """Point pySigma's ATT&CK loader at the vendored bundle; return the cache directory used.

    Idempotent: a second call with the same cache directory changes nothing. The cache directory
    (default :func:`default_cache_dir`) is set first because pySigma's ``set_url`` clears, and
    therefore opens, the cache: the other order would create ``~/.cache/pysigma``.
    """
    target = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    # pySigma keeps its settings in private module globals; reading them is the only way to
    # know whether it already points at us (no public getter in pySigma 1.5.1).
    current_url = getattr(_pysigma_attack, "_custom_url", None)
    current_dir = getattr(_pysigma_attack, "_custom_cache_dir", None)
    if current_url == str(BUNDLE_PATH) and current_dir == target:
        return target
    _pysigma_attack.set_cache_dir(str(target))
    _pysigma_attack.set_url(str(BUNDLE_PATH))
    return target
