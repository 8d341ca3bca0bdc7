"""``ses-sigma report`` end to end on real git histories built in temporary repositories."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import (
    CHANGED_RULE,
    NEW_CASE,
    NEW_EVENT,
    change_one_rule,
    edit,
    git,
    make_pack_repo,
    report,
)

from ses_sigma.harness import collect_fixtures
from ses_sigma.review.report import MARKER

CORRELATION = "aws_ses_identity_added_then_deleted"  # refers to CHANGED_RULE


# ------------------------------------------------------------------- reading the Markdown


def section(md: str, heading: str) -> str:
    """The text of the ``### heading`` section, up to the next ``###``."""
    start = md.index(f"### {heading}\n")
    end = md.find("\n### ", start + 1)
    return md[start : end if end != -1 else len(md)]


def details(md: str, summary_start: str) -> str:
    """The body of the one <details> block whose summary starts with ``summary_start``."""
    pattern = re.compile(
        r"<details(?: open)?><summary>"
        + re.escape(summary_start)
        + r".*?</summary>\n(.*?)</details>",
        re.S,
    )
    found = pattern.findall(md)
    assert len(found) == 1, f"{len(found)} <details> blocks start with {summary_start!r}"
    return found[0]


def diff_lines(block: str) -> tuple[list[str], list[str]]:
    """(added, removed) lines of the ```diff block in ``block``, without their +/-."""
    body = re.search(r"```diff\n(.*?)\n```", block, re.S)
    assert body is not None, block
    lines = body.group(1).split("\n")
    hunks = lines[next(i for i, line in enumerate(lines) if line.startswith("@@")) :]
    added = [line[1:] for line in hunks if line.startswith("+")]
    removed = [line[1:] for line in hunks if line.startswith("-")]
    return added, removed


def table(text: str, first_header: str) -> list[list[str]]:
    """The rows (cells) of the Markdown table whose header starts with ``| first_header |``."""
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
    return rows


def rules_rows(md: str) -> dict[str, list[str]]:
    """change kind -> rule names, from the Rules table."""
    out: dict[str, list[str]] = {}
    for rule, change, _file in table(section(md, "Rules"), "rule"):
        out.setdefault(change.split(" (")[0], []).append(rule)
    return out


# --------------------------------------------------------------------------- one changed rule


def test_one_changed_rule_is_the_only_change(changed_report: str) -> None:
    md = changed_report
    assert md.startswith(MARKER + "\n")
    assert "**1 rule changed, 0 added, 0 removed" in md
    rows = rules_rows(md)
    assert rows["changed"] == [f"`{CHANGED_RULE}`"]
    assert "added" not in rows and "removed" not in rows
    # The correlation over the changed rule converts differently: it is listed as affected.
    assert rows["affected"] == [f"`{CORRELATION}`"]


def test_sigma_diff_of_the_changed_rule(changed_report: str) -> None:
    block = details(section(changed_report, f"`{CHANGED_RULE}` (changed)"), "Sigma rule")
    added, removed = diff_lines(block)
    assert added == [f"      - {NEW_EVENT}"]
    assert removed == []
    assert f"--- a/rules/{CHANGED_RULE}.yml" in block


@pytest.mark.parametrize(("target", "fmt"), [("splunk", "spl"), ("eql", "query")])
def test_query_diff_adds_the_event_name(changed_report: str, target: str, fmt: str) -> None:
    part = section(changed_report, f"`{CHANGED_RULE}` (changed)")
    added, removed = diff_lines(details(part, f"{target} {fmt}:"))
    assert any(NEW_EVENT in line for line in added), added
    assert removed and not any(NEW_EVENT in line for line in removed), removed


def test_every_target_reports_a_changed_query(changed_report: str) -> None:
    part = section(changed_report, f"`{CHANGED_RULE}` (changed)")
    rows = table(part, "target")
    targets = [r[0].strip("`") for r in rows]
    assert targets == sorted(targets) and {"splunk", "lucene", "eql", "esql", "kibana"} <= set(
        targets
    )
    for target, fmt, status in rows:
        assert status.startswith("changed (+"), (target, fmt, status)
        assert f"<summary>{target.strip('`')} {fmt}: +" in part


