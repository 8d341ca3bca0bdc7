"""What every conversion target provides, and how a target refuses a rule.

A target turns rules of a pack into artefacts (query text, config files, NDJSON...). It either
converts a rule faithfully, with the matcher's semantics, or refuses it with a Refusal that
names the rule, the target and the reason. It never emits a query that means something else.
Output is deterministic: same pack, same bytes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from sigma.rule import SigmaRuleBase

from ses_sigma.pack import Pack

__all__ = [
    "TARGETS",
    "ConversionOutput",
    "Refusal",
    "Target",
    "UnfaithfulConversion",
    "all_targets",
    "get_target",
    "register",
]


class UnfaithfulConversion(Exception):
    """Raised inside a target when a rule cannot be expressed faithfully on it."""

    def __init__(self, rule: str, target: str, reason: str):
        self.rule, self.target, self.reason = rule, target, reason
        super().__init__(f"{rule}: cannot convert to {target}: {reason}")


@dataclass(frozen=True, order=True)
class Refusal:
    """A rule a target refused, and why."""

    rule: str
    target: str
    reason: str

    def __str__(self) -> str:
        return f"{self.rule}: cannot convert to {self.target}: {self.reason}"


@dataclass
class ConversionOutput:
    """Artefacts of one conversion: relative file path -> content, plus refusals.

    Paths are relative to the output directory (e.g. ``aws_ses_identity_deleted.spl``,
    ``savedsearches.conf``, ``ses_sigma_app/default/app.conf``). Text is ``str``; binary
    artefacts (a .tgz) are ``bytes``.
    """

    files: dict[str, str | bytes] = field(default_factory=dict)
    refusals: list[Refusal] = field(default_factory=list)


class Target(ABC):
    """A conversion target (splunk, lucene, eql, esql, kibana)."""

    name: ClassVar[str]
    #: Output formats; the first is the default.
    formats: ClassVar[tuple[str, ...]]
    description: ClassVar[str] = ""

    @abstractmethod
    def convert(self, pack: Pack, rules: Sequence[SigmaRuleBase], fmt: str) -> ConversionOutput:
        """Convert ``rules`` (all from ``pack``) to ``fmt``; refusals go in the output."""


TARGETS: dict[str, Target] = {}


def register(target: Target) -> Target:
    """Add a target to the registry (called at import of each target module)."""
    TARGETS[target.name] = target
    return target


def get_target(name: str) -> Target:
    """A registered target by name; KeyError lists the known ones."""
    _load_builtin_targets()
    try:
        return TARGETS[name]
    except KeyError:
        raise KeyError(f"unknown target {name!r}; known: {', '.join(sorted(TARGETS))}") from None


def all_targets() -> list[Target]:
    """Every registered target (built-ins loaded), in name order."""
    _load_builtin_targets()
    return [TARGETS[name] for name in sorted(TARGETS)]


def _load_builtin_targets() -> None:
    """Import the modules that register the built-in targets."""
    import importlib

    for module in BUILTIN_TARGET_MODULES:
        importlib.import_module(module)


#: Modules whose import registers targets; each helper adds its own here.
BUILTIN_TARGET_MODULES: list[str] = [
    "ses_sigma.convert.elastic",
    "ses_sigma.convert.kibana",
    "ses_sigma.convert.spark",
    "ses_sigma.convert.splunk",
]
