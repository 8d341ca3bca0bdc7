"""Sigma values as Lucene regexes, wildcards and case variants, with the matcher's meaning.

Elasticsearch matches ``keyword`` values case-sensitively; Sigma plain strings are
case-insensitive (the matcher compares ``value.lower()``). Three ways to keep a Sigma string
case-insensitive on Elastic, each used where the target supports it:

* :func:`ci_regex`: a Lucene regular expression (whole-value match, Lucene's dialect) where every
  ASCII letter is a class of its cases (``GetAccount`` -> ``[gG][eE][tT][aA]...``), ``*`` is
  ``.*`` and ``?`` is ``.``; used by the Lucene target on ``keyword`` fields and by ES|QL's
  ``rlike`` nowhere (ES|QL lowers the field instead);
* :func:`case_variants`: every spelling of a value (``ses`` -> ``ses``, ``seS``, ...), for keyed
  ``flattened`` fields, on which Elasticsearch accepts term and prefix queries but rejects regexp
  and wildcard queries;
* :func:`sigma_regex_to_lucene`: a Sigma ``|re`` value (Python ``re``, searched anywhere, flags
  ``i``/``m``/``s``) as a Lucene regular expression with the same matches, or a refusal.

Character-level details that make these exact rather than approximate:

* Python's ``str.lower()`` maps U+212A KELVIN SIGN to ``k``, so the matcher's plain ``k`` also
  matches it: the class for ``k`` is ``[kK\\u212a]``. Under ``re.IGNORECASE`` Python also folds
  U+0130/U+0131 with ``i`` and U+017F with ``s``: regex classes include those too.
* Non-ASCII letters in a rule value are refused (Java's and Python's case tables differ there).
* Lucene's ``.`` matches any code point, newlines included; Python's ``.`` does not match
  ``\\n`` without the ``s`` flag: it becomes ``[^\\n]`` (with a literal newline character, since
  Lucene regexes have no ``\\n`` escape).
* Every ASCII character other than a letter or digit is escaped with a backslash, which in
  Lucene's dialect always means "this character literally" (also ``/``, so the expression can
  sit between the slashes of a ``query_string`` regex).

The functions raise :class:`Untranslatable` with a reason; they never return an approximation.
"""

from __future__ import annotations

import itertools
import re
import re._constants as sre_c  # Python's own regex parser (3.11+), not a home-made one
import re._parser as sre_parse
from collections.abc import Iterable

