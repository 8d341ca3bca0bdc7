"""``ses-sigma report``: what a branch changes in the pack, compared with a git ref, as Markdown
for a pull-request comment.

``gitrefs`` (git plumbing, read-only) -> ``snapshot`` (one side, loaded with pySigma) ->
``diff`` (rules paired, unified diffs, ATT&CK coverage) -> ``evaluate`` (conversions, fixture
verdicts, lint, through the library) -> ``build`` (a ``Review``) -> ``report`` (Markdown);
``refs`` runs it all from git refs.
"""

from __future__ import annotations

from ses_sigma.review.build import Review, build_review
from ses_sigma.review.gitrefs import GitError, NotARepository, UnknownRef
from ses_sigma.review.refs import RefsResult, review_refs

__all__ = [
    "GitError",
    "NotARepository",
    "RefsResult",
    "Review",
    "UnknownRef",
    "build_review",
    "review_refs",
]
