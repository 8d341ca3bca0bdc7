"""pySigma's and SigmaHQ's validators, offline, configured by ``validators.yml``.

The validators are pySigma's plugins (``sigma.validators.core`` and the installed
``pysigma-validators-sigmahq``), discovered the way sigma-cli discovers them. ATT&CK comes from
the vendored copy (:func:`ses_sigma.attack.use_vendored_attack`); the validators that need
other downloaded data are disabled in ``validators.yml`` with the reason, as are the ones that
conflict with the pack's conventions. Each issue becomes a :class:`Problem` located in the rule
file (pySigma issues know the rule, not the line).

Validators run one by one rather than through ``SigmaValidator.validate_rules`` (which is the
same loop): a validator that raises then costs only its own result, reported as a
``validator_error`` problem naming it, instead of the whole check.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from sigma.plugins import InstalledSigmaPlugins
from sigma.rule import SigmaDetectionItem, SigmaRuleBase, SigmaRuleTag
from sigma.types import SigmaString
from sigma.validators.base import (
    SigmaRuleValidator,
    SigmaValidationIssue,
    SigmaValidationIssueSeverity,
)
from sigma.validators.sigmahq.fields import SigmahqUnknownFieldIssue

from ses_sigma.attack import use_vendored_attack
from ses_sigma.lint.findings import Problem, Severity, Where, display_path

__all__ = [
    "CODE_VALIDATOR_ERROR",
    "CONFIG_PATH",
    "ValidatorConfig",
    "ValidatorConfigError",
    "installed_validators",
    "load_config",
    "run_validators",
]

#: Package data of ses_sigma.lint (importlib.resources; a real file in every install).
CONFIG_PATH = Path(str(importlib.resources.files("ses_sigma.lint") / "validators.yml"))
CODE_VALIDATOR_ERROR = "validator_error"


class ValidatorConfigError(Exception):
    """``validators.yml`` is malformed or names a validator that is not installed."""


@dataclass(frozen=True)
class ValidatorConfig:
    """Validators not run (name -> reason) and the pack's custom attributes (name -> reason)."""

    disabled: Mapping[str, str]
    pack_attributes: Mapping[str, str]


@cache
def installed_validators() -> dict[str, type[SigmaRuleValidator]]:
    """Every installed validator by identifier (pySigma's plugin discovery, as sigma-cli)."""
    plugins = InstalledSigmaPlugins.autodiscover(include_backends=False, include_pipelines=False)
    return dict(plugins.validators)


def _reasons(raw: Any, section: str, path: Path) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValidatorConfigError(f"{path}: {section} must be a mapping of name: reason")
    out: dict[str, str] = {}
    for name, reason in raw.items():
        if not isinstance(reason, str) or not reason.strip():
            raise ValidatorConfigError(f"{path}: {section}.{name}: needs a reason")
        out[str(name)] = " ".join(reason.split())
    return out


