"""``ses-sigma check``: every check over a pack, as one sorted list of findings.

Data flows one way: rule files -> YAML findings and line tables (``yamlcheck``) -> the pack as
pySigma loads it (``loading``) -> problems of the validators, the conventions and the fixtures
-> findings with lines -> excuses applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ses_sigma.harness import BASE_FILE
from ses_sigma.lint.conventions import check_conventions
from ses_sigma.lint.coverage import check_fixtures
from ses_sigma.lint.excuses import apply_excuses, read_excuses
from ses_sigma.lint.fileformat import check_file as check_file_format
from ses_sigma.lint.filters import EXAMPLE_SUFFIX, check_filters
from ses_sigma.lint.findings import Finding, LintResult, Problem, Severity, display_path
from ses_sigma.lint.loading import CODE_LOAD, load_rules
from ses_sigma.lint.validators import ValidatorConfig, run_validators
from ses_sigma.lint.yamlcheck import YamlLines, compose_file, line_of
from ses_sigma.pack import rule_files
from ses_sigma.workspace import ConfigError, PackSource, resolve_pack

__all__ = ["CODE_NO_FIXTURES", "PackPaths", "PathsError", "check_pack", "split_paths"]

CODE_NO_FIXTURES = "ses_no_fixtures"


class PathsError(ValueError):
    """The paths given do not make a pack (no rule files, or a bad ses-sigma.toml)."""


@dataclass(frozen=True)
class PackPaths:
    """What to check: rule (and filter) files and directories, the fixture directories.

    ``fixtures`` may be one directory or several (a single Path is accepted); none: the rules
    are checked without fixtures, and the missing cases are one summary finding. ``ignored``:
    fixture files not to read (bundled rules a pack leaves out). ``subset``: the rules are a
    selection of a pack (default: when rule *files* are among ``rules``).
    """

    rules: tuple[Path, ...]
    fixtures: tuple[Path, ...] | Path = ()
    ignored: tuple[Path, ...] = ()
    subset: bool | None = None
    #: The pack's filter paths (also among ``rules``); their ``*.yml.example`` files (shipped,
    #: inactive example filters) are linted too.
    filters: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.fixtures, Path):
            object.__setattr__(self, "fixtures", (self.fixtures,))
        if self.subset is None:
            object.__setattr__(self, "subset", any(p.is_file() for p in self.rules))

    @classmethod
    def of(cls, source: PackSource) -> PackPaths:
        """The paths of a resolved pack (``ses_sigma.workspace``), filters with the rules."""
        return cls(
            rules=(*source.rules, *source.filters),
            fixtures=source.fixtures,
            ignored=source.ignored_fixtures,
            subset=source.selection,
            filters=source.filters,
        )


def split_paths(paths: Sequence[Path]) -> PackPaths:
    """Sort PATH arguments into rule paths and fixture directories (``workspace`` rules).

    A directory holding ``ses-sigma.toml`` is that pack; a directory holding ``_base.yml`` is
    a fixture directory; a directory with a ``rules/`` subdirectory is a pack root (its
    ``rules/``, its ``fixtures/`` if that holds ``_base.yml``, its ``filters/``); anything else
    is a rule file or directory. No paths: the pack of the current directory, else the bundled
    pack. Rule *files* among the paths make the check a selection: only their fixture files
    are checked (see ``coverage.check_fixtures``).
    """
    try:
        source = resolve_pack(paths)
    except ConfigError as exc:
        raise PathsError(str(exc)) from None
    if not source.rules:
        raise PathsError("no rule file or directory among the paths")
    return PackPaths.of(source)


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
    ignored = {p.resolve() for p in paths.ignored}
    for directory in paths.fixtures:
        for path in sorted(directory.glob("*.yml")):
            if path.resolve() not in ignored:
                findings.extend(check_file_format(path, display_path(path)))
    # A file that is not YAML, or has a duplicate key, has its yaml_* finding; pySigma's (or
    # the loader's) refusal of it would only repeat it.
    yaml_flagged = {p.resolve() for p in files} & {
        Path(f.file).resolve() for f in findings if f.code.startswith("yaml_")
    }
    broken_yaml = {p for p, found in lines.items() if found is None} | yaml_flagged

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
        if paths.fixtures:
            problems.extend(
                check_fixtures(pack, paths.fixtures, unloaded, bool(paths.subset), paths.ignored)
            )
        else:
            findings.append(_no_fixtures(paths, len(pack)))
        excuses, excuse_problems = read_excuses(pack)
        problems.extend(excuse_problems)
        examples = [
            p for d in paths.filters if d.is_dir() for p in sorted(d.rglob(f"*{EXAMPLE_SUFFIX}"))
        ]
        for path in examples:
            findings.extend(check_file_format(path, display_path(path)))
        problems.extend(check_filters(sorted(set(pack.files.values())), examples))
    findings.extend(to_finding(p) for p in problems)
    findings, stale = apply_excuses(findings, excuses, display_path)
    findings.extend(to_finding(p) for p in stale)
    return LintResult.build(findings, [display_path(p) for p in files])


def _no_fixtures(paths: PackPaths, rules: int) -> Finding:
    """The one finding of a pack without fixtures (third-party rule sets): not a refusal."""
    return Finding(
        display_path(paths.rules[0]),
        1,
        CODE_NO_FIXTURES,
        f"no fixture directory: the {rules} rule(s) have no fixture cases, so nothing proves "
        f"they fire or stay quiet (give a directory holding {BASE_FILE} to check them)",
        Severity.WARNING,
    )
