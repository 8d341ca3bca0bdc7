"""Everything the pages say about one rule, gathered once from the library.

:func:`collect` reads the pack (already loaded with pySigma), the fixture cases (harness) and
the matcher, and returns one :class:`RuleDoc` per rule in name order. The page, coverage and
layer builders only format these facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sigma.rule import SigmaRuleBase

from ses_sigma.convert.names import UnsafeRuleName, output_name
from ses_sigma.docs.attack_map import RuleAttack, rule_attack
from ses_sigma.docs.calls import WatchedCall, rule_calls
from ses_sigma.docs.errors import DocsError
from ses_sigma.docs.examples import Example, pick_example
from ses_sigma.docs.strategy import RuleKind, rule_kind
from ses_sigma.harness import FixtureError, load_fixtures
from ses_sigma.match.engine import Engine
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.pack import Pack, rule_key

__all__ = ["RuleDoc", "collect", "repo_path"]


@dataclass(frozen=True)
class RuleDoc:
    """One rule and what its page says about it."""

    rule: SigmaRuleBase
    name: str
    kind: RuleKind
    calls: tuple[WatchedCall, ...]
    attack: RuleAttack
    example: Example
    #: Repository-relative POSIX paths of the rule file and of its fixture file.
    rule_file: str
    fixture_file: str


def repo_path(path: Path, repo_root: Path) -> str:
    """``path`` relative to the repository root, POSIX style; DocsError if outside it."""
    try:
        return path.resolve().relative_to(repo_root.resolve()).as_posix()
    except ValueError:
        raise DocsError(f"{path} is not inside the repository {repo_root}") from None


def collect(pack: Pack, fixtures_dir: Path, repo_root: Path) -> list[RuleDoc]:
    """One RuleDoc per rule of the pack, in name order; DocsError naming what is missing."""
    for rule in pack:
        try:
            output_name(rule)  # a rule's name becomes its page's file name: a slug, or an error
        except UnsafeRuleName as exc:
            raise DocsError(str(exc)) from None
    names = [rule_key(r) for r in pack]
    try:
        cases = load_fixtures(fixtures_dir, names)
    except FixtureError as exc:
        raise DocsError(f"fixtures do not load:\n{exc}") from None
    try:
        engine = Engine(pack)
    except RuleCompileError as exc:
        raise DocsError(str(exc)) from None
    docs: list[RuleDoc] = []
    for rule in sorted(pack, key=rule_key):
        name = rule_key(rule)
        rule_file = pack.file_of(rule)
        if rule_file is None:
            raise DocsError(f"{name}: the pack does not know the rule's file")
        example = pick_example(name, cases, engine)
        docs.append(
            RuleDoc(
                rule=rule,
                name=name,
                kind=rule_kind(rule),
                calls=rule_calls(rule),
                attack=rule_attack(rule),
                example=example,
                rule_file=repo_path(rule_file, repo_root),
                fixture_file=repo_path(Path(example.case.file), repo_root),
            )
        )
    return docs
