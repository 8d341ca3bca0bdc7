"""The stateful rules split into independent parts, which can be fed apart (``scan_exact``).

A correlation joins the base rules it reads; nothing else links two base rules (a
correlation's base is a single-event rule, suppression is applied per alert at the end, the
first-seen baseline keeps one state per rule), so each part's engines can run alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["stateful_components"]


def stateful_components(
    rules: Iterable[tuple[str, Sequence[str], bool]],
) -> list[tuple[list[str], int]]:
    """Per part of the stateful ``rules`` (base rule name, the correlations it feeds, whether
    it is a first-seen rule): its base rules (sorted) and its number of engines (first-seen
    rules and correlations); parts in sorted order. Union-find over shared correlations."""
    rules = list(rules)
    parent = {name: name for name, _, _ in rules}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    by_corr: dict[str, str] = {}
    for name, feeds, _ in rules:
        for corr in feeds:
            other = by_corr.setdefault(corr, name)
            parent[root(name)] = root(other)
    parts: dict[str, tuple[list[str], set[str]]] = {}
    for name, feeds, first_seen in rules:
        names, engines = parts.setdefault(root(name), ([], set()))
        names.append(name)
        engines.update(feeds)
        if first_seen:
            engines.add(name)
    return sorted((sorted(names), len(engines)) for names, engines in parts.values())
