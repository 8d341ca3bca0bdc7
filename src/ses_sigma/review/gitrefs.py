"""Git plumbing for ``ses-sigma report``: find the repository, resolve refs, and copy the pack's
files as they are at a commit into a directory of our own.

Nothing here touches the user's work tree, index or refs: files come out of the object database
(``git ls-tree`` + ``git cat-file --batch``), byte for byte as committed. ``git archive`` is not
used because it applies ``export-ignore``/``export-subst`` attributes, which could drop or
rewrite rule files.
"""

from __future__ import annotations

import os
import posixpath
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = [
    "Checkout",
    "GitError",
    "NotARepository",
    "UnknownRef",
    "export_paths",
    "export_tree",
    "in_repository",
    "locate",
    "merge_base",
    "resolve_commit",
]

#: Regular files (plain and executable); anything else in the tree is reported, not copied.
_FILE_MODES = ("100644", "100755")


class GitError(Exception):
    """A git command failed; the message says which and why."""


class NotARepository(GitError):
    """The pack directory is not inside a git work tree."""


class UnknownRef(GitError):
    """The ref does not name a commit of the repository."""


@dataclass(frozen=True)
class Checkout:
    """A git work tree, and where the pack directory is inside it.

    ``top`` is the work tree's top level; ``prefix`` the pack directory relative to it, as a
    POSIX path (``""`` when the pack is at the top).
    """

    top: Path
    prefix: str

    def in_tree(self, relative: str) -> str:
        """A path relative to the pack directory, as a path relative to the top level."""
        return str(PurePosixPath(self.prefix, relative)) if self.prefix else relative