from sigma.types import (
    Placeholder,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

__all__ = [
    "MAX_CASE_VARIANTS",
    "Untranslatable",
    "case_variants",
    "ci_regex",
    "has_letters",
    "lucene_escape_regex_char",
    "sigma_regex_to_lucene",
    "sigma_string_parts",
    "wildcard_pattern",
]

#: At most this many spellings are enumerated for a case-insensitive value on a flattened key.
MAX_CASE_VARIANTS = 256

#: Non-ASCII characters that ``str.lower()`` maps onto an ASCII letter (the matcher lowercases).
_LOWER_EXTRA = {"k": "\u212a"}
#: Non-ASCII characters ``re.IGNORECASE`` folds onto an ASCII letter (Python's sre tables).
_REGEX_EXTRA = {"i": "\u0130\u0131", "k": "\u212a", "s": "\u017f"}

_LF = "\n"


class Untranslatable(ValueError):
    """A value the target cannot express with the matcher's meaning; ``reason`` says why."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


Part = str | SpecialChars


def sigma_string_parts(value: SigmaString) -> list[Part]:
    """The value as characters and wildcards (escapes already resolved by pySigma).

    Raises Untranslatable for ``|expand`` placeholders, which the matcher refuses too.
    """
    parts: list[Part] = []
    for part in value.s:
        if isinstance(part, Placeholder):
            raise Untranslatable(f"placeholder %{part.name}% (|expand) has no value")
        if isinstance(part, SpecialChars):
            parts.append(part)
        else:
            parts.extend(part)
    return parts


def _check_char(ch: str) -> None:
    if not ch.isascii() and (ch.lower() != ch or ch.upper() != ch):
        raise Untranslatable(
            f"non-ASCII letter {ch!r}: Elasticsearch's (Java) and the matcher's (Python) case "
            "mappings are not known to agree on it"
        )


def has_letters(value: SigmaString) -> bool:
    """True if the value has a character whose case matters (so case-insensitivity shows)."""
    return any(
        isinstance(p, str) and (p.lower() != p or p.upper() != p or p in _LOWER_EXTRA)
        for p in sigma_string_parts(value)
    )


def lucene_escape_regex_char(ch: str) -> str:
    """One character as a literal of Lucene's regex dialect."""
    if ch.isascii() and not ch.isalnum():
        return "\\" + ch
    return ch


def _letter_class(ch: str, extra: dict[str, str]) -> str:
    low = ch.lower()
    members = [low, low.upper(), *extra.get(low, "")]
    return "[" + "".join(members) + "]"


def ci_regex(value: SigmaString) -> str:
    """A case-insensitive plain Sigma string as a Lucene regex (whole-value match)."""
    out: list[str] = []
    for part in sigma_string_parts(value):
        if part is SpecialChars.WILDCARD_MULTI:
            out.append(".*")
        elif part is SpecialChars.WILDCARD_SINGLE:
            out.append(".")
        else:
            _check_char(part)
            if part.isascii() and part.isalpha():
                out.append(_letter_class(part, _LOWER_EXTRA))
            else:
                out.append(lucene_escape_regex_char(part))
    return "".join(out)


def wildcard_pattern(value: SigmaString, *, lower: bool, escape: str = "\\") -> str:
    """A Sigma string as a Lucene wildcard pattern (``*``, ``?``; literal ones escaped).

    ``lower``: lowercase the characters (for a comparison with a lowercased field).
    """
    out: list[str] = []
    for part in sigma_string_parts(value):
        if part is SpecialChars.WILDCARD_MULTI:
            out.append("*")
        elif part is SpecialChars.WILDCARD_SINGLE:
            out.append("?")
        else:
            if lower:
                _check_char(part)
                part = part.lower()
            out.append(escape + part if part in "*?\\" else part)
    return "".join(out)


def case_variants(value: SigmaString) -> list[str]:
    """Every spelling of a plain value without wildcards, in a fixed order.

    Raises Untranslatable when the value has wildcards or more than MAX_CASE_VARIANTS spellings.
    """
    choices: list[str | tuple[str, ...]] = []
    count = 1
    for part in sigma_string_parts(value):
        if isinstance(part, SpecialChars):
            raise Untranslatable("wildcards inside the value")
        _check_char(part)
        if part.isascii() and part.isalpha():
            low = part.lower()
            options = (low, low.upper(), *_LOWER_EXTRA.get(low, ""))
            choices.append(options)
            count *= len(options)
        else:
            choices.append(part)
    if count > MAX_CASE_VARIANTS:
        raise Untranslatable(
            f"{count} case variants (more than {MAX_CASE_VARIANTS}) would be needed"
        )
    pools = [c if isinstance(c, tuple) else (c,) for c in choices]
    return ["".join(p) for p in itertools.product(*pools)]


# --- Sigma |re -> Lucene regex -----------------------------------------------------------------

_PY_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
    SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
    SigmaRegularExpressionFlag.DOTALL: re.DOTALL,
}
_KNOWN_FLAGS = re.IGNORECASE | re.MULTILINE | re.DOTALL | re.UNICODE


