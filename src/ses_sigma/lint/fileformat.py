"""The layout of rule and fixture files: UTF-8, LF line ends, a final newline, no tabs, no
trailing spaces, and block collections indented by exactly two spaces per level.

What pySigma parses does not depend on any of this, which is why pySigma cannot check it: the
indentation is read from PyYAML's node tree (its start marks), the rest from the raw lines.
Multi-line scalars (``description: |``) and flow collections are free inside. Run as
``ses-sigma check-format [PATH...]`` (default: ``rules`` and ``fixtures``); exit 1
when a file is out of format. Findings are :class:`ses_sigma.lint.findings.Finding`, so the
check can join ``ses-sigma check`` as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import yaml

from ses_sigma.lint.findings import Finding

__all__ = ["INDENT", "check_file", "check_paths", "check_text"]

#: Spaces per indentation level.
INDENT = 2
#: Suffixes of the files checked under a directory.
SUFFIXES = (".yml", ".yaml")


def _layout(file: str, text: str) -> Iterator[Finding]:
    """Line-level findings: CRLF, tabs, trailing spaces, the final newline."""
    lines = text.split("\n")
    for number, line in enumerate(lines, 1):
        if line.endswith("\r"):
            yield Finding(file, number, "fmt_crlf", "CRLF line end (use LF)")
            line = line[:-1]
        if "\t" in line:
            yield Finding(file, number, "fmt_tab", "tab character (indent with spaces)")
        if line != line.rstrip(" \t"):
            yield Finding(file, number, "fmt_trailing_space", "trailing whitespace")
    if text and not text.endswith("\n"):
        yield Finding(file, len(lines), "fmt_final_newline", "no newline at the end of the file")


def _indent(file: str, node: yaml.Node, expected: int | None) -> Iterator[Finding]:
    """Block collections start ``INDENT`` columns right of their key (or of their dash)."""
    if not isinstance(node, yaml.CollectionNode) or node.flow_style:
        return
    column = node.start_mark.column
    if expected is not None and column != expected:
        yield Finding(
            file,
            node.start_mark.line + 1,
            "fmt_indent",
            f"indented {column} columns, expected {expected} ({INDENT} spaces per level)",
        )
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from _indent(file, value, key.start_mark.column + INDENT)
    else:
        for item in node.value:
            yield from _indent(file, item, column + INDENT)


def check_text(file: str, text: str) -> list[Finding]:
    """Every format finding of one file's text, by line."""
    findings = list(_layout(file, text))
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        reason = getattr(exc, "problem", None) or str(exc).split("\n")[0]
        findings.append(Finding(file, line, "fmt_yaml", f"not valid YAML: {reason}"))
        nodes = []
    for node in nodes:
        if node is not None:
            findings.extend(_indent(file, node, 0))
    return sorted(findings, key=lambda f: (f.line, f.code))


def check_file(path: Path, label: str | None = None) -> list[Finding]:
    """The format findings of one file (``label`` names it in the findings)."""
    file = label or str(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return [Finding(file, line, "fmt_encoding", f"not UTF-8: {exc.reason} at byte {exc.start}")]
    if text.startswith("\ufeff"):
        return [Finding(file, 1, "fmt_encoding", "byte order mark (save as UTF-8 without BOM)")]
    return check_text(file, text)


def _files(paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
        else:
            found.append(path)
    return sorted(set(found))


def check_paths(paths: Sequence[Path]) -> tuple[list[Finding], int]:
    """Findings of every rule/fixture file under ``paths``, and the number of files checked."""
    files = _files(paths)
    findings: list[Finding] = []
    for path in files:
        findings.extend(check_file(path))
    return findings, len(files)
