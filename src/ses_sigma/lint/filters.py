"""``ses-sigma check`` on the site filters: every filter file loads, applies, and maps.

The filter files are the active ``filters/*.yml`` and the shipped examples
(``filters/examples/*.yml.example``, inactive but kept correct). Each is loaded with the rules
that loaded (``pack.load_pack(..., filters=[file])``): a filter that does not load, names an
unknown rule or a correlation, or does not share the rule's log source is a ``ses_filter``
finding on the filter file; a field of a filter's detection that the CloudTrail pipelines
cannot map is a ``ses_unmapped_field`` finding, as for a rule.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from sigma.rule import SigmaDetection, SigmaDetectionItem

from ses_sigma.lint.conventions import CODE_UNMAPPED_FIELD
from ses_sigma.lint.findings import Problem, Where
from ses_sigma.pack import PackLoadError, load_pack
from ses_sigma.pipelines.schema import is_known_field

__all__ = ["CODE_FILTER", "EXAMPLE_SUFFIX", "check_filters", "filter_files"]

CODE_FILTER = "ses_filter"
#: Shipped, inactive example filters.
EXAMPLE_SUFFIX = ".yml.example"


def filter_files(filters_dir: Path) -> list[Path]:
    """The active filters (``*.yml``, ``*.yaml``) and the examples under ``filters_dir``."""
    if not filters_dir.is_dir():
        return []
    found = [p for p in filters_dir.rglob("*") if p.is_file()]
    return sorted(
        p for p in found if p.suffix in (".yml", ".yaml") or p.name.endswith(EXAMPLE_SUFFIX)
    )


def _items(node: SigmaDetection | SigmaDetectionItem) -> Iterator[SigmaDetectionItem]:
    if isinstance(node, SigmaDetectionItem):
        yield node
        return
    for item in node.detection_items:
        yield from _items(item)


def check_filters(rule_files: Sequence[Path], files: Sequence[Path]) -> list[Problem]:
    """Problems of each filter file, loaded with ``rule_files`` (files that load)."""
    problems: list[Problem] = []
    for path in files:
        try:
            pack = load_pack(rule_files, filters=[path])
        except PackLoadError as exc:
            ours = [m for f, m in exc.problems if Path(f).resolve() == path.resolve()]
            problems.extend(
                Problem(path, CODE_FILTER, message, Where(keys=("filter",))) for message in ours
            )
            if not ours:
                problems.append(Problem(path, CODE_FILTER, f"the pack does not load: {exc}"))
            continue
        if not any(path in applied for applied in pack.applied_filters.values()):
            problems.append(Problem(path, CODE_FILTER, "the filter applies to no rule"))
    return problems + _unmapped(files)


def _unmapped(files: Sequence[Path]) -> list[Problem]:
    from sigma.collection import SigmaCollection

    out: list[Problem] = []
    for path in files:
        try:
            coll = SigmaCollection.from_yaml(path.read_text(encoding="utf-8"), collect_filters=True)
        except Exception:
            continue
        for flt in coll.filters:
            for name, detection in flt.filter.detections.items():
                for item in _items(detection):
                    if item.field is not None and not is_known_field(item.field):
                        out.append(
                            Problem(
                                path,
                                CODE_UNMAPPED_FIELD,
                                f"field {item.field!r} has no mapping in the CloudTrail pipelines",
                                Where(keys=("filter", name), field=item.field),
                            )
                        )
    return out
