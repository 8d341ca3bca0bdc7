"""Which files to read: paths and directory walks, regular files only, every problem reported."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from ses_sigma.logs.stats import FILE, ReadStats, Skipped

__all__ = ["LOG_SUFFIXES", "has_log_suffix", "iter_log_files", "not_regular_reason"]

#: Suffixes of files read when walking a directory (explicitly named files are always read).
LOG_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
)


def has_log_suffix(path: Path) -> bool:
    """True when ``path``'s name ends with one of ``LOG_SUFFIXES`` (any case)."""
    name = path.name.lower()
    return any(name.endswith(s) for s in LOG_SUFFIXES)


def not_regular_reason(mode: int) -> str | None:
    """Why a file of this ``st_mode`` is not read (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    for test, kind in _KINDS:
        if test(mode):
            return f"not a regular file ({kind}): not read"
    return "not a regular file: not read"


def _walk(root: Path, stats: ReadStats) -> list[Path]:
    """Every file under ``root``, recursively; unreadable directories are rejections."""
    found: list[Path] = []
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as entries:
                items = list(entries)
        except OSError as exc:
            stats.reject(str(folder), f"cannot read directory: {exc.strerror or exc}", FILE)
            continue
        for entry in items:
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                is_link = entry.is_symlink()
            except OSError as exc:
                stats.reject(str(path), f"cannot read: {exc.strerror or exc}", FILE)
                continue
            if is_dir:
                pending.append(path)
            elif is_link and path.is_dir():
                stats.skipped.append(Skipped(str(path), "symbolic link to a directory"))
            else:
                found.append(path)
    return found


def iter_log_files(paths: Iterable[str | Path], stats: ReadStats) -> Iterator[Path]:
    """The files to read under ``paths``, in a deterministic order, each once.

    Paths are taken in the order given; a directory is walked recursively (symbolic links to
    directories are not followed) and its log files are yielded sorted by path. Files in a
    directory without a log suffix are recorded in ``stats.skipped``. A missing path, a
    directory that cannot be read and anything that is not a regular file (FIFO, device,
    socket) are rejections: never opened, so never a hang.
    """
    seen: set[Path] = set()

    def once(p: Path) -> bool:
        key = p.resolve()
        if key in seen:
            return False
        seen.add(key)
        return True

    def regular(p: Path) -> bool:
        try:
            mode = p.stat().st_mode
        except OSError:
            return True  # let the open report it (dangling link, permission...)
        reason = not_regular_reason(mode)
        if reason is not None:
            stats.reject(str(p), reason, FILE)
            return False
        return True

    for given in map(Path, paths):
        if given.is_dir():
            for p in sorted(_walk(given, stats)):
                if not has_log_suffix(p):
                    stats.skipped.append(Skipped(str(p), "not a log file suffix"))
                elif once(p) and regular(p):
                    yield p
        elif given.exists() or given.is_symlink():
            if once(given) and regular(given):
                yield given
        else:
            stats.reject(str(given), "no such file or directory", FILE)
