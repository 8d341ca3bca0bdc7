"""A workaround for pySigma 1.5.1, applied when the pipelines are loaded as sigma-cli plugins.

``Backend.convert_rule`` honours ``collect_errors`` (sigma-cli's ``--skip-unsupported``): a rule
that cannot be converted is recorded in ``backend.errors`` and the others still convert.
``Backend.convert_correlation_rule`` does not: one correlation a backend cannot express (the
stock Lucene backend has no correlations at all; ``StockBackendRefusal`` refuses the rest)
aborts the conversion of a whole directory, even with ``-s``. :func:`collect_correlation_errors`
wraps it so that, with ``collect_errors`` on, a ``SigmaError`` or ``NotImplementedError`` of a
correlation rule is recorded like a single rule's error. Without ``collect_errors`` nothing
changes: the error still stops the run.
"""

from __future__ import annotations

import functools
from typing import Any

from sigma.conversion.base import Backend
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError

from ses_sigma.pack import rule_key

__all__ = ["collect_correlation_errors"]

_MARK = "_ses_sigma_collects_correlation_errors"


def collect_correlation_errors() -> None:
    """Make ``Backend.convert_correlation_rule`` honour ``collect_errors`` (idempotent)."""
    original = Backend.convert_correlation_rule
    if getattr(original, _MARK, False):
        return

    @functools.wraps(original)
    def convert_correlation_rule(
        self: Backend, rule: SigmaCorrelationRule, *args: Any, **kwargs: Any
    ) -> list[Any]:
        try:
            return original(self, rule, *args, **kwargs)
        except (SigmaError, NotImplementedError) as exc:
            if not self.collect_errors:
                raise
            if isinstance(exc, SigmaError):
                error = exc
            else:
                reason = str(exc.args[0]) if exc.args else type(exc).__name__
                error = SigmaError(f"{rule_key(rule)}: {reason}", source=rule.source)
            self.errors.append((rule, error))
            return []

    setattr(convert_correlation_rule, _MARK, True)
    Backend.convert_correlation_rule = convert_correlation_rule  # type: ignore[method-assign]
