"""``ses-sigma eval``: the pack measured on campaign replays and a benign corpus.

Exit codes: 0 done (and, with ``--claims``, every claim holds); 1 a claim does not hold;
2 for rules that do not load or compile, a campaign or claims file that cannot be read, or a
scan option this build does not have.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ses_sigma.cli.output import print_table, rules_option
from ses_sigma.cli.packs import announce, resolve
from ses_sigma.evaluate.benign import DEFAULT_DAYS, DEFAULT_SEED, benign_corpus
from ses_sigma.evaluate.campaigns import CampaignError, load_campaigns
from ses_sigma.evaluate.claims import (
    DEFAULT_SCENARIOS_DIR,
    ClaimsError,
    check,
    load_claims,
    unclaimed,
)
from ses_sigma.evaluate.export import export
from ses_sigma.evaluate.report import benign_rows, duration, stage_rows, summary_lines
from ses_sigma.evaluate.run import EvalError, evaluate, scan_accepts, scan_benign
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.pack import PackLoadError

__all__ = ["command"]

EXIT_CLAIMS = 1
EXIT_USAGE = 2


def _fail(message: str) -> click.exceptions.Exit:
    click.echo(f"error: {message}", err=True)
    return click.exceptions.Exit(EXIT_USAGE)


@click.command("eval")
@click.option(
    "--scenarios",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=DEFAULT_SCENARIOS_DIR / "campaigns",
    show_default="the repository's scenarios/campaigns/",
    help="Directory of campaign replay files (*.yml).",
)
@rules_option
@click.option(
    "--suppress",
    is_flag=True,
    help="Scan with the rules' suppression (as `ses-sigma scan --suppress`), when this build "
    "has it; the benign figures without it are printed too.",
)
@click.option(
    "--claims",
    "claims_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Check the results against a claims file (e.g. scenarios/claims.yml); exit 1 if a "
    "claim does not hold.",
)
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True,
              help="Seed of the benign corpus.")  # fmt: skip
@click.option("--days", type=click.IntRange(min=1), default=DEFAULT_DAYS, show_default=True,
              help="Days of benign history.")  # fmt: skip
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
@click.option(
    "--export",
    "export_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write the records scanned (JSON Lines) and the stage labels (sidecar JSON).",
)
@click.option("--skip-unsupported", is_flag=True,
              help="Leave out rules the matcher cannot evaluate (as scan does).")  # fmt: skip
def command(
    scenarios: Path,
    rules: tuple[Path, ...],
    suppress: bool,
    claims_path: Path | None,
    seed: int,
    days: int,
    fmt: str,
    export_dir: Path | None,
    skip_unsupported: bool,
) -> None:
    """Replay the campaigns (alone, and after benign history) and the benign corpus."""
    options: dict[str, object] = {}
    if skip_unsupported:
        options["skip_unsupported"] = True
    if suppress:
        if not scan_accepts("suppress"):
            raise _fail("--suppress: this build's scan has no suppression")
        options["suppress"] = True
    source = resolve(rules)
    try:
        pack = source.load()
        campaigns = load_campaigns(scenarios)
        claims = load_claims(claims_path) if claims_path else None
    except (PackLoadError, CampaignError, ClaimsError) as exc:
        raise _fail(str(exc)) from None
    announce(source, len(pack))
    benign = benign_corpus(seed=seed, days=days)
    try:
        result = evaluate(pack, campaigns, benign, options)
        plain = scan_benign(pack, benign, {}) if suppress else None
    except (RuleCompileError, EvalError) as exc:
        raise _fail(str(exc)) from None
    if export_dir is not None:
        export(export_dir, campaigns, benign)
    problems = check(result, claims) if claims else []
    if fmt == "json":
        doc = result.to_dict()
        if plain is not None:
            doc["benign_without_scan_options"] = {
                "alerts": sum(plain.alerts.values()),
                "medium_or_above": plain.at_least("medium"),
                "high_or_above": plain.at_least("high"),
            }
        if claims is not None:
            doc["claims"] = {"file": str(claims.path), "problems": problems,
                             "beyond_claims": unclaimed(result, claims)}  # fmt: skip
        click.echo(json.dumps(doc, indent=1))
    else:
        for line in summary_lines(result, plain):
            click.echo(line)
        for campaign in result.campaigns:
            click.echo("")
            print_table(
                ("stage", "records", "alone: rules", "first alert", "after history: rules",
                 "first alert"),
                stage_rows(result, campaign.name),
                title=f"{campaign.name}: {campaign.title}\nfirst alert "
                f"{duration(campaign.alone.first_alert)} after the first record alone, "
                f"{duration(campaign.history.first_alert)} after the history",
                no_wrap=("stage", "records"),
            )  # fmt: skip
        click.echo("")
        print_table(("rule", "level", "alerts"), benign_rows(result.benign),
                    title="benign corpus alerts")  # fmt: skip
        if claims is not None:
            for extra in unclaimed(result, claims):
                click.echo(f"beyond the claims: {extra}")
    for problem in problems:
        click.echo(f"claim not met: {problem}", err=True)
    if problems:
        raise click.exceptions.Exit(EXIT_CLAIMS)
