"""Load and index a Sigma rule pack with pySigma (no home-made YAML-to-rule parsing).

Site tuning: Sigma filter documents (``filter:``, pySigma's ``SigmaFilter``) loaded with the
rules (among ``paths``, or from ``filters=``) are applied to the rules they name: pySigma
appends the filter's condition to the rule's (``(<rule condition>) and (<filter condition>)``),
so the matcher and every target evaluate the filtered rule. A filter that names a rule the pack
does not have, a correlation (pySigma never filters correlations: filter its base rules), or a
rule of another log source is a load error naming the filter file, never a filter silently left
unapplied.
"""

from __future__ import annotations

import copy
import pickle
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.filters import SigmaFilter
from sigma.rule import SigmaRule, SigmaRuleBase

from ses_sigma.bundled import bundled_dir
from ses_sigma.yamlfile import error_line, load_documents, read_text

__all__ = [
    "DEFAULT_RULES_DIR",
    "Pack",
    "PackLoadError",
    "load_pack",
    "rule_files",
    "rule_key",
]

#: The bundled pack's rules (package data; the repository's rules/ in a checkout). Commands
#: choose their pack with ``ses_sigma.workspace.resolve_pack``.
DEFAULT_RULES_DIR: Path = bundled_dir("rules")  # type: ignore[assignment]

RULE_SUFFIXES = (".yml", ".yaml")


class PackLoadError(Exception):
    """One or more rule files could not be loaded; each problem names its file."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("\n".join(f"{path}: {message}" for path, message in problems))


def rule_key(rule: SigmaRuleBase) -> str:
    """The name a rule is known by: its Sigma ``name``, else its ``id``, else its title."""
    if rule.name:
        return rule.name
    if rule.id:
        return str(rule.id)
    return rule.title


def rule_files(paths: Iterable[str | Path]) -> list[Path]:
    """Rule files under the given files and directories (recursively), sorted."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(q for q in p.rglob("*") if q.suffix in RULE_SUFFIXES and q.is_file())
        elif p.is_file():
            found.append(p)
        else:
            raise PackLoadError([(str(p), "no such file or directory")])
    return sorted(set(found))


@dataclass
class Pack:
    """A loaded, reference-resolved set of Sigma rules and correlation rules."""

    collection: SigmaCollection
    files: dict[str, Path] = field(default_factory=dict)
    #: Files of the Sigma filter documents applied to the rules.
    filter_files: list[Path] = field(default_factory=list)
    #: Which filters (by file) were applied to which rule.
    applied_filters: dict[str, list[Path]] = field(default_factory=dict)

    def __iter__(self) -> Iterator[SigmaRuleBase]:
        return iter(self.collection.rules)

    def __len__(self) -> int:
        return len(self.collection.rules)

    @property
    def rules(self) -> list[SigmaRule]:
        """Single-event rules."""
        return [r for r in self.collection.rules if isinstance(r, SigmaRule)]

    @property
    def correlations(self) -> list[SigmaCorrelationRule]:
        """Correlation rules."""
        return [r for r in self.collection.rules if isinstance(r, SigmaCorrelationRule)]

    def get(self, key: str) -> SigmaRuleBase:
        """A rule by name or id; KeyError if the pack has none."""
        for r in self.collection.rules:
            if key in (r.name, str(r.id)):
                return r
        raise KeyError(key)

    def source_files(self) -> list[Path]:
        """Every file the pack was loaded from (rules and filters): what reloads it."""
        return sorted({*self.files.values(), *self.filter_files})

    def file_of(self, rule: SigmaRuleBase) -> Path | None:
        """The file a rule was loaded from."""
        return self.files.get(rule_key(rule))


#: Parsed rule files by their text, as pickles: the conversion targets load the pack again
#: for every rule they convert (``convert.common.fresh_pack``: pySigma mutates what it
#: converts), and parsing the YAML again in Python was 90 % of a docs build (22.6 s, 201
#: loads of the pack). Each load gets its own copy of the documents; a changed file is new
#: text. Bounded: small files only, the least recently parsed dropped first.
_PARSED: OrderedDict[str, bytes] = OrderedDict()
_PARSED_MAX_FILES = 256
_PARSED_MAX_CHARS = 64 << 10


def _documents(text: str) -> list[Any]:
    """``load_documents(text)``, from the cache of parsed files when the text was parsed
    before (errors are never cached: a bad file raises every time)."""
    cached = _PARSED.get(text)
    if cached is not None:
        _PARSED.move_to_end(text)
        documents: list[Any] = pickle.loads(cached)
        return documents
    documents = load_documents(text)
    if len(text) <= _PARSED_MAX_CHARS:
        _PARSED[text] = pickle.dumps(documents, pickle.HIGHEST_PROTOCOL)
        if len(_PARSED) > _PARSED_MAX_FILES:
            _PARSED.popitem(last=False)
    return documents


