"""A rule's ATT&CK tags as tactics and techniques of the vendored ATT&CK copy.

A technique is filed under the tactics the rule tags that the technique belongs to; a technique
tagged without any of its tactics is filed under all of its own tactics (as the kibana target
does). Names and URLs come from ``ses_sigma.attack`` (no download). A tag the vendored copy does
not know is a :class:`DocsError` naming the rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from sigma.rule import SigmaRuleBase

from ses_sigma import attack
from ses_sigma.docs.errors import DocsError
from ses_sigma.pack import rule_key

__all__ = ["RuleAttack", "rule_attack"]


@dataclass(frozen=True)
class RuleAttack:
    """The ATT&CK content of one rule."""

    #: (technique, the tactics it is filed under), in tag order.
    techniques: tuple[tuple[attack.Technique, tuple[attack.Tactic, ...]], ...]
    #: Tactics tagged without any tagged technique of theirs.
    bare_tactics: tuple[attack.Tactic, ...]
    #: Other ATT&CK tags (groups G####, software S####), as written.
    others: tuple[str, ...]


def _tags(rule: SigmaRuleBase) -> list[str]:
    return [t.name for t in rule.tags or [] if t.namespace == "attack"]


def rule_attack(rule: SigmaRuleBase) -> RuleAttack:
    """The tactics and techniques a rule's ``attack.*`` tags name; DocsError if unknown."""
    name = rule_key(rule)
    data = attack.load_attack()
    tactics: list[attack.Tactic] = []
    techniques: list[attack.Technique] = []
    others: list[str] = []
    for tag in _tags(rule):
        problem = attack.attack_tag_problem(f"attack.{tag}")
        if problem is not None:
            raise DocsError(f"{name}: {problem}")
        if tag in data.tactics:
            tactics.append(attack.tactic(tag))
        elif tag.upper() in data.techniques:
            techniques.append(attack.technique(tag))
        else:
            others.append(f"attack.{tag}")
    mapped: list[tuple[attack.Technique, tuple[attack.Tactic, ...]]] = []
    used: set[str] = set()
    for tech in techniques:
        mine = tuple(t for t in tactics if t.shortname in tech.tactics)
        if not mine:
            mine = tuple(attack.tactic(s) for s in tech.tactics)
        used.update(t.shortname for t in mine)
        mapped.append((tech, mine))
    bare = tuple(t for t in tactics if t.shortname not in used)
    return RuleAttack(tuple(mapped), bare, tuple(others))
