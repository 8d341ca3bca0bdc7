"""``ses-sigma report`` from git refs: resolve them, copy the pack as it is at the base (and
head) commit into a temporary directory, review, render, and take the temporary paths out of
the Markdown. The user's work tree, index and refs are only read.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ses_sigma.bundled import bundled_dir
from ses_sigma.review.build import Review, build_review
from ses_sigma.review.gitrefs import (
    Checkout,
    export_paths,
    in_repository,
    locate,
    merge_base,
    resolve_commit,
)
from ses_sigma.review.report import DEFAULT_MAX_CHARS, render
from ses_sigma.review.sides import BUNDLED, configured_paths
from ses_sigma.review.snapshot import Snapshot, load_snapshot
from ses_sigma.workspace import CONFIG_FILE

__all__ = ["RefsResult", "review_refs"]


def _scrub(text: str, roots: Sequence[Path], tops: Sequence[Path] = (), prefix: str = "") -> str:
    """Replace the snapshot directories in ``text`` with paths relative to the pack directory,
    the repository's top levels (``tops``, where the pack directory is ``prefix``) with the
    way up to them (``../shared/x.yml``), and the bundled pack's directories with
    ``<bundled>/...``, so the report does not depend on where it ran (temporary directories,
    the checkout, the installed ses-sigma)."""
    variants: dict[str, str] = {}
    for part in ("rules", "fixtures", "filters"):
        directory = bundled_dir(part)
        # A side's own files win over the bundled pack (ses-sigma's own checkout is both).
        if directory is not None and not any(
            directory.resolve().is_relative_to(r.resolve()) for r in [*roots, *tops]
        ):
            for form in {str(directory), str(directory.resolve())}:
                variants[form] = f"{BUNDLED}/{part}"
    up = "/".join(".." for _ in PurePosixPath(prefix).parts) if prefix else "."
    for top in tops:
        for form in {str(top), str(top.resolve()), str(top.absolute())}:
            variants[form] = up
    for root in roots:
        for form in {str(root), str(root.resolve()), str(root.absolute())}:
            variants[form] = "."
    for form in sorted(variants, key=len, reverse=True):
        if form in ("", "."):
            continue
        name = variants[form]
        text = text.replace(form + os.sep, "" if name == "." else name + "/")
        text = re.sub(re.escape(form) + r"(?![\w.-])", name, text)
    return text


def _escapes(checkout: Checkout, root: Path, top: Path, paths: list[str]) -> list[str]:
    """Why the side in ``root`` must not be read: a configured path outside the repository
    (whose ``top`` it is, on disk), or a file under one that is a link leading out of it. The
    report is posted where the pull request's author reads it: files of the machine it runs
    on (keys, configs) must not end up in it as "rules"."""
    problems: list[str] = []
    top = top.resolve()
    for entry in paths:
        if in_repository(checkout, entry) is None:
            problems.append(f"{CONFIG_FILE}: {entry!r} is outside the git repository")
            continue
        path = root / entry
        found = [path, *sorted(path.rglob("*"))] if path.is_dir() else [path]
        for item in found:
            if (item.exists() or item.is_symlink()) and not item.resolve().is_relative_to(top):
                problems.append(f"{item.relative_to(root).as_posix()}: leads out of the repository")
    return problems


def _config_paths(root: Path) -> list[str]:
    config = root / CONFIG_FILE
    return configured_paths(config.read_bytes() if config.is_file() else None)


def _load_side(checkout: Checkout, root: Path, top: Path, label: str) -> Snapshot:
    """The snapshot of the side in ``root``, refused (with errors) when it would read files
    from outside the repository."""
    problems = _escapes(checkout, root, top, _config_paths(root))
    if not problems:
        return load_snapshot(root, label)
    refused = "not read, it names files outside the repository: " + "; ".join(problems)
    return load_snapshot(root, label, refused)


def _export_side(checkout: Checkout, commit: str, top: Path) -> tuple[Path, list[str]]:
    """The pack directory as it is at ``commit``, written under ``top`` at its place in the
    repository: its ``ses-sigma.toml`` first, then the paths that config names (or the default
    ``rules/``, ``fixtures/`` and ``filters/``). Returns (the pack directory, notes)."""
    root = top / checkout.prefix if checkout.prefix else top
    root.mkdir(parents=True, exist_ok=True)
    notes = export_paths(checkout, commit, [CONFIG_FILE], top)
    notes += export_paths(checkout, commit, _config_paths(root), top)
    return root, notes


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
    """Review the pack in ``pack_dir`` (the directory of its ``ses-sigma.toml``, or one holding
    ``rules/`` and ``fixtures/``, in a git work tree) between ``base_ref`` and ``head_ref``
    (default: the working tree as it is). Each side uses the pack its own config names.
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
        base_root, notes = _export_side(checkout, base_sha, Path(tmp) / "base")
        base = _load_side(checkout, base_root, Path(tmp) / "base", base_label)
        if head_sha is not None:
            head_root, more = _export_side(checkout, head_sha, Path(tmp) / "head")
            notes += more
            head_label = f"`{_tick(head_ref)}` ({head_sha[:12]})"
            head = _load_side(checkout, head_root, Path(tmp) / "head", head_label)
        else:
            head_root = pack_dir
            head = _load_side(checkout, head_root, checkout.top, "the working tree")
        review = build_review(base, head, notes)
        markdown = render(review, max_chars if max_chars is not None else DEFAULT_MAX_CHARS)
        roots = [base_root, head_root]
        tops = [Path(tmp) / "base", Path(tmp) / "head", checkout.top]
        markdown = _scrub(markdown, roots, tops, checkout.prefix)
        review.errors = [_scrub(e, roots, tops, checkout.prefix) for e in review.errors]
    return RefsResult(markdown=markdown, review=review)
