"""SPL for a rule with the ``first_seen`` extension: a Splunk "first time seen" search.

The matcher (``match/first_seen.py``) feeds the rule's matches in ``(eventTime, eventID)``
order and alerts on a match whose value tuple was never seen, or was last seen more than
``forget_after`` before (exactly ``forget_after`` is still known); every match refreshes its
tuple. So a match alerts iff **the previous match with the same tuple is missing or more than
forget_after older** — which is what the search computes, one row per tuple value:

    <rule search>
    | eval sigma_seen_1='userIdentity.arn'          (one per first_seen field; a derived field
                                                     is coalesce(nullif('f1', "null"), ...))
    | mvexpand sigma_seen_1                          (array fields only: one row per value)
    | where isnotnull(sigma_seen_1) AND sigma_seen_1!="null"   (no value: no part; JSON null
                                                     is extracted as the text null)
    | sort 0 num(_time) str(eventID)                 (the matcher's order, eventID breaks ties)
    | streamstats current=f window=1 global=f last(_time) as sigma_last_seen by sigma_seen_1
    | where isnull(sigma_last_seen) OR _time - sigma_last_seen > <forget_after seconds>

``streamstats current=f window=1 global=f ... by`` reads the previous row of the same tuple
only (a window of one event per group), so no ``max_stream_window`` limit applies. A search
over ``[start, end)`` alerts as the matcher does on the events of that range. Scheduled, the
search reads ``forget_after`` + one interval and keeps the alerts of the last interval
(``Schedule``): every event is judged with all the sightings that decide it.

Not enforced: the learning period (no alerts until ``learning_start + learning_period``, the
rule's first match). A scheduled search over a sliding look-back cannot know when the data
began; the search must be enabled only once at least ``learning_period`` of CloudTrail is
indexed (a deployment precondition, stated in the saved search's description). Nor the
matcher's implausible-time guard (eventTimes before 2013-11-01 or in the future take no part):
Splunk indexes events by ``_time`` and a search over a time range does not see them.
"""

from __future__ import annotations

from sigma.rule import SigmaRule

from ses_sigma.convert.splunk_correlation import group_value_expression, quote_field
from ses_sigma.match.first_seen import FirstSeenSpec
from ses_sigma.pipelines import splunk_field

__all__ = ["first_seen_spl", "learning_precondition"]


def _seconds(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{_seconds(seconds)}s"


def learning_precondition(spec: FirstSeenSpec) -> str:
    """The deployment precondition a first-seen saved search states in its description."""
    return (
        f"Deployment precondition: enable this search only once at least "
        f"{_duration(spec.learning_period)} (the first_seen learning period) of CloudTrail is "
        "indexed; a scheduled search cannot enforce the learning period, and before it every "
        "principal looks new. It reads the last "
        f"{_duration(spec.forget_after)} (forget_after) plus one schedule interval."
    )


def first_seen_spl(
    query: str, rule: SigmaRule, spec: FirstSeenSpec, extra: tuple[str, ...] = ()
) -> str:
    """The ad hoc SPL of a first-seen rule whose (converted) base search is ``query``.

    ``rule`` is the converted rule (its ``fields`` are Splunk names); ``extra``: more result
    columns (the suppression fields). Raises
    ``UnmappedFieldError`` for a first_seen field the pipeline cannot map.
    """
    derived = {d.name: d for d in spec.derived}
    fields = [f if f in derived else splunk_field(f) for f in spec.fields]
    seen = [f"sigma_seen_{i}" for i in range(1, len(fields) + 1)]
    values = [group_value_expression(f, derived) for f in fields]
    lines = [
        query,
        "| eval " + ", ".join(f"{s}={v}" for s, v in zip(seen, values, strict=True)),
    ]
    arrays = [
        s
        for s, f in zip(seen, fields, strict=True)
        if "{}" in f or (f in derived and any("{}" in splunk_field(x) for x in derived[f].sources))
    ]
    lines += [f"| mvexpand {s}" for s in arrays]
    lines += [
        "| where " + " AND ".join(f'isnotnull({s}) AND {s}!="null"' for s in seen),
        "| sort 0 num(_time) str(eventID)",
        "| streamstats current=f window=1 global=f last(_time) as sigma_last_seen"
        f" by {' '.join(seen)}",
        "| where isnull(sigma_last_seen) OR _time - sigma_last_seen > "
        f"{_seconds(spec.forget_after)}",
        "| rename "
        + ", ".join(f"{s} as {quote_field(f)}" for s, f in zip(seen, fields, strict=True)),
    ]
    columns = ["_time", *fields, "eventID"]
    columns += [f for f in [*rule.fields, *extra] if f not in columns]
    lines.append("| table " + " ".join(quote_field(c) for c in columns))
    return "\n".join(lines)
