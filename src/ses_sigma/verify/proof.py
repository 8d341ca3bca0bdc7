"""Prove a conversion target on its engine: fixture cases through the converted queries.

For every fixture case, the matcher runs the whole pack (as ``ses-sigma test`` does) and the
target's engine runs every rule the target converts, over the same events; for each rule the
alerts (as event-id tuples) must be the same. Rules the target refuses are reported with the
reason, not compared. What ``ses-sigma test --target T`` runs.

Each target is a :class:`Prover` registered here by name, in its own module (``proof_elastic``,
``proof_splunk``, ``proof_spark``); a prover names its engine and version, converts the pack
once (``prepare``) and returns its alerts for a batch of cases (``run``).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

from ses_sigma.harness import Case
from ses_sigma.match.engine import Engine
from ses_sigma.pack import Pack, rule_key
from ses_sigma.records import Record

__all__ = [
    "PROVERS",
    "CaseProof",
    "EngineUnavailable",
    "ProofReport",
    "Prover",
    "RuleAlerts",
    "get_prover",
    "prove",
]

#: Alerts of each rule, as sorted event-id tuples.
RuleAlerts = dict[str, list[tuple[str, ...]]]


class EngineUnavailable(RuntimeError):
    """The target's engine is not installed or does not start; the message says what to do."""


class Prover(ABC):
    """Runs one target's converted queries on that target's engine."""

    #: Target name (as ``ses-sigma convert -t``).
    target: str

    @abstractmethod
    def engine(self) -> str:
        """The engine and its version, e.g. ``Apache Lucene 8.8.1``; raises EngineUnavailable."""

    @abstractmethod
    def prepare(self, pack: Pack) -> dict[str, str]:
        """Convert the pack; returns the refused rules and their reasons."""

    @abstractmethod
    def run(self, cases: Sequence[Case]) -> list[RuleAlerts]:
        """For each case, the alerts of every converted rule (rules without alerts included)."""


#: Target name -> module that defines its prover (imported on demand: engines are heavy).
PROVERS: dict[str, str] = {
    "lucene": "ses_sigma.verify.proof_elastic:LuceneProver",
    "eql": "ses_sigma.verify.proof_elastic:EqlProver",
    "splunk": "ses_sigma.verify.proof_splunk:SplunkProver",
    "spark": "ses_sigma.verify.proof_spark:SparkProver",
}


def get_prover(target: str) -> Prover:
    """A new prover for ``target``; KeyError names the targets that have an engine."""
    try:
        module, _, cls = PROVERS[target].partition(":")
    except KeyError:
        raise KeyError(
            f"no engine to prove target {target!r} on; targets with one: "
            f"{', '.join(sorted(PROVERS))}"
        ) from None
    prover: Prover = getattr(importlib.import_module(module), cls)()
    return prover


@dataclass
class CaseProof:
    """One case: the rules whose target alerts differ from the matcher's."""

    case: Case
    #: rule -> (matcher's alerts, target's alerts), for the rules that differ
    differences: dict[str, tuple[list[tuple[str, ...]], list[tuple[str, ...]]]]

    @property
    def passed(self) -> bool:
        """True when every converted rule gave the matcher's alerts."""
        return not self.differences


@dataclass
class ProofReport:
    """What ``prove`` found: the engine, the refusals and every case's comparison."""

    target: str
    engine: str
    refused: dict[str, str]
    compared: list[str]
    cases: list[CaseProof] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when no case disagrees."""
        return all(c.passed for c in self.cases)


def matcher_alerts(engine: Engine, case: Case, rules: Sequence[str]) -> RuleAlerts:
    """The matcher's alerts of ``rules`` on the case's events (in the order written)."""
    alerts = engine.run([Record.from_dict(e) for e in case.events])
    out: RuleAlerts = {name: [] for name in rules}
    for alert in alerts:
        if alert.rule_name in out:
            out[alert.rule_name].append(alert.event_ids)
    return {name: sorted(ids) for name, ids in out.items()}


def prove(prover: Prover, pack: Pack, cases: Sequence[Case]) -> ProofReport:
    """Run ``cases`` on the matcher and on the prover's engine and compare, rule by rule."""
    engine_name = prover.engine()
    refused = prover.prepare(pack)
    compared = sorted(rule_key(r) for r in pack if rule_key(r) not in refused)
    report = ProofReport(prover.target, engine_name, refused, compared)
    matcher = Engine(pack)
    got_all = prover.run(cases)
    for case, got in zip(cases, got_all, strict=True):
        want = matcher_alerts(matcher, case, compared)
        diffs = {}
        for name in compared:
            # a prover may report a second run of a rule as "<rule> (<how>)" (e.g. scheduled)
            for key in [name, *(k for k in got if k.startswith(name + " ("))]:
                theirs = sorted(got.get(key, []))
                if theirs != want[name]:
                    diffs[key] = (want[name], theirs)
        report.cases.append(CaseProof(case, diffs))
    return report
