"""Text rendering of an evaluation: the summary, per-campaign stage tables, benign alerts."""

from __future__ import annotations

from collections.abc import Iterator

from ses_sigma.evaluate.run import LEVELS, BenignOutcome, EvalResult, StageOutcome

__all__ = ["benign_rows", "duration", "stage_rows", "summary_lines"]


def duration(seconds: float | None) -> str:
    """``None`` -> ``-``; else ``0s``, ``2m05s``, ``1h02m``, ``1d03h``."""
    if seconds is None:
        return "-"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _rules(stage: StageOutcome, levels: dict[str, str]) -> str:
    if not stage.rules:
        return "missed"
    return "\n".join(f"{r} ({levels.get(r, '?')})" for r in stage.rules)


def stage_rows(result: EvalResult, name: str) -> Iterator[tuple[str, ...]]:
    """Rows (stage, records, alone rules, alone delay, history rules, history delay)."""
    campaign = next(c for c in result.campaigns if c.name == name)
    for alone, later in zip(campaign.alone.stages, campaign.history.stages, strict=True):
        yield (
            alone.stage,
            str(alone.records),
            _rules(alone, result.levels),
            duration(alone.delay),
            _rules(later, result.levels),
            duration(later.delay),
        )


def benign_rows(benign: BenignOutcome) -> Iterator[tuple[str, str, str]]:
    """Rows (rule, level, alerts), highest level first."""
    order = {lv: i for i, lv in enumerate(LEVELS)}
    items = sorted(benign.alerts.items(), key=lambda kv: (-order.get(kv[0][1], -1), kv[0][0]))
    for (rule, level), count in items:
        yield (rule, level, str(count))


def _benign_line(benign: BenignOutcome) -> str:
    days = (benign.last - benign.first) / 86400
    return (
        f"benign corpus: {benign.records} records over {days:.1f} days: "
        f"{sum(benign.alerts.values())} alerts, {benign.at_least('medium')} medium or above, "
        f"{benign.at_least('high')} high or above"
    )


def summary_lines(result: EvalResult, plain_benign: BenignOutcome | None = None) -> list[str]:
    """The headline figures; ``plain_benign``: the benign corpus without the scan options."""
    total = result.stages_total
    n = len(result.campaigns)
    options = ", ".join(f"{k}={v}" for k, v in result.scan_options.items()) or "none"
    lines = [
        f"{len(result.rules)} rules; scan options: {options}",
        f"stages detected, each campaign scanned alone: {result.covered('alone')} of {total}",
        f"stages detected after the benign history: {result.covered('history')} of {total}",
        f"campaigns with a high alert: {result.with_high('alone')} of {n} alone, "
        f"{result.with_high('history')} of {n} after the history",
        _benign_line(result.benign),
    ]
    if plain_benign is not None:
        lines.append("without the scan options, " + _benign_line(plain_benign))
    return lines
