"""Measure a rule pack on the campaign replays and the benign corpus.

Every scan goes through ``ses_sigma.scan.scan`` (the library call behind ``ses-sigma scan``),
on JSON Lines files written to a temporary directory: the records are read, matched and
correlated exactly as a SOC's scan of exported logs would be. Two modes per campaign:

- ``alone``: the campaign's records only, at the write-up's date;
- ``history``: the benign corpus, then the campaign appended one hour after its last record.

A stage is detected when at least one alert holds (``event_ids``) a record of that stage;
its delay is the time from the stage's first record to the first such alert. Alerts over
benign records only are counted apart, per rule and level, on the benign corpus scanned alone.
"""

from __future__ import annotations

import inspect
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ses_sigma.alerts import Alert
from ses_sigma.evaluate.campaigns import Campaign, Replay
from ses_sigma.pack import Pack, rule_key
from ses_sigma.records import parse_event_time
from ses_sigma.scan import scan, scan_with_engine

__all__ = [
    "HISTORY_GAP",
    "LEVELS",
    "BenignOutcome",
    "CampaignOutcome",
    "EvalError",
    "EvalResult",
    "ModeOutcome",
    "StageOutcome",
    "evaluate",
    "scan_accepts",
    "scan_benign",
]

#: Time between the last benign record and the first record of an appended campaign.
HISTORY_GAP = 3600.0
#: Sigma levels, lowest first.
LEVELS = ("informational", "low", "medium", "high", "critical")


class EvalError(RuntimeError):
    """The evaluation cannot be made faithfully (a record rejected, an option not available)."""


@dataclass
class StageOutcome:
    """One stage of one campaign in one mode."""

    stage: str
    records: int
    #: Rules with an alert holding a record of this stage, by name.
    rules: list[str]
    #: Seconds from the stage's first record to the first alert holding one of its records.
    delay: float | None

    @property
    def detected(self) -> bool:
        """True when some alert holds a record of this stage."""
        return bool(self.rules)


@dataclass
class ModeOutcome:
    """A campaign scanned in one mode (alone, or after the benign history)."""

    stages: list[StageOutcome]
    #: Seconds from the campaign's first record to the first alert holding any of its records.
    first_alert: float | None
    #: Alerts holding campaign records, by level.
    levels: dict[str, int]

    @property
    def detected(self) -> list[str]:
        """The stages detected, in chain order."""
        return [s.stage for s in self.stages if s.detected]

    @property
    def high(self) -> bool:
        """True when an alert of level high or critical holds a campaign record."""
        return bool(self.levels.get("high") or self.levels.get("critical"))


@dataclass
class CampaignOutcome:
    """One campaign in both modes."""

    name: str
    title: str
    sources: list[str]
    records: int
    alone: ModeOutcome
    history: ModeOutcome


@dataclass
class BenignOutcome:
    """Alerts on the benign corpus scanned alone: (rule, level) -> count."""

    records: int
    first: float
    last: float
    alerts: dict[tuple[str, str], int]

    def at_least(self, level: str) -> int:
        """Alerts of ``level`` or above."""
        floor = LEVELS.index(level)
        return sum(n for (_, lv), n in self.alerts.items() if lv in LEVELS[floor:])


