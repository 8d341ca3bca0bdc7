"""The claims file (``scenarios/claims.yml``): what the pack is claimed to do, checked.

Per campaign, the stages claimed detected when the campaign is scanned alone and after the
benign history, and whether it is claimed to raise a high alert; then the benign alerts of
level medium or above accepted in writing (rule, level, maximum count, reason). ``check``
lists every way an evaluation falls short of the claims: a claimed stage missed, a claimed high
alert missing, a benign medium+ alert not accepted, or more of them than accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ses_sigma.bundled import bundled_dir
from ses_sigma.evaluate.campaigns import STAGES
from ses_sigma.evaluate.run import LEVELS, EvalResult

__all__ = [
    "DEFAULT_CLAIMS",
    "DEFAULT_SCENARIOS_DIR",
    "Acceptance",
    "CampaignClaim",
    "Claims",
    "ClaimsError",
    "check",
    "load_claims",
    "unclaimed",
]

#: The scenarios directory (campaign replays and the claims file): the repository's
#: scenarios/, shipped in the wheel as package data (``ses_sigma.bundled``).
DEFAULT_SCENARIOS_DIR: Path = bundled_dir("scenarios")  # type: ignore[assignment]
DEFAULT_CLAIMS = DEFAULT_SCENARIOS_DIR / "claims.yml"
_MODES = {"alone": "alone", "with_history": "history"}


class ClaimsError(ValueError):
    """A claims file that cannot be read; the message names the file and the entry."""


@dataclass(frozen=True)
class CampaignClaim:
    """What one campaign is claimed to trigger."""

    alone: tuple[str, ...]
    with_history: tuple[str, ...]
    high: bool


@dataclass(frozen=True)
class Acceptance:
    """Benign alerts of one rule and level accepted in writing, up to ``max``."""

    rule: str
    level: str
    max: int
    reason: str


@dataclass
class Claims:
    """A parsed claims file."""

    path: Path
    scan_options: dict[str, Any]
    campaigns: dict[str, CampaignClaim]
    accepted: dict[tuple[str, str], Acceptance] = field(default_factory=dict)


def _stages(path: Path, name: str, key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ClaimsError(f"{path}: campaigns.{name}.{key}: a list of stage names")
    unknown = [v for v in value if v not in STAGES]
    if unknown:
        raise ClaimsError(f"{path}: campaigns.{name}.{key}: unknown stage(s) {unknown}")
    return tuple(value)


def load_claims(path: str | Path = DEFAULT_CLAIMS) -> Claims:
    """Read and check a claims file; ClaimsError names the file and the entry at fault."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ClaimsError(f"{path}: cannot be read: {exc}") from None
    if not isinstance(doc, dict):
        raise ClaimsError(f"{path}: a claims file is a mapping")
    options = doc.get("scan_options") or {}
    if not isinstance(options, dict):
        raise ClaimsError(f"{path}: scan_options: a mapping of scan keyword -> value")
    raw = doc.get("campaigns")
    if not isinstance(raw, dict) or not raw:
        raise ClaimsError(f"{path}: campaigns: a mapping of campaign name -> claim")
    campaigns: dict[str, CampaignClaim] = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict):
            raise ClaimsError(f"{path}: campaigns.{name}: a mapping")
        unknown = set(entry) - {"alone", "with_history", "high"}
        if unknown:
            raise ClaimsError(f"{path}: campaigns.{name}: unknown key(s) {sorted(unknown)}")
        high = entry.get("high", False)
        if not isinstance(high, bool):
            raise ClaimsError(f"{path}: campaigns.{name}.high: true or false")
        campaigns[str(name)] = CampaignClaim(
            alone=_stages(path, name, "alone", entry.get("alone")),
            with_history=_stages(path, name, "with_history", entry.get("with_history")),
            high=high,
        )
    accepted: dict[tuple[str, str], Acceptance] = {}
    for i, item in enumerate(doc.get("benign_accepted") or [], 1):
        where = f"{path}: benign_accepted[{i}]"
        if not isinstance(item, dict) or set(item) != {"rule", "level", "max", "reason"}:
            raise ClaimsError(f"{where}: needs exactly rule, level, max and reason")
        if item["level"] not in LEVELS:
            raise ClaimsError(f"{where}: level must be one of {list(LEVELS)}")
        if not isinstance(item["max"], int) or isinstance(item["max"], bool) or item["max"] < 0:
            raise ClaimsError(f"{where}: max must be a count (0 or more)")
        if not isinstance(item["reason"], str) or len(item["reason"].split()) < 3:
            raise ClaimsError(f"{where}: reason must say why, in words")
        key = (str(item["rule"]), str(item["level"]))
        if key in accepted:
            raise ClaimsError(f"{where}: {key[0]} at {key[1]} is accepted twice")
        accepted[key] = Acceptance(key[0], key[1], item["max"], item["reason"])
    return Claims(path, dict(options), campaigns, accepted)


def check(result: EvalResult, claims: Claims) -> list[str]:
    """Every way ``result`` falls short of ``claims`` (empty when every claim holds)."""
    problems: list[str] = []
    if result.scan_options != claims.scan_options:
        problems.append(
            f"the claims are for scan options {claims.scan_options}, the evaluation used "
            f"{result.scan_options}"
        )
    seen = {c.name: c for c in result.campaigns}
    for name in sorted(set(claims.campaigns) - set(seen)):
        problems.append(f"{name}: claimed, but no such campaign was evaluated")
    for name in sorted(set(seen) - set(claims.campaigns)):
        problems.append(f"{name}: evaluated, but the claims file says nothing about it")
    for name, claim in claims.campaigns.items():
        outcome = seen.get(name)
        if outcome is None:
            continue
        for key, attr in _MODES.items():
            mode = getattr(outcome, attr)
            own = {s.stage for s in mode.stages}
            for stage in getattr(claim, key):
                if stage not in own:
                    problems.append(f"{name}: claims stage {stage!r} ({key}), not in the replay")
                elif stage not in mode.detected:
                    problems.append(f"{name}: stage {stage!r} claimed detected {key}, missed")
        if claim.high and not outcome.alone.high:
            problems.append(f"{name}: claimed to raise a high alert (alone), raised none")
    floor = LEVELS.index("medium")
    for (rule, level), count in sorted(result.benign.alerts.items()):
        if level not in LEVELS[floor:]:
            continue
        ok = claims.accepted.get((rule, level))
        if ok is None:
            problems.append(
                f"benign: {count} {level} alert(s) of {rule}, not accepted in the claims file"
            )
        elif count > ok.max:
            problems.append(f"benign: {count} {level} alert(s) of {rule}, {ok.max} accepted")
    return problems


def unclaimed(result: EvalResult, claims: Claims) -> list[str]:
    """Detections beyond the claims (candidates for raising them); never a failure."""
    out: list[str] = []
    for outcome in result.campaigns:
        claim = claims.campaigns.get(outcome.name)
        if claim is None:
            continue
        for key, attr in _MODES.items():
            extra = [s for s in getattr(outcome, attr).detected if s not in getattr(claim, key)]
            if extra:
                out.append(f"{outcome.name}: {key} also detects {', '.join(extra)}")
        if outcome.alone.high and not claim.high:
            out.append(f"{outcome.name}: raises a high alert (alone), not claimed")
    return out
