"""``ses_regex``: a ``|re`` pattern the matcher's RE2 engine cannot run with its meaning.

The matcher runs regular expressions on RE2 (``ses_sigma.match.regex``: linear time, no
backtracking); a pattern that needs Python/PCRE-only features (lookarounds, backreferences,
atomic groups...) or whose meaning RE2 would change is refused there at load. This check names
each such pattern on its own line, with the reason, instead of the rule-level ``ses_matcher``
finding the same refusal would give.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import SigmaRegularExpression, SigmaRegularExpressionFlag

from ses_sigma.lint.findings import Problem, Where
from ses_sigma.match.regex import RegexRefused, compile_regex
from ses_sigma.pack import rule_key

__all__ = ["CODE_REGEX", "regex_problems"]

CODE_REGEX = "ses_regex"

_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: "i",
    SigmaRegularExpressionFlag.MULTILINE: "m",
    SigmaRegularExpressionFlag.DOTALL: "s",
}


def _items(node: SigmaDetection | SigmaDetectionItem) -> Iterator[SigmaDetectionItem]:
    if isinstance(node, SigmaDetectionItem):
        yield node
        return
    for child in node.detection_items:
        yield from _items(child)


def regex_problems(rule: SigmaRule, path: Path) -> Iterator[Problem]:
    """One ``ses_regex`` problem per ``|re`` value of ``rule`` that RE2 cannot run."""
    for detection in rule.detection.detections.values():
        for item in _items(detection):
            for value in item.value:
                if not isinstance(value, SigmaRegularExpression):
                    continue
                pattern = str(value.regexp)
                try:
                    compile_regex(pattern, "".join(_FLAGS[f] for f in value.flags))
                except RegexRefused as exc:
                    yield Problem(
                        path,
                        CODE_REGEX,
                        f"{rule_key(rule)}: regular expression {pattern!r} cannot run in linear "
                        f"time with its meaning: {exc}",
                        Where(keys=("detection",), field=item.field),
                    )
