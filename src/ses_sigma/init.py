"""``ses-sigma init DIR``: a new team detection repository, from ``ses_sigma.templates.team``.

It holds ``ses-sigma.toml`` (its rules together with the bundled pack), ``rules/`` with one
example rule, ``fixtures/`` with the rule's cases (must fire, must not fire) and their
``_base.yml``, a GitHub Actions workflow (check, test, convert; the report on pull requests),
a ``.pre-commit-config.yaml``, a ``.gitignore`` and a README. ``ses-sigma check`` and
``ses-sigma test`` pass in it as written.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

__all__ = ["TEMPLATE_FILES", "InitError", "init_repository"]

#: Template file (under ses_sigma/templates/team) -> where it goes in the new repository.
TEMPLATE_FILES: dict[str, str] = {
    "ses-sigma.toml": "ses-sigma.toml",
    "README.md": "README.md",
    "gitignore": ".gitignore",
    "pre-commit-config.yaml": ".pre-commit-config.yaml",
    "github-workflow.yml": ".github/workflows/ses-sigma.yml",
    "rules/team_ses_notification_topic_changed.yml": (
        "rules/team_ses_notification_topic_changed.yml"
    ),
    "fixtures/_base.yml": "fixtures/_base.yml",
    "fixtures/team_ses_notification_topic_changed.yml": (
        "fixtures/team_ses_notification_topic_changed.yml"
    ),
}


class InitError(Exception):
    """The directory cannot be made a new repository (files in the way, not writable)."""


def init_repository(directory: Path) -> list[Path]:
    """Write the team repository into ``directory`` (created if needed); the files written.

    Refuses (InitError) when any of the files already exists: nothing is overwritten.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise InitError(f"{directory} exists and is not a directory")
    targets = {src: directory / dst for src, dst in TEMPLATE_FILES.items()}
    present = sorted(str(p) for p in targets.values() if p.exists())
    if present:
        raise InitError(f"would overwrite {', '.join(present)}: nothing written")
    templates = importlib.resources.files("ses_sigma.templates") / "team"
    written: list[Path] = []
    try:
        for src, dst in targets.items():
            text = (templates / src).read_text(encoding="utf-8")
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(text, encoding="utf-8", newline="\n")
            written.append(dst)
    except OSError as exc:
        raise InitError(f"cannot write {directory}: {exc}") from None
    return written
