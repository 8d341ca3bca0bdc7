"""An example event that fires: the first fixture case of a rule that expects an alert.

The case comes from the fixture harness (``ses_sigma.harness``) and is run through the matcher
(``run_case``: every input order) before it is shown, so a page never shows an event that does
not fire. The events shown are those of the case's first expected alert, in alert order; a case
may hold more events (the record that starts a first-seen learning clock, noise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ses_sigma.docs.errors import DocsError
from ses_sigma.harness import Case, run_case
from ses_sigma.match.engine import Engine

__all__ = ["Example", "pick_example"]


@dataclass(frozen=True)
class Example:
    """A positive fixture case and the events of its first alert."""

    case: Case
    events: tuple[dict[str, Any], ...]
    #: Events of the case that are not in the alert.
    others: int


def pick_example(rule: str, cases: Sequence[Case], engine: Engine) -> Example:
    """The first case of ``rule`` that fires, checked with the matcher; DocsError if none."""
    positive = [c for c in cases if c.rule == rule and c.fires]
    if not positive:
        raise DocsError(f"{rule}: no fixture case fires, so the page has no example event")
    case = positive[0]
    verdict = run_case(engine, case)
    if not verdict.passed:
        raise DocsError(
            f"{rule}: fixture case {case.name!r} does not give its expected alerts "
            f"(failed orders: {', '.join(verdict.failed_orders)}); run `ses-sigma test {rule}`"
        )
    by_id = {e["eventID"]: e for e in case.events}
    ids = case.expect[0].event_ids
    return Example(case=case, events=tuple(by_id[i] for i in ids), others=len(by_id) - len(ids))