class _Translator:
    """Walks the tree of Python's regex parser and writes Lucene's dialect."""

    def __init__(self, pattern: str):
        self.pattern = pattern

    def fail(self, what: str) -> Untranslatable:
        return Untranslatable(f"regular expression /{self.pattern}/: {what}")

    def seq(self, items: Iterable[tuple[object, object]], flags: int) -> str:
        return "".join(self.item(op, av, flags) for op, av in items)

    def item(self, op: object, av: object, flags: int) -> str:
        ci = bool(flags & re.IGNORECASE)
        if op is sre_c.LITERAL:
            return self.literal(chr(av), ci)  # type: ignore[arg-type]
        if op is sre_c.NOT_LITERAL:
            members = self.char_set([(sre_c.LITERAL, av)], ci)
            return "[^" + members + "]"
        if op is sre_c.ANY:
            return "." if flags & re.DOTALL else "[^" + _LF + "]"
        if op is sre_c.IN:
            return self.in_class(av, ci)  # type: ignore[arg-type]
        if op is sre_c.BRANCH:
            _, alternatives = av  # type: ignore[misc]
            return "(" + "|".join(self.seq(a, flags) for a in alternatives) + ")"
        if op is sre_c.SUBPATTERN:
            _group, add, delete, sub = av  # type: ignore[misc]
            if (add | delete) & ~(re.IGNORECASE | re.DOTALL):
                raise self.fail("inline flags other than i and s in a group")
            inner = (flags | add) & ~delete
            return "(" + self.seq(sub, inner) + ")"
        if op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT):
            # Lazy and greedy repeats accept the same strings; only whether a match exists
            # matters here, not which one Python would report.
            low, high, sub = av  # type: ignore[misc]
            body = "(" + self.seq(sub, flags) + ")"
            if high is sre_c.MAXREPEAT:
                return body + {0: "*", 1: "+"}.get(low, f"{{{low},}}")
            if (low, high) == (0, 1):
                return body + "?"
            return body + (f"{{{low}}}" if low == high else f"{{{low},{high}}}")
        if op is sre_c.AT:
            raise self.fail(
                f"anchor {av} inside the expression (only a leading ^ and a trailing $ are "
                "translated)"
            )
        if op is sre_c.CATEGORY:
            raise self.fail(self.category_reason(av))
        raise self.fail(f"{str(op).lower()} has no Lucene equivalent")

    @staticmethod
    def category_reason(cat: object) -> str:
        return (
            f"class {cat} (\\d, \\w, \\s...) is not in the Lucene regular expression syntax "
            "this translation targets; write an explicit class such as [0-9]"
        )

    def literal(self, ch: str, ci: bool) -> str:
        members = self.members_of(ch, ci)
        if len(members) == 1:
            return lucene_escape_regex_char(ch)
        return "[" + "".join(lucene_escape_regex_char(m) for m in members) + "]"

    def members_of(self, ch: str, ci: bool) -> list[str]:
        if not ci:
            return [ch]
        if not ch.isascii() and (ch.lower() != ch or ch.upper() != ch):
            raise self.fail(f"case-insensitive non-ASCII letter {ch!r}")
        if ch.isascii() and ch.isalpha():
            low = ch.lower()
            return [low, low.upper(), *_REGEX_EXTRA.get(low, "")]
        return [ch]

    def char_set(self, items: Iterable[tuple[object, object]], ci: bool) -> str:
        chars: list[str] = []
        ranges: list[str] = []
        for op, av in items:
            if op is sre_c.LITERAL:
                chars.extend(self.members_of(chr(av), ci))  # type: ignore[arg-type]
            elif op is sre_c.RANGE:
                lo, hi = av  # type: ignore[misc]
                ranges.append(
                    lucene_escape_regex_char(chr(lo)) + "-" + lucene_escape_regex_char(chr(hi))
                )
                if ci:
                    if hi > 0x7F:
                        raise self.fail("case-insensitive range beyond ASCII")
                    for code in range(lo, hi + 1):
                        ch = chr(code)
                        if ch.isalpha():
                            chars.extend(m for m in self.members_of(ch, ci) if m != ch)
            elif op is sre_c.CATEGORY:
                raise self.fail(self.category_reason(av))
            else:
                raise self.fail(f"{str(op).lower()} inside a character class")
        unique = list(dict.fromkeys(chars))
        return "".join(ranges) + "".join(lucene_escape_regex_char(c) for c in unique)

    def in_class(self, items: list[tuple[object, object]], ci: bool) -> str:
        negate = bool(items) and items[0][0] is sre_c.NEGATE
        body = self.char_set(items[1:] if negate else items, ci)
        if not body:
            raise self.fail("empty character class")
        return ("[^" if negate else "[") + body + "]"


def sigma_regex_to_lucene(value: SigmaRegularExpression) -> str:
    """A Sigma ``|re`` value as a Lucene regex matching exactly the values the matcher accepts.

    The matcher runs ``re.search`` with the value's flags. Lucene matches the whole value, so an
    unanchored start or end becomes ``.*``; a leading ``^`` (``\\A``) anchors the start; a
    trailing ``$`` is "end, or before a final newline" as in Python, ``\\Z`` the very end.
    Refused: lookarounds, backreferences, word boundaries, anchors elsewhere, ``^``/``$`` under
    the ``m`` flag, Unicode classes (``\\d``, ``\\w``, ``\\s``), possessive and atomic groups,
    case-insensitive non-ASCII letters.
    """
    pattern = str(value.regexp)
    if value.contains_placeholder():
        raise Untranslatable("regular expression with an |expand placeholder")
    flags = 0
    for flag in value.flags:
        flags |= _PY_FLAGS[flag]
    try:
        parsed = sre_parse.parse(pattern, flags)
    except re.error as exc:
        raise Untranslatable(f"regular expression /{pattern}/: {exc}") from None
    flags = parsed.state.flags
    tr = _Translator(pattern)
    if flags & ~_KNOWN_FLAGS:
        raise tr.fail("flags other than i, m and s")
    items = list(parsed)
    start = ".*"
    end = ".*"
    if (
        items
        and items[0][0] is sre_c.AT
        and items[0][1]
        in (
            sre_c.AT_BEGINNING,
            sre_c.AT_BEGINNING_STRING,
        )
    ):
        if items[0][1] is sre_c.AT_BEGINNING and flags & re.MULTILINE:
            raise tr.fail("^ under the m flag (start of any line)")
        start = ""
        items = items[1:]
    if (
        items
        and items[-1][0] is sre_c.AT
        and items[-1][1]
        in (
            sre_c.AT_END,
            sre_c.AT_END_STRING,
        )
    ):
        if items[-1][1] is sre_c.AT_END:
            if flags & re.MULTILINE:
                raise tr.fail("$ under the m flag (end of any line)")
            end = "(" + _LF + ")?"  # Python's $ also matches before a final newline
        else:
            end = ""
        items = items[:-1]
    return start + tr.seq(items, flags) + end
