"""The shipped pre-commit configuration and example GitHub Actions workflow."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[2]
PRE_COMMIT = PROJECT / ".pre-commit-config.yaml"
WORKFLOW = PROJECT / ".github" / "workflows" / "ses-sigma.yml"

#: Actions a step may use; everything else is a `run:` step calling make.
ALLOWED_ACTIONS = {
    "actions/checkout",
    "actions/setup-python",
    "actions/cache",
    "actions/github-script",
}


def _load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


def _make_targets(command: str) -> list[str]:
    """The targets of a `make ...` command line (variable assignments left out)."""
    words = shlex.split(command)
    assert words and words[0] == "make", command
    return [w for w in words[1:] if "=" not in w and not w.startswith("-")]


def _makefile_targets() -> set[str]:
    text = (PROJECT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z][\w.-]*):", text, re.M))


def _steps(workflow: dict[Any, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job, step) for job, spec in workflow["jobs"].items() for step in spec["steps"]]


def test_pre_commit_hooks_are_local_make_targets() -> None:
    config = _load(PRE_COMMIT)
    assert [r["repo"] for r in config["repos"]] == ["local"]
    hooks = config["repos"][0]["hooks"]
    assert {h["id"] for h in hooks} == {"ses-sigma-check", "ses-sigma-format-rules"}
    targets = set()
    for hook in hooks:
        assert {"id", "name", "entry", "language", "files"} <= hook.keys(), hook
        assert hook["language"] == "system"
        assert hook["pass_filenames"] is False  # make targets check the whole pack
        targets.update(_make_targets(hook["entry"]))
        pattern = re.compile(hook["files"])
        assert pattern.search("rules/aws_ses_identity_deleted.yml")
        assert pattern.search("fixtures/_base.yml")
        assert not pattern.search("src/ses_sigma/pack.py")
    assert targets == {"check", "format-rules"}
    assert targets <= _makefile_targets()


def test_workflow_runs_only_make_targets() -> None:
    workflow = _load(WORKFLOW)
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in on
    targets: set[str] = set()
    for job, step in _steps(workflow):
        if "uses" in step:
            action = step["uses"].split("@")[0]
            assert action in ALLOWED_ACTIONS, (job, step)
            assert "@" in step["uses"], f"{step['uses']}: pin a version"
        else:
            lines = [ln for ln in step["run"].strip().split("\n") if ln.strip()]
            assert len(lines) == 1, (job, step)
            targets.update(_make_targets(lines[0]))
    assert {"check", "test", "convert", "report", "format-rules"} == targets
    assert targets <= _makefile_targets()


def test_workflow_posts_the_report_as_a_pr_comment() -> None:
    workflow = _load(WORKFLOW)
    review = workflow["jobs"]["review"]
    assert "pull_request" in review["if"]
    assert review["permissions"]["pull-requests"] == "write"
    steps = review["steps"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    report = next(s for s in steps if s.get("run", "").startswith("make report"))
    assert report["env"]["BASE"] == "${{ github.event.pull_request.base.sha }}"
    post = next(s for s in steps if s.get("uses", "").startswith("actions/github-script@"))
    assert post["with"]["github-token"] == "${{ secrets.GITHUB_TOKEN }}"
    assert post["env"]["REPORT"] == report["env"]["REPORT"]
    script = post["with"]["script"]
    assert "createComment" in script and "updateComment" in script
    # The previous comment is found by the marker every report starts with.
    from ses_sigma.review.report import MARKER

    assert f"'{MARKER}'" in script
    assert steps.index(post) > steps.index(report)
    assert post["if"] == "${{ !cancelled() }}"  # posted even when the report exits 1


@pytest.mark.parametrize("path", [PRE_COMMIT, WORKFLOW], ids=lambda p: p.name)
def test_config_files_are_in_the_pack_format(path: Path) -> None:
    from ses_sigma.lint.fileformat import check_file

    assert check_file(path) == []
