"""The matcher: runs a compiled pack over CloudTrail records and returns alerts.

Single-event rules are compiled once into predicates (``detection.compile_detection``) and
dispatched on ``eventSource``/``eventName``, so a record is only tested against the rules that
can match it. Records matched by a rule that feeds a stateful rule (a correlation, or a rule
with the ``first_seen`` extension) are kept as candidates; once the input is read, candidates
are ordered by (eventTime, eventID) and fed to the stateful engines, whose state is bounded by
their time window. So the alerts do not depend on the order the records arrived in: CloudTrail
delivers them out of order, within a file and across files.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRuleBase

from ses_sigma.alerts import Alert, alert_rule, single_alert_maker
from ses_sigma.match.baseline import Baseline
from ses_sigma.match.components import stateful_components
from ses_sigma.match.correlation import CorrelationEngine
from ses_sigma.match.detection import CompiledDetection, Predicate, compile_detection
from ses_sigma.match.dispatch import Dispatch
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.match.feed_reference import (
    ReferenceCorrelation,
    ReferenceFirstSeen,
    ReferenceRunner,
)
from ses_sigma.match.first_seen import FirstSeenEngine, FirstSeenSpec
from ses_sigma.match.stateful import PackedPayload, Payload, Projector, StatefulRunner
from ses_sigma.match.suppression import GroupValues, SuppressionSpec, Suppressor, group_of
from ses_sigma.pack import Pack, rule_key
from ses_sigma.prefilter import Prefilter
from ses_sigma.records import Record

__all__ = ["AlertRule", "Engine", "RuleCompileError", "RunStats"]


@dataclass
class _Single:
    """A compiled single-event rule and who consumes its matches."""

    compiled: CompiledDetection
    name: str
    alerts: bool  # emits its own alert per matching record
    first_seen: FirstSeenSpec | None
    feeds: list[str] = field(default_factory=list)  # correlation names fed by this rule
    #: make_alert(rule, [record]), with the rule's part computed once
    alert_of: Callable[[Record], Alert] | None = None

    @property
    def stateful(self) -> bool:
        return self.first_seen is not None or bool(self.feeds)


#: One rule's step in a dispatch plan: its predicate (None: always true for the plan's
#: records), its alert maker (None: no alert of its own), its name when it feeds a stateful
#: rule (else None), its name, and the index of its alert in ``Engine.alert_rules`` (None:
#: no alert of its own).
_Step = tuple[Predicate | None, Callable[[Record], Alert] | None, str | None, str, int | None]

#: A single-event alert's rule part: (rule_id, rule_name, title, level).
AlertRule = tuple[str, str, str, str]


@dataclass
class RunStats:
    """What one run saw."""

    records: int = 0
    candidates: int = 0
    first_time: float | None = None
    last_time: float | None = None
    #: First-seen matches left out for an implausible eventTime: (rule name, record origin or
    #: eventID, eventTime).
    implausible: list[tuple[str, str, str]] = field(default_factory=list)


class Engine:
    """A pack compiled for matching. Build once, ``run`` many times (state is per run)."""

    def __init__(
        self,
        pack: Pack,
        skip_unsupported: bool = False,
        clock: Callable[[], float] = time.time,
    ):
        """Compile every rule of ``pack``.

        A rule the matcher cannot evaluate faithfully raises RuleCompileError (naming its file,
        the rule and the construct), unless ``skip_unsupported``: then it is left out, with
        every correlation over it, and the reasons are kept in ``self.skipped``. A base rule of
        a left-out ``generate: false`` correlation still does not alert on its own (pySigma's
        output setting is the rule's, whatever happens to the correlation). ``clock`` is the
        wall clock that bounds plausible eventTimes for first-seen rules.
        """
        errors: list[str] = []
        self.pack = pack
        self._clock = clock
        # The projection leaves out the notes of times up to the wall clock now: every
        # stateful runner of this engine is made later (FirstSeenEngine.note_after).
        self._made = clock()
        self._singles: dict[str, _Single] = {}
        self._suppression: dict[str, SuppressionSpec] = {}

        def where(rule: SigmaRuleBase) -> str:
            path = pack.file_of(rule)
            return f"{path}: " if path is not None else ""

        for rule in pack.rules:
            try:
                compiled = compile_detection(rule)
                spec = FirstSeenSpec.from_rule(rule)
                suppression = SuppressionSpec.from_rule(rule)
            except RuleCompileError as exc:
                errors.append(f"{where(rule)}{exc}")
                continue
            name = rule_key(rule)
            # A first-seen rule alerts through its engine, not on every match.
            self._singles[name] = _Single(
                compiled=compiled,
                name=name,
                alerts=rule._output and spec is None,
                first_seen=spec,
                alert_of=single_alert_maker(rule),
            )
            if suppression is not None:
                self._suppression[name] = suppression
        self._correlations: list[SigmaCorrelationRule] = []
        for corr in pack.correlations:
            try:
                CorrelationEngine.check(corr)
                corr_suppression = SuppressionSpec.from_rule(corr)
            except RuleCompileError as exc:
                errors.append(f"{where(corr)}{exc}")
                continue
            targets = [rule_key(ref.rule) for ref in corr.rules or []]
            missing = [t for t in targets if t not in self._singles]
            if missing:
                errors.append(
                    f"{where(corr)}{rule_key(corr)}: correlation over "
                    f"{', '.join(map(repr, missing))}, which the matcher did not compile "
                    "(not a single-event rule, or refused)"
                )
                continue
            for target in targets:
                self._singles[target].feeds.append(rule_key(corr))
            self._correlations.append(corr)
            if corr_suppression is not None:
                self._suppression[rule_key(corr)] = corr_suppression
        #: Why each left-out rule was left out (only with ``skip_unsupported``).
        self.skipped: list[str] = []
        if errors:
            if not skip_unsupported:
                raise RuleCompileError("\n".join(errors))
            self.skipped = errors
        #: The rule part of each single-event rule's alerts, in rule order: what
        #: ``match_rules`` gives indexes into (fixed here, so forked workers share it).
        self.alert_rules: list[AlertRule] = []
        self._alert_index: dict[str, int] = {}
        for single in self._singles.values():
            if single.alerts:
                self._alert_index[single.name] = len(self.alert_rules)
                self.alert_rules.append(alert_rule(single.compiled.rule))
        self._dispatch = Dispatch(
            [(s.compiled, s) for s in self._singles.values()], self._plan_entry
        )
        self.stats = RunStats()
        self._projector_cache: Projector | None = None

    def _plan_entry(self, single: _Single, pred: Predicate | None) -> _Step:
        return (
            pred,
            single.alert_of if single.alerts else None,
            single.name if single.stateful else None,
            single.name,
            self._alert_index.get(single.name),
        )

    def run(
        self,
        records: Iterable[Record],
        baseline: Baseline | None = None,
        suppress: bool = False,
    ) -> list[Alert]:
        """Match every record; return all alerts sorted by time, rule and event ids.

        ``baseline``: first-seen state of earlier runs; the first-seen rules start from it and
        it is updated in place (save it to carry the state on). ``suppress``: apply the rules'
        ``suppression`` attributes (match/suppression.py); otherwise one alert per match.
        """
        groups: list[tuple[Alert, GroupValues | None]] | None = [] if suppress else None
        stats = RunStats()
        alerts: list[Alert] = []
        # One entry per (record, stateful rule), fed in (eventTime, eventID, rule) order: copies
        # of one record (same eventID and eventTime) meet each engine one rule at a time.
        pending: list[tuple[float, str, str, Payload]] = []
        for rec in records:
            stats.records += 1
            if stats.first_time is None or rec.time < stats.first_time:
                stats.first_time = rec.time
            if stats.last_time is None or rec.time > stats.last_time:
                stats.last_time = rec.time
            names = self.match_record(rec, alerts, groups)
            if names:
                payload = self.project(rec, names, suppress=groups is not None)
                pending.extend((rec.time, rec.event_id, item[0], (item,)) for item in payload)
        stats.candidates = len(pending)
        self.stats = stats
        if pending:
            pending.sort(key=lambda p: p[:3])
            runner = self.stateful_runner(baseline, groups)
            for time_, event_id, _, payload in pending:
                alerts.extend(runner.feed(time_, event_id, payload))
            alerts.extend(runner.finish())
            stats.implausible.extend(runner.implausible())
        elif baseline is not None:
            self.touch_baseline(baseline)  # known to the baseline, even unmatched
        if groups is not None:
            return Suppressor(self._suppression).apply(groups)
        alerts.sort(key=lambda a: a.sort_key)
        return alerts

    def _group(self, name: str, rec: Record) -> GroupValues | None:
        spec = self._suppression.get(name)
        return group_of(spec, rec.data) if spec is not None else None

    # --- the streaming surface (ses_sigma.scan): match records one by one, stateful later ---

    def match_record(
        self,
        rec: Record,
        alerts: list[Alert],
        groups: list[tuple[Alert, GroupValues | None]] | None = None,
    ) -> list[str]:
        """Match one record against the single-event rules.

        Appends the alerts of single-event rules to ``alerts`` (and, with ``groups``, each with
        its suppression group) and returns the names of the rules whose matches feed a stateful
        rule (to ``project``, then, sorted, to a ``stateful_runner``).
        """
        stateful: list[str] = []
        data = rec.data
        for pred, alert_of, feeds, name, _ in self._dispatch.plan(data):
            if pred is not None and not pred(data):
                continue
            if alert_of is not None:
                alert = alert_of(rec)
                alerts.append(alert)
                if groups is not None:
                    groups.append((alert, self._group(name, rec)))
            if feeds is not None:
                stateful.append(feeds)
        return stateful

    def match_rules(
        self, rec: Record, found: list[int], groups: list[GroupValues | None] | None = None
    ) -> list[str]:
        """``match_record`` without building Alerts (the scan's form): appends to ``found``
        the index in ``alert_rules`` of each single-event alert (``alerts.alert_of_rule``
        makes the Alert ``match_record`` would have: the rule's part, the record's eventTime
        and eventID) and, with ``groups``, its suppression group; returns the same names."""
        stateful: list[str] = []
        data = rec.data
        for pred, _, feeds, name, index in self._dispatch.plan(data):
            if pred is not None and not pred(data):
                continue
            if index is not None:
                found.append(index)
                if groups is not None:
                    groups.append(self._group(name, rec))
            if feeds is not None:
                stateful.append(feeds)
        return stateful

    def _projector(self) -> Projector:
        """The projection of records for the stateful rules (built once, on first use)."""
        if self._projector_cache is None:
            corrs = {rule_key(c): CorrelationEngine(c) for c in self._correlations}
            self._projector_cache = Projector(
                {
                    name: (
                        name,
                        FirstSeenEngine(
                            s.compiled.rule,
                            s.first_seen,
                            clock=self._clock,
                            note_after=self._made,
                        )
                        if s.first_seen is not None
                        else None,
                        self._suppression.get(name),
                        tuple(corrs[c] for c in s.feeds),
                    )
                    for name, s in self._singles.items()
                    if s.stateful
                }
            )
        return self._projector_cache

    def project(
        self, rec: Record, names: list[str], suppress: bool = False, origins: bool = True
    ) -> Payload:
        """What ``rec``, matched by the stateful rules' base rules ``names`` (from
        ``match_record``), brings to the stateful engines: a small payload for
        ``StatefulRunner.feed`` (no record data). ``suppress``: with the first-seen alerts'
        suppression groups; ``origins``: with the record's origin (for warnings)."""
        projector = self._projector_cache
        if projector is None:
            projector = self._projector()
        return projector.project(rec, names, suppress, origins)

    def project_packed(
        self, rec: Record, names: list[str], suppress: bool = False, origins: bool = True
    ) -> PackedPayload:
        """``project``'s payload as marshal bytes, as a scan carries it (``Projector``)."""
        projector = self._projector_cache
        if projector is None:
            projector = self._projector()
        return projector.project_packed(rec, names, suppress, origins)

    def stateful_runner(
        self,
        baseline: Baseline | None = None,
        groups: list[tuple[Alert, GroupValues | None]] | None = None,
        reference: bool = False,
        rules: Collection[str] | None = None,
    ) -> StatefulRunner:
        """Fresh stateful engines (first-seen ones from ``baseline``, updated in place) taking
        ``project`` payloads in (eventTime, eventID) order; with ``groups``, every alert is
        also recorded there with its suppression group. ``reference``: the engines as first
        written (``match.feed_reference``), which the fast ones are tested against.
        ``rules``: only the engines of these base rules (whole ``stateful_components``: a
        correlation over a rule left out would miss its events), fed only their payload items
        (``scan_exact``)."""
        first_seen_class = ReferenceFirstSeen if reference else FirstSeenEngine
        correlation_class = ReferenceCorrelation if reference else CorrelationEngine
        singles = {
            name: s
            for name, s in self._singles.items()
            if s.stateful and (rules is None or name in rules)
        }
        first_seen = {
            name: first_seen_class(
                s.compiled.rule,
                s.first_seen,
                state=baseline.state_for(name, s.first_seen) if baseline is not None else None,
                clock=self._clock,
            )
            for name, s in singles.items()
            if s.first_seen is not None
        }
        wanted = {c for s in singles.values() for c in s.feeds}
        correlations = {
            rule_key(c): correlation_class(c) for c in self._correlations if rule_key(c) in wanted
        }
        feeds = {name: [correlations[c] for c in s.feeds] for name, s in singles.items()}
        runner_class = ReferenceRunner if reference else StatefulRunner
        return runner_class(first_seen, feeds, groups)

    def stateful_components(self) -> list[tuple[list[str], int]]:
        """The stateful rules split into independent parts (``match.components``): per part,
        its base rules (sorted) and its number of engines; each part can run alone."""
        return stateful_components(
            (s.name, s.feeds, s.first_seen is not None)
            for s in self._singles.values()
            if s.stateful
        )

    def touch_baseline(self, baseline: Baseline) -> None:
        """Make every first-seen rule known to ``baseline``, even when it matched nothing."""
        for single in self._singles.values():
            if single.first_seen is not None:
                baseline.state_for(single.name, single.first_seen)

    def suppress(self, groups: list[tuple[Alert, GroupValues | None]]) -> list[Alert]:
        """The rules' suppression attributes applied to (alert, group) pairs."""
        return Suppressor(self._suppression).apply(groups)

    def prefilter(self) -> Prefilter | None:
        """The raw-bytes pre-filter for this pack (per rule: eventSource, eventName and the
        literals its detection needs), or None when a rule does not pin eventSource to plain
        values (then every record must be decoded)."""
        return Prefilter.for_rules(s.compiled.rule for s in self._singles.values())

    @property
    def rule_names(self) -> list[str]:
        """Every rule the engine evaluates."""
        return [*self._singles, *(rule_key(c) for c in self._correlations)]
