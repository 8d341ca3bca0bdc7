"""The one exception of the docs generator."""

from __future__ import annotations

__all__ = ["DocsError"]


class DocsError(Exception):
    """A page cannot be generated faithfully; the message names the rule (or target) and why."""
