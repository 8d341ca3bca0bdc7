"""Lucene's wildcard and regular-expression dialects, translated to Python ``re``.

Elasticsearch evaluates ``field:/regex/`` (query_string), ``regexp`` queries and EQL's
``regex``/``regex~`` with Lucene's ``RegExp`` (``org.apache.lucene.util.automaton.RegExp``, read
in apache/lucene at commit 00692b73a0abdccba842f61e5d7bec208a0762db). The dialect is not Perl's:

- the pattern matches the *whole* term (no search, no anchors): ``^`` and ``$`` are ordinary
  characters, so ``/^abc$/`` looks for the literal text ``^abc$``. That is almost never what a
  query author meant, so an unescaped ``^`` or ``$`` raises ``PatternError`` unless
  ``literal_anchors=True`` (escaped, ``\\^``, they are plain literals);
- ``.`` matches any character, newlines included; there are no lazy quantifiers, no
  lookarounds, no backreferences, no inline flags: ``(?i)`` is a group holding the literal
  characters ``?`` and ``i``;
- ``"..."`` is a literal string; ``\\`` escapes any character; ``\\d \\D \\s \\S \\w \\W`` are
  ASCII classes (``\\s`` is space, tab, newline, carriage return); a backslash before another
  letter is an error;
- ``{n}``, ``{n,}``, ``{n,m}`` repeat, but ``{,m}`` is an error;
- with the syntax flags Elasticsearch passes (``RegExp.ALL``), ``&`` (intersection), ``~``
  (complement), ``#`` (empty language), ``@`` (any string) and ``<...>`` (intervals and named
  automata) are operators. Their use raises ``PatternError`` here: a ``@`` meant as part of an
  e-mail address would silently mean "any string" in Elasticsearch, and the operators' meaning
  has changed across Lucene versions.

Case-insensitive regex matching (EQL ``regex~``) is Lucene's ``ASCII_CASE_INSENSITIVE``: single
ASCII letters match either case; character *ranges* are not folded.

Wildcards (``*`` any string, ``?`` one character, ``\\`` escapes the next character, a trailing
backslash is literal) follow ``org.apache.lucene.search.WildcardQuery``. Case-insensitive
wildcards (EQL ``:``, ``like~``) follow Elasticsearch's ``AutomatonQueries``: each character also
matches its other case; non-ASCII letters there raise ``PatternError`` (Java's and Python's case
mappings differ outside ASCII).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "PatternError",
    "compile_lucene_regex",
    "compile_wildcard",
    "lucene_regex_to_python",
    "wildcard_to_python",
]


class PatternError(ValueError):
    """A pattern Elasticsearch rejects, or whose meaning cannot be reproduced faithfully."""


_PREDEFINED = {
    "d": "[0-9]",
    "D": "[^0-9]",
    "s": "[ \\t\\n\\r]",
    "S": "[^ \\t\\n\\r]",
    "w": "[a-zA-Z_0-9]",
    "W": "[^a-zA-Z_0-9]",
}
_BAD_ESCAPES = set("abcefghijklmnopqrtuvxyz") | set("ABCEFGHIJKLMNOPQRTUVXYZ")
_OPTIONAL_OPERATORS = {
    "&": "intersection '&'",
    "~": "complement '~'",
    "#": "empty language '#'",
    "@": "any-string '@'",
    "<": "interval or named automaton '<...>'",
}


def _char(c: str, ascii_ci: bool) -> str:
    if ascii_ci and c.isascii() and c.isalpha():
        return f"[{c.lower()}{c.upper()}]"
    return re.escape(c)


def _class_char(c: str) -> str:
    return "\\" + c if c in "\\]^-[" else c


@dataclass
class _Parser:
    text: str
    ascii_ci: bool
    literal_anchors: bool = False
    pos: int = 0

    # --- scanning ---------------------------------------------------------------------------
    def more(self) -> bool:
        return self.pos < len(self.text)

    def peek(self, chars: str) -> bool:
        return self.more() and self.text[self.pos] in chars

    def match(self, c: str) -> bool:
        if self.more() and self.text[self.pos] == c:
            self.pos += 1
            return True
        return False

    def next(self) -> str:
        if not self.more():
            raise self.error("unexpected end of the regular expression")
        c = self.text[self.pos]
        self.pos += 1
        return c

    def error(self, message: str) -> PatternError:
        return PatternError(f"Lucene regex /{self.text}/: {message} (at position {self.pos})")

    def operator(self, c: str) -> PatternError:
        return self.error(
            f"unescaped {_OPTIONAL_OPERATORS[c]} is a Lucene regex operator under "
            "Elasticsearch's flags, not a literal character; escape it (\\" + c + ") if a "
            "literal is meant"
        )

    # --- grammar (RegExp.parseUnionExp and below) -------------------------------------------
    def parse(self) -> str:
        if not self.text:
            return ""
        out = self.union()
        if self.more():
            raise self.error("end of expression expected")
        return out

    def union(self) -> str:
        left = self.inter()
        if self.match("|"):
            return f"(?:{left}|{self.union()})"
        return left

    def inter(self) -> str:
        out = self.concat()
        if self.peek("&"):
            raise self.operator("&")
        return out

    def concat(self) -> str:
        out = self.repeat()
        if self.more() and not self.peek(")|&"):
            out += self.concat()
        return out

    def repeat(self) -> str:
        out = self.compl()
        while self.peek("?*+{"):
            if self.match("?"):
                out = f"(?:{out})?"
            elif self.match("*"):
                out = f"(?:{out})*"
            elif self.match("+"):
                out = f"(?:{out})+"
            elif self.match("{"):
                start = self.pos
                while self.peek("0123456789"):
                    self.pos += 1
                if start == self.pos:
                    raise self.error("integer expected after '{'")
                low = int(self.text[start : self.pos])
                high: int | None = low
                if self.match(","):
                    start = self.pos
                    while self.peek("0123456789"):
                        self.pos += 1
                    high = int(self.text[start : self.pos]) if start != self.pos else None
                if not self.match("}"):
                    raise self.error("expected '}'")
                if high is None:
                    out = f"(?:{out}){{{low},}}"
                elif low > high:
                    out = "(?!)"  # Lucene: the empty language
                else:
                    out = f"(?:{out}){{{low},{high}}}"
        return out

    def compl(self) -> str:
        if self.peek("~"):
            raise self.operator("~")
        return self.charclass_exp()

    def charclass_exp(self) -> str:
        if self.match("["):
            negate = self.match("^")
            items = [self.charclass()]
            while self.more() and not self.peek("]"):
                items.append(self.charclass())
            if not self.match("]"):
                raise self.error("expected ']'")
            union = "(?:" + "|".join(items) + ")"
            return f"(?!{union})." if negate else union
        return self.simple()

    def charclass(self) -> str:
        predefined = self.predefined()
        if predefined is not None:
            return predefined
        low = self.char_exp()
        if self.match("-"):
            high = self.char_exp()
            if low > high:
                raise self.error(f"invalid range {low!r}-{high!r}")
            # Lucene's ASCII_CASE_INSENSITIVE folds single characters only, not ranges.
            return f"[{_class_char(low)}-{_class_char(high)}]"
        return _char(low, self.ascii_ci)

    def predefined(self) -> str | None:
        if self.match("\\"):
            if self.peek("dDwWsS"):
                return _PREDEFINED[self.next()]
            if self.peek("\\"):
                return _char(self.next(), self.ascii_ci)
            if self.more() and self.text[self.pos] in _BAD_ESCAPES:
                raise self.error(f"invalid character class \\{self.text[self.pos]}")
        return None

    def simple(self) -> str:
        if self.match("."):
            return "."
        if self.peek("#@<"):
            raise self.operator(self.text[self.pos])
        if self.match('"'):
            start = self.pos
            while self.more() and not self.peek('"'):
                self.pos += 1
            if not self.match('"'):
                raise self.error("expected closing '\"'")
            literal = self.text[start : self.pos - 1]
            return "".join(_char(c, self.ascii_ci) for c in literal)
        if self.match("("):
            if self.match(")"):
                return "(?:)"
            inner = self.union()
            if not self.match(")"):
                raise self.error("expected ')'")
            return f"(?:{inner})"
        if self.peek("^$") and not self.literal_anchors:
            raise self.error(
                f"unescaped {self.text[self.pos]!r}: Lucene regular expressions have no "
                "anchors (they always match the whole term), so Elasticsearch reads it as a "
                "literal character; escape it if a literal is meant"
            )
        predefined = self.predefined()
        if predefined is not None:
            return predefined
        return _char(self.char_exp(), self.ascii_ci)

    def char_exp(self) -> str:
        self.match("\\")
        return self.next()


def lucene_regex_to_python(
    pattern: str, *, ascii_case_insensitive: bool = False, literal_anchors: bool = False
) -> str:
    """Translate a Lucene regex into a Python pattern meant for ``re.fullmatch`` + DOTALL."""
    return _Parser(pattern, ascii_case_insensitive, literal_anchors).parse()


def compile_lucene_regex(
    pattern: str, *, ascii_case_insensitive: bool = False, literal_anchors: bool = False
) -> re.Pattern[str]:
    """Compile a Lucene regex; use ``.fullmatch`` (Lucene matches whole terms)."""
    python = lucene_regex_to_python(
        pattern, ascii_case_insensitive=ascii_case_insensitive, literal_anchors=literal_anchors
    )
    try:
        return re.compile(python, re.DOTALL)
    except re.error as exc:  # pragma: no cover - the translation only emits valid syntax
        raise PatternError(f"Lucene regex /{pattern}/: translation failed: {exc}") from None


def _ci_char(c: str) -> str:
    if not c.isalpha():
        return re.escape(c)
    if not c.isascii():
        raise PatternError(
            f"case-insensitive pattern with the non-ASCII letter {c!r}: Java's case mapping "
            "is not emulated"
        )
    return f"[{c.lower()}{c.upper()}]"


def wildcard_to_python(pattern: str, *, case_insensitive: bool = False) -> str:
    """Translate a Lucene wildcard pattern into a Python pattern for ``re.fullmatch`` + DOTALL."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            i += 1
            c = pattern[i]
            out.append(_ci_char(c) if case_insensitive else re.escape(c))
        elif c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        else:
            out.append(_ci_char(c) if case_insensitive else re.escape(c))
        i += 1
    return "".join(out)


def compile_wildcard(pattern: str, *, case_insensitive: bool = False) -> re.Pattern[str]:
    """Compile a Lucene wildcard pattern; use ``.fullmatch``."""
    return re.compile(wildcard_to_python(pattern, case_insensitive=case_insensitive), re.DOTALL)
