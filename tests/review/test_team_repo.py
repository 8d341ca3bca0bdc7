"""``ses-sigma report`` in a team repository: each side reviewed with the pack its own
``ses-sigma.toml`` names (other directories, site filters, the bundled rules with ``disable``
and overrides), on real git histories built in temporary repositories."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import PROJECT, edit, git, report
from test_report import details, diff_lines, rules_rows, section, table

from ses_sigma.bundled import bundled_dir
from ses_sigma.init import init_repository
from ses_sigma.review.snapshot import load_snapshot

#: One xdist worker builds each module-scoped history (``make test`` runs --dist loadgroup).
pytestmark = [pytest.mark.xdist_group("review-team")]

TEAM_RULE = "team_ses_notification_topic_changed"  # written by `ses-sigma init`
BUNDLED_FILTERED = "aws_ses_discovery_long_term_key"
DISABLED = "aws_ses_quota_increase_requested"
OVERRIDDEN = "aws_ses_identity_deleted"
CORRELATION = "aws_ses_identity_added_then_deleted"  # over OVERRIDDEN

FILTER = f"""title: The mail administrator
id: 6d0b7f4e-3f7a-4a55-9a51-3c1f4d2e8b10
name: filter_mail_admin
status: experimental
description: The mail administrator's own SES changes.
author: review test
date: 2026-12-05
logsource:
  product: aws
  service: cloudtrail
filter:
  rules:
    - {TEAM_RULE}
  mail_admin:
    userIdentity.arn: arn:aws:iam::111122223333:user/bob
  condition: not mail_admin
