"""Rule files as YAML node trees: duplicate keys and the line numbers pySigma does not keep.

pySigma parses the rules (``ses_sigma.pack.load_pack``); this module reads them a second time
with PyYAML's composer only, for two things pySigma drops: the line of every key (its rule
objects carry no positions) and duplicate mapping keys (``SigmaCollection.from_yaml`` keeps the
last value silently). Nothing here builds rule content: values are only compared with what
pySigma reports (a tag, a field name, a reference) to find the line to point at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import yaml

from ses_sigma.lint.findings import Finding, Where
from ses_sigma.yamlfile import compose_documents, read_text

__all__ = [
    "CODE_DUPLICATE_KEY",
    "CODE_SYNTAX",
    "YamlLines",
    "compose_file",
    "duplicate_keys",
    "line_of",
]

CODE_SYNTAX = "yaml_syntax"
CODE_DUPLICATE_KEY = "yaml_duplicate_key"

PathPart = str | int


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _scalar(node: yaml.Node) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) else None


class YamlLines:
    """Line numbers of keys and items in the documents of one YAML file (1-based)."""

    def __init__(self, documents: list[yaml.Node]):
        self.documents = documents

    def node(self, *path: PathPart) -> yaml.Node | None:
        """The value node at ``path`` (mapping keys, sequence indexes) in the first document
        that has it, or None."""
        for doc in self.documents:
            found = _walk(doc, path)
            if found is not None:
                return found[1]
        return None

    def key(self, *path: PathPart) -> int | None:
        """The line of the last key of ``path`` (of the item, for an index), or None."""
        for doc in self.documents:
            found = _walk(doc, path)
            if found is not None:
                return found[0]
        return None

    def items(self, *path: PathPart) -> list[tuple[int, yaml.Node]]:
        """(line, node) of each item of the sequence at ``path`` ([] if it is not one)."""
        node = self.node(*path)
        if not isinstance(node, yaml.SequenceNode):
            return []
        return [(_line(item), item) for item in node.value]

    def item(self, path: tuple[PathPart, ...], value: str) -> int | None:
        """The line of the scalar item equal to ``value`` in the sequence at ``path``."""
        for line, node in self.items(*path):
            if _scalar(node) == value:
                return line
        return None

    def mapping_value(self, path: tuple[PathPart, ...], value: str) -> int | None:
        """The line of a scalar equal to ``value`` anywhere below ``path`` (mapping values and
        sequence items), e.g. a field name in a correlation's ``aliases``."""
        start = self.node(*path)
        for node in _descendants(start):
            if _scalar(node) == value:
                return _line(node)
        return None

    def detection_field(self, field: str) -> int | None:
        """The line of the first detection item key naming ``field`` (``field|modifier``)."""
        detection = self.node("detection")
        if not isinstance(detection, yaml.MappingNode):
            return None
        for key_node, value_node in detection.value:
            if _scalar(key_node) in ("condition", "timeframe"):
                continue
            for node in _descendants(value_node):
                if not isinstance(node, yaml.MappingNode):
                    continue
                for k, _ in node.value:
                    name = _scalar(k)
                    if name is not None and name.split("|")[0] == field:
                        return _line(k)
        return None


def _walk(node: yaml.Node, path: tuple[PathPart, ...]) -> tuple[int, yaml.Node] | None:
    line = _line(node)
    for part in path:
        if isinstance(part, int):
            if not isinstance(node, yaml.SequenceNode) or not -len(node.value) <= part < len(
                node.value
            ):
                return None
            node = node.value[part]
            line = _line(node)
            continue
        if not isinstance(node, yaml.MappingNode):
            return None
        for key_node, value_node in node.value:
            if _scalar(key_node) == part:
                line, node = _line(key_node), value_node
                break
        else:
            return None
    return line, node


def _descendants(node: yaml.Node | None) -> Iterator[yaml.Node]:
    """``node`` and every node below it, depth first, keys before values."""
    if node is None:
        return
    stack = [node]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen:  # anchors and aliases share nodes
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, yaml.MappingNode):
            for k, v in reversed(current.value):
                stack.extend((v, k))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(reversed(current.value))


def duplicate_keys(node: yaml.Node, where: str = "") -> Iterator[tuple[int, str, int]]:
    """(line, dotted key path, line of the first occurrence) of every repeated mapping key.

    Keys compare by their resolved tag and text, as YAML does (``1`` and ``'1'`` differ).
    """
    if isinstance(node, yaml.MappingNode):
        first: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            text = _scalar(key_node)
            inner = where
            if text is not None:
                inner = f"{where}.{text}" if where else text
                ident = (key_node.tag, text)
                if ident in first:
                    yield _line(key_node), inner, first[ident]
                else:
                    first[ident] = _line(key_node)
            yield from duplicate_keys(value_node, inner)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from duplicate_keys(item, f"{where}[{index}]")


def _syntax_error(exc: yaml.YAMLError) -> tuple[int, str]:
    """(line, message) of a YAML error, without PyYAML's ``in "<unicode string>"`` noise."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return 1, " ".join(str(exc).split())
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 1
    message = exc.problem or exc.context or "malformed"
    if mark is not None:
        message += f" (line {mark.line + 1}, column {mark.column + 1})"
    if exc.problem and exc.context:
        where = f" at line {exc.context_mark.line + 1}" if exc.context_mark is not None else ""
        message += f", {exc.context}{where}"
    return line, message


def compose_file(path: Path, shown: str) -> tuple[YamlLines | None, list[Finding]]:
    """Compose every document of ``path``: its lines, and its YAML findings.

    ``shown`` is the file name findings carry. A syntax error gives a ``yaml_syntax`` finding at
    its line and no lines; each repeated key a ``yaml_duplicate_key`` finding at the repeat.
    """
    try:
        text = read_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Finding(shown, 1, CODE_SYNTAX, f"cannot read the file: {exc}")]
    except yaml.YAMLError as exc:  # larger than yamlfile.MAX_BYTES
        return None, [Finding(shown, 1, CODE_SYNTAX, f"refused: {_syntax_error(exc)[1]}")]
    try:
        # ses_sigma.yamlfile: anchors, aliases and deep nesting are refused with their line.
        documents = compose_documents(text)
    except yaml.YAMLError as exc:
        line, message = _syntax_error(exc)
        return None, [Finding(shown, line, CODE_SYNTAX, f"invalid YAML: {message}")]
    findings = [
        Finding(
            shown,
            line,
            CODE_DUPLICATE_KEY,
            f"duplicate key {key!r} (first at line {first}): pySigma silently keeps only the "
            "last value",
        )
        for doc in documents
        for line, key, first in duplicate_keys(doc)
    ]
    return YamlLines(documents), findings


def line_of(lines: YamlLines | None, where: Where) -> int:
    """The line ``where`` points at: the field's item key, else the item, else the deepest key
    of ``where.keys`` that exists; 1 when the file has no lines or nothing matches. A line
    given in ``where`` is taken as it is."""
    if where.line is not None:
        return where.line
    if lines is None:
        return 1
    if where.field is not None:
        found = lines.detection_field(where.field)
        if found is not None:
            return found
    if where.item is not None:
        found = lines.item(where.keys, where.item) or lines.mapping_value(where.keys, where.item)
        if found is not None:
            return found
    for end in range(len(where.keys), 0, -1):
        found = lines.key(*where.keys[:end])
        if found is not None:
            return found
    return 1
