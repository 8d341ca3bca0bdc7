"""The ATT&CK Navigator layer of the pack (``attack-navigator-layer.json``).

Layer file format 4.5 (mitre-attack/attack-navigator, ``layers/spec/v4.5/layerformat.md``):
``name``, ``versions`` (``attack``: the vendored ATT&CK major version, ``navigator``,
``layer: "4.5"``), ``domain: "enterprise-attack"``, ``techniques``, ``gradient``,
``legendItems``, ``metadata`` and view settings. One technique object per (technique, tactic)
the rules tag (tactics as ``attack_map`` files them): ``score`` is the number of rules,
``comment`` and ``metadata`` name them. A parent technique of a tagged sub-technique that no
rule tags itself gets an unscored object with ``showSubtechniques: true``, so the Navigator
opens it on the sub-technique. JSON has no comments: the "do not edit" marker is in the
``description`` and in ``metadata``. Keys are in a fixed order, two-space indented, no times.
"""

from __future__ import annotations

from typing import Any

import orjson

from ses_sigma import attack
from ses_sigma.docs import MARKER
from ses_sigma.docs.model import RuleDoc

__all__ = [
    "COLORS",
    "LAYER_FILE",
    "LAYER_VERSION",
    "NAVIGATOR_VERSION",
    "layer",
    "layer_json",
]

LAYER_FILE = "attack-navigator-layer.json"
LAYER_VERSION = "4.5"
NAVIGATOR_VERSION = "5.1.0"
#: Gradient from the lowest to the highest score (one rule ... most rules).
COLORS = ("#c6dbef", "#08519c")


def _mix(low: str, high: str, ratio: float) -> str:
    a = [int(low[i : i + 2], 16) for i in (1, 3, 5)]
    b = [int(high[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * ratio):02x}" for x, y in zip(a, b, strict=True))


def layer(docs: list[RuleDoc]) -> dict[str, Any]:
    """The layer as a JSON-ready dict."""
    cells: dict[tuple[str, str], list[str]] = {}
    for doc in docs:
        for tech, tactics in doc.attack.techniques:
            for tac in tactics:
                rules = cells.setdefault((tech.id, tac.shortname), [])
                if doc.name not in rules:
                    rules.append(doc.name)
    techniques: list[dict[str, Any]] = []
    scored = {tid for tid, _ in cells}
    parents: dict[tuple[str, str], list[str]] = {}
    for (tid, tac), rules in sorted(cells.items()):
        tech = attack.technique(tid)
        techniques.append(
            {
                "techniqueID": tid,
                "tactic": tac,
                "score": len(rules),
                "comment": f"{tech.name}: " + ", ".join(rules),
                "enabled": True,
                "showSubtechniques": False,
                "metadata": [{"name": "rule", "value": r} for r in rules],
            }
        )
        if tech.parent is not None and tech.parent not in scored:
            parents.setdefault((tech.parent, tac), []).append(tid)
    for (pid, tac), subs in sorted(parents.items()):
        techniques.append(
            {
                "techniqueID": pid,
                "tactic": tac,
                "comment": "not tagged itself; covered sub-techniques: " + ", ".join(subs),
                "enabled": True,
                "showSubtechniques": True,
            }
        )
    techniques.sort(key=lambda t: (t["techniqueID"], t["tactic"]))
    top = max((len(r) for r in cells.values()), default=1)
    high = max(top, 2)  # maxValue must exceed minValue; 1 is the lowest score
    legend = [
        {
            "label": f"{n} rule{'' if n == 1 else 's'}",
            "color": _mix(COLORS[0], COLORS[1], (n - 1) / (high - 1)),
        }
        for n in sorted({len(r) for r in cells.values()})
    ]
    version = attack.attack_version()
    return {
        "name": "ses-sigma: Amazon SES abuse in AWS CloudTrail",
        "versions": {
            "attack": version.split(".")[0],
            "navigator": NAVIGATOR_VERSION,
            "layer": LAYER_VERSION,
        },
        "domain": "enterprise-attack",
        "description": (
            f"{MARKER}. ATT&CK techniques tagged by the {len(docs)} Sigma rules of ses-sigma "
            "(Amazon SES abuse in AWS CloudTrail); score = number of rules."
        ),
        "sorting": 3,
        "layout": {
            "layout": "side",
            "showID": True,
            "showName": True,
            "expandedSubtechniques": "annotated",
        },
        "hideDisabled": False,
        "techniques": techniques,
        "gradient": {"colors": list(COLORS), "minValue": 1, "maxValue": high},
        "legendItems": legend,
        "showTacticRowBackground": False,
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
        "selectVisibleTechniques": False,
        "metadata": [
            {"name": "generated", "value": MARKER},
            {"name": "rules", "value": str(len(docs))},
            {"name": "ATT&CK", "value": f"{version} (vendored copy, ses_sigma/data)"},
        ],
    }


def layer_json(docs: list[RuleDoc]) -> str:
    """The layer file's text: two-space indented JSON and a final newline."""
    return orjson.dumps(layer(docs), option=orjson.OPT_INDENT_2).decode("utf-8") + "\n"
