"""The closing sections of the review comment: ``ses-sigma check`` on the head, and ATT&CK
coverage before and after."""

from __future__ import annotations

from collections.abc import Sequence

from ses_sigma.attack import attack_version, technique
from ses_sigma.review.build import Review
from ses_sigma.review.markdown import cell, code, details, plural, summary, table

__all__ = ["attack_section", "lint_section"]


def lint_section(review: Review) -> str:
    """``### Lint``: the findings on the files of the review, the count elsewhere."""
    lint = review.lint
    out = ["### Lint (`ses-sigma check` on the head)\n"]
    if lint.error is not None:
        out.append(f"Not run: {cell(lint.error)}\n")
        return "\n".join(out) + "\n"
    failing = [f for f in lint.touched if f.excused is None]
    excused = [f for f in lint.touched if f.excused is not None]
    out.append(
        f"{plural(len(failing), 'finding')} on the files of the rules above"
        f" ({len(excused)} excused); in the rest of the pack {lint.other_failing} finding(s)"
        f" ({lint.other_excused} excused). The check "
        + ("passes." if lint.passed else "**fails**.")
        + "\n"
    )
    if failing:
        rows = [(cell(f.location), code(f.code), str(f.severity), cell(f.message)) for f in failing]
        out.append(table(("where", "code", "severity", "message"), rows))
    if excused:
        rows = [(cell(f.location), code(f.code), cell(f.excused or "")) for f in excused]
        out.append(
            details(
                f"{plural(len(excused), 'excused finding')}",
                table(("where", "code", "reason"), rows),
            )
        )
    return "\n".join(out) + "\n"


def _technique_name(tech: str) -> str:
    try:
        return technique(tech).name
    except KeyError:
        return "(not in the vendored ATT&CK)"


def _rules_list(names: Sequence[str]) -> str:
    return ", ".join(code(n) for n in names) if names else "—"


def attack_section(review: Review) -> str:
    """``### ATT&CK coverage``: techniques gained, lost, and their rules before and after."""
    out = [f"### ATT&CK coverage (vendored ATT&CK {attack_version()})\n"]
    before, after = review.coverage_before, review.coverage_after
    if before is None or after is None:
        side = "base" if before is None else "head"
        out.append(f"Not compared: the pack does not load on the {side} side.\n")
        return "\n".join(out) + "\n"
    gained = sorted(after.keys() - before.keys())
    lost = sorted(before.keys() - after.keys())
    moved = sorted(t for t in before.keys() & after.keys() if before[t] != after[t])

    def line(t: str) -> str:
        return f"{code(t)} {cell(_technique_name(t))}"

    out.append(
        "- Gained: " + ("; ".join(f"{line(t)} ({_rules_list(after[t])})" for t in gained) or "none")
    )
    out.append(
        "- Lost: "
        + ("; ".join(f"{line(t)} (was {_rules_list(before[t])})" for t in lost) or "none")
    )
    out.append(
        "- Rules changed: "
        + (
            "; ".join(
                f"{line(t)}: {_rules_list(before[t])} → {_rules_list(after[t])}" for t in moved
            )
            or "none"
        )
        + "\n"
    )
    rows = [
        (
            code(t),
            cell(_technique_name(t)),
            _rules_list(before.get(t, ())),
            _rules_list(after.get(t, ())),
        )
        for t in sorted(before.keys() | after.keys())
    ]
    title = f"Techniques → rules: {len(before)} technique(s) before, {len(after)} after"
    out.append(details(summary(title), table(("technique", "name", "before", "after"), rows)))
    return "\n".join(out) + "\n"
