"""Findings as text, as GitHub Actions annotations, and as JUnit XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from ses_sigma.lint.findings import Finding, LintResult, Severity

__all__ = ["FORMATS", "github_lines", "junit_xml", "summary", "text_lines", "write_junit"]

FORMATS = ("text", "github")


def text_lines(result: LintResult) -> Iterator[str]:
    """``file:line: code: message``, one per finding; excused ones end with ``(excused: ...)``."""
    for finding in result.findings:
        yield str(finding)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(finding: Finding) -> str:
    """One GitHub Actions workflow command: ``::error file=...,line=...::code: message``.

    Warnings are ``::warning``; excused findings ``::notice`` (shown, not failing).
    """
    if finding.excused is not None:
        kind = "notice"
        text = f"{finding.code}: {finding.message} (excused: {finding.excused})"
    else:
        kind = "warning" if finding.severity is Severity.WARNING else "error"
        text = f"{finding.code}: {finding.message}"
    props = f"file={_escape_property(finding.file)},line={finding.line}"
    return f"::{kind} {props}::{_escape_data(text)}"


def github_lines(result: LintResult) -> Iterator[str]:
    """Every finding as a GitHub Actions annotation."""
    for finding in result.findings:
        yield github_annotation(finding)


def summary(result: LintResult) -> str:
    """``N finding(s) (M excused) in K rule file(s)``, and whether the check passed."""
    failing, excused = len(result.failing), len(result.excused)
    verdict = "passed" if result.passed else "FAILED"
    return (
        f"ses-sigma check {verdict}: {failing} finding(s), {excused} excused, "
        f"{len(result.rule_files)} rule file(s)"
    )


def junit_xml(result: LintResult) -> ET.ElementTree:
    """One testsuite; a testcase per rule file (and per other file with findings, such as a
    fixture file); a ``failure`` per finding that is not excused. Excused findings go to the
    testcase's ``system-out``."""
    files = list(result.rule_files)
    files += [f for f in dict.fromkeys(x.file for x in result.findings) if f not in files]
    suite = ET.Element(
        "testsuite",
        name="ses-sigma check",
        tests=str(len(files)),
        failures=str(sum(1 for f in files if any(x.file == f for x in result.failing))),
        errors="0",
        skipped="0",
    )
    for file in files:
        case = ET.SubElement(suite, "testcase", classname="ses-sigma check", name=file)
        excused: list[str] = []
        for finding in (x for x in result.findings if x.file == file):
            if finding.excused is not None:
                excused.append(str(finding))
                continue
            failure = ET.SubElement(
                case,
                "failure",
                message=f"{finding.code}: {finding.message}",
                type=finding.code,
            )
            failure.text = str(finding)
        if excused:
            ET.SubElement(case, "system-out").text = "\n".join(excused)
    root = ET.Element("testsuites", name="ses-sigma check")
    root.append(suite)
    return ET.ElementTree(root)


def write_junit(result: LintResult, path: Path) -> None:
    """Write :func:`junit_xml` to ``path`` (UTF-8, with an XML declaration)."""
    tree = junit_xml(result)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
