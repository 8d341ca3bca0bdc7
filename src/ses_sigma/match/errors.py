"""The one error the matcher raises for a rule it cannot evaluate faithfully."""

from __future__ import annotations

__all__ = ["RuleCompileError"]


class RuleCompileError(Exception):
    """A rule (or a construct in it) the matcher cannot evaluate with Sigma's exact semantics.

    The message names the rule and the construct. Raised when the pack is compiled, never at
    match time, so an unsupported rule can never silently evaluate to false.
    """
