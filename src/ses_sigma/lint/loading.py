"""Load as much of a rule pack as loads, and turn what does not into problems.

``ses_sigma.pack.load_pack`` is all or nothing: one bad file and it raises. The linter wants
every finding at once, so it loads the pack, takes the files the errors name out, and loads
the rest again, until the rest loads (each round drops at least one file).

A correlation whose rules are not in the pack is reported by ``load_pack`` on the correlation's
file; it becomes a ``ses_unknown_reference`` finding at the line of the reference.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from ses_sigma.lint.findings import Problem, Where, display_path
from ses_sigma.pack import Pack, PackLoadError, load_pack

__all__ = ["CODE_DUPLICATE_NAME", "CODE_LOAD", "CODE_UNKNOWN_REFERENCE", "load_rules"]

CODE_LOAD = "sigma_load"
CODE_DUPLICATE_NAME = "ses_duplicate_name"
CODE_UNKNOWN_REFERENCE = "ses_unknown_reference"

# pack.py's message for a name used twice (pack.py is this project's; tests pin it).
_DUPLICATE_NAME = re.compile(r"^rule name '(?P<name>.+)' also used in (?P<other>.+)$")
_UNKNOWN_REFERENCE = re.compile(
    r"^correlation '(?P<corr>.+)' references rule '(?P<ref>.+)', which is not in the pack$"
)
_ERROR_CLASS = re.compile(r"^(?P<cls>\w+Error): ")

#: pySigma error class -> the rule key it is about (for the line of the finding).
_ERROR_KEYS: dict[str, tuple[str, ...]] = {
    "SigmaTitleError": ("title",),
    "SigmaIdentifierError": ("id",),
    "SigmaNameError": ("name",),
    "SigmaStatusError": ("status",),
    "SigmaLevelError": ("level",),
    "SigmaDateError": ("date",),
    "SigmaModifiedError": ("modified",),
    "SigmaAuthorError": ("author",),
    "SigmaDescriptionError": ("description",),
    "SigmaReferencesError": ("references",),
    "SigmaFalsePositivesError": ("falsepositives",),
    "SigmaFieldsError": ("fields",),
    "SigmaTagError": ("tags",),
    "SigmaRelatedError": ("related",),
    "SigmaLicenseError": ("license",),
    "SigmaScopeError": ("scope",),
    "SigmaLogsourceError": ("logsource",),
    "SigmaDetectionError": ("detection",),
    "SigmaConditionError": ("detection", "condition"),
    "SigmaModifierError": ("detection",),
    "SigmaTypeError": ("detection",),
    "SigmaValueError": ("detection",),
    "SigmaRegularExpressionError": ("detection",),
    "SigmaTimespanError": ("correlation", "timespan"),
    "SigmaCorrelationTypeError": ("correlation", "type"),
    "SigmaCorrelationConditionError": ("correlation", "condition"),
    "SigmaCorrelationRuleError": ("correlation",),
}


def _clean(message: str, path: Path) -> str:
    """pySigma appends `` in <absolute path>`` to its messages; the finding names the file."""
    suffix = f" in {path.resolve()}"
    return message[: -len(suffix)] if message.endswith(suffix) else message


def _load_problem(path: Path, message: str) -> Problem:
    message = _clean(message, path)
    dup = _DUPLICATE_NAME.match(message)
    if dup is not None:
        return Problem(
            path,
            CODE_DUPLICATE_NAME,
            f"rule name {dup['name']!r} is also used by {display_path(dup['other'])}: names "
            "must be unique (correlations and the harness refer to rules by name)",
            Where(keys=("name",)),
        )
    ref = _UNKNOWN_REFERENCE.match(message)
    if ref is not None:
        return Problem(
            path,
            CODE_UNKNOWN_REFERENCE,
            f"correlation {ref['corr']!r} references rule {ref['ref']!r}, which is not a rule "
            "of the pack (or does not load)",
            Where(keys=("correlation", "rules"), item=ref["ref"]),
        )
    cls = _ERROR_CLASS.match(message)
    keys = _ERROR_KEYS.get(cls["cls"], ()) if cls is not None else ()
    return Problem(path, CODE_LOAD, f"pySigma cannot load the rule: {message}", Where(keys=keys))


def load_rules(files: Sequence[Path]) -> tuple[Pack | None, list[Problem]]:
    """The pack of every file that loads (None if none does), and a problem per failure."""
    remaining = list(files)
    problems: list[Problem] = []
    while remaining:
        try:
            return load_pack(remaining), problems
        except PackLoadError as exc:
            ours = {p.resolve(): p for p in remaining}
            bad = [
                (ours[Path(f).resolve()], m) for f, m in exc.problems if Path(f).resolve() in ours
            ]
            problems.extend(_load_problem(path, message) for path, message in bad)
            dropped = {path for path, _ in bad}
            if not dropped:
                # Nothing to pin it on: report it on the first file rather than lose it.
                problems.append(Problem(remaining[0], CODE_LOAD, f"the pack does not load: {exc}"))
                return None, problems
        remaining = [p for p in remaining if p not in dropped]
    return None, problems
