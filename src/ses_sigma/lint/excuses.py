"""Excuses: a rule's reviewed, visible marker that one of its findings is intended.

A rule file excuses a finding with a custom top-level attribute (pySigma keeps unknown keys as
custom attributes, so the file stays valid Sigma; ``validators.yml`` declares it a pack
attribute)::

    lint_exceptions:
      - code: sigmahq_fields_existence
        reason: fields drives the Splunk | table of the converted search

Every finding of that code in that file is then listed as excused and does not fail the
check. An entry without a reason excuses nothing and is itself a finding, and so is an entry
for a code that does not fire in the file (a stale excuse), an entry listed twice or one that
is not a mapping of ``code`` and ``reason``. Findings about excuses cannot be excused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ses_sigma.lint.findings import Finding, Problem, Where
from ses_sigma.pack import Pack

__all__ = [
    "ATTRIBUTE",
    "CODE_BAD_EXCUSE",
    "CODE_EXCUSE_WITHOUT_REASON",
    "CODE_STALE_EXCUSE",
    "UNEXCUSABLE",
    "Excuse",
    "apply_excuses",
    "read_excuses",
]

ATTRIBUTE = "lint_exceptions"
CODE_EXCUSE_WITHOUT_REASON = "ses_excuse_without_reason"
CODE_STALE_EXCUSE = "ses_stale_excuse"
CODE_BAD_EXCUSE = "ses_bad_excuse"
UNEXCUSABLE = frozenset({CODE_EXCUSE_WITHOUT_REASON, CODE_STALE_EXCUSE, CODE_BAD_EXCUSE})

_KEYS = ("code", "reason")


@dataclass(frozen=True)
class Excuse:
    """One valid ``lint_exceptions`` entry: the file, the code, the reason, the entry's index."""

    path: Path
    code: str
    reason: str
    index: int


def read_excuses(pack: Pack) -> tuple[list[Excuse], list[Problem]]:
    """The valid excuses of every rule, and a problem for every entry that is not one."""
    excuses: list[Excuse] = []
    problems: list[Problem] = []
    for rule in pack:
        if ATTRIBUTE not in rule.custom_attributes or rule.source is None:
            continue
        path = rule.source.path
        raw = rule.custom_attributes[ATTRIBUTE]
        if not isinstance(raw, list) or not raw:
            problems.append(
                Problem(
                    path,
                    CODE_BAD_EXCUSE,
                    f"{ATTRIBUTE} must be a non-empty list of {{code, reason}} entries",
                    Where(keys=(ATTRIBUTE,)),
                )
            )
            continue
        seen: set[str] = set()
        for index, entry in enumerate(raw):
            where = Where(keys=(ATTRIBUTE, index))
            if not isinstance(entry, dict) or set(entry) - set(_KEYS):
                problems.append(
                    Problem(
                        path,
                        CODE_BAD_EXCUSE,
                        f"{ATTRIBUTE} entries are mappings with the keys code and reason, "
                        f"not {entry!r}",
                        where,
                    )
                )
                continue
            code = entry.get("code")
            if not isinstance(code, str) or not code.strip():
                problems.append(
                    Problem(path, CODE_BAD_EXCUSE, f"excuse without a code: {entry!r}", where)
                )
                continue
            if code in seen:
                problems.append(
                    Problem(path, CODE_BAD_EXCUSE, f"{code} is excused twice in this file", where)
                )
                continue
            seen.add(code)
            reason = entry.get("reason")
            if not isinstance(reason, str) or not reason.strip():
                problems.append(
                    Problem(
                        path,
                        CODE_EXCUSE_WITHOUT_REASON,
                        f"the excuse for {code} gives no reason: an excuse needs a reason "
                        "saying why the finding is intended (it excuses nothing until then)",
                        where,
                    )
                )
                continue
            if code in UNEXCUSABLE:
                problems.append(Problem(path, CODE_BAD_EXCUSE, f"{code} cannot be excused", where))
                continue
            excuses.append(Excuse(path, code, " ".join(reason.split()), index))
    return excuses, problems


def apply_excuses(
    findings: Sequence[Finding], excuses: Sequence[Excuse], shown: Callable[[Path], str]
) -> tuple[list[Finding], list[Problem]]:
    """The findings with the excused ones marked, and a problem per stale excuse.

    ``shown`` gives the file name a finding carries for a rule's path.
    """
    by_key = {(shown(e.path), e.code): e for e in excuses}
    used: set[tuple[str, str]] = set()
    out: list[Finding] = []
    for finding in findings:
        key = (finding.file, finding.code)
        excuse = by_key.get(key)
        if excuse is None or finding.code in UNEXCUSABLE:
            out.append(finding)
            continue
        used.add(key)
        out.append(finding.excuse(excuse.reason))
    stale = [
        Problem(
            e.path,
            CODE_STALE_EXCUSE,
            f"stale excuse: {e.code} does not fire in this file any more; remove the entry",
            Where(keys=(ATTRIBUTE, e.index)),
        )
        for key, e in by_key.items()
        if key not in used
    ]
    return out, stale