def test_kibana_rule_json_diff_is_per_field(changed_report: str) -> None:
    part = section(changed_report, f"`{CHANGED_RULE}` (changed)")
    added, removed = diff_lines(details(part, "kibana ndjson:"))
    # Pretty-printed JSON: only the query line of this rule changes.
    assert len(added) == len(removed) == 1
    assert added[0].lstrip().startswith('"query":')


def test_fixture_table_has_the_new_case(changed_report: str, changed_repo: Path) -> None:
    part = section(changed_report, f"`{CHANGED_RULE}` (changed)")
    rows = table(details(part, "Fixtures (head)"), "case")
    names = [r[0].removesuffix(" *(new)*") for r in rows]
    cases, problems = collect_fixtures(
        changed_repo / "fixtures", [p.stem for p in (changed_repo / "rules").glob("*.yml")]
    )
    assert not problems
    assert names == [c.name for c in cases if c.rule == CHANGED_RULE]
    new = [r for r in rows if r[0].endswith("*(new)*")]
    assert [r[0] for r in new] == [f"{NEW_CASE} *(new)*"]
    assert all(r[-1] == "pass" for r in rows)
    assert "<summary>Fixtures (head): " in part and ", 1 new</summary>" in part


def test_lint_and_attack_sections(changed_report: str) -> None:
    lint = section(changed_report, "Lint (`ses-sigma check` on the head)")
    assert "0 findings on the files of the rules above" in lint
    assert "The check passes." in lint
    attack = section(changed_report, "ATT&CK coverage (vendored ATT&CK 17.0)")
    assert "- Gained: none" in attack and "- Lost: none" in attack
    rows = {r[0]: r for r in table(attack, "technique")}
    assert rows["`T1070`"][1] == "Indicator Removal"
    assert f"`{CHANGED_RULE}`" in rows["`T1070`"][2] and f"`{CHANGED_RULE}`" in rows["`T1070`"][3]


def test_head_ref_gives_the_same_review_as_the_work_tree(
    changed_repo: Path, changed_report: str
) -> None:
    result = report("--base", "main", "--head", "change", "--pack", changed_repo)
    assert result.exit_code == 0, result.stderr
    head_line = "Base `main` ("
    ours = [line for line in result.stdout.split("\n") if not line.startswith(head_line)]
    theirs = [line for line in changed_report.split("\n") if not line.startswith(head_line)]
    assert ours == theirs
    assert "→ head `change` (" in result.stdout
    assert "→ head the working tree." in changed_report


def test_size_bound_cuts_diffs_with_a_note(changed_repo: Path) -> None:
    result = report("--base", "main", "--pack", changed_repo, "--max-chars", "6000")
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout) <= 6000
    assert "to fit a comment" in result.stdout
    assert result.stdout.count("<details") == result.stdout.count("</details>")
    assert result.stdout.count("```") % 2 == 0


# ------------------------------------------------------------------ work tree, determinism


def test_uncommitted_change_deterministic_and_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pack = make_pack_repo(tmp_path / "repo", subdir="detections")
    change_one_rule(pack)  # left in the work tree
    repo = tmp_path / "repo"
    status = git(repo, "status", "--porcelain")
    index = (repo / ".git" / "index").read_bytes()
    monkeypatch.chdir(pack)  # --pack defaults to the current directory
    first = report("--base", "main")
    second = report("--base", "main", "--output", tmp_path / "out.md")
    assert first.exit_code == 0 and second.exit_code == 0, first.stderr + second.stderr
    assert (tmp_path / "out.md").read_bytes() == first.stdout.encode("utf-8")
    assert rules_rows(first.stdout)["changed"] == [f"`{CHANGED_RULE}`"]
    assert f"--- a/rules/{CHANGED_RULE}.yml" in first.stdout  # relative to the pack directory
    assert str(tmp_path) not in first.stdout and "ses-sigma-review-" not in first.stdout
    assert git(repo, "status", "--porcelain") == status
    assert (repo / ".git" / "index").read_bytes() == index
    assert git(repo, "worktree", "list").count("\n") == 1


