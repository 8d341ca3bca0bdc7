"""Prover for the ``splunk`` target: the emitted SPL run by the SPL simulator (not Splunk).

No Splunk runs offline, so the SPL is executed by :mod:`ses_sigma.verify.splunk_sim`, an
interpreter of the SPL commands the target emits, over the events as the Splunk Add-on for AWS
extracts them. Each rule's ad hoc search (``spl``) and its saved search run on schedule must give
the matcher's alerts; a scheduled disagreement is reported under ``<rule> (scheduled)``.
First-seen searches cannot enforce the learning period (a deployment precondition stated in the
rule's description): their alerts before the rule's first plausible match + ``learning_period``
are left out, and they run without implausible eventTimes (a search has a time range).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from sigma.rule import SigmaRule

from ses_sigma.convert.base import Refusal
from ses_sigma.convert.splunk import SplunkSearch, convert_rule
from ses_sigma.harness import Case
from ses_sigma.match.detection import compile_detection
from ses_sigma.match.first_seen import EARLIEST_PLAUSIBLE, FUTURE_SLACK, FirstSeenSpec
from ses_sigma.pack import Pack, rule_key
from ses_sigma.records import Record
from ses_sigma.verify.proof import Prover, RuleAlerts

__all__ = ["SplunkProver"]


def _plausible(record: Record) -> bool:
    return EARLIEST_PLAUSIBLE <= record.time <= time.time() + FUTURE_SLACK


class SplunkProver(Prover):
    """``splunk`` searches on the SPL simulator."""

    target = "splunk"

    def __init__(self) -> None:
        self._searches: dict[
            str, tuple[SplunkSearch, FirstSeenSpec | None, Callable[[Any], bool] | None]
        ] = {}

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
            # the pack's rule, not the converted copy (pySigma maps its fields to Splunk's)
            predicate = compile_detection(rule).predicate if spec is not None else None
            self._searches[rule_key(rule)] = (result, spec, predicate)
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
            every = [Record.from_dict(e) for e in case.events]
            got: RuleAlerts = {}
            for name, (search, spec, predicate) in self._searches.items():
                records, start = every, 0.0
                if spec is not None and predicate is not None:
                    # a first-seen search runs over a time range (never implausible times);
                    # its learning starts at the rule's first match (the search's precondition)
                    records = [r for r in every if _plausible(r)]
                    start = min((r.time for r in records if predicate(r.data)), default=0.0)
                events = [event_from_record(r.data) for r in records]
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
