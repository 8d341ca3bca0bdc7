"""Fixture checks: every fixture file well formed, every rule covered both ways.

Reuses the harness: ``collect_fixtures`` (every malformed fixture, with file, line and case)
and ``check_coverage`` (a case that fires and a case that must not, per rule). The cases are
not run here: that is ``ses-sigma test``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

from ses_sigma.harness import FixtureProblem, check_coverage, collect_fixture_dirs
from ses_sigma.lint.findings import Problem, Where
from ses_sigma.pack import Pack, rule_key

__all__ = ["CODE_FIXTURE", "CODE_FIXTURE_COVERAGE", "check_fixtures"]

CODE_FIXTURE = "ses_fixture"
CODE_FIXTURE_COVERAGE = "ses_fixture_coverage"


def _fixture_problem(problem: FixtureProblem) -> Problem:
    message = problem.message
    if problem.case is not None:
        message = f"case {problem.case!r}: {message}"
    return Problem(Path(problem.file), CODE_FIXTURE, message, Where(line=problem.line))


def _concerns(path: Path, names: Collection[str]) -> bool:
    """A fixture problem of a selected rule's file, ``_base.yml`` or the directory itself."""
    return path.stem in names or path.name.startswith("_") or path.is_dir()


def check_fixtures(
    pack: Pack,
    fixtures_dirs: Path | Sequence[Path],
    unloaded_names: Collection[str] = (),
    subset: bool = False,
    ignored: Collection[Path] = (),
) -> list[Problem]:
    """Problems of the fixture files and coverage gaps of the pack's rules.

    ``fixtures_dirs``: one fixture directory or several (a pack's own and the bundled one).
    ``unloaded_names``: names of rule files that did not load (their own findings say why);
    their fixture files are not reported as fixtures of an unknown rule. ``subset``: the rules
    are a selection of the pack, so only their fixture files (and ``_base.yml``) are checked;
    otherwise a fixture file of a rule that does not exist is a problem too. ``ignored``:
    fixture files not read (bundled rules the pack leaves out).
    """
    dirs = [fixtures_dirs] if isinstance(fixtures_dirs, Path) else list(fixtures_dirs)
    names = [rule_key(r) for r in pack]
    known = {*names, *unloaded_names}
    cases, fixture_problems = collect_fixture_dirs(dirs, known, ignored)
    if subset:
        fixture_problems = [p for p in fixture_problems if _concerns(Path(p.file), known)]
    problems = [_fixture_problem(p) for p in fixture_problems]
    where = " or ".join(str(d / "<rule>.yml") for d in dirs)
    for gap in check_coverage(names, cases):
        rule = pack.get(gap.rule)
        path = rule.source.path if rule.source is not None else dirs[0]
        shown = where.replace("<rule>", gap.rule)
        problems.append(
            Problem(
                path,
                CODE_FIXTURE_COVERAGE,
                f"{gap.message} (fixtures: {shown}); every rule needs a case that fires and "
                "a case that must not",
                Where(keys=("name",)),
            )
        )
    return problems
