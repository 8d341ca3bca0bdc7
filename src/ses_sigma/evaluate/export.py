"""Write what ``ses-sigma eval`` scans to disk, for other tools (and ``ses-sigma scan``).

``benign.jsonl`` and ``<campaign>.jsonl`` hold pure CloudTrail records (JSON Lines, as
``ses-sigma scan`` reads them); ``<campaign>.stages.json`` is the sidecar of stage labels
(eventID -> stage), never mixed into the records.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from ses_sigma.evaluate.campaigns import Campaign

__all__ = ["export"]


def _jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))


def export(directory: Path, campaigns: Sequence[Campaign], benign: list[dict[str, Any]]) -> None:
    """Write the benign corpus and every campaign (at its own date) with its stage sidecar."""
    directory.mkdir(parents=True, exist_ok=True)
    _jsonl(directory / "benign.jsonl", benign)
    for campaign in campaigns:
        replay = campaign.replay()
        _jsonl(directory / f"{campaign.name}.jsonl", replay.records)
        (directory / f"{campaign.name}.stages.json").write_text(
            json.dumps(replay.stages, indent=1, sort_keys=True) + "\n", encoding="utf-8"
        )
