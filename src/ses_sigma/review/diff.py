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
    "FilterChange",
    "Kind",
    "RuleChange",
    "compare",
    "coverage",
    "diff_counts",
    "filter_changes",
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
    for ``affected`` rules the changed rules it refers to, for rules changed by a site filter
    the filter files that changed (added, removed or edited) among those applied to it, and a
    note on how the configuration brought the change about (a bundled rule disabled,
    overridden, included...)."""

    kind: Kind
    base: RuleInfo | None
    head: RuleInfo | None
    via: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()
    note: str = ""

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


def _applied(snap: Snapshot, key: str) -> dict[str, bytes | None]:
    return {name: snap.files.get(name) for name in snap.applied.get(key, ())}


def _filters_changed(base: Snapshot, b: RuleInfo, head: Snapshot, h: RuleInfo) -> tuple[str, ...]:
    """The filter files applied to the rule on either side whose presence or content differs."""
    before, after = _applied(base, b.key), _applied(head, h.key)
    return tuple(sorted(n for n in before.keys() | after.keys() if before.get(n) != after.get(n)))


def _fixtures_changed(base: Snapshot, b: RuleInfo, head: Snapshot, h: RuleInfo) -> bool:
    """The rule's fixture file, the ``_base.yml`` it builds on, or a filter file one of its
    cases applies differs between the sides."""
    if base.files.get(base.fixture_file(b.key)) != head.files.get(head.fixture_file(h.key)):
        return True
    if base.files.get(base.fixture_base(b.key)) != head.files.get(head.fixture_base(h.key)):
        return True
    used = {*base.case_filters.get(b.key, ()), *head.case_filters.get(h.key, ())}
    return any(base.files.get(n) != head.files.get(n) for n in used)


def compare(base: Snapshot, head: Snapshot) -> list[RuleChange]:
    """Every rule that differs, in report order (kind, then name)."""
    pairs, removed, added = _pair(base, head)
    changes: list[RuleChange] = [
        RuleChange(Kind.REMOVED, r, None, note=_note(Kind.REMOVED, r, None, base, head))
        for r in removed
    ]
    changes.extend(
        RuleChange(Kind.ADDED, None, r, note=_note(Kind.ADDED, None, r, base, head)) for r in added
    )
    same: list[tuple[RuleInfo, RuleInfo]] = []
    for b, h in pairs:
        filters = _filters_changed(base, b, head, h)
        if (
            b.file != h.file
            or b.key != h.key
            or base.files.get(b.file) != head.files.get(h.file)
            or filters
        ):
            note = _note(Kind.CHANGED, b, h, base, head)
            changes.append(RuleChange(Kind.CHANGED, b, h, filters=filters, note=note))
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
    for b, h in same:
        if h.key in via:
            changes.append(RuleChange(Kind.AFFECTED, b, h, via=via[h.key]))
        elif _fixtures_changed(base, b, head, h):
            changes.append(RuleChange(Kind.FIXTURES, b, h))
    order = {k: i for i, k in enumerate(KIND_ORDER)}
    return sorted(changes, key=lambda c: (order[c.kind], c.key))


def _note(
    kind: Kind, b: RuleInfo | None, h: RuleInfo | None, base: Snapshot, head: Snapshot
) -> str:
    """How the configuration of the sides explains a change of a bundled rule (or ``""``)."""
    bs, hs = base.side, head.side
    if kind is Kind.REMOVED and b is not None:
        if b.bundled and hs is not None and b.key in hs.disabled:
            return "bundled rule, now disabled (`disable` in ses-sigma.toml)"
        if b.bundled and hs is not None and not hs.include_bundled:
            return "bundled rule: the bundled pack is no longer used (`include_bundled`)"
        if not b.bundled and bs is not None and b.key in bs.overridden:
            if hs is not None and b.key in hs.disabled:
                return (
                    "the repository's rule overriding the bundled one, removed; the bundled "
                    "rule is disabled"
                )
            return "the repository's rule overriding the bundled one, removed"
        return "bundled rule" if b.bundled else ""
    if kind is Kind.ADDED and h is not None:
        if h.bundled and bs is not None and h.key in bs.disabled:
            return "bundled rule, no longer disabled (`disable` in ses-sigma.toml)"
        if h.bundled and bs is not None and not bs.include_bundled:
            return "bundled rule: the bundled pack is now used (`include_bundled`)"
        if not h.bundled and hs is not None and h.key in hs.overridden:
            return "overrides the bundled rule of this name (disabled at the base)"
        return "bundled rule" if h.bundled else ""
    if b is not None and h is not None and b.bundled != h.bundled:
        if h.bundled:
            return "override removed: the bundled rule of this name is used again"
        return "the repository's rule now overrides the bundled rule of this name"
    return ""


@dataclass(frozen=True)
class FilterChange:
    """A filter file added, removed or edited, and the rules it applies to on each side."""

    file: str
    before: str | None
    after: str | None
    rules_before: tuple[str, ...]
    rules_after: tuple[str, ...]


def filter_changes(base: Snapshot, head: Snapshot) -> list[FilterChange]:
    """Every filter file whose presence or content differs between the sides, by name."""
    out = []
    for name in sorted(set(base.filters) | set(head.filters)):
        before = base.files.get(name) if name in base.filters else None
        after = head.files.get(name) if name in head.filters else None
        if before == after:
            continue
        out.append(
            FilterChange(
                name,
                base.text(name) if before is not None else None,
                head.text(name) if after is not None else None,
                tuple(sorted(k for k, fs in base.applied.items() if name in fs)),
                tuple(sorted(k for k, fs in head.applied.items() if name in fs)),
            )
        )
    return out


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