"""


def team_repo(repo: Path) -> Path:
    """A repository made by ``ses-sigma init`` (include_bundled = true), committed on main."""
    init_repository(repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "detection rules")
    return repo


def pack_rule_count(md: str) -> str:
    return md.split("Pack ", 1)[1].split("\n", 1)[0]


# ------------------------------------------------------------------------- a filter change


@pytest.fixture(scope="module")
def filter_report(tmp_path_factory: pytest.TempPathFactory) -> str:
    """main: the filter on the team rule for bob; branch: for alice (the principal of the
    rule's firing case), and on a bundled rule too."""
    repo = team_repo(tmp_path_factory.mktemp("filters") / "repo")
    (repo / "filters").mkdir()
    (repo / "filters" / "mail_admin.yml").write_text(FILTER, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "site filter")
    git(repo, "checkout", "-q", "-b", "tune")
    path = repo / "filters" / "mail_admin.yml"
    edit(path, "user/bob\n", "user/alice\n")
    edit(path, f"    - {TEAM_RULE}\n", f"    - {TEAM_RULE}\n    - {BUNDLED_FILTERED}\n")
    git(repo, "commit", "-q", "-a", "-m", "tune the filter")
    result = report("--base", "main", "--pack", repo)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_filter_change_is_shown_with_its_diff(filter_report: str) -> None:
    md = filter_report
    assert "1 filter file changed" in md
    part = section(md, "Filters (site tuning)")
    assert (
        f"- `filters/mail_admin.yml` (changed): applies to `{TEAM_RULE}` → "
        f"`{BUNDLED_FILTERED}`, `{TEAM_RULE}`" in part
    )
    added, removed = diff_lines(details(part, "filters/mail_admin.yml:"))
    assert sorted(added) == sorted(
        ["    userIdentity.arn: arn:aws:iam::111122223333:user/alice", f"    - {BUNDLED_FILTERED}"]
    )
    assert removed == ["    userIdentity.arn: arn:aws:iam::111122223333:user/bob"]


def test_rules_under_a_changed_filter_count_as_changed(filter_report: str) -> None:
    rows = rules_rows(filter_report)
    assert sorted(rows["changed"]) == [f"`{BUNDLED_FILTERED}`", f"`{TEAM_RULE}`"]
    assert "**2 rules changed, 0 added, 0 removed" in filter_report
    change = {r[0]: r[1] for r in table(section(filter_report, "Rules"), "rule")}
    assert change[f"`{TEAM_RULE}`"] == "changed (1 filter `filters/mail_admin.yml`)"
    # the bundled rule's file is named as the bundled pack's, the same on both sides
    files = {r[0]: r[2] for r in table(section(filter_report, "Rules"), "rule")}
    assert files[f"`{BUNDLED_FILTERED}`"] == f"&lt;bundled&gt;/rules/{BUNDLED_FILTERED}.yml"
    part = section(filter_report, f"`{TEAM_RULE}` (changed)")
    assert "Site filter(s) applied to this rule changed (the rule file is unchanged)" in part
    assert "<summary>Sigma rule" not in part  # the rule file is the same


def test_query_diffs_are_the_filtered_rules(filter_report: str) -> None:
    team = section(filter_report, f"`{TEAM_RULE}` (changed)")
    added, removed = diff_lines(details(team, "splunk spl:"))
    assert any("user/alice" in line for line in added), added
    assert any("user/bob" in line for line in removed), removed
    bundled = section(filter_report, f"`{BUNDLED_FILTERED}` (changed)")
    added, removed = diff_lines(details(bundled, "splunk spl:"))
    assert any("user/alice" in line for line in added) and not any(
        "user/alice" in line for line in removed
    )
    statuses = [r[2] for r in table(bundled, "target")]
    assert statuses and all(s.startswith("changed (+") for s in statuses), statuses


def test_fixture_results_are_the_filtered_rules(filter_report: str) -> None:
    # The team rule's firing case is alice's call: the filtered rule no longer fires on it.
    part = section(filter_report, f"`{TEAM_RULE}` (changed)")
    assert "<details open><summary>Fixtures (head): 3 cases, 2 pass, 1 FAIL" in part
    rows = {r[0]: r[-1] for r in table(details(part, "Fixtures (head)"), "case")}
    assert rows["bounce topic pointed elsewhere"].startswith("**FAIL**<br>got (given order): none")
    assert rows["refused call does not fire"] == "pass"
    # The bundled rule's cases come from the bundled fixtures, whose records are alice's
    # calls too: the filter silences them, and the review says so.
    bundled = section(filter_report, f"`{BUNDLED_FILTERED}` (changed)")
    rows = {r[0]: r[-1] for r in table(details(bundled, "Fixtures (head)"), "case")}
    assert rows["v2 GetAccount with an IAM user key"].startswith("**FAIL**")
    assert rows["assumed role with a temporary key is quiet"] == "pass"
    assert "<details open><summary>Fixtures (head): " in bundled


# ------------------------------------------------------------ a config with other directories


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The pack directory ``team/`` of a repository: rules in ``sigma/aws`` and in the shared
    ``../shared/sigma``, fixtures in ``tests/fixtures``, no bundled rules. The branch changes
    the shared rule and adds a fixture case."""
    repo = tmp_path_factory.mktemp("elsewhere") / "repo"
    scratch = repo.parent / "scratch"
    init_repository(scratch)
    pack = repo / "team"
    (pack / "sigma" / "aws").mkdir(parents=True)
    (repo / "shared" / "sigma").mkdir(parents=True)
    (pack / "tests").mkdir()
    shutil.copytree(scratch / "fixtures", pack / "tests" / "fixtures")
    shutil.move(scratch / "rules" / f"{TEAM_RULE}.yml", repo / "shared" / "sigma")
    for name in ("aws_ses_receipt_rule_changed", "aws_ses_configuration_set_deleted"):
        shutil.copy(PROJECT / "rules" / f"{name}.yml", pack / "sigma" / "aws")
        shutil.copy(PROJECT / "fixtures" / f"{name}.yml", pack / "tests" / "fixtures")
    # The ses-sigma fixtures' records (the team rule's cases start from two of them too).
    shutil.copy(PROJECT / "fixtures" / "_base.yml", pack / "tests" / "fixtures" / "_base.yml")
    (pack / "ses-sigma.toml").write_text(
        'rules = ["sigma/aws", "../shared/sigma"]\nfixtures = ["tests/fixtures"]\n',
        encoding="utf-8",
    )
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "team pack elsewhere")
    git(repo, "checkout", "-q", "-b", "change")
    edit(
        repo / "shared" / "sigma" / f"{TEAM_RULE}.yml",
        "    eventName: SetIdentityNotificationTopic\n",
        "    eventName:\n      - SetIdentityNotificationTopic\n"
        "      - SetIdentityHeadersInNotificationsEnabled\n",
    )
    fixture = pack / "tests" / "fixtures" / f"{TEAM_RULE}.yml"
    fixture.write_text(
        fixture.read_text(encoding="utf-8").rstrip("\n")
        + """

  - name: headers switched on
    why: The branch watches the headers call too.
    events:
      - base: ses_set_identity_notification_topic
        eventID: 7e000000-0009-4000-8000-000000000001
        eventTime: "2026-12-01T10:00:00Z"
        eventName: SetIdentityHeadersInNotificationsEnabled
    expect:
      - event_ids: [7e000000-0009-4000-8000-000000000001]
""",
        encoding="utf-8",
    )
    git(repo, "commit", "-q", "-a", "-m", "watch the headers call")
    result = report("--base", "main", "--head", "change", "--pack", pack)
    assert result.exit_code == 0, result.stderr
    return pack, result.stdout


def test_config_with_other_directories_is_reviewed(elsewhere: tuple[Path, str]) -> None:
    pack, md = elsewhere
    rows = rules_rows(md)
    assert rows == {"changed": [f"`{TEAM_RULE}`"]}
    assert "Pack (both sides): `ses-sigma.toml`: 3 rule(s)." in md  # no bundled rules
    part = section(md, f"`{TEAM_RULE}` (changed)")
    block = details(part, "Sigma rule")
    assert f"--- a/../shared/sigma/{TEAM_RULE}.yml" in block
    added, removed = diff_lines(block)
    assert removed == ["    eventName: SetIdentityNotificationTopic"]
    assert "      - SetIdentityHeadersInNotificationsEnabled" in added
    fixtures = table(details(part, "Fixtures (head)"), "case")
    assert [r[0] for r in fixtures if r[0].endswith("*(new)*")] == ["headers switched on *(new)*"]
    assert all(r[-1] == "pass" for r in fixtures) and len(fixtures) == 4
    lint = section(md, "Lint (`ses-sigma check` on the head)")
    assert "The check passes." in lint
    assert str(pack) not in md and "ses-sigma-review-" not in md


# -------------------------------------------------------- disabled and overridden bundled rules


@pytest.fixture(scope="module")
def bundled_change(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The branch disables one bundled rule and overrides another (one more eventName) with
    its fixtures, uncommitted in the work tree."""
    repo = team_repo(tmp_path_factory.mktemp("bundled") / "repo")
    rules, fixtures = bundled_dir("rules"), bundled_dir("fixtures")
    assert rules is not None and fixtures is not None
    edit(repo / "ses-sigma.toml", "disable = []\n", f'disable = ["{DISABLED}"]\n')
    shutil.copy(rules / f"{OVERRIDDEN}.yml", repo / "rules")
    edit(
        repo / "rules" / f"{OVERRIDDEN}.yml",
        "      - DeleteVerifiedEmailAddress\n",
        "      - DeleteVerifiedEmailAddress\n      - DeleteEmailTemplate\n",
    )
    # Its cases build on the bundled fixtures' records: the team's _base.yml gets them.
    shutil.copy(fixtures / f"{OVERRIDDEN}.yml", repo / "fixtures")
    shutil.copy(fixtures / "_base.yml", repo / "fixtures" / "_base.yml")
    result = report("--base", "main", "--pack", repo)
    assert result.exit_code == 0, result.stderr
    return repo, result.stdout


def test_disabled_bundled_rule_is_removed_with_a_note(bundled_change: tuple[Path, str]) -> None:
    _, md = bundled_change
    rows = {r[0]: r[1] for r in table(section(md, "Rules"), "rule")}
    assert rows[f"`{DISABLED}`"] == (
        "removed (bundled rule, now disabled (`disable` in ses-sigma.toml))"
    )
    config = section(md, "Configuration (`ses-sigma.toml`)")
    added, removed = diff_lines(details(config, "ses-sigma.toml:"))
    assert added == [f'disable = ["{DISABLED}"]'] and removed == ["disable = []"]
    assert "configuration changed" in md
    assert f"bundled disabled: `{DISABLED}`; bundled overridden: `{OVERRIDDEN}`" in md


def test_overridden_bundled_rule_is_changed_with_a_note(bundled_change: tuple[Path, str]) -> None:
    _, md = bundled_change
    kinds = rules_rows(md)
    assert kinds["changed"] == [f"`{OVERRIDDEN}`"]
    assert kinds["removed"] == [f"`{DISABLED}`"]
    assert kinds["affected"] == [f"`{CORRELATION}`"]
    # The team's _base.yml changed: its rule's cases are run again.
    assert kinds["fixtures changed"] == [f"`{TEAM_RULE}`"]
    assert "added" not in kinds
    part = section(md, f"`{OVERRIDDEN}` (changed)")
    assert "*The repository's rule now overrides the bundled rule of this name.*" in part
    block = details(part, "Sigma rule")
    # The diff is the bundled rule's text against the team's: only the added eventName.
    assert f"--- a/<bundled>/rules/{OVERRIDDEN}.yml" in block
    assert f"+++ b/rules/{OVERRIDDEN}.yml" in block
    added, removed = diff_lines(block)
    assert added == ["      - DeleteEmailTemplate"] and removed == []
    added, _ = diff_lines(details(part, "splunk spl:"))
    assert any("DeleteEmailTemplate" in line for line in added)
    # The team's fixture file runs (the bundled one is left out): every case passes.
    rows = table(details(part, "Fixtures (head)"), "case")
    assert rows and all(r[-1] == "pass" for r in rows)


def test_working_tree_is_left_as_it_was(bundled_change: tuple[Path, str]) -> None:
    repo, md = bundled_change
    status = git(repo, "status", "--porcelain")
    assert " M ses-sigma.toml" in status and f"?? rules/{OVERRIDDEN}.yml" in status
    assert str(repo) not in md and "ses-sigma-review-" not in md
    assert str(PROJECT) not in md  # the installed ses-sigma's path is not in the comment


def test_a_config_that_does_not_resolve_is_an_error_naming_it(tmp_path: Path) -> None:
    repo = team_repo(tmp_path / "repo")
    edit(repo / "ses-sigma.toml", "disable = []\n", 'disable = ["no_such_rule"]\n')
    result = report("--base", "main", "--pack", repo)
    assert result.exit_code == 1
    assert "> - ses-sigma.toml does not resolve at the working tree:" in result.stdout
    assert "disable: no bundled rule named 'no_such_rule'" in result.stdout
    assert "error: ses-sigma.toml does not resolve at the working tree" in result.stderr
    assert "lint: **not run**" in result.stdout


# --------------------------------------------------------------- ses-sigma's own checkout


def test_the_checkout_is_its_own_rules_and_fixtures() -> None:
    """ses-sigma's checkout has a ses-sigma.toml (rules, fixtures; filters/ holds only inactive
    examples): its snapshot is the rules/ and fixtures/ the report always reviewed there."""
    snap = load_snapshot(PROJECT, "the checkout")
    assert snap.side is not None and snap.side.config == "ses-sigma.toml"
    assert not snap.side.include_bundled and snap.load_error is None
    files = sorted(p.relative_to(PROJECT).as_posix() for p in (PROJECT / "rules").glob("*.yml"))
    assert sorted(r.file for r in snap.rules.values()) == files
    assert not any(r.bundled for r in snap.rules.values())
    assert snap.filters == () and snap.applied == {}
    assert all(snap.fixture_file(k) == f"fixtures/{k}.yml" for k in snap.rules)


# ------------------------------------------------------------------ files outside the repository

SECRET = "aws_secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.mark.parametrize("how", ["config path", "symlink"])
def test_files_outside_the_repository_are_not_read(tmp_path: Path, how: str) -> None:
    """The comment is posted where the pull request's author reads it: a config path or a
    link leading out of the repository refuses that side instead of showing the file."""
    repo = team_repo(tmp_path / "repo")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "credentials.yml").write_text(SECRET + "\n", encoding="utf-8")
    if how == "config path":
        edit(repo / "ses-sigma.toml", 'rules = ["rules"]\n', 'rules = ["rules", "../outside"]\n')
        why = "ses-sigma.toml: '../outside' is outside the git repository"
    else:
        (repo / "rules" / "credentials.yml").symlink_to(outside / "credentials.yml")
        why = "rules/credentials.yml: leads out of the repository"
    result = report("--base", "main", "--pack", repo)
    assert result.exit_code == 1
    assert SECRET not in result.stdout and "wJalrXUtnFEMI" not in result.stdout
    assert "> - ses-sigma.toml does not resolve at the working tree:" in result.stdout
    assert why in result.stdout
    assert "lint: **not run**" in result.stdout
