"""``ses-sigma report`` from git refs: resolve them, copy the pack as it is at the base (and
head) commit into a temporary directory, review, render, and take the temporary paths out of
the Markdown. The user's work tree, index and refs are only read.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ses_sigma.review.build import Review, build_review
from ses_sigma.review.gitrefs import export_tree, locate, merge_base, resolve_commit
from ses_sigma.review.report import DEFAULT_MAX_CHARS, render
from ses_sigma.review.snapshot import FIXTURES_DIR, RULES_DIR, load_snapshot

__all__ = ["RefsResult", "review_refs"]


def _scrub(text: str, roots: list[Path]) -> str:
    """Replace the snapshot directories in ``text`` with paths relative to the pack directory,
    so the report does not depend on where it ran (temporary directories, the checkout)."""
    variants: set[str] = set()
    for root in roots:
        for form in {str(root), str(root.resolve()), str(root.absolute())}:
            variants.add(form)
    for form in sorted(variants, key=len, reverse=True):
        if form in ("", "."):
            continue
        text = text.replace(form + os.sep, "")
        text = re.sub(re.escape(form) + r"(?![\w.-])", ".", text)
    return text


def _tick(ref: str) -> str:
    """A ref as it can sit in a Markdown code span (git allows backticks in ref names)."""
    return ref.replace("`", "'")


@dataclass(frozen=True)
class RefsResult:
    """A rendered review: the Markdown, and whether every part could be computed."""

    markdown: str
    review: Review


def review_refs(
    pack_dir: str | Path,
    base_ref: str,
    head_ref: str | None = None,
    max_chars: int | None = None,
    use_merge_base: bool = False,
) -> RefsResult:
    """Review the pack in ``pack_dir`` (a directory holding ``rules/`` and ``fixtures/`` in a
    git work tree) between ``base_ref`` and ``head_ref`` (default: the working tree as it is).
    With ``use_merge_base`` the base is the merge base of ``base_ref`` and the head commit
    (``HEAD`` for the working tree), as a pull request's diff is.

    Raises ``gitrefs.NotARepository`` / ``gitrefs.UnknownRef`` before doing any work.
    """
    pack_dir = Path(pack_dir)
    checkout = locate(pack_dir)
    base_sha = resolve_commit(checkout, base_ref)
    head_sha = resolve_commit(checkout, head_ref) if head_ref is not None else None
    base_label = f"`{_tick(base_ref)}` ({base_sha[:12]})"
    if use_merge_base:
        base_sha = merge_base(checkout, base_sha, head_sha or resolve_commit(checkout, "HEAD"))
        base_label = f"the merge base of `{_tick(base_ref)}` ({base_sha[:12]})"
    with tempfile.TemporaryDirectory(prefix="ses-sigma-review-") as tmp:
        notes: list[str] = []
        base_root = Path(tmp) / "base"
        base_root.mkdir()
        notes += export_tree(checkout, base_sha, (RULES_DIR, FIXTURES_DIR), base_root)
        base = load_snapshot(base_root, base_label)
        if head_sha is not None:
            head_root = Path(tmp) / "head"
            head_root.mkdir()
            notes += export_tree(checkout, head_sha, (RULES_DIR, FIXTURES_DIR), head_root)
            head = load_snapshot(head_root, f"`{_tick(head_ref)}` ({head_sha[:12]})")
        else:
            head_root = pack_dir
            head = load_snapshot(head_root, "the working tree")
        review = build_review(base, head, notes)
        markdown = render(review, max_chars if max_chars is not None else DEFAULT_MAX_CHARS)
        markdown = _scrub(markdown, [base_root, head_root])
        review.errors = [_scrub(e, [base_root, head_root]) for e in review.errors]
    return RefsResult(markdown=markdown, review=review)
