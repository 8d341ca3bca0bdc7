"""The evaluation of a pack on the repository's scenarios, as the docs and ``make eval`` use it.

Campaigns from ``scenarios/campaigns``, the benign corpus with its default seed and days, the
scan options of ``scenarios/claims.yml``. Memoised per pack content (the rules' Sigma
dictionaries), since the docs build and its tests ask for it several times.
"""

from __future__ import annotations

import json

from ses_sigma.evaluate.benign import benign_corpus
from ses_sigma.evaluate.campaigns import load_campaigns
from ses_sigma.evaluate.claims import DEFAULT_CLAIMS, DEFAULT_SCENARIOS_DIR, load_claims
from ses_sigma.evaluate.run import EvalResult, evaluate
from ses_sigma.pack import Pack

__all__ = ["default_evaluation"]

_CACHE: dict[str, EvalResult] = {}


def _fingerprint(pack: Pack) -> str:
    return json.dumps(sorted(json.dumps(r.to_dict(), sort_keys=True, default=str) for r in pack))


def default_evaluation(pack: Pack) -> EvalResult:
    """``pack`` evaluated on the repository's scenarios (see the module docstring)."""
    key = _fingerprint(pack)
    if key not in _CACHE:
        claims = load_claims(DEFAULT_CLAIMS)
        _CACHE[key] = evaluate(
            pack,
            load_campaigns(DEFAULT_SCENARIOS_DIR / "campaigns"),
            benign_corpus(),
            claims.scan_options,
        )
    return _CACHE[key]
