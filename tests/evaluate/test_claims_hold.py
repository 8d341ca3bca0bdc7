"""The pack keeps what scenarios/claims.yml claims: stages detected, highs, benign alerts."""

from __future__ import annotations

from ses_sigma.evaluate.benign import benign_corpus
from ses_sigma.evaluate.campaigns import load_campaigns
from ses_sigma.evaluate.claims import DEFAULT_CLAIMS, DEFAULT_SCENARIOS_DIR, check, load_claims
from ses_sigma.evaluate.run import evaluate
from ses_sigma.pack import load_pack


def test_claims_hold():
    claims = load_claims(DEFAULT_CLAIMS)
    result = evaluate(
        load_pack(),
        load_campaigns(DEFAULT_SCENARIOS_DIR / "campaigns"),
        benign_corpus(),
        claims.scan_options,
    )
    assert check(result, claims) == []
