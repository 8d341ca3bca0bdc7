"""What changed between two snapshots: rules paired by name (then id), unified diffs, ATT&CK.

Pure functions over :class:`~ses_sigma.review.snapshot.Snapshot`; nothing is converted or run
here. A rule is paired across the two sides by its name (``rule_key``), then, among the rules
left over, by its id: a file renamed, or a rule renamed with the same id, is a change, not an
addition plus a removal.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from ses_sigma.review.snapshot import FIXTURES_DIR, RuleInfo, Snapshot

__all__ = [
    "BASE_FIXTURES",
    "KIND_ORDER",
    "Kind",
    "RuleChange",
    "compare",
    "coverage",
    "diff_counts",
    "unified_diff",
]

#: Shared fixture records; a change to it can change every rule's cases.
BASE_FIXTURES = f"{FIXTURES_DIR}/_base.yml"


class Kind(StrEnum):
    """How a rule differs between the two sides."""

    ADDED = "added"
    CHANGED = "changed"
    #: The rule file is the same but a rule it refers to (a correlation's base rule) changed.
    AFFECTED = "affected"
    #: Only the rule's fixtures (its file, or ``_base.yml``) changed.
    FIXTURES = "fixtures changed"
    REMOVED = "removed"


#: Report order of the kinds.
KIND_ORDER = (Kind.CHANGED, Kind.ADDED, Kind.REMOVED, Kind.AFFECTED, Kind.FIXTURES)


@dataclass(frozen=True)
class RuleChange:
    """One rule that differs: its kind, its info on each side (None where it does not exist),
    and for ``affected`` rules the changed rules it refers to."""

    kind: Kind
    base: RuleInfo | None
    head: RuleInfo | None
    via: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The rule's name on the head side (on the base side for a removed rule)."""
        info = self.head or self.base
        assert info is not None
        return info.key

    @property
    def renamed(self) -> bool:
        """True when the rule's name or its file differs between the sides."""
        return (
            self.base is not None
            and self.head is not None
            and (self.base.key != self.head.key or self.base.file != self.head.file)
        )


def _pair(
    base: Snapshot, head: Snapshot
) -> tuple[list[tuple[RuleInfo, RuleInfo]], list[RuleInfo], list[RuleInfo]]:
    """(pairs, base-only, head-only): by name first, then by id among the rest."""
    pairs = [(base.rules[k], head.rules[k]) for k in sorted(base.rules.keys() & head.rules.keys())]
    left = {k: v for k, v in base.rules.items() if k not in head.rules}
    right = {k: v for k, v in head.rules.items() if k not in base.rules}
    right_by_id = {v.id: k for k, v in sorted(right.items()) if v.id}
    for key in sorted(left):
        info = left[key]
        match = right_by_id.get(info.id) if info.id else None
        if match is not None and match in right:
            pairs.append((info, right.pop(match)))
            del left[key]
    return (
        pairs,
        sorted(left.values(), key=lambda r: r.key),
        sorted(right.values(), key=lambda r: r.key),
    )


def compare(base: Snapshot, head: Snapshot) -> list[RuleChange]:
    """Every rule that differs, in report order (kind, then name)."""
    pairs, removed, added = _pair(base, head)
    changes: list[RuleChange] = [RuleChange(Kind.REMOVED, r, None) for r in removed]
    changes.extend(RuleChange(Kind.ADDED, None, r) for r in added)
    same: list[tuple[RuleInfo, RuleInfo]] = []
    for b, h in pairs:
        if b.file != h.file or b.key != h.key or base.files.get(b.file) != head.files.get(h.file):
            changes.append(RuleChange(Kind.CHANGED, b, h))
        else:
            same.append((b, h))
    # Correlations over changed rules convert (and fire) differently: follow the references.
    touched = {c.key for c in changes if c.kind in (Kind.CHANGED, Kind.ADDED)}
    touched |= {c.head.id for c in changes if c.head is not None and c.head.id}
    via: dict[str, tuple[str, ...]] = {}
    grew = True
    while grew:
        grew = False
        for _, h in same:
            hits = tuple(r for r in h.references if r in touched or r in via)
            if hits and h.key not in via:
                via[h.key] = hits
                touched.add(h.key)
                grew = True
    base_fixtures_changed = base.files.get(BASE_FIXTURES) != head.files.get(BASE_FIXTURES)
    for b, h in same:
        if h.key in via:
            changes.append(RuleChange(Kind.AFFECTED, b, h, via=via[h.key]))
        elif base_fixtures_changed or base.files.get(base.fixture_file(b.key)) != head.files.get(
            head.fixture_file(h.key)
        ):
            changes.append(RuleChange(Kind.FIXTURES, b, h))
    order = {k: i for i, k in enumerate(KIND_ORDER)}
    return sorted(changes, key=lambda c: (order[c.kind], c.key))


def unified_diff(before: str | None, after: str | None, before_name: str, after_name: str) -> str:
    """A unified diff (3 lines of context) of two texts; ``""`` when they are equal.

    A missing side (None) diffs against ``/dev/null``. A last line without a newline is marked
    as ``diff`` does.
    """
    if before == after:
        return ""
    a = _lines(before)
    b = _lines(after)
    out = difflib.unified_diff(
        a,
        b,
        fromfile=before_name if before is not None else "/dev/null",
        tofile=after_name if after is not None else "/dev/null",
        lineterm="",
    )
    return "\n".join(out) + "\n"


def _lines(text: str | None) -> list[str]:
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    else:
        lines[-1] += "\n\\ No newline at end of file"
    return lines


def diff_counts(diff: str) -> tuple[int, int]:
    """(lines added, lines removed) of a unified diff."""
    added = removed = 0
    in_hunk = False
    for line in diff.split("\n"):
        if line.startswith("@@"):
            in_hunk = True
        elif not in_hunk:
            continue  # the ---/+++ file header
        elif line.startswith("+"):
            added += 1
        elif line.startswith("-"):
            removed += 1
    return added, removed


def coverage(rules: Iterable[RuleInfo]) -> dict[str, tuple[str, ...]]:
    """ATT&CK technique id -> the names of the rules tagged with it (sorted)."""
    found: dict[str, set[str]] = {}
    for rule in rules:
        for tech in rule.techniques:
            found.setdefault(tech, set()).add(rule.key)
    return {t: tuple(sorted(found[t])) for t in sorted(found)}