# ---------------------------------------------------------------- added, removed, renamed


ADDED = "aws_ses_identity_deleted_copy"
REMOVED = "aws_ses_receipt_rule_changed"  # the only T1114.003 rule
MOVED = "aws_ses_identity_created"  # file moved, rule name kept
RENAMED_FROM = "aws_ses_discovery_long_term_key"  # rule name changed, id kept
RENAMED_TO = "aws_ses_discovery_akia_key"
FIXTURES_ONLY = "aws_ses_enumeration_new_principal"


@pytest.fixture(scope="module")
def reshaped_report(tmp_path_factory: pytest.TempPathFactory) -> str:
    pack = make_pack_repo(tmp_path_factory.mktemp("reshaped") / "repo")
    git(pack, "checkout", "-q", "-b", "reshape")
    git(pack, "rm", "-q", f"rules/{REMOVED}.yml", f"fixtures/{REMOVED}.yml")
    # An added rule: a copy of CHANGED_RULE with its own name, id and technique (T1078).
    text = (pack / "rules" / f"{CHANGED_RULE}.yml").read_text(encoding="utf-8")
    new = pack / "rules" / f"{ADDED}.yml"
    new.write_text(text, encoding="utf-8")
    edit(new, f"name: {CHANGED_RULE}\n", f"name: {ADDED}\n")
    edit(
        new,
        "id: be7f7a63-c9e1-4f11-9a0f-0f7277506925\n",
        "id: 0c8f54a4-5d0e-4a57-9a62-1f4c1f0d2b11\n",
    )
    edit(new, "  - attack.t1070\n", "  - attack.t1078\n")
    shutil.copy(pack / "fixtures" / f"{CHANGED_RULE}.yml", pack / "fixtures" / f"{ADDED}.yml")
    git(pack, "mv", f"rules/{MOVED}.yml", "rules/ses_created.yml")
    git(pack, "mv", f"rules/{RENAMED_FROM}.yml", f"rules/{RENAMED_TO}.yml")
    git(pack, "mv", f"fixtures/{RENAMED_FROM}.yml", f"fixtures/{RENAMED_TO}.yml")
    edit(pack / "rules" / f"{RENAMED_TO}.yml", f"name: {RENAMED_FROM}\n", f"name: {RENAMED_TO}\n")
    # The fixtures' site filter names the rule: it follows the rename.
    edit(
        pack / "fixtures" / "_filters" / "known_monitoring_keys.yml",
        f"- {RENAMED_FROM}\n",
        f"- {RENAMED_TO}\n",
    )
    # Only the fixtures of FIXTURES_ONLY change: a case whose expectation is wrong.
    fixture = pack / "fixtures" / f"{FIXTURES_ONLY}.yml"
    fixture.write_text(
        fixture.read_text(encoding="utf-8").rstrip("\n")
        + """

  - name: wrong expectation
    why: A deletion is not enumeration; the case expects an alert all the same.
    events:
      - base: ses_delete_identity
        eventID: e0e0e0e0-0999-4000-8000-000000000001
        eventTime: "2026-11-20T10:00:00Z"
    expect:
      - event_ids: [e0e0e0e0-0999-4000-8000-000000000001]
""",
        encoding="utf-8",
    )
    git(pack, "add", "-A")
    git(pack, "commit", "-q", "-m", "reshape the pack")
    result = report("--base", "main", "--head", "reshape", "--pack", pack)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_added_removed_and_renamed_rules(reshaped_report: str) -> None:
    rows = rules_rows(reshaped_report)
    assert rows["added"] == [f"`{ADDED}`"]
    assert rows["removed"] == [f"`{REMOVED}`"]
    # A moved file and a renamed rule with the same id are changes, not additions + removals.
    assert sorted(rows["changed"]) == sorted([f"`{MOVED}`", f"`{RENAMED_FROM}` → `{RENAMED_TO}`"])
    assert "**2 rules changed, 1 added, 1 removed" in reshaped_report
    moved = section(reshaped_report, f"`{MOVED}` (changed)")
    assert (
        f"File moved: `rules/{MOVED}.yml` → `rules/ses_created.yml`; its content is unchanged."
        in moved
    )
    renamed = section(reshaped_report, f"`{RENAMED_TO}` (changed)")
    assert f"Renamed from `{RENAMED_FROM}` (same id)." in renamed
    added, removed = diff_lines(details(renamed, "Sigma rule"))
    assert added == [f"name: {RENAMED_TO}"] and removed == [f"name: {RENAMED_FROM}"]