@dataclass
class EvalResult:
    """Everything ``ses-sigma eval`` reports."""

    rules: list[str]
    scan_options: dict[str, Any]
    campaigns: list[CampaignOutcome]
    benign: BenignOutcome
    levels: dict[str, str] = field(default_factory=dict)

    @property
    def stages_total(self) -> int:
        """Chain stages over all campaigns."""
        return sum(len(c.alone.stages) for c in self.campaigns)

    def covered(self, mode: str) -> int:
        """Stages detected in ``mode`` (``alone`` or ``history``) over all campaigns."""
        return sum(len(getattr(c, mode).detected) for c in self.campaigns)

    def with_high(self, mode: str) -> int:
        """Campaigns with a high (or critical) alert in ``mode``."""
        return sum(1 for c in self.campaigns if getattr(c, mode).high)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``ses-sigma eval --format json``)."""

        def mode(m: ModeOutcome) -> dict[str, Any]:
            return {
                "detected": m.detected,
                "first_alert_seconds": m.first_alert,
                "high": m.high,
                "alerts_by_level": m.levels,
                "stages": [
                    {"stage": s.stage, "records": s.records, "rules": s.rules,
                     "delay_seconds": s.delay}
                    for s in m.stages
                ],
            }  # fmt: skip

        return {
            "scan_options": self.scan_options,
            "rules": self.rules,
            "summary": {
                "campaigns": len(self.campaigns),
                "stages": self.stages_total,
                "stages_detected_alone": self.covered("alone"),
                "stages_detected_with_history": self.covered("history"),
                "campaigns_with_high_alone": self.with_high("alone"),
                "campaigns_with_high_with_history": self.with_high("history"),
                "benign_alerts": sum(self.benign.alerts.values()),
                "benign_medium_or_above": self.benign.at_least("medium"),
                "benign_high_or_above": self.benign.at_least("high"),
            },
            "campaigns": [
                {
                    "name": c.name,
                    "title": c.title,
                    "sources": c.sources,
                    "records": c.records,
                    "alone": mode(c.alone),
                    "with_history": mode(c.history),
                }
                for c in self.campaigns
            ],
            "benign": {
                "records": self.benign.records,
                "first": self.benign.first,
                "last": self.benign.last,
                "alerts": [
                    {"rule": r, "level": lv, "count": n}
                    for (r, lv), n in sorted(self.benign.alerts.items())
                ],
            },
        }


def _write(path: Path, records: Iterable[dict[str, Any]]) -> Path:
    with path.open("wb") as fh:
        for rec in records:
            fh.write(orjson.dumps(rec))
            fh.write(b"\n")
    return path


def _scan(pack: Pack, files: Sequence[Path], options: dict[str, Any]) -> list[Alert]:
    result = scan(files, pack, **options)
    if result.read.rejections:
        first = result.read.rejections[0]
        raise EvalError(f"{len(result.read.rejections)} record(s) rejected, first: {first}")
    if result.skipped_rules:
        raise EvalError("rules left out of the scan:\n" + "\n".join(result.skipped_rules))
    return result.alerts


def _mode(replay: Replay, alerts: list[Alert], stages: list[str]) -> ModeOutcome:
    start = replay.start
    first_of: dict[str, float] = {}
    count: Counter[str] = Counter()
    for rec in replay.records:
        stage = replay.stages[rec["eventID"]]
        t = parse_event_time(rec["eventTime"])
        count[stage] += 1
        first_of[stage] = min(t, first_of.get(stage, t))
    rules: dict[str, set[str]] = {s: set() for s in stages}
    first_alert: dict[str, float] = {}
    levels: Counter[str] = Counter()
    any_first: float | None = None
    for alert in alerts:
        hit = {replay.stages[e] for e in alert.event_ids if e in replay.stages}
        if not hit:
            continue
        levels[alert.level] += 1
        any_first = alert.time if any_first is None else min(any_first, alert.time)
        for stage in hit & set(rules):
            rules[stage].add(alert.rule_name)
            first_alert[stage] = min(alert.time, first_alert.get(stage, alert.time))
    return ModeOutcome(
        stages=[
            StageOutcome(
                stage=s,
                records=count[s],
                rules=sorted(rules[s]),
                delay=first_alert[s] - first_of[s] if s in first_alert else None,
            )
            for s in stages
        ],
        first_alert=None if any_first is None else any_first - start,
        levels=dict(levels),
    )


def scan_accepts(option: str) -> bool:
    """True when ``ses_sigma.scan.scan`` takes the keyword ``option`` on this build.

    A ``**options`` catch-all of ``scan`` is followed to ``scan_with_engine``, which receives it.
    """
    for func in (scan, scan_with_engine):
        params = inspect.signature(func).parameters
        named = params.get(option)
        if named is not None and named.kind is not inspect.Parameter.VAR_KEYWORD:
            return True
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return False
    return False


def evaluate(
    pack: Pack,
    campaigns: Sequence[Campaign],
    benign: list[dict[str, Any]],
    scan_options: dict[str, Any] | None = None,
) -> EvalResult:
    """Scan every campaign alone and after ``benign``, and ``benign`` alone, with ``pack``.

    ``scan_options`` are passed to ``scan`` (``skip_unsupported``, and ``suppress`` on builds
    whose scan has it); an option this build's scan does not take is an EvalError.
    """
    options = dict(scan_options or {})
    for name in options:
        if not scan_accepts(name):
            raise EvalError(f"this build's scan has no {name!r} option")
    if not benign:
        raise EvalError("the benign corpus is empty")
    times = [parse_event_time(r["eventTime"]) for r in benign]
    history_start = float(int(max(times) + HISTORY_GAP))
    outcomes: list[CampaignOutcome] = []
    with tempfile.TemporaryDirectory(prefix="ses-sigma-eval-") as tmp:
        root = Path(tmp)
        benign_file = _write(root / "benign.jsonl", benign)
        benign_alerts = _scan(pack, [benign_file], options)
        for campaign in campaigns:
            stages = campaign.stages
            alone = campaign.replay()
            alone_alerts = _scan(
                pack, [_write(root / f"{campaign.name}.jsonl", alone.records)], options
            )
            later = campaign.replay(history_start)
            later_file = _write(root / f"{campaign.name}.history.jsonl", later.records)
            history_alerts = _scan(pack, [benign_file, later_file], options)
            outcomes.append(
                CampaignOutcome(
                    name=campaign.name,
                    title=campaign.title,
                    sources=[s.url for s in campaign.sources],
                    records=len(alone.records),
                    alone=_mode(alone, alone_alerts, stages),
                    history=_mode(later, history_alerts, stages),
                )
            )
    return EvalResult(
        rules=sorted(rule_key(r) for r in pack),
        scan_options=options,
        campaigns=outcomes,
        benign=_benign_outcome(benign, times, benign_alerts),
        levels={rule_key(r): (r.level.name.lower() if r.level else "") for r in pack},
    )


def _benign_outcome(
    benign: list[dict[str, Any]], times: list[float], alerts: list[Alert]
) -> BenignOutcome:
    counts: Counter[tuple[str, str]] = Counter((a.rule_name, a.level) for a in alerts)
    return BenignOutcome(len(benign), min(times), max(times), dict(counts))


def scan_benign(
    pack: Pack, benign: list[dict[str, Any]], scan_options: dict[str, Any] | None = None
) -> BenignOutcome:
    """The benign corpus alone, scanned with ``scan_options`` (see ``evaluate``)."""
    options = dict(scan_options or {})
    for name in options:
        if not scan_accepts(name):
            raise EvalError(f"this build's scan has no {name!r} option")
    if not benign:
        raise EvalError("the benign corpus is empty")
    times = [parse_event_time(r["eventTime"]) for r in benign]
    with tempfile.TemporaryDirectory(prefix="ses-sigma-eval-") as tmp:
        alerts = _scan(pack, [_write(Path(tmp) / "benign.jsonl", benign)], options)
    return _benign_outcome(benign, times, alerts)
