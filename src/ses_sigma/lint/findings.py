"""What ``ses-sigma check`` reports: findings, each with a file, a line and a code."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

__all__ = ["Finding", "LintResult", "Problem", "Severity", "Where", "display_path"]


class Severity(StrEnum):
    """How bad a finding is. Both fail the check unless excused; they differ in presentation."""

    ERROR = "error"
    WARNING = "warning"


def display_path(path: str | Path) -> str:
    """``path`` relative to the working directory when it is below it, else as given."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(p)


@dataclass(frozen=True)
class Finding:
    """One problem in one file.

    ``line`` is 1-based (1 when nothing better is known). ``code`` is the check that found it:
    a pySigma or SigmaHQ validator identifier (``sigmahq_github_link``), ``yaml_*`` for the YAML
    checks, ``ses_*`` for the pack's own conventions. ``excused`` holds the reason of the
    rule's ``lint_exceptions`` entry that excuses it, None when it is not excused.
    """

    file: str
    line: int
    code: str
    message: str
    severity: Severity = Severity.ERROR
    excused: str | None = None

    def __post_init__(self) -> None:
        if self.line < 1:
            raise ValueError(f"line numbers are 1-based, not {self.line}")

    @property
    def location(self) -> str:
        """``file:line``."""
        return f"{self.file}:{self.line}"

    def excuse(self, reason: str) -> Finding:
        """This finding, excused for ``reason``."""
        return replace(self, excused=reason)

    def __str__(self) -> str:
        text = f"{self.location}: {self.code}: {self.message}"
        if self.excused is not None:
            text += f" (excused: {self.excused})"
        return text


@dataclass(frozen=True)
class Where:
    """Where in a rule file a problem is, before line numbers are known.

    ``keys``: a key path (mapping keys, sequence indexes), e.g. ``("first_seen", "fields")``;
    ``item``: a scalar below ``keys`` equal to this text (a tag, a reference, a field name);
    ``field``: a detection item key naming this field; ``line``: the line, when the check
    knows it already. The most precise one found wins; nothing found is line 1.
    """

    keys: tuple[str | int, ...] = ()
    item: str | None = None
    field: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class Problem:
    """A finding of a check, located by :class:`Where` instead of a line number.

    The checks work on pySigma's rule objects, which know their file but no lines; the
    orchestrator turns each problem into a :class:`Finding` with the line of ``where``.
    """

    path: Path
    code: str
    message: str
    where: Where = Where()
    severity: Severity = Severity.ERROR


@dataclass(frozen=True)
class LintResult:
    """Every finding of one check run, and the rule files it looked at (for JUnit)."""

    findings: tuple[Finding, ...]
    rule_files: tuple[str, ...]

    @classmethod
    def build(cls, findings: Iterable[Finding], rule_files: Iterable[str]) -> LintResult:
        """Findings sorted by file, line, code, message; duplicates dropped."""
        unique = dict.fromkeys(findings)
        ordered = sorted(unique, key=lambda f: (f.file, f.line, f.code, f.message))
        return cls(tuple(ordered), tuple(dict.fromkeys(rule_files)))

    @property
    def failing(self) -> tuple[Finding, ...]:
        """The findings that are not excused: any of them fails the check."""
        return tuple(f for f in self.findings if f.excused is None)

    @property
    def excused(self) -> tuple[Finding, ...]:
        """The excused findings (listed, but they do not fail the check)."""
        return tuple(f for f in self.findings if f.excused is not None)

    @property
    def passed(self) -> bool:
        """True when every finding is excused."""
        return not self.failing
