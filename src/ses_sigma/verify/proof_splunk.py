"""Prover for the ``splunk`` target: the emitted SPL run by the SPL simulator (not Splunk).

No Splunk runs offline, so the SPL is executed by :mod:`ses_sigma.verify.splunk_sim`, an
interpreter of the SPL commands the target emits, over the events as the Splunk Add-on for AWS
extracts them. Each rule's ad hoc search (``spl``) and its saved search run on schedule must give
the matcher's alerts; a scheduled disagreement is reported under ``<rule> (scheduled)``.
First-seen searches cannot enforce the learning period (a deployment precondition stated in the
rule's description): their alerts before ``data_start + learning_period`` are left out, as the
matcher never raises them.
"""

from __future__ import annotations

from collections.abc import Sequence

from sigma.rule import SigmaRule

from ses_sigma.convert.base import Refusal
from ses_sigma.convert.splunk import SplunkSearch, convert_rule
from ses_sigma.harness import Case
from ses_sigma.match.first_seen import FirstSeenSpec
from ses_sigma.pack import Pack, rule_key
from ses_sigma.records import Record
from ses_sigma.verify.proof import Prover, RuleAlerts

__all__ = ["SplunkProver"]


class SplunkProver(Prover):
    """``splunk`` searches on the SPL simulator."""

    target = "splunk"

    def __init__(self) -> None:
        self._searches: dict[str, tuple[SplunkSearch, FirstSeenSpec | None]] = {}

    def engine(self) -> str:
        return "SPL simulator (not Splunk): ses_sigma.verify.splunk_sim"

    def prepare(self, pack: Pack) -> dict[str, str]:
        refused = {}
        for rule in pack:
            result = convert_rule(pack, rule)
            if isinstance(result, Refusal):
                refused[rule_key(rule)] = result.reason
                continue
            spec = FirstSeenSpec.from_rule(rule) if isinstance(rule, SigmaRule) else None
            self._searches[rule_key(rule)] = (result, spec)
        return refused

    def run(self, cases: Sequence[Case]) -> list[RuleAlerts]:
        from ses_sigma.verify.splunk_sim import (
            event_from_record,
            result_alerts,
            run_scheduled,
            run_spl,
        )

        out = []
        for case in cases:
            records = [Record.from_dict(e) for e in case.events]
            events = [event_from_record(r.data) for r in records]
            start = min((r.time for r in records), default=0.0)
            got: RuleAlerts = {}
            for name, (search, spec) in self._searches.items():
                sched = search.schedule
                runs = {
                    name: result_alerts(run_spl(search.spl, events)),
                    f"{name} (scheduled)": result_alerts(
                        run_scheduled(search.scheduled, events, sched.interval, sched.lookback)
                    ),
                }
                for key, alerts in runs.items():
                    if spec is not None:
                        alerts = [a for a in alerts if a.time >= start + spec.learning_period]
                    got[key] = sorted(a.event_ids for a in alerts)
            out.append(got)
        return out
