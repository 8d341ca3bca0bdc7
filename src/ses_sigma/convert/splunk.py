"""The ``splunk`` conversion target: SPL searches, ``savedsearches.conf`` and a Splunk app.

Formats:

* ``spl`` (default): ``<rule name>.spl``, the search to run ad hoc over any time range; over
  ``[start, end)`` it alerts as the matcher does on the events of that range (correlations and
  first-seen rules see no events before ``start``).
* ``savedsearches``: ``savedsearches.conf``, one scheduled stanza per rule (see
  ``splunk_app``); correlation and first-seen searches read their window plus one interval
  and keep the alerts of the last interval (``common.Schedule``).
* ``app``: the ``ses_sigma/`` app directory (``default/app.conf``,
  ``default/savedsearches.conf``, ``metadata/default.meta``, ``README.md``) and
  ``ses_sigma.tgz`` of it.

Each rule is converted from a fresh copy of the pack (pySigma mutates what it converts) by
:class:`~ses_sigma.convert.splunk_backend.SesSplunkBackend` with the CloudTrail Splunk pipeline,
or refused with the reason (the matcher cannot evaluate it, the pipeline cannot map a field,
the backend cannot express it with the matcher's meaning). A base rule of a correlation that
does not ``generate`` its own alerts gets no artefact of its own (the matcher does not alert on
it either); its search is inside the correlation's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sigma.backends.splunk.splunk import SplunkDeferredORRegularExpression
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule, SigmaRuleBase

from ses_sigma.convert.base import ConversionOutput, Refusal, Target, register
from ses_sigma.convert.common import Schedule, fresh_pack, level_rank, schedule_for
from ses_sigma.convert.names import output_name
from ses_sigma.convert.splunk_app import (
    APP_ID,
    SEVERITY,
    SavedSearch,
    app_files,
    render_savedsearches,
    tgz,
)
from ses_sigma.convert.splunk_backend import SesSplunkBackend, spl_text_problem
from ses_sigma.convert.splunk_correlation import quote_field
from ses_sigma.convert.splunk_firstseen import first_seen_spl, learning_precondition
from ses_sigma.match.detection import compile_detection
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.match.first_seen import FirstSeenSpec
from ses_sigma.match.suppression import SuppressionSpec
from ses_sigma.pack import Pack, rule_key
from ses_sigma.pipelines import UnmappedFieldError, ses_cloudtrail_splunk_pipeline, splunk_field

__all__ = ["SplunkSearch", "SplunkTarget", "convert_rule", "window_filter"]

TARGET = "splunk"


@dataclass(frozen=True)
class SplunkSearch:
    """One rule as Splunk searches: ``spl`` (ad hoc) and ``scheduled`` (saved search)."""

    rule: SigmaRuleBase
    spl: str
    scheduled: str
    schedule: Schedule
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The rule's name."""
        return rule_key(self.rule)

    #: Throttling of the saved search: result fields and Splunk period (suppression).
    suppress: tuple[tuple[str, ...], str] | None = None

    def saved_search(self) -> SavedSearch:
        """The saved search stanza of this rule (named by its safe output name)."""
        return SavedSearch(
            name=output_name(self.rule),
            title=_one_line(self.rule.title),
            description=_description(self.rule, self.notes),
            search=self.scheduled,
            schedule=self.schedule,
            severity=SEVERITY[level_rank(self.rule)],
            suppress=self.suppress,
        )


