"""A task's result on its way from a worker process to the parent (``to_wire`` / ``from_wire``)
and the single-event alerts of its rows (``alerts_of``): see ``scan_tasks``."""

from __future__ import annotations

import marshal
import os
from typing import Any

from ses_sigma.alerts import Alert
from ses_sigma.match.engine import AlertRule
from ses_sigma.scan_tasks import ALERT_FIELDS, TaskResult, collector_paused

__all__ = ["WIRE_FILE_MIN", "alerts_of", "from_wire", "to_wire"]

#: Wire blobs of at least this many bytes go through a file of the scan's directory, not the
#: pipe (``to_wire``).
WIRE_FILE_MIN = 32 << 10

_NEW = object.__new__
_ALERT_SETTERS = tuple(getattr(Alert, name).__set__ for name in ALERT_FIELDS)


def to_wire(
    result: TaskResult, directory: str | None = None, without_payloads: bool = False
) -> TaskResult:
    """The result with its matches in wire form, for a worker to send (in place; module
    docstring): (times, event_ids, payloads, groups) in one ``marshal`` blob, ``found`` in
    another (version 2: without the reference table, a third of the cost to write, measured).
    Columns ``marshal`` cannot write (a suppression group or payload of an unusual type) are
    sent as they are, pickled. The collector is paused meanwhile (no cycle is made; in a
    forked worker a collection also walks, and so copies, the heap inherited from the
    parent).

    With a ``directory`` (the scan's own), blobs of ``WIRE_FILE_MIN`` bytes or more are
    written to a file there (``TaskResult.wire_file``) and only its name travels: a result of
    a 64 MiB range of the bench file is ~1 MB, 16 pipe buffers the worker waited on the
    parent to drain (blocked while the parent handled other results; measured: ~30 ms a
    worker per 2-worker bench scan); a parent in batch mode mostly never reads them.

    ``without_payloads`` (the parent is in batch mode for good and takes them from the
    task's runs): the payloads, most of the bytes (~0.8 of 1 MB a bench range), are left out,
    replaced by which rows have one (``TaskResult.payloads_left_out``)."""
    with collector_paused():
        try:
            payloads: Any = result.payloads
            if without_payloads:
                payloads = bytes(p is not None for p in payloads)
            columns = (result.times, result.event_ids, payloads, result.groups)
            wire = marshal.dumps(columns, 2)
            found_wire = marshal.dumps(result.found, 2)
        except ValueError:  # unmarshallable object: the columns go pickled
            return result
        if directory is not None and len(wire) + len(found_wire) >= WIRE_FILE_MIN:
            path = os.path.join(directory, f"wire-{result.task.index}")
            with open(path, "wb") as fh:
                fh.write(wire)
                fh.write(found_wire)
            result.wire_file = (path, len(wire))
        else:
            result.wire = wire
            result.found_wire = found_wire
        result.payloads_left_out = without_payloads
        result.times, result.event_ids, result.payloads, result.found = [], [], [], []
        result.groups = None
        return result


def alerts_of(found: list[int], ts: float, event_id: str, rules: list[AlertRule]) -> list[Alert]:
    """The Alerts of one match row: ``found`` (indexes into ``rules``, ``Engine.alert_rules``)
    made by the record of ``ts`` and ``event_id``: what ``Engine.match_record`` makes
    (``alerts.alert_of_rule``, in line)."""
    out = []
    s_id, s_name, s_title, s_level, s_time, s_events, s_group, s_suppressed = _ALERT_SETTERS
    events = (event_id,)
    for index in found:
        rule_id, rule_name, title, level = rules[index]
        alert = _NEW(Alert)
        s_id(alert, rule_id)
        s_name(alert, rule_name)
        s_title(alert, title)
        s_level(alert, level)
        s_time(alert, ts)
        s_events(alert, events)
        s_group(alert, ())
        s_suppressed(alert, None)
        out.append(alert)
    return out


def from_wire(result: TaskResult) -> TaskResult:
    """The result ``to_wire`` sent, with its columns as ``run_task`` made them (in place)."""
    result.times, result.event_ids, result.payloads, result.groups = result.columns()
    result.found = result.found_lists()
    result.wire = result.found_wire = None
    return result
