"""Build the vendored MITRE ATT&CK bundle from the data pySigma 0.11.23 shipped.

pySigma up to 0.11.x shipped ATT&CK as a static Python module (``sigma/data/mitre_attack.py``:
version, tactics, techniques, technique -> tactics, intrusion sets, software). pySigma 1.x
downloads ``enterprise-attack.json`` instead. This script turns the static module into a
minimal STIX 2.1-shaped bundle that pySigma 1.x's loader (``sigma.data.mitre_attack``) reads
from a local file, so nothing has to be downloaded.

Run once, by hand, when the pin changes (the output is committed)::

    pip download --no-deps pysigma==0.11.23 -d /tmp/x
    python -m ses_sigma.data.build_attack /tmp/x/pysigma-0.11.23-py3-none-any.whl

The wheel's sha256 is checked against the pin below. The module is read with ``ast`` (its
assignments are literal dicts), never imported or executed. Nothing is added that the source
does not contain; the only derived values are documented in PROVENANCE.md (tactic display
names, URLs, STIX ids, ``x_mitre_is_subtechnique``).
"""

from __future__ import annotations

import ast
import hashlib
import sys
import uuid
import zipfile
from pathlib import Path
from typing import Any

import orjson

__all__ = ["SOURCE_MEMBER", "WHEEL_NAME", "WHEEL_SHA256", "build_bundle", "main", "read_source"]

WHEEL_NAME = "pysigma-0.11.23-py3-none-any.whl"
#: sha256 of the wheel as served by PyPI (checked with ``pip download`` on 2026-11-25).
WHEEL_SHA256 = "21a7f627e8ec515b6fc90ac0d92dd93716f9f2c34cc82eeb7f4fdebeb1141340"
SOURCE_MEMBER = "sigma/data/mitre_attack.py"
#: sha256 of SOURCE_MEMBER inside that wheel.
SOURCE_SHA256 = "6c05eb7c95bce2cc5c754854cefc27fc910059d01a53eb8f2a1263d4a87326ba"

OUTPUT = Path(__file__).with_name("enterprise-attack-17.0-pysigma-0.11.23.json")

_NAMES = (
    "mitre_attack_version",
    "mitre_attack_tactics",
    "mitre_attack_techniques",
    "mitre_attack_techniques_tactics_mapping",
    "mitre_attack_intrusion_sets",
    "mitre_attack_software",
)

# Synthetic, stable STIX ids: uuid5 over the ATT&CK id. They are NOT MITRE's STIX ids.
_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:ses-sigma:vendored-attack:pysigma-0.11.23")

# Verbatim from LICENSE.txt of github.com/mitre-attack/attack-stix-data (the STIX distribution).
LICENCE = (
    "The MITRE Corporation (MITRE) hereby grants you a non-exclusive, royalty-free license to "
    "use ATT&CK\u00ae for research, development, and commercial purposes. Any copy you make for "
    "such purposes is authorized provided that you reproduce MITRE's copyright designation and "
    "this license in any such copy. "
    '"\u00a9 2021 The MITRE Corporation. This work is reproduced and distributed with the '
    'permission of The MITRE Corporation."'
)


