"""``ses-sigma test``: run the fixture cases of the pack through the matcher.

With ``--target T`` the cases run instead through the rules as converted for ``T``, on ``T``'s
engine (``ses_sigma.verify.proof``), and each rule's alerts are compared with the matcher's:
one row per case, the refused rules with their reasons, the engine and its version in the
summary; exit 1 on any disagreement, 2 when the engine is not available.

Prints one table row per case (rule, case, expected alerts, alerts got, result), then the
fixture problems and coverage gaps, then a summary. Exit codes: 0 when every case passes and
every rule has a case that fires and one that must not; 1 on any mismatch, malformed fixture
or coverage gap (the well-formed cases still run); 2 for usage errors and for a rule pack that
does not load or compile (as ``ses-sigma scan``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import click

from ses_sigma.cli.cmd_test_target import run_target_proof
from ses_sigma.cli.output import (
    echo_err,
    filters_option,
    no_filters_option,
    print_table,
    with_filters,
)
from ses_sigma.cli.packs import announce, resolve
from ses_sigma.harness import (
    CoverageProblem,
    ExpectedAlert,
    FixtureProblem,
    GotAlert,
    Verdict,
    check_coverage,
    collect_fixture_dirs,
    run_cases,
)
from ses_sigma.match.engine import Engine
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.pack import PackLoadError, rule_key
from ses_sigma.verify.proof import PROVERS

__all__ = ["command"]

EXIT_FAILED = 1
EXIT_RULES = 2

COLUMNS = ("rule", "case", "expected", "got", "result")


def _alerts_text(alerts: Sequence[ExpectedAlert | GotAlert]) -> str:
    """One line per alert: its event ids (and group when there is one)."""
    if not alerts:
        return "none"
    return "\n".join(str(a) for a in alerts)


def _row(verdict: Verdict) -> tuple[str, str, str, str, str]:
    case = verdict.case
    if verdict.error is not None:
        return (case.rule, case.name, _alerts_text(case.expect), "", f"ERROR: {verdict.error}")
    got = _alerts_text(verdict.got)
    # Show what the other input orders gave where it differs from the order as written.
    for result in verdict.results[1:]:
        if result.got != verdict.got:
            got += f"\n{result.order}: " + _alerts_text(result.got).replace("\n", "; ")
    result_text = "pass" if verdict.passed else f"FAIL ({', '.join(verdict.failed_orders)})"
    return (case.rule, case.name, _alerts_text(case.expect), got, result_text)


def _summary(
    verdicts: Sequence[Verdict],
    problems: Sequence[FixtureProblem],
    coverage: Sequence[CoverageProblem],
    rules: int,
) -> str:
    passed = sum(v.passed for v in verdicts)
    text = (
        f"{len(verdicts)} case(s) of {rules} rule(s): {passed} passed, "
        f"{len(verdicts) - passed} failed"
    )
    if problems:
        text += f"; {len(problems)} fixture problem(s)"
    if coverage:
        text += f"; {len(coverage)} coverage gap(s)"
    return text


@click.command("test")
@click.option(
    "--rules",
    "rules_dir",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    show_default="the pack's rules (ses-sigma.toml here or above, else the bundled pack)",
    help="Rule file or directory.",
)
@click.option(
    "--fixtures",
    "fixtures_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    show_default="the pack's fixtures",
    help="Fixture directory (with _base.yml and one <rule name>.yml per rule).",
)
@click.option(
    "--target",
    "target",
    type=click.Choice(sorted(PROVERS)),
    default=None,
    help="Run the cases through the rules converted for this target, on its engine, and "
    "compare with the matcher.",
)
@filters_option
@no_filters_option
@click.argument("selected", nargs=-1, metavar="[RULE]...")
@click.pass_context
def command(
    ctx: click.Context,
    rules_dir: Path | None,
    fixtures_dir: Path | None,
    target: str | None,
    filters: tuple[Path, ...],
    no_filters: bool,
    selected: tuple[str, ...],
) -> None:
    """Run the fixture cases of every rule (or of each RULE) and compare the alerts.

    The pack's filters apply (site tuning), and a case's own ``filters`` on top of them.
    """
    # Explicit paths win; what is not given comes from the pack of this directory.
    source = resolve([rules_dir] if rules_dir is not None else [])
    if fixtures_dir is not None:
        source = replace(source, fixtures=(fixtures_dir,), ignored_fixtures=())
    elif rules_dir is not None and not source.fixtures:
        here = resolve()
        source = replace(source, fixtures=here.fixtures, ignored_fixtures=here.ignored_fixtures)
    source = with_filters(source, filters, no_filters)
    try:
        pack = source.load()
        engine = Engine(pack)
    except PackLoadError as exc:
        echo_err(f"error: the rule pack does not load:\n{exc}")
        ctx.exit(EXIT_RULES)
    except RuleCompileError as exc:
        echo_err(f"error: a rule cannot be evaluated faithfully:\n{exc}")
        ctx.exit(EXIT_RULES)
    announce(source, len(pack))
    names = [rule_key(r) for r in pack]
    unknown = [s for s in selected if s not in names]
    if unknown:
        raise click.BadParameter(
            f"no rule named {', '.join(map(repr, unknown))} in the pack "
            f"(rules: {', '.join(sorted(names))})",
            param_hint="RULE",
        )
    wanted = [n for n in names if not selected or n in selected]
    cases, problems = collect_fixture_dirs(source.fixtures, names, source.ignored_fixtures)
    cases = [c for c in cases if c.rule in wanted]
    problems = [p for p in problems if not selected or _concerns(p, selected)]
    if target is not None:
        run_target_proof(ctx, target, pack, cases, problems)
        return
    verdicts = run_cases(engine, cases)
    coverage = check_coverage(wanted, cases)

    print_table(COLUMNS, (_row(v) for v in verdicts), no_wrap=("result",))
    for problem in problems:
        echo_err(f"fixture error: {problem}")
    for gap in coverage:
        echo_err(f"coverage: {gap}")
    click.echo(_summary(verdicts, problems, coverage, len(wanted)))
    if problems or coverage or not all(v.passed for v in verdicts):
        ctx.exit(EXIT_FAILED)


def _concerns(problem: FixtureProblem, selected: Sequence[str]) -> bool:
    """A problem of a selected rule's file, or of a shared file (``_base.yml``, the directory)."""
    stem = Path(problem.file).stem
    return stem in selected or stem.startswith("_") or Path(problem.file).suffix == ""
