"""``ses-sigma check``: every check over a pack, as one sorted list of findings.

Data flows one way: rule files -> YAML findings and line tables (``yamlcheck``) -> the pack as
pySigma loads it (``loading``) -> problems of the validators, the conventions and the fixtures
-> findings with lines -> excuses applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ses_sigma.harness import BASE_FILE, DEFAULT_FIXTURES_DIR
from ses_sigma.lint.conventions import check_conventions
from ses_sigma.lint.coverage import check_fixtures
from ses_sigma.lint.excuses import apply_excuses, read_excuses
from ses_sigma.lint.fileformat import check_file as check_file_format
from ses_sigma.lint.filters import check_filters, filter_files
from ses_sigma.lint.findings import Finding, LintResult, Problem, display_path
from ses_sigma.lint.loading import CODE_LOAD, load_rules
from ses_sigma.lint.validators import ValidatorConfig, run_validators
from ses_sigma.lint.yamlcheck import YamlLines, compose_file, line_of
from ses_sigma.pack import DEFAULT_FILTERS_DIR, DEFAULT_RULES_DIR, rule_files

__all__ = ["PackPaths", "PathsError", "check_pack", "split_paths"]


class PathsError(ValueError):
    """The paths given do not make a pack (no rules, no or several fixture directories)."""


@dataclass(frozen=True)
class PackPaths:
    """What to check: rule files and directories, and the fixture directory."""

    rules: tuple[Path, ...]
    fixtures: Path
    #: The site filter directory (active filters and examples), if any.
    filters: Path | None = None


def split_paths(paths: Sequence[Path]) -> PackPaths:
    """Sort PATH arguments into rule paths and the fixture directory.

    A directory holding ``_base.yml`` is the fixture directory; a directory with a ``rules/``
    subdirectory is a pack root (its ``rules/``, and its ``fixtures/`` if that holds
    ``_base.yml``, and its ``filters/``); anything else is a rule file or directory. No paths:
    the pack's own ``rules/``, ``fixtures/`` and ``filters/``. Rule *files* among the paths
    make the check a selection: only their fixture files are checked
    (see ``coverage.check_fixtures``).
    """
    if not paths:
        return PackPaths((DEFAULT_RULES_DIR,), DEFAULT_FIXTURES_DIR, DEFAULT_FILTERS_DIR)
    rules: list[Path] = []
    fixtures: list[Path] = []
    filters: Path | None = None
    for path in paths:
        if path.is_dir() and (path / BASE_FILE).is_file():
            fixtures.append(path)
        elif path.is_dir() and (path / "rules").is_dir():
            rules.append(path / "rules")
            if (path / "filters").is_dir():
                filters = path / "filters"
            if (path / "fixtures" / BASE_FILE).is_file():
                fixtures.append(path / "fixtures")
        else:
            rules.append(path)
    if not rules:
        raise PathsError("no rule file or directory among the paths")
    if len(set(fixtures)) != 1:
        found = ", ".join(map(str, fixtures)) or "none"
        raise PathsError(
            f"exactly one fixture directory (a directory holding {BASE_FILE}) is needed among "
            f"the paths, found {found}"
        )
    return PackPaths(tuple(rules), fixtures[0], filters)


def check_pack(paths: PackPaths, config: ValidatorConfig | None = None) -> LintResult:
    """Every finding of every check over the pack at ``paths`` (see the module docstring).

    Raises PathsError when there is no rule file under the rule paths.
    """
    files = rule_files(paths.rules)
    if not files:
        raise PathsError(f"no rule files (*.yml, *.yaml) under {', '.join(map(str, paths.rules))}")
    lines: dict[Path, YamlLines | None] = {}
    findings: list[Finding] = []
    for path in files:
        found, yaml_findings = compose_file(path, display_path(path))
        lines[path.resolve()] = found
        findings.extend(yaml_findings)
        if found is not None:  # a file that is not YAML has its yaml_syntax finding already
            findings.extend(check_file_format(path, display_path(path)))
    for path in sorted(paths.fixtures.glob("*.yml")):
        findings.extend(check_file_format(path, display_path(path)))
    broken_yaml = {p for p, found in lines.items() if found is None}

    def to_finding(problem: Problem) -> Finding:
        where_lines = lines.get(problem.path.resolve())
        return Finding(
            display_path(problem.path),
            line_of(where_lines, problem.where),
            problem.code,
            problem.message,
            problem.severity,
        )

    pack, problems = load_rules(files)
    # A file that is not YAML has its yaml_syntax finding; pySigma's error would repeat it.
    problems = [
        p for p in problems if not (p.code == CODE_LOAD and p.path.resolve() in broken_yaml)
    ]
    excuses = []
    if pack is not None:
        loaded = {r.source.path.resolve() for r in pack if r.source is not None}
        unloaded = [p.stem for p in files if p.resolve() not in loaded]
        problems.extend(run_validators(list(pack), config))
        problems.extend(check_conventions(pack))
        subset = any(p.is_file() for p in paths.rules)
        problems.extend(check_fixtures(pack, paths.fixtures, unloaded, subset))
        excuses, excuse_problems = read_excuses(pack)
        problems.extend(excuse_problems)
        if paths.filters is not None:
            flt_files = filter_files(paths.filters)
            for path in flt_files:
                findings.extend(check_file_format(path, display_path(path)))
            loaded_files = sorted(set(pack.files.values()))
            problems.extend(check_filters(loaded_files, flt_files))
    findings.extend(to_finding(p) for p in problems)
    findings, stale = apply_excuses(findings, excuses, display_path)
    findings.extend(to_finding(p) for p in stale)
    return LintResult.build(findings, [display_path(p) for p in files])