def load_config(path: Path = CONFIG_PATH) -> ValidatorConfig:
    """Read and check ``validators.yml``: known validator names, a reason for everything."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValidatorConfigError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise ValidatorConfigError(f"{path}: must be a mapping")
    unknown_sections = sorted(set(data) - {"disabled", "pack_attributes"})
    if unknown_sections:
        raise ValidatorConfigError(f"{path}: unknown section(s) {', '.join(unknown_sections)}")
    disabled = _reasons(data.get("disabled"), "disabled", path)
    unknown = sorted(set(disabled) - set(installed_validators()))
    if unknown:
        raise ValidatorConfigError(
            f"{path}: disabled validator(s) not installed: {', '.join(unknown)}"
        )
    return ValidatorConfig(disabled, _reasons(data.get("pack_attributes"), "pack_attributes", path))


# --------------------------------------------------------------------------- issue -> problem


def _text(value: Any) -> str:
    if isinstance(value, SigmaDetectionItem):
        return str(value.field) if value.field is not None else "(keyword)"
    if isinstance(value, SigmaRuleTag | SigmaString):
        return str(value)
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(sorted(_text(v) for v in value))
    if isinstance(value, Enum):
        return value.name.lower()
    return str(value)


def _details(issue: SigmaValidationIssue) -> dict[str, Any]:
    return {
        f.name: getattr(issue, f.name)
        for f in dataclasses.fields(issue)
        if f.name not in ("rules", "severity", "description")
    }


# Identifier fragment -> the rule key an issue without a more precise anchor is about.
_KEY_BY_NAME: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("title", ("title",)),
    ("description", ("description",)),
    ("falsepositives", ("falsepositives",)),
    ("status", ("status",)),
    ("modified", ("modified",)),
    ("date", ("date",)),
    ("author", ("author",)),
    ("level", ("level",)),
    ("tag", ("tags",)),
    ("link", ("references",)),
    ("reference", ("references",)),
    ("correlation_group_by", ("correlation", "group-by")),
    ("correlation", ("correlation",)),
    ("condition", ("detection", "condition")),
    ("fields_existence", ("fields",)),
    ("logsource", ("logsource",)),
    ("identifier", ("id",)),
)


def _where(code: str, details: Mapping[str, Any], top_level: Iterable[str]) -> Where:
    """The most precise place of an issue in its rule file."""
    tag = details.get("tag")
    if isinstance(tag, SigmaRuleTag):
        return Where(keys=("tags",), item=str(tag))
    for name in ("link", "reference"):
        if isinstance(details.get(name), str):
            return Where(keys=("references",), item=details[name])
    item = details.get("detection_item")
    if isinstance(item, SigmaDetectionItem):
        return Where(keys=("detection",), field=item.field)
    names = details.get("fieldname")
    if isinstance(names, str):
        names = [names]
    if isinstance(names, list) and names:
        first = str(names[0])
        return Where(keys=(first,)) if first in top_level else Where(("detection",), field=first)
    if isinstance(details.get("field"), str):
        return Where(keys=("detection",), field=details["field"])
    if isinstance(details.get("detection_name"), str):
        return Where(keys=("detection", details["detection_name"]))
    for fragment, keys in _KEY_BY_NAME:
        if fragment in code:
            return Where(keys=keys)
    if any(k in details for k in ("string", "selection", "condition_name")):
        return Where(keys=("detection",))
    return Where()


def _severity(issue: SigmaValidationIssue) -> Severity:
    if issue.severity == SigmaValidationIssueSeverity.LOW:
        return Severity.WARNING
    return Severity.ERROR


def _rule_path(rule: SigmaRuleBase) -> Path | None:
    return rule.source.path if rule.source is not None else None


def _top_level_keys(rule: SigmaRuleBase) -> set[str]:
    return set(rule.custom_attributes) | {
        "title", "id", "name", "status", "description", "references", "author", "date",
        "modified", "tags", "logsource", "detection", "fields", "falsepositives", "level",
        "correlation", "related", "license", "scope",
    }  # fmt: skip


def _problems(code: str, issue: SigmaValidationIssue) -> list[Problem]:
    """One problem per rule file of the issue; cross-rule issues name the other files."""
    details = _details(issue)
    shown = {k: v for k, v in details.items() if v not in (None, "", [])}
    message = issue.description
    if shown:
        message += " (" + "; ".join(f"{k}: {_text(v)}" for k, v in shown.items()) + ")"
    paths = [p for p in (_rule_path(r) for r in issue.rules) if p is not None]
    out: list[Problem] = []
    for rule in issue.rules:
        path = _rule_path(rule)
        if path is None:
            continue
        others = sorted({display_path(p) for p in paths if p != path})
        text = message + (f"; also in {', '.join(others)}" if others else "")
        where = _where(code, details, _top_level_keys(rule))
        out.append(Problem(path, code, text, where, _severity(issue)))
    return out


def _drop_pack_attributes(
    issue: SigmaValidationIssue, attributes: Mapping[str, str]
) -> SigmaValidationIssue | None:
    """sigmahq_unknown_field without the pack's own custom attributes (None if none is left)."""
    if not isinstance(issue, SigmahqUnknownFieldIssue):
        return issue
    left = [f for f in issue.fieldname if f not in attributes]
    if not left:
        return None
    return dataclasses.replace(issue, fieldname=left)


def _failure(path: Path, code: str, step: str, exc: Exception) -> Problem:
    return Problem(
        path, CODE_VALIDATOR_ERROR, f"validator {code} failed {step}: {type(exc).__name__}: {exc}"
    )


def run_validators(
    rules: Sequence[SigmaRuleBase], config: ValidatorConfig | None = None
) -> list[Problem]:
    """Every enabled validator over ``rules`` (then finalized): a problem per issue and file.

    A validator that raises on a rule (a bug of the validator, or data it would download) is a
    ``validator_error`` problem on that rule's file; it goes on with the next rule.
    """
    config = config if config is not None else load_config()
    use_vendored_attack()
    with_source = [(r, p) for r, p in ((r, _rule_path(r)) for r in rules) if p is not None]
    problems: list[Problem] = []
    for code, cls in sorted(installed_validators().items()):
        if code in config.disabled:
            continue
        issues: list[SigmaValidationIssue] = []
        validator = cls()
        for rule, path in with_source:
            try:
                issues.extend(validator.validate(rule))
            except Exception as exc:  # third-party code: report it, check the rest
                problems.append(_failure(path, code, "on this rule", exc))
        try:
            issues.extend(validator.finalize())
        except Exception as exc:
            if with_source:
                problems.append(_failure(with_source[0][1], code, "when finalizing", exc))
        for issue in issues:
            kept = _drop_pack_attributes(issue, config.pack_attributes)
            if kept is not None:
                problems.extend(_problems(code, kept))
    return problems
