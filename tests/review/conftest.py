"""Git histories of the pack built in temporary repositories, for ``ses-sigma report``."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ses_sigma.cli import main

PROJECT = Path(__file__).resolve().parents[2]

#: Fixed identities and dates (commit ids are then the same on every run); no user or system
#: git configuration (signing, hooks, templates) can interfere.
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Review Test",
    "GIT_AUTHOR_EMAIL": "review@example.org",
    "GIT_COMMITTER_NAME": "Review Test",
    "GIT_COMMITTER_EMAIL": "review@example.org",
    "GIT_AUTHOR_DATE": "2026-11-25T10:00:00+00:00",
    "GIT_COMMITTER_DATE": "2026-11-25T10:00:00+00:00",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` with the test identity; stdout."""
    done = subprocess.run(
        ["git", *args], cwd=repo, env=GIT_ENV, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


def make_pack_repo(repo: Path, subdir: str = "") -> Path:
    """A git repository whose first commit on ``main`` holds the pack's rules/ and fixtures/
    (under ``subdir`` if given); returns the pack directory."""
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    pack = repo / subdir if subdir else repo
    for name in ("rules", "fixtures"):
        shutil.copytree(PROJECT / name, pack / name)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the pack")
    return pack


def edit(path: Path, old: str, new: str) -> None:
    """Replace ``old`` (which must occur once) with ``new`` in a file."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path}: {old!r} occurs {text.count(old)} times"
    path.write_text(text.replace(old, new), encoding="utf-8")


#: The change of the basic scenario: one more eventName in aws_ses_identity_deleted...
NEW_EVENT = "DeleteEmailTemplate"
CHANGED_RULE = "aws_ses_identity_deleted"
#: ...and a fixture case that proves it fires.
NEW_CASE = "DeleteEmailTemplate succeeds"


def change_one_rule(pack: Path) -> None:
    """Add NEW_EVENT to CHANGED_RULE's eventName list and a case for it to its fixtures."""
    edit(
        pack / "rules" / f"{CHANGED_RULE}.yml",
        "      - DeleteVerifiedEmailAddress\n",
        f"      - DeleteVerifiedEmailAddress\n      - {NEW_EVENT}\n",
    )
    fixture = pack / "fixtures" / f"{CHANGED_RULE}.yml"
    text = fixture.read_text(encoding="utf-8").rstrip("\n")
    fixture.write_text(
        text
        + f"""

  - name: {NEW_CASE}
    why: The eventName the branch adds fires.
    events:
      - base: ses_delete_identity
        eventID: de1e7ed0-0999-4000-8000-000000000001
        eventTime: "2026-11-20T10:00:00Z"
        eventName: {NEW_EVENT}
    expect:
      - event_ids: [de1e7ed0-0999-4000-8000-000000000001]
""",
        encoding="utf-8",
    )


def report(*args: str | Path) -> Result:
    """``ses-sigma report ARGS`` through click's runner."""
    return CliRunner().invoke(main, ["report", *map(str, args)], catch_exceptions=False)


@pytest.fixture(scope="module")
def changed_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """main: the pack; branch ``change`` (checked out): CHANGED_RULE with NEW_EVENT and its
    new case, committed."""
    pack = make_pack_repo(tmp_path_factory.mktemp("changed") / "repo")
    git(pack, "checkout", "-q", "-b", "change")
    change_one_rule(pack)
    git(pack, "commit", "-q", "-a", "-m", "deleted: DeleteEmailTemplate")
    return pack


@pytest.fixture(scope="module")
def changed_report(changed_repo: Path) -> str:
    """The report of the working tree of ``changed_repo`` against main."""
    result = report("--base", "main", "--pack", changed_repo)
    assert result.exit_code == 0, result.stderr
    return result.stdout