def load_pack(
    paths: Iterable[str | Path] = (DEFAULT_RULES_DIR,),
    filters: Iterable[str | Path] = (),
) -> Pack:
    """Load every rule file under ``paths`` with pySigma and resolve correlation references;
    apply the Sigma filter documents found there and under ``filters`` (module docstring).

    Raises PackLoadError listing every file that failed (YAML errors, Sigma errors, unknown
    references, filters that do not apply), so that one bad file never passes silently.
    """
    problems: list[tuple[str, str]] = []
    collections: list[SigmaCollection] = []
    files: dict[str, Path] = {}
    filter_files: list[Path] = []
    filter_docs: list[tuple[Path, SigmaFilter]] = []
    for path in rule_files([*paths, *filters]):
        try:
            # The project's YAML reader (duplicate keys, aliases, size and depth refused),
            # then pySigma on the data, as SigmaCollection.from_yaml does after safe_load_all.
            documents = _documents(read_text(path))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append((str(path), str(exc)))
            continue
        except yaml.YAMLError as exc:
            line = error_line(exc)
            where = f"line {line}: " if line is not None else ""
            problems.append((str(path), f"{where}invalid YAML: {_yaml_message(exc)}"))
            continue
        try:
            # References between files are resolved once the whole pack is loaded.
            coll = SigmaCollection.from_dicts(
                documents,
                collect_errors=True,
                source=SigmaRuleLocation(path),
                resolve_references=False,
                collect_filters=True,
            )
            problems.extend((str(path), f"{type(e).__name__}: {e}") for e in coll.errors)
        except SigmaError as exc:
            problems.append((str(path), str(exc)))
            continue
        except Exception as exc:  # pySigma on data it does not expect (a list, a number...)
            problems.append((str(path), f"{type(exc).__name__}: {exc}"))
            continue
        for rule in coll.rules:
            for err in rule.errors:
                problems.append((str(path), f"{type(err).__name__}: {err}"))
            key = rule_key(rule)
            if key in files:
                problems.append((str(path), f"rule name {key!r} also used in {files[key]}"))
            files[key] = path
        if coll.filters:
            filter_files.append(path)
            filter_docs.extend((path, f) for f in coll.filters)
            coll.filters = []  # applied below, one copy per rule
        collections.append(coll)
    known = set(files) | {str(r.id) for c in collections for r in c.rules if r.id}
    for coll in collections:
        for rule in coll.rules:
            if isinstance(rule, SigmaCorrelationRule):
                for ref in rule.rules or []:
                    if ref.reference not in known:
                        problems.append(
                            (
                                str(files.get(rule_key(rule), "rules")),
                                f"correlation {rule_key(rule)!r} references rule "
                                f"{ref.reference!r}, which is not in the pack",
                            )
                        )
    all_rules = [r for c in collections for r in c.rules]
    for path, flt in filter_docs:
        problems.extend((str(path), m) for m in _filter_problems(flt, all_rules))
    if problems:
        raise PackLoadError(problems)
    applied: dict[str, list[Path]] = {}
    for path, flt in filter_docs:
        for rule in all_rules:
            if isinstance(rule, SigmaRule) and flt._should_apply_on_rule(rule):
                # Upstream (pySigma 1.5.1) puts the filter's own SigmaDetection objects into
                # every rule it filters; processing pipelines rewrite detections in place, so
                # each rule gets its own copy.
                copy.deepcopy(flt).apply_on_rule(rule)
                applied.setdefault(rule_key(rule), []).append(path)
    try:
        # merge() already resolves references (SigmaCollection.__post_init__), so an unknown
        # reference raises here, not only in resolve_rule_references().
        collection = SigmaCollection.merge(collections)
        collection.resolve_rule_references()
    except SigmaError as exc:
        raise PackLoadError([(str(_source_path(exc) or "rules"), str(exc))]) from None
    return Pack(
        collection=collection, files=files, filter_files=filter_files, applied_filters=applied
    )


def _filter_problems(flt: SigmaFilter, rules: list[SigmaRule | SigmaCorrelationRule]) -> list[str]:
    """Why a filter would not apply as written (its named rules must exist, be single-event
    rules, and share its log source)."""
    label = flt.name or flt.title or "filter"
    refs = flt.filter.rules
    if isinstance(refs, str):  # "any": every rule of its log source
        if not any(isinstance(r, SigmaRule) and r.logsource in flt.logsource for r in rules):
            return [f"filter {label!r} (rules: any) applies to no rule of the pack"]
        return []
    out: list[str] = []
    for ref in refs:
        found = [r for r in rules if _names(ref.reference, r)]
        if not found:
            out.append(f"filter {label!r} names rule {ref.reference!r}, which is not in the pack")
            continue
        for rule in found:
            if isinstance(rule, SigmaCorrelationRule):
                out.append(
                    f"filter {label!r} names the correlation {ref.reference!r}: filters apply "
                    "to single-event rules (filter its base rules)"
                )
            elif rule.logsource not in flt.logsource:
                out.append(
                    f"filter {label!r} does not apply to {ref.reference!r}: its log source "
                    "differs from the rule's"
                )
    return out


def _names(reference: str, rule: SigmaRuleBase) -> bool:
    try:
        return uuid.UUID(reference) == rule.id
    except ValueError:
        return reference == rule.name


def _yaml_message(exc: yaml.YAMLError) -> str:
    """A YAML error in one line, without PyYAML's ``in "<unicode string>"`` position."""
    if isinstance(exc, yaml.MarkedYAMLError):
        parts = [exc.context, exc.problem]
        return ", ".join(p for p in parts if p) or "malformed"
    return " ".join(str(exc).split())


def _source_path(exc: SigmaError) -> Path | None:
    source = getattr(exc, "source", None)
    return getattr(source, "path", None)
