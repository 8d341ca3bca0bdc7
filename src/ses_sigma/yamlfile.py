"""The one YAML reader of rule, filter and fixture files (attacker input), for every command.

PyYAML's ``SafeLoader`` with four guards:

- **duplicate keys** are an error (``SigmaCollection.from_yaml`` would silently keep the last);
- **anchors and aliases** are refused: a rule has no use for them, and a few hundred bytes of
  nested aliases (a "billion laughs" document) expand to billions of nodes for anything that
  walks the data;
- **size**: a file larger than ``MAX_BYTES`` is not parsed;
- **depth**: nesting deeper than ``MAX_DEPTH`` is refused.

Every refusal is a ``yaml.MarkedYAMLError`` (``YamlRefused``) carrying the line, so callers
that already handle ``yaml.YAMLError`` report it with file and line. Rules keep YAML's
timestamps (pySigma reads ``date: 2026-11-20`` as a date, as from ``yaml.safe_load``);
fixtures keep them as strings (``eventTime`` is a string in CloudTrail).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "YamlRefused",
    "compose_documents",
    "error_line",
    "load_documents",
    "load_single",
    "read_text",
]

#: Largest rule or fixture file read (the pack's largest file is about 30 KB).
MAX_BYTES = 1 << 20
#: Deepest nesting of mappings and sequences accepted (the pack's rules nest 5 deep).
MAX_DEPTH = 50


class YamlRefused(yaml.MarkedYAMLError):
    """A YAML document this project refuses to read (alias, duplicate key, depth, size)."""


def read_text(path: Path) -> str:
    """The UTF-8 text of ``path``, refused (YamlRefused) above ``MAX_BYTES``.

    OSError and UnicodeDecodeError pass through.
    """
    with Path(path).open("rb") as handle:
        data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise YamlRefused(problem=f"file larger than {MAX_BYTES} bytes, not read")
    return data.decode("utf-8")


def _check_size(text: str) -> None:
    if len(text) > MAX_BYTES:
        raise YamlRefused(problem=f"document larger than {MAX_BYTES} characters, not read")


class _GuardedComposer:
    """Composer hooks refusing anchors, aliases and deep nesting (mixed into the loaders)."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[attr-defined]
        if isinstance(event, AliasEvent) or (
            isinstance(event, ScalarEvent | CollectionStartEvent) and event.anchor is not None
        ):
            what = "alias" if isinstance(event, AliasEvent) else "anchor"
            raise YamlRefused(
                problem=f"YAML {what} {'*' if what == 'alias' else '&'}{event.anchor} refused: "
                "anchors and aliases are not allowed in rule and fixture files",
                problem_mark=event.start_mark,
            )
        if isinstance(event, CollectionStartEvent):
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise YamlRefused(
                    problem=f"nesting deeper than {MAX_DEPTH} levels refused",
                    problem_mark=event.start_mark,
                )
            try:
                return super().compose_node(parent, index)  # type: ignore[misc]
            finally:
                self._depth -= 1
        return super().compose_node(parent, index)  # type: ignore[misc]


class _RuleLoader(_GuardedComposer, yaml.SafeLoader):
    """SafeLoader (as ``yaml.safe_load``) with the guards and duplicate keys refused."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                raise YamlRefused(
                    problem=f"unhashable mapping key {key!r}", problem_mark=key_node.start_mark
                ) from None
            if first is not None:
                raise YamlRefused(
                    problem=f"duplicate key {key!r} (first at line {first})",
                    problem_mark=key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


class _FixtureLoader(_RuleLoader):
    """The rule loader, keeping timestamps as strings."""


_FixtureLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _loader(timestamps: bool) -> type[yaml.SafeLoader]:
    return _RuleLoader if timestamps else _FixtureLoader


def compose_documents(text: str) -> list[yaml.Node]:
    """The node tree of every non-empty document (for line numbers), with the guards.

    Duplicate keys are *not* refused here (composing builds no mappings): the linter reports
    each of them with its own code.
    """
    _check_size(text)
    loader = _RuleLoader(text)
    try:
        documents = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                documents.append(node)
        return documents
    finally:
        loader.dispose()


def load_documents(text: str, timestamps: bool = True) -> list[Any]:
    """Every document of ``text`` as Python data (empty documents as None, like
    ``yaml.safe_load_all``), with the guards and duplicate keys refused."""
    _check_size(text)
    loader = _loader(timestamps)(text)
    try:
        documents = []
        while loader.check_data():
            documents.append(loader.get_data())
        return documents
    finally:
        loader.dispose()


def load_single(text: str, timestamps: bool = False) -> tuple[Any, yaml.Node | None]:
    """One document: (data, its node tree for line numbers); guards as ``load_documents``."""
    _check_size(text)
    loader = _loader(timestamps)(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return data, node


def error_line(exc: BaseException) -> int | None:
    """The 1-based line a YAML error points at, if it has one."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return mark.line + 1 if mark is not None else None
