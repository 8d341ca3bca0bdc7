"""Regular expressions in linear time: Sigma's ``|re`` and the wildcard patterns on RE2.

Log fields (``userAgent``, ``requestParameters``) are chosen by whoever calls the AWS API and
rule files arrive in pull requests, so neither a pattern nor a value may make matching slow.
Python's ``re`` backtracks: ``(a+)+$`` over a 100 kB ``userAgent`` runs for minutes. RE2
(``google-re2``) matches in time linear in the value, whatever the pattern; it has no
backtracking features, so a pattern that needs them is refused at load, naming the rule and
the pattern (never a silent non-match), and ``ses-sigma check`` reports it.

Sigma's ``|re`` is PCRE-flavoured; pySigma validates it with Python's ``re``. The matcher runs
it on RE2 with these rules (docs/DESIGN.md lists them too):

* flags ``i``, ``m``, ``s`` become RE2's ``(?i)``, ``(?m)``, ``(?s)``; case folding is Unicode
  simple folding in both engines;
* ``\\d``, ``\\w``, ``\\b`` are ASCII, as in PCRE (Python's are Unicode): ``\\d`` does not
  match ``٣``; ``\\s`` is PCRE's ``[\\t\\n\\v\\f\\r ]`` (RE2's own lacks ``\\v``; Python's
  adds Unicode spaces);
* ``$`` without ``m`` also matches before a final newline, as in Python and PCRE (RE2's ``$``
  does not): the value is also searched without its final ``\\n``; exact as long as nothing
  after the ``$`` can consume that newline, so a ``$`` followed by anything but ``)`` and the
  end of the pattern (or of a top-level alternative) is refused;
* ``\\Z`` is RE2's ``\\z``; ``\\uXXXX`` / ``\\UXXXXXXXX`` become ``\\x{...}``; Python's
  ``{,n}`` becomes ``{0,n}`` (RE2 would read it as literal text);
* refused: lookarounds, backreferences, atomic groups, possessive quantifiers, conditionals,
  ``(?x)``/``(?a)``/``(?u)``/``(?L)`` (RE2 rejects them), POSIX ``[[:alpha:]]`` inside a class
  (a set of literal characters to Python, a class to RE2), ``\\S`` inside a class, patterns
  larger than RE2's memory budget;
* a value holding a lone surrogate (possible from JSON ``\\ud800`` escapes) is matched with
  U+FFFD in its place (RE2 works on UTF-8).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import re2
from re2 import _re2

__all__ = ["RegexRefused", "compile_regex", "compile_wildcard", "re2_literal", "to_re2"]

#: RE2's memory budget for one compiled pattern (bytes); beyond it the pattern is refused.
MAX_MEM = 8 << 20

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # errors are raised (and reported with the rule), not logged
_OPTIONS.max_mem = MAX_MEM
_OPTIONS.never_capture = True  # only "does it match" is asked

# The ``re2`` module's ``search``/``fullmatch`` on ``str`` map byte offsets back to character
# offsets and build a match object: about 25 us a call on a 120-character userAgent, 20 to 60
# times Python's ``re``. The compiled ``_re2.RE2`` object's ``Match`` on the UTF-8 bytes answers
# the same question in 2 to 4 us (measured on the project's shared 2-core machine), so the
# matcher calls it directly (google-re2 1.1's own wrapper does the same for bytes).
_UNANCHORED = _re2.RE2.Anchor.UNANCHORED
_ANCHOR_BOTH = _re2.RE2.Anchor.ANCHOR_BOTH
_NO_MATCH = (-1, -1)

_SURROGATE = re.compile("[\ud800-\udfff]")
_PCRE_SPACE = "\\t\\n\\x0b\\f\\r "


class RegexRefused(Exception):
    """A pattern RE2 cannot run with the meaning Sigma (PCRE, Python) gives it."""


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: not text RE2 can read
        return _SURROGATE.sub("\ufffd", text).encode("utf-8")


def _dollar_ok(pattern: str, i: int, depth: int) -> bool:
    """True when a ``$`` at ``i`` (group depth ``depth``) ends its alternative: only ``)``
    follow, then the end of the pattern or a ``|`` at depth 0."""
    j = i + 1
    while j < len(pattern) and pattern[j] == ")":
        depth -= 1
        j += 1
    return j == len(pattern) or (pattern[j] == "|" and depth <= 0)


def to_re2(pattern: str, multiline: bool = False) -> tuple[str, bool]:
    """``pattern`` (Python/PCRE syntax) in RE2 syntax, and whether it has a ``$`` that must
    also match before a final newline. RegexRefused when the meaning would differ."""
    out: list[str] = []
    dollar = False
    depth = 0
    in_class = False
    class_start = -1
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt == "Z" and not in_class:
                out.append("\\z")
            elif nxt in "uU":
                width = 4 if nxt == "u" else 8
                digits = pattern[i + 2 : i + 2 + width]
                if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                    raise RegexRefused(f"bad \\{nxt} escape at {i}")
                out.append(f"\\x{{{digits}}}")
                i += 2 + width
                continue
            elif nxt == "s":
                out.append(_PCRE_SPACE if in_class else f"[{_PCRE_SPACE}]")
            elif nxt == "S":
                if in_class:
                    raise RegexRefused("\\S inside a character class")
                out.append(f"[^{_PCRE_SPACE}]")
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if ch == "[" and pattern[i + 1 : i + 2] in (":", ".", "="):
                raise RegexRefused(
                    f"'[{pattern[i + 1]}' inside a character class: Python reads it as literal "
                    "characters, RE2 as a POSIX class"
                )
            first = class_start + (2 if pattern[class_start + 1 : class_start + 2] == "^" else 1)
            if ch == "]" and i != first:  # a ] first in the class is a literal
                in_class = False
            out.append(ch)
        elif ch == "[":
            in_class = True
            class_start = i
            out.append(ch)
        elif ch == "(":
            depth += 1
            out.append(ch)
        elif ch == ")":
            depth -= 1
            out.append(ch)
        elif ch == "$":
            if not multiline and not _dollar_ok(pattern, i, depth):
                raise RegexRefused(
                    "'$' before more of the pattern: Python's and PCRE's $ also match before a "
                    "final newline, RE2's does not, and the difference cannot be emulated here "
                    "(use the m flag or end the pattern with $)"
                )
            dollar = True
            out.append(ch)
        elif ch == "{" and (m := re.match(r"\{,(\d+)\}", pattern[i:])):
            out.append("{0," + m.group(1) + "}")
            i += len(m.group())
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out), dollar and not multiline


def _compile(pattern: str) -> Callable[[bytes, Any], bool]:
    try:
        rx = _re2.RE2(pattern.encode("utf-8"), _OPTIONS)
    except UnicodeEncodeError:
        raise RegexRefused("the pattern holds a lone surrogate (not valid Unicode)") from None
    if not rx.ok():
        raise RegexRefused(f"RE2 cannot run it ({rx.error().decode('utf-8', 'replace')})")

    def matches(data: bytes, anchor: Any) -> bool:
        return rx.Match(anchor, data, 0, len(data))[0] != _NO_MATCH

    return matches


def compile_regex(pattern: str, flags: str = "") -> Callable[[str], bool]:
    """A linear-time ``search`` of a Sigma ``|re`` pattern with flags from ``"ims"``.

    Raises RegexRefused (with the reason) for a pattern RE2 cannot run with its meaning.
    """
    translated, dollar = to_re2(pattern, multiline="m" in flags)
    prefix = "".join(f for f in "ims" if f in flags)
    matches = _compile((f"(?{prefix})" if prefix else "") + translated)

    def search(text: str) -> bool:
        data = _utf8(text)
        if matches(data, _UNANCHORED):
            return True
        return dollar and data.endswith(b"\n") and matches(data[:-1], _UNANCHORED)

    return search


def re2_literal(text: str) -> str:
    """``text`` as an RE2 literal: ASCII punctuation escaped, control characters as hex."""
    out = []
    for ch in text:
        if ch.isascii() and not ch.isalnum() and ch != "_":
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x20 or ord(ch) == 0x7F else "\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def compile_wildcard(pattern: str) -> Callable[[str], bool]:
    """A linear-time ``fullmatch`` of an RE2 pattern (built with :func:`re2_literal`),
    ``.`` matching newlines too."""
    matches = _compile("(?s)" + pattern)

    def fullmatch(text: str) -> bool:
        return matches(_utf8(text), _ANCHOR_BOTH)

    return fullmatch
