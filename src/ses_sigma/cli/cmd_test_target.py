"""``ses-sigma test --target T``: print a target proof (``ses_sigma.verify.proof``)."""

from __future__ import annotations

from collections.abc import Sequence

import click

from ses_sigma.cli.output import print_table
from ses_sigma.harness import Case, FixtureProblem
from ses_sigma.pack import Pack
from ses_sigma.verify.proof import CaseProof, EngineUnavailable, get_prover, prove

__all__ = ["run_target_proof"]

EXIT_FAILED = 1
EXIT_ENGINE = 2

COLUMNS = ("rule", "case", "result")


def _ids(alerts: list[tuple[str, ...]]) -> str:
    return "; ".join(",".join(a) for a in alerts) or "none"


def _row(proof: CaseProof) -> tuple[str, str, str]:
    if proof.passed:
        return (proof.case.rule, proof.case.name, "pass")
    lines = [
        f"FAIL {rule}: matcher {_ids(want)}, engine {_ids(got)}"
        for rule, (want, got) in sorted(proof.differences.items())
    ]
    return (proof.case.rule, proof.case.name, "\n".join(lines))


def run_target_proof(
    ctx: click.Context,
    target: str,
    pack: Pack,
    cases: Sequence[Case],
    problems: Sequence[FixtureProblem],
) -> None:
    """Prove ``target`` on ``cases``, print the table and summary, exit as the module says."""
    prover = get_prover(target)
    try:
        report = prove(prover, pack, cases)
    except EngineUnavailable as exc:
        click.echo(f"error: the {target} engine is not available: {exc}", err=True)
        ctx.exit(EXIT_ENGINE)
    print_table(COLUMNS, (_row(c) for c in report.cases), no_wrap=("rule",))
    for rule, reason in sorted(report.refused.items()):
        click.echo(f"refused by {target}: {rule}: {reason}", err=True)
    for problem in problems:
        click.echo(f"fixture error: {problem}", err=True)
    failed = sum(not c.passed for c in report.cases)
    click.echo(
        f"target {target} on {report.engine}: {len(report.cases)} case(s), "
        f"{len(report.compared)} rule(s) compared with the matcher in each, "
        f"{len(report.refused)} refused; {len(report.cases) - failed} agree, {failed} disagree"
    )
    if failed or problems or not report.cases:
        ctx.exit(EXIT_FAILED)
