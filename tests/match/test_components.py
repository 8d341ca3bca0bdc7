"""The stateful rules' independent parts (match.components)."""

from __future__ import annotations

from ses_sigma.match.components import stateful_components


def test_a_shared_correlation_joins_its_base_rules_and_chains_join_transitively() -> None:
    rules = [
        ("a", ["c1"], False),
        ("b", ["c1", "c2"], False),
        ("c", ["c2"], True),  # first-seen too: its own engine, in the part of c2
        ("d", [], True),  # a first-seen rule alone
        ("e", ["c3"], False),
    ]
    assert stateful_components(rules) == [
        (["a", "b", "c"], 3),  # c1, c2 and c's first-seen engine
        (["d"], 1),
        (["e"], 1),
    ]


def test_parts_do_not_depend_on_the_order_of_the_rules() -> None:
    rules = [("x", ["k"], False), ("y", [], True), ("z", ["k"], True), ("w", ["m"], False)]
    expected = stateful_components(rules)
    assert stateful_components(list(reversed(rules))) == expected
    assert expected == [(["w"], 1), (["x", "z"], 2), (["y"], 1)]


def test_no_stateful_rules_make_no_parts() -> None:
    assert stateful_components([]) == []
