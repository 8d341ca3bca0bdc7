"""The rule pack shipped with ses-sigma, as package data (``importlib.resources``).

``ses_sigma.bundled.rules``, ``.fixtures`` and ``.scenarios`` are the repository's top-level
``rules/``, ``fixtures/`` and ``scenarios/`` (the campaign replays ``ses-sigma eval`` and the
docs use), and ``ses_sigma.bundled.filters`` its ``filters/`` when there is one, mapped into
this package by ``setup.py`` (``package_dir``): the same files in a checkout, an editable
install and an installed wheel.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

__all__ = ["BundledDataError", "bundled_dir"]

PARTS = ("rules", "fixtures", "scenarios", "filters")


class BundledDataError(RuntimeError):
    """The installed ses-sigma lacks its bundled pack (a broken or partial install)."""


def bundled_dir(part: str) -> Path | None:
    """The directory of the bundled ``rules``, ``fixtures``, ``scenarios`` or ``filters``;
    None when this install has no such part (``filters`` is optional)."""
    if part not in PARTS:
        raise ValueError(f"unknown bundled part {part!r} (one of {', '.join(PARTS)})")
    try:
        found = importlib.resources.files(f"{__name__}.{part}")
    except ModuleNotFoundError:
        if part == "filters":
            return None
        raise BundledDataError(
            f"this ses-sigma install has no bundled {part} ({__name__}.{part}): reinstall it"
        ) from None
    if not isinstance(found, Path):
        # Installed as a zip: pySigma and the linter read rule files from paths.
        raise BundledDataError(f"the bundled {part} are not on the file system ({found})")
    return found