def test_fixture_only_change_shows_the_failing_case(reshaped_report: str) -> None:
    assert rules_rows(reshaped_report)["fixtures changed"] == [f"`{FIXTURES_ONLY}`"]
    part = section(reshaped_report, f"`{FIXTURES_ONLY}` (fixtures changed)")
    assert "**Converted queries**" not in part and "Sigma rule" not in part
    assert "<details open><summary>Fixtures (head): " in part  # unfolded: a case fails
    rows = {r[0]: r for r in table(details(part, "Fixtures (head)"), "case")}
    failing = [name for name, r in rows.items() if r[-1] != "pass"]
    assert failing == ["wrong expectation *(new)*"]
    assert rows["wrong expectation *(new)*"][-1] == "**FAIL**<br>" + "; ".join(
        f"got ({order} order): none" for order in ("given", "reversed", "shuffled")
    )
    assert f"fixtures: **1 of {_cases(reshaped_report)} cases fail**" in reshaped_report


def _cases(md: str) -> int:
    """Total number of fixture cases in the report's fixture tables."""
    return sum(int(n) for n in re.findall(r"<summary>Fixtures \(head\): (\d+) cases?", md))


def test_added_rule_converts_and_runs_its_fixtures(reshaped_report: str) -> None:
    part = section(reshaped_report, f"`{ADDED}` (added)")
    added, removed = diff_lines(details(part, "Sigma rule"))
    assert removed == [] and f"name: {ADDED}" in added
    statuses = {r[0].strip("`"): r[2] for r in table(part, "target")}
    assert statuses["splunk"] == statuses["eql"] == "converted"
    spl_added, spl_removed = diff_lines(details(part, "splunk spl:"))
    assert spl_removed == [] and any("DeleteIdentity" in line for line in spl_added)
    rows = table(details(part, "Fixtures (head)"), "case")
    assert rows and all(r[-1] == "pass" for r in rows)
    assert not any("*(new)*" in r[0] for r in rows)  # every case of an added rule is new


def test_lint_lists_findings_of_the_touched_rules(reshaped_report: str) -> None:
    lint = section(reshaped_report, "Lint (`ses-sigma check` on the head)")
    rows = table(lint, "where")
    # rules/ses_created.yml does not carry its rule's name: the pack's convention.
    assert any(
        r[0].startswith("rules/ses_created.yml:") and r[1] == "`ses_file_name`" for r in rows
    )
    assert "The check **fails**." in lint


def test_attack_coverage_gained_and_lost(reshaped_report: str) -> None:
    attack = section(reshaped_report, "ATT&CK coverage (vendored ATT&CK 17.0)")
    assert f"- Gained: `T1078` Valid Accounts (`{ADDED}`)" in attack
    assert f"- Lost: `T1114.003` Email Forwarding Rule (was `{REMOVED}`)" in attack
    rows = {r[0]: r for r in table(attack, "technique")}
    assert rows["`T1526`"][2:] == [
        f"`{RENAMED_FROM}`, `aws_ses_enumeration_new_principal`",
        f"`{RENAMED_TO}`, `aws_ses_enumeration_new_principal`",
    ]
    assert "ATT&CK: 1 technique(s) gained, 1 lost" in reshaped_report