class _Refused(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _one_line(text: str | None) -> str:
    """Prose on one line: whitespace runs (CR, VT, FF, NEL, U+2028... too) become one space,
    any other control character its visible escape (``\\x08``)."""
    flat = " ".join((text or "").split())
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", flat)


def _description(rule: SigmaRuleBase, notes: Sequence[str]) -> str:
    level = rule.level.name.lower() if rule.level else "medium"
    tags = ", ".join(str(t) for t in rule.tags)
    parts = [f"{_one_line(rule.title)}.", _one_line(rule.description), f"Level: {level}."]
    if tags:
        parts.append(f"Tags: {tags}.")
    parts.extend(notes)
    parts.append(f"Sigma rule {rule_key(rule)} ({rule.id}), converted by ses-sigma.")
    # str.split() also splits on CR, VT, FF, U+001C..U+001F, U+0085, U+2028/9: one line.
    return _one_line(" ".join(p for p in parts if p))


_WHILE = re.compile(r"\s*\(while [^()]* rule .*\)\s*$", re.DOTALL)


def _reason(rule: SigmaRuleBase, exc: BaseException) -> str:
    """The reason of an error, without the rule-name prefix or the source location."""
    text = str(exc.args[0]) if exc.args else str(exc)
    text = _WHILE.sub("", text)
    name = rule_key(rule)
    for prefix in (f"{name}: cannot convert with pipeline ", f"{name}: "):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return text


def window_filter(interval: int) -> str:
    """SPL keeping the results completed in the search's last ``interval`` seconds."""
    return (
        "| addinfo\n"
        f"| where _time >= info_max_time - {interval}\n"
        "| fields - info_min_time info_max_time info_search_time info_sid"
    )


def _convert_single(backend: SesSplunkBackend, rule: SigmaRule) -> str:
    """The backend's query of a single-event rule (already checked by the matcher)."""
    backend.convert_rule(rule)
    queries = rule.get_conversion_result()  # also for a base rule that does not generate
    if len(queries) != 1:
        raise _Refused(f"the backend made {len(queries)} queries")
    return queries[0]


def _table(rule: SigmaRule, extra: tuple[str, ...] = ()) -> str:
    columns = ["_time", "eventID", *(f for f in rule.fields if f not in ("_time", "eventID"))]
    columns += [f for f in extra if f not in columns]
    return "| table " + " ".join(quote_field(c) for c in columns)


def _suppression(rule: SigmaRuleBase) -> tuple[tuple[str, ...], str] | None:
    """``alert.suppress.fields`` (result columns) and ``alert.suppress.period`` of the rule's
    suppression attribute; a correlation's columns are its group-by names."""
    spec = SuppressionSpec.from_rule(rule)
    if spec is None:
        return None
    if spec.missing_fields != "suppress":
        raise _Refused(
            f"suppression missing_fields {spec.missing_fields}: Splunk throttling suppresses "
            "results lacking a field together with each other (there is no do_not_suppress)"
        )
    if isinstance(rule, SigmaCorrelationRule):
        fields = spec.fields
    else:
        try:
            fields = tuple(splunk_field(f) for f in spec.fields)
        except UnmappedFieldError as exc:
            raise _Refused(f"suppression: {exc}") from None
    return fields, splunk_period(spec.period)


def splunk_period(seconds: float) -> str:
    """A Splunk time specifier (``30m``, ``1h``, ``1d``) of exactly ``seconds``."""
    whole = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if whole == seconds and whole % size == 0:
            return f"{whole // size}{unit}"
    raise _Refused(f"suppression period of {seconds}s is not a whole number of seconds")


def _single(backend: SesSplunkBackend, rule: SigmaRule, schedule: Schedule) -> SplunkSearch:
    try:
        compile_detection(rule)
        spec = FirstSeenSpec.from_rule(rule)
    except RuleCompileError as exc:
        raise _Refused(f"the matcher cannot evaluate it: {_reason(rule, exc)}") from None
    suppress = _suppression(rule)
    query = _convert_single(backend, rule)
    if spec is None:
        extra = suppress[0] if suppress else ()
        spl = query + ("\n" + _table(rule, extra) if rule.fields or extra else "")
        return SplunkSearch(rule, spl, spl, schedule, suppress=suppress)
    spl = first_seen_spl(query, rule, spec, extra=suppress[0] if suppress else ())
    return SplunkSearch(
        rule,
        spl,
        spl + "\n" + window_filter(schedule.interval),
        schedule,
        notes=(learning_precondition(spec),),
        suppress=suppress,
    )


def _correlation(
    backend: SesSplunkBackend, corr: SigmaCorrelationRule, schedule: Schedule
) -> SplunkSearch:
    for ref in corr.rules:
        base = ref.rule
        if isinstance(base, SigmaRule):
            try:
                _convert_single(backend, base)
            except (SigmaError, NotImplementedError, UnmappedFieldError, _Refused) as exc:
                raise _Refused(
                    f"base rule {rule_key(base)} cannot be converted: {_reason(base, exc)}"
                ) from None
    suppress = _suppression(corr)
    [spl] = backend.convert_correlation_rule(corr)
    note = (
        f"Sliding window of {int(schedule.window)}s, order by (time, rule order, eventID); each "
        "run reads the window plus one interval and alerts on the chains completed in the last "
        "interval."
    )
    scheduled = spl + "\n" + window_filter(schedule.interval)
    return SplunkSearch(corr, spl, scheduled, schedule, (note,), suppress=suppress)


def _check_search(search: SplunkSearch) -> None:
    """The whole search, once more: no backtick, no control character but the line feeds
    between its commands (each line after the first is a ``| command`` or a multisearch
    ``[ search ...`` subsearch)."""
    for spl in (search.spl, search.scheduled):
        lines = spl.split("\n")
        for line in lines:
            problem = spl_text_problem(line)
            if problem:
                raise _Refused(problem)
        if any(not line.startswith(("| ", "[ search ")) for line in lines[1:]):
            raise _Refused("a value spans lines in the search")


def convert_rule(pack: Pack, rule: SigmaRuleBase) -> SplunkSearch | Refusal:
    """Convert one rule of ``pack`` (from a fresh copy of the pack), or refuse it."""
    fresh = fresh_pack(pack)
    name = rule_key(rule)
    target = fresh.get(name)
    SplunkDeferredORRegularExpression.reset()  # upstream keeps class-level counters
    backend = SesSplunkBackend(ses_cloudtrail_splunk_pipeline())
    try:
        schedule = schedule_for(target)
        if isinstance(target, SigmaCorrelationRule):
            search = _correlation(backend, target, schedule)
        elif isinstance(target, SigmaRule):
            search = _single(backend, target, schedule)
        else:
            raise _Refused(f"unknown rule type {type(target).__name__}")
        _check_search(search)
        return search
    except _Refused as exc:
        return Refusal(name, TARGET, exc.reason)
    except RuleCompileError as exc:
        return Refusal(name, TARGET, f"the matcher cannot evaluate it: {_reason(target, exc)}")
    except (SigmaError, NotImplementedError, UnmappedFieldError) as exc:
        return Refusal(name, TARGET, _reason(target, exc))
    except ValueError as exc:
        return Refusal(name, TARGET, _reason(target, exc))
    finally:
        SplunkDeferredORRegularExpression.reset()


def _alerts_on_its_own(rule: SigmaRuleBase) -> bool:
    """False for a base rule of a correlation that does not generate its alerts."""
    return isinstance(rule, SigmaCorrelationRule) or rule._output


class SplunkTarget(Target):
    """Splunk SPL, savedsearches.conf and a Splunk app."""

    name = TARGET
    formats = ("spl", "savedsearches", "app")
    description = "Splunk SPL (Add-on for AWS, sourcetype aws:cloudtrail), saved searches, app"

    def searches(self, pack: Pack, rules: Sequence[SigmaRuleBase]) -> list[SplunkSearch | Refusal]:
        """Every rule that alerts on its own, converted or refused, sorted by rule name."""
        ordered = sorted({rule_key(r): r for r in rules}.items())
        return [convert_rule(pack, r) for _, r in ordered if _alerts_on_its_own(r)]

    def convert(self, pack: Pack, rules: Sequence[SigmaRuleBase], fmt: str) -> ConversionOutput:
        """Convert ``rules`` to ``fmt`` (``spl``, ``savedsearches`` or ``app``)."""
        if fmt not in self.formats:
            raise ValueError(f"target {self.name} has no format {fmt!r}")
        out = ConversionOutput()
        done: list[SplunkSearch] = []
        for result in self.searches(pack, rules):
            if isinstance(result, Refusal):
                out.refusals.append(result)
            else:
                done.append(result)
        if fmt == "spl":
            for s in done:
                out.files[f"{output_name(s.rule)}.spl"] = s.spl + "\n"
        elif fmt == "savedsearches":
            out.files["savedsearches.conf"] = render_savedsearches([s.saved_search() for s in done])
        else:
            files = app_files([s.saved_search() for s in done])
            out.files.update(files)
            out.files[f"{APP_ID}.tgz"] = tgz(files)
        return out


register(SplunkTarget())
