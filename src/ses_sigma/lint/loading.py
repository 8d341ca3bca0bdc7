"""Load as much of a rule pack as loads, and turn what does not into problems.

``ses_sigma.pack.load_pack`` is all or nothing: one bad file and it raises. The linter wants
every finding at once, so it loads the pack, takes the files the errors name out, and loads
the rest again, until the rest loads (each round drops at least one file).

Correlations whose rules are not in the pack: ``load_pack`` loads files with
``resolve_references=False`` and resolves at the end, but ``SigmaCollection.merge`` already
resolves in its ``__post_init__``, so the ``SigmaRuleNotFoundError`` escapes ``load_pack``
unwrapped and without naming a file (pack.py, pySigma 1.5.1). Either way (that error, or a
``PackLoadError`` naming no file of ours), the offending correlations are found by reading each
file with pySigma unresolved and comparing the references with the names and ids in the pack.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation

from ses_sigma.lint.findings import Problem, Where, display_path
from ses_sigma.pack import Pack, PackLoadError, load_pack, rule_key

__all__ = ["CODE_DUPLICATE_NAME", "CODE_LOAD", "CODE_UNKNOWN_REFERENCE", "load_rules"]

CODE_LOAD = "sigma_load"
CODE_DUPLICATE_NAME = "ses_duplicate_name"
CODE_UNKNOWN_REFERENCE = "ses_unknown_reference"

# pack.py's message for a name used twice (pack.py is this project's; tests pin it).
_DUPLICATE_NAME = re.compile(r"^rule name '(?P<name>.+)' also used in (?P<other>.+)$")
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
    cls = _ERROR_CLASS.match(message)
    keys = _ERROR_KEYS.get(cls["cls"], ()) if cls is not None else ()
    return Problem(path, CODE_LOAD, f"pySigma cannot load the rule: {message}", Where(keys=keys))


def _unresolved_references(files: Sequence[Path]) -> list[Problem]:
    """Every correlation reference (in ``files``) to a rule that is not in ``files``."""
    collections: list[tuple[Path, SigmaCollection]] = []
    for path in files:
        try:
            coll = SigmaCollection.from_yaml(
                path.read_text(encoding="utf-8"),
                collect_errors=True,
                source=SigmaRuleLocation(path),
                resolve_references=False,
            )
        except (OSError, UnicodeDecodeError, SigmaError):
            continue  # not reached: load_pack has read every file of ``files`` already
        collections.append((path, coll))
    known: set[str] = set()
    for _, coll in collections:
        for rule in coll.rules:
            known.update(str(x) for x in (rule.name, rule.id) if x is not None)
    problems: list[Problem] = []
    for path, coll in collections:
        for rule in coll.rules:
            if not isinstance(rule, SigmaCorrelationRule):
                continue
            for ref in rule.rules:
                if str(ref.reference) not in known:
                    problems.append(
                        Problem(
                            path,
                            CODE_UNKNOWN_REFERENCE,
                            f"correlation {rule_key(rule)!r} references rule "
                            f"{ref.reference!r}, which is not a rule of the pack (or does not "
                            "load)",
                            Where(keys=("correlation", "rules"), item=str(ref.reference)),
                        )
                    )
    return problems


def load_rules(files: Sequence[Path]) -> tuple[Pack | None, list[Problem]]:
    """The pack of every file that loads (None if none does), and a problem per failure."""
    remaining = list(files)
    problems: list[Problem] = []
    while remaining:
        try:
            return load_pack(remaining), problems
        except PackLoadError as exc:
            failure: Exception = exc
            ours = {p.resolve(): p for p in remaining}
            bad = [
                (ours[Path(f).resolve()], m) for f, m in exc.problems if Path(f).resolve() in ours
            ]
            problems.extend(_load_problem(path, message) for path, message in bad)
            dropped = {path for path, _ in bad}
        except SigmaError as exc:  # see the module docstring: merge's reference resolution
            failure = exc
            dropped = set()
        if not dropped:
            refs = _unresolved_references(remaining)
            if not refs:
                # Nothing to pin it on: report it on the first file rather than lose it.
                problems.append(
                    Problem(remaining[0], CODE_LOAD, f"the pack does not load: {failure}")
                )
                return None, problems
            problems.extend(refs)
            dropped = {p.path for p in refs}
        remaining = [p for p in remaining if p not in dropped]
    return None, problems