# --------------------------------------------------------------------------- failures


def test_missing_ref_exits_2_with_a_clear_message(changed_repo: Path) -> None:
    result = report("--base", "no-such-branch", "--pack", changed_repo)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "git ref 'no-such-branch' does not exist" in result.stderr
    assert "fetch-depth: 0" in result.stderr
    result = report("--base", "main", "--head", "nope^", "--pack", changed_repo)
    assert result.exit_code == 2 and "git ref 'nope^' does not exist" in result.stderr


def test_outside_a_git_repository_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    (tmp_path / "pack").mkdir()
    result = report("--base", "main", "--pack", tmp_path / "pack")
    assert result.exit_code == 2
    assert "is not in a git work tree" in result.stderr
    assert result.stdout == ""


def test_head_pack_that_does_not_load_is_reported_and_exits_1(tmp_path: Path) -> None:
    pack = make_pack_repo(tmp_path / "repo")
    edit(pack / "rules" / f"{CHANGED_RULE}.yml", "level: low\n", "level: [low\n")
    result = report("--base", "main", "--pack", pack)
    assert result.exit_code == 1
    md = result.stdout
    assert "> [!WARNING]" in md
    assert "> - the pack does not load at the working tree:" in md
    assert f"rules/{CHANGED_RULE}.yml" in md and str(tmp_path) not in md
    added, removed = diff_lines(details(md, "Sigma rule"))
    assert added == ["level: [low"] and removed == ["level: low"]
    assert "ATT&CK: **not compared**" in md
    assert "fixtures: **not run**" in md
    assert "error: the pack does not load at the working tree" in result.stderr


def test_rule_the_matcher_refuses_is_reported_and_exits_1(tmp_path: Path) -> None:
    pack = make_pack_repo(tmp_path / "repo")
    edit(pack / "rules" / f"{CHANGED_RULE}.yml", "  condition: selection\n", "  condition: sel\n")
    result = report("--base", "main", "--pack", pack)
    assert result.exit_code == 1
    md = result.stdout
    assert "> - fixture cases did not run: a rule cannot be evaluated faithfully" in md
    part = section(md, f"`{CHANGED_RULE}` (changed)")
    statuses = {r[0].strip("`"): r[2] for r in table(part, "target")}
    assert all(s.startswith("now refused") for s in statuses.values()), statuses
    assert "<summary>splunk spl:" not in part  # no diff of a query that is gone


def test_merge_base_leaves_out_what_the_base_branch_did_since(tmp_path: Path) -> None:
    pack = make_pack_repo(tmp_path / "repo")
    git(pack, "checkout", "-q", "-b", "change")
    change_one_rule(pack)
    git(pack, "commit", "-q", "-a", "-m", "the branch's change")
    git(pack, "checkout", "-q", "main")
    edit(
        pack / "rules" / "aws_ses_identity_created.yml", "status: experimental\n", "status: test\n"
    )
    git(pack, "commit", "-q", "-a", "-m", "main moves on")
    git(pack, "checkout", "-q", "change")
    direct = report("--base", "main", "--pack", pack)
    assert direct.exit_code == 0, direct.stderr
    assert sorted(rules_rows(direct.stdout)["changed"]) == [
        "`aws_ses_identity_created`",
        f"`{CHANGED_RULE}`",
    ]
    merged = report("--base", "main", "--merge-base", "--pack", pack)
    assert merged.exit_code == 0, merged.stderr
    assert rules_rows(merged.stdout)["changed"] == [f"`{CHANGED_RULE}`"]
    fork_point = git(pack, "merge-base", "main", "change").strip()
    assert f"Base the merge base of `main` ({fork_point[:12]})" in merged.stdout
