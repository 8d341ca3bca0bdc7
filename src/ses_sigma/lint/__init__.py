"""``ses-sigma check``: the strict linter of the rule pack.

``check.check_pack`` runs every check and returns a ``findings.LintResult``; ``report`` renders
it. The checks: ``yamlcheck`` (duplicate keys, and the lines of everything), ``loading``
(what pySigma cannot load), ``validators`` (pySigma's and SigmaHQ's validators, offline,
configured by ``validators.yml``), ``conventions`` (the pack's rules), ``coverage`` (fixtures),
``excuses`` (``lint_exceptions`` markers in the rule files).
"""

from __future__ import annotations

from ses_sigma.lint.check import PackPaths, PathsError, check_pack, split_paths
from ses_sigma.lint.findings import Finding, LintResult, Severity

__all__ = [
    "Finding",
    "LintResult",
    "PackPaths",
    "PathsError",
    "Severity",
    "check_pack",
    "split_paths",
]
