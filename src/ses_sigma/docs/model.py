"""Everything the pages say about one rule, gathered once from the library.

:func:`collect` reads the pack (already loaded with pySigma), the fixture cases (harness) and
the matcher, and returns one :class:`RuleDoc` per rule in name order. The page, coverage and
layer builders only format these facts.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from sigma.rule import SigmaRuleBase

from ses_sigma.convert.names import UnsafeRuleName, output_name
from ses_sigma.docs.attack_map import RuleAttack, rule_attack
from ses_sigma.docs.calls import WatchedCall, rule_calls
from ses_sigma.docs.errors import DocsError
from ses_sigma.docs.examples import Example, pick_example
from ses_sigma.docs.strategy import RuleKind, rule_kind
from ses_sigma.harness import FixtureError, collect_fixture_dirs
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


#: How a file of the bundled pack is named in the docs of a pack that includes it (no link:
#: the file is not in the repository).
BUNDLED_PREFIX = "ses-sigma/"


def repo_path(path: Path, repo_root: Path, bundled_root: Path | None = None) -> str:
    """``path`` relative to the repository root, POSIX style; a file of the bundled pack
    (under ``bundled_root``) as ``ses-sigma/<path in the bundled pack>``; DocsError if it is
    in neither."""
    resolved = path.resolve()
    for root, prefix in ((repo_root, ""), (bundled_root, BUNDLED_PREFIX)):
        if root is not None and resolved.is_relative_to(root.resolve()):
            return prefix + resolved.relative_to(root.resolve()).as_posix()
    raise DocsError(f"{path} is not inside the repository {repo_root}")


def collect(
    pack: Pack,
    fixtures_dir: Path | Sequence[Path],
    repo_root: Path,
    ignored: Collection[Path] = (),
    bundled_root: Path | None = None,
) -> list[RuleDoc]:
    """One RuleDoc per rule of the pack, in name order; DocsError naming what is missing.

    ``fixtures_dir``: one fixture directory or several; ``ignored``: fixture files not read;
    ``bundled_root``: the bundled pack's root, for a pack that includes it (see repo_path).
    """
    for rule in pack:
        try:
            output_name(rule)  # a rule's name becomes its page's file name: a slug, or an error
        except UnsafeRuleName as exc:
            raise DocsError(str(exc)) from None
    names = [rule_key(r) for r in pack]
    dirs = [fixtures_dir] if isinstance(fixtures_dir, Path) else list(fixtures_dir)
    cases, problems = collect_fixture_dirs(dirs, names, ignored)
    if problems:
        raise DocsError(f"fixtures do not load:\n{FixtureError(problems)}")
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
                rule_file=repo_path(rule_file, repo_root, bundled_root),
                fixture_file=repo_path(Path(example.case.file), repo_root, bundled_root),
            )
        )
    return docs
