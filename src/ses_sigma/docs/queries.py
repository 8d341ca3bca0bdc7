"""What each conversion target makes of each rule: a query, a Kibana rule, or a refusal.

Every registered target (``convert.base.all_targets``) must be known here, either as a query
target (one query file per rule in one format) or as the ``kibana`` target (Elastic Security
detection rules, described by rule type). A target the docs do not know is a
:class:`DocsError`: a page must never silently miss a target. The conversions are run through
``convert.build.convert_rules`` over the whole pack, so the text shown is the text
``ses-sigma convert`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import orjson

from ses_sigma.convert.base import all_targets
from ses_sigma.convert.build import convert_rules
from ses_sigma.docs.errors import DocsError
from ses_sigma.pack import Pack, rule_key

__all__ = [
    "KIBANA_TARGET",
    "QUERY_FORMATS",
    "KibanaRule",
    "PackConversions",
    "TargetResult",
    "convert_pack",
]

#: Query targets and the format that is one query per rule.
QUERY_FORMATS: dict[str, str] = {
    "eql": "query",
    "esql": "query",
    "lucene": "query",
    "spark": "sql",
    "splunk": "spl",
}
#: The target documented by the Kibana rule it writes (its rule type), and its format.
KIBANA_TARGET = ("kibana", "ndjson")


@dataclass(frozen=True)
class KibanaRule:
    """One Kibana detection rule (a line of the import NDJSON) and the file it is in."""

    file: str
    rule: dict[str, Any]


@dataclass
class TargetResult:
    """One target's output for the pack: per rule, a query, a Kibana rule or a refusal."""

    target: str
    fmt: str
    description: str
    queries: dict[str, tuple[str, str]] = field(default_factory=dict)  # rule -> (file, text)
    kibana: dict[str, KibanaRule] = field(default_factory=dict)
    refusals: dict[str, str] = field(default_factory=dict)  # rule -> reason


@dataclass
class PackConversions:
    """Every target's result, in target name order."""

    targets: list[TargetResult]

    def by_name(self, name: str) -> TargetResult:
        """The result of one target; KeyError if there is none."""
        for t in self.targets:
            if t.target == name:
                return t
        raise KeyError(name)


def convert_pack(pack: Pack) -> PackConversions:
    """Run every target over every rule of the pack; DocsError for an unknown target."""
    names = sorted(rule_key(r) for r in pack)
    results: list[TargetResult] = []
    for tgt in all_targets():
        if tgt.name in QUERY_FORMATS:
            fmt = QUERY_FORMATS[tgt.name]
        elif tgt.name == KIBANA_TARGET[0]:
            fmt = KIBANA_TARGET[1]
        else:
            raise DocsError(
                f"target {tgt.name}: the docs do not know which of its formats "
                f"({', '.join(tgt.formats)}) to show; add it to ses_sigma.docs.queries"
            )
        out = convert_rules(pack, tgt.name, fmt)
        result = TargetResult(tgt.name, fmt, tgt.description)
        for refusal in out.refusals:
            if refusal.rule in result.refusals and result.refusals[refusal.rule] != refusal.reason:
                result.refusals[refusal.rule] += "; " + refusal.reason
            else:
                result.refusals[refusal.rule] = refusal.reason
        if tgt.name == KIBANA_TARGET[0]:
            result.kibana = _kibana_rules(pack, out.files)
        else:
            result.queries = _query_files(tgt.name, names, out.files)
        for name in names:
            has = name in result.queries or name in result.kibana
            if has == (name in result.refusals):
                state = "both converted and refused" if has else "neither converted nor refused"
                raise DocsError(f"{name}: target {tgt.name} {state}")
        results.append(result)
    return PackConversions(results)


def _query_files(
    target: str, names: list[str], files: dict[str, str | bytes]
) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for path, content in sorted(files.items()):
        p = PurePosixPath(path)
        stem = p.name[: -len(p.suffix)] if p.suffix else p.name
        if len(p.parts) != 1 or stem not in names:
            raise DocsError(f"target {target}: output file {path} is not one query of one rule")
        if isinstance(content, bytes):
            raise DocsError(f"target {target}: output file {path} is binary, not a query")
        out[stem] = (path, content)
    return out


def _kibana_rules(pack: Pack, files: dict[str, str | bytes]) -> dict[str, KibanaRule]:
    ids = {str(r.id): rule_key(r) for r in pack if r.id is not None}
    out: dict[str, KibanaRule] = {}
    for path, content in sorted(files.items()):
        text = content.decode("utf-8") if isinstance(content, bytes) else content
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise DocsError(f"target kibana: {path}:{lineno}: not JSON: {exc}") from None
            name = ids.get(str(obj.get("rule_id")))
            if name is None:
                raise DocsError(
                    f"target kibana: {path}:{lineno}: rule_id {obj.get('rule_id')!r} is not "
                    "the id of a rule of the pack"
                )
            out[name] = KibanaRule(path, obj)
    return out
