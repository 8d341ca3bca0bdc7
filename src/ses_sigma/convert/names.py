"""Safe output names: a rule's name becomes a file or directory name only as a plain slug.

Rule files arrive in pull requests, so a rule's ``name`` is attacker input. Every place where a
rule becomes a path (``dist/<target>/<format>/<rule>.<ext>``, the Splunk app, ``docs/rules/``)
goes through :func:`output_name`: the rule's ``name`` when it is a slug, else its ``id`` (a
UUID) when it has no name; anything else raises :class:`UnsafeRuleName`, naming the rule (by
id, title and the offending name shown escaped). :func:`safe_path` is the last line of defence
when a file is written: the relative path must be slugs joined by ``/`` and must resolve inside
the output directory (no ``..``, absolute path, backslash, NUL, symlink escape).

A slug: 1 to 100 characters from ``A-Z a-z 0-9 _ . -``, starting with a letter or digit,
without ``..``, and not a Windows device name (``con``, ``nul``, ``com1``...).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from sigma.rule import SigmaRuleBase

__all__ = [
    "MAX_SLUG",
    "UnsafeRuleName",
    "hidden_text",
    "invalid_text",
    "is_slug",
    "output_name",
    "safe_path",
    "show",
]

MAX_SLUG = 100
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_DEVICES = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
)


class UnsafeRuleName(ValueError):
    """A rule whose name cannot be used as a file name (or a path that leaves its folder)."""


def show(text: str, limit: int = 80) -> str:
    """``text`` for a message: escaped (repr, so control characters show as escapes), cut."""
    shown = repr(text[:limit])
    return shown + (f" (+{len(text) - limit} characters)" if len(text) > limit else "")


def is_slug(text: str) -> bool:
    """True when ``text`` is a safe single path component (see the module docstring)."""
    return (
        0 < len(text) <= MAX_SLUG
        and _SLUG.fullmatch(text) is not None
        and ".." not in text
        and text.split(".")[0].lower() not in _DEVICES
    )


def output_name(rule: SigmaRuleBase) -> str:
    """The file-name stem of ``rule``: its name, or its id when it has no name.

    Raises :class:`UnsafeRuleName` naming the rule when the name is not a slug.
    """
    if rule.name:
        if is_slug(rule.name):
            return rule.name
        ident = f"id {rule.id}" if rule.id else f"title {show(rule.title or '')}"
        raise UnsafeRuleName(
            f"rule {show(rule.name)} ({ident}): its name cannot be a file name; a rule name must "
            f"be 1-{MAX_SLUG} characters from A-Z a-z 0-9 _ . - starting with a letter or digit, "
            "without '..'"
        )
    if rule.id:
        return str(rule.id)
    raise UnsafeRuleName(
        f"rule {show(rule.title or '')}: it has neither a name nor an id to name its files"
    )


def safe_path(directory: Path, rel: str) -> Path:
    """``directory / rel`` after checking that ``rel`` is slugs joined by ``/`` and that the
    result (symlinks resolved) stays inside ``directory``; UnsafeRuleName otherwise."""
    parts = rel.split("/")
    if not all(is_slug(p) for p in parts):
        raise UnsafeRuleName(f"refusing to write {show(rel)}: not a plain relative path")
    path = directory.joinpath(*parts)
    root = directory.resolve()
    if not path.resolve().is_relative_to(root):
        raise UnsafeRuleName(f"refusing to write {show(rel)}: it resolves outside {directory}")
    return path


_SURROGATE = re.compile("[\ud800-\udfff]")


def _strings(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list | tuple):
        for item in node:
            yield from _strings(item)


def invalid_text(rule: SigmaRuleBase) -> str | None:
    """Why ``rule`` holds text no artefact can carry, or None: a lone surrogate (YAML's
    ``"\\ud800"`` escape) is not Unicode text, so it cannot be written as UTF-8 or JSON."""
    try:
        data = rule.to_dict()
    except Exception:  # pySigma cannot serialize it: whatever it holds, targets see it too
        return None
    for text in _strings(data):
        if _SURROGATE.search(text):
            name = show(str(rule.name or rule.id or rule.title))
            return f"rule {name}: text {show(text)} holds a lone surrogate (not valid Unicode)"
    return None


# C0/C1 controls but tab and line feed, zero-width and bidi controls, word joiners, BOM:
# characters that do not show (or reorder what shows) where a reviewer reads a rule.
_HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def hidden_text(rule: SigmaRuleBase) -> str | None:
    """Why ``rule`` holds text a reviewer cannot see as it is, or None: a control character
    (other than tab and line feed), a zero-width or bidirectional control character (the
    "Trojan Source" trick: text that reads one way and means another)."""
    try:
        data = rule.to_dict()
    except Exception:  # pySigma cannot serialize it: the loaders report it
        return None
    for text in _strings(data):
        found = _HIDDEN.search(text)
        if found:
            name = show(str(rule.name or rule.id or rule.title))
            return (
                f"rule {name}: text {show(text)} holds the invisible or control character "
                f"U+{ord(found.group()):04X}"
            )
    return None