def _git(cwd: Path, args: Sequence[str], stdin: bytes | None = None) -> bytes:
    """Run ``git -C cwd args...`` and return stdout; GitError with git's message on failure."""
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    try:
        done = subprocess.run(
            ["git", "-C", str(cwd), *args],
            input=stdin,
            capture_output=True,
            env=env,
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed (no `git` on PATH)") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}"
        raise GitError(f"`git {' '.join(args)}` failed: {message}")
    return done.stdout


def locate(pack_dir: str | Path) -> Checkout:
    """The work tree holding ``pack_dir``; NotARepository if there is none."""
    path = Path(pack_dir)
    if not path.is_dir():
        raise NotARepository(f"{path}: no such directory")
    try:
        top = _git(path, ["rev-parse", "--show-toplevel"]).decode("utf-8").strip()
        prefix = _git(path, ["rev-parse", "--show-prefix"]).decode("utf-8").strip()
    except GitError as exc:
        raise NotARepository(
            f"{path.resolve()} is not in a git work tree (the report compares git refs): {exc}"
        ) from None
    return Checkout(top=Path(top), prefix=prefix.rstrip("/"))


def resolve_commit(checkout: Checkout, ref: str) -> str:
    """The full commit id ``ref`` names (``git rev-parse --verify REF^{commit}``).

    UnknownRef when it names no commit (a typo, or a branch a shallow CI clone did not fetch).
    """
    if not ref or ref.startswith("-"):
        raise UnknownRef(f"{ref!r} is not a git ref")
    try:
        out = _git(checkout.top, ["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"])
    except GitError:
        out = b""
    sha = out.decode("ascii", "replace").strip()
    if not sha:
        raise UnknownRef(
            f"git ref {ref!r} does not exist in {checkout.top} "
            f"(`git rev-parse --verify {ref}^{{commit}}` failed). Check the name; in CI, fetch "
            "the whole history (actions/checkout with fetch-depth: 0)."
        )
    return sha


def merge_base(checkout: Checkout, a: str, b: str) -> str:
    """The best common ancestor of commits ``a`` and ``b`` (what a pull request is diffed
    against); UnknownRef when the histories are unrelated (or a shallow clone lacks it)."""
    try:
        out = _git(checkout.top, ["merge-base", a, b]).decode("ascii").strip()
    except GitError:
        out = ""
    if not out:
        raise UnknownRef(
            f"no merge base of {a[:12]} and {b[:12]} (unrelated histories, or a shallow clone: "
            "fetch the whole history)"
        )
    return out


def export_tree(checkout: Checkout, commit: str, subdirs: Sequence[str], dest: Path) -> list[str]:
    """Write the files under ``subdirs`` (relative to the pack directory) at ``commit`` into
    ``dest``, keeping their paths relative to the pack directory.

    Returns notes on tree entries that are not regular files (symlinks, submodules), which are
    not copied. A subdirectory the commit does not have is simply absent from ``dest``.
    """

    def place(path: str) -> str:
        return str(PurePosixPath(path).relative_to(checkout.prefix)) if checkout.prefix else path

    return _export(checkout, commit, [checkout.in_tree(d) for d in subdirs], dest, place)


def in_repository(checkout: Checkout, relative: str) -> str | None:
    """A path relative to the pack directory (``../shared`` allowed) as a path relative to
    the top level, normalised; None when it leaves the repository (or is absolute)."""
    if PurePosixPath(relative).is_absolute():
        return None
    joined = posixpath.normpath(posixpath.join(checkout.prefix or ".", relative))
    if joined == ".." or joined.startswith("../"):
        return None
    return joined


def export_paths(checkout: Checkout, commit: str, paths: Sequence[str], top: Path) -> list[str]:
    """Write the files under ``paths`` (relative to the pack directory, each inside the
    repository: ``in_repository``) at ``commit`` into ``top``, at their paths relative to the
    repository's top level: the pack directory is then ``top / checkout.prefix`` and a path
    such as ``../shared`` keeps its place beside it. Notes as ``export_tree``."""
    specs = [in_repository(checkout, p) for p in paths]
    wanted = sorted({s for s in specs if s is not None})
    if not wanted:
        return []
    return _export(checkout, commit, wanted, top, lambda path: path)


def _export(
    checkout: Checkout,
    commit: str,
    wanted: Sequence[str],
    dest: Path,
    place: Callable[[str], str],
) -> list[str]:
    """The files under the top-relative pathspecs ``wanted`` at ``commit``, each written to
    ``dest / place(path)``; notes on what was not copied."""
    listing = _git(
        checkout.top,
        ["ls-tree", "-r", "-z", "--full-tree", commit, "--", *(f":(literal){w}" for w in wanted)],
    )
    entries: list[tuple[str, str]] = []  # (object id, path written under dest)
    notes: list[str] = []
    for item in listing.split(b"\0"):
        if not item:
            continue
        meta, _, raw_path = item.partition(b"\t")
        mode, kind, oid = meta.decode("ascii").split()
        path = raw_path.decode("utf-8", "surrogateescape")
        relative = place(path)
        if ".." in PurePosixPath(relative).parts or PurePosixPath(relative).is_absolute():
            # git's own checks keep such paths out of trees; a crafted object must not write
            # outside the snapshot directory all the same
            notes.append(f"{relative!r}: a path leaving the pack directory, skipped")
            continue
        if kind != "blob" or mode not in _FILE_MODES:
            notes.append(
                f"{relative}: not a regular file at {commit[:12]} ({kind} {mode}), skipped"
            )
            continue
        entries.append((oid, relative))
    if not entries:
        return notes
    batch = _git(
        checkout.top, ["cat-file", "--batch"], stdin="".join(f"{o}\n" for o, _ in entries).encode()
    )
    pos = 0
    for oid, relative in entries:
        end = batch.index(b"\n", pos)
        header = batch[pos:end].decode("ascii").split()
        if len(header) != 3 or header[0] != oid:
            raise GitError(f"unexpected `git cat-file --batch` output for {relative}: {header}")
        size = int(header[2])
        content = batch[end + 1 : end + 1 + size]
        pos = end + 1 + size + 1  # the content is followed by a newline
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return notes