def read_source(wheel: Path) -> dict[str, Any]:
    """The ATT&CK dicts of the pinned wheel, checked against both pinned hashes."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise SystemExit(f"{wheel}: sha256 {digest} is not the pinned {WHEEL_SHA256}")
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read(SOURCE_MEMBER)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SOURCE_SHA256:
        raise SystemExit(f"{wheel}!{SOURCE_MEMBER}: sha256 {digest} is not {SOURCE_SHA256}")
    values: dict[str, Any] = {}
    for node in ast.parse(raw.decode("utf-8")).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name, value = node.target.id, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if not isinstance(target, ast.Name):
                continue
            name, value = target.id, node.value
        else:
            continue
        if name in _NAMES and value is not None:
            values[name] = ast.literal_eval(value)
    missing = [n for n in _NAMES if n not in values]
    if missing:
        raise SystemExit(f"{SOURCE_MEMBER}: missing {', '.join(missing)}")
    return values


def tactic_display_name(shortname: str) -> str:
    """ATT&CK's tactic name from its shortname (``command-and-control`` -> Command and Control).

    The source has shortnames only; every Enterprise tactic name is its shortname with words
    capitalised and "and" kept lower case.
    """
    return " ".join(w if w == "and" else w.capitalize() for w in shortname.split("-"))


def _ref(external_id: str, url: str) -> list[dict[str, str]]:
    return [{"source_name": "mitre-attack", "external_id": external_id, "url": url}]


def _stix_id(stix_type: str, external_id: str) -> str:
    return f"{stix_type}--{uuid.uuid5(_ID_NAMESPACE, f'{stix_type}:{external_id}')}"


def technique_url(technique_id: str) -> str:
    """attack.mitre.org page of a technique or sub-technique (T1585.002 -> .../T1585/002)."""
    return "https://attack.mitre.org/techniques/" + technique_id.replace(".", "/")


def build_bundle(src: dict[str, Any]) -> dict[str, Any]:
    """A STIX 2.1-shaped bundle of everything in ``src``, objects in a stable order."""
    version = src["mitre_attack_version"]
    objects: list[dict[str, Any]] = [
        {
            "type": "x-mitre-collection",
            "spec_version": "2.1",
            "id": _stix_id("x-mitre-collection", "enterprise-attack"),
            "name": "Enterprise ATT&CK (as shipped by pySigma 0.11.23)",
            "x_mitre_version": version,
            "description": (
                f"MITRE ATT&CK Enterprise {version}: tactics, techniques, intrusion sets and "
                f"software as shipped in {SOURCE_MEMBER} of {WHEEL_NAME} (sha256 "
                f"{WHEEL_SHA256}), converted by ses_sigma.data.build_attack. Incomplete: see "
                "PROVENANCE.md. " + LICENCE
            ),
        }
    ]
    for tactic_id, shortname in sorted(src["mitre_attack_tactics"].items()):
        objects.append(
            {
                "type": "x-mitre-tactic",
                "spec_version": "2.1",
                "id": _stix_id("x-mitre-tactic", tactic_id),
                "name": tactic_display_name(shortname),
                "x_mitre_shortname": shortname,
                "external_references": _ref(
                    tactic_id, f"https://attack.mitre.org/tactics/{tactic_id}"
                ),
            }
        )
    mapping = src["mitre_attack_techniques_tactics_mapping"]
    for technique_id, name in sorted(src["mitre_attack_techniques"].items()):
        objects.append(
            {
                "type": "attack-pattern",
                "spec_version": "2.1",
                "id": _stix_id("attack-pattern", technique_id),
                "name": name,
                "x_mitre_is_subtechnique": "." in technique_id,
                "kill_chain_phases": [
                    {"kill_chain_name": "mitre-attack", "phase_name": phase}
                    for phase in mapping[technique_id]
                ],
                "external_references": _ref(technique_id, technique_url(technique_id)),
            }
        )
    for group_id, name in sorted(src["mitre_attack_intrusion_sets"].items()):
        objects.append(
            {
                "type": "intrusion-set",
                "spec_version": "2.1",
                "id": _stix_id("intrusion-set", group_id),
                "name": name,
                "external_references": _ref(
                    group_id, f"https://attack.mitre.org/groups/{group_id}"
                ),
            }
        )
    for software_id, name in sorted(src["mitre_attack_software"].items()):
        # The source does not say which software is malware and which a tool; pySigma's loader
        # treats both alike. Typed "tool" and flagged, never to be read as a classification.
        objects.append(
            {
                "type": "tool",
                "spec_version": "2.1",
                "id": _stix_id("tool", software_id),
                "name": name,
                "x_ses_sigma_software_kind_unknown": True,
                "external_references": _ref(
                    software_id, f"https://attack.mitre.org/software/{software_id}"
                ),
            }
        )
    return {"type": "bundle", "id": _stix_id("bundle", "enterprise-attack"), "objects": objects}


def dump_bundle(bundle: dict[str, Any]) -> bytes:
    """Deterministic bytes: one STIX object per line, keys sorted."""
    lines = [orjson.dumps(obj, option=orjson.OPT_SORT_KEYS) for obj in bundle["objects"]]
    head = b'{"type":"bundle","id":' + orjson.dumps(bundle["id"]) + b',"objects":[\n'
    return head + b",\n".join(lines) + b"\n]}\n"


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m ses_sigma.data.build_attack WHEEL [OUTPUT]``."""
    args = sys.argv[1:] if argv is None else argv
    if not args or len(args) > 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(args[1]) if len(args) == 2 else OUTPUT
    data = dump_bundle(build_bundle(read_source(Path(args[0]))))
    out.write_bytes(data)
    print(f"{out}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
