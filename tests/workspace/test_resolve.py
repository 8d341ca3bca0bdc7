"""Which pack a command works on (``ses_sigma.workspace``): explicit paths, the nearest
``ses-sigma.toml``, else the bundled pack; ``include_bundled``, ``disable``, overrides, filters.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from ses_sigma.bundled import bundled_dir
from ses_sigma.cli import main
from ses_sigma.pack import rule_key
from ses_sigma.workspace import CONFIG_FILE, ConfigError, find_config, resolve_pack

BUNDLED_RULES = bundled_dir("rules")
BUNDLED_FIXTURES = bundled_dir("fixtures")
BUNDLED_NAMES = sorted(p.stem for p in BUNDLED_RULES.glob("*.yml"))
OVERRIDDEN = "aws_ses_smtp_user_created"
DISABLED = "aws_ses_quota_increase_requested"
FILTER = """\
title: The newsletter application's long-term key is expected
id: 5d7c2a4e-3c1b-4f8e-9a61-2b7e0c9d4f10
logsource:
  product: aws
  service: cloudtrail
filter:
  rules:
    - aws_ses_discovery_long_term_key
  selection:
    userIdentity.userName: alice
  condition: not selection
"""


def write_config(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / CONFIG_FILE).write_text(text, encoding="utf-8")
    return root / CONFIG_FILE


@pytest.fixture
def team(tmp_path: Path) -> Path:
    """A team repository: its rules with the bundled pack, one bundled rule overridden (same
    name, another title), one disabled."""
    root = tmp_path / "team"
    (root / "rules").mkdir(parents=True)
    text = (BUNDLED_RULES / f"{OVERRIDDEN}.yml").read_text(encoding="utf-8")
    text = text.replace("title: ", "title: Team Version of ", 1)
    (root / "rules" / f"{OVERRIDDEN}.yml").write_text(text, encoding="utf-8")
    write_config(root, f'rules = ["rules"]\ninclude_bundled = true\ndisable = ["{DISABLED}"]\n')
    return root


def test_no_config_means_the_bundled_pack(tmp_path: Path) -> None:
    source = resolve_pack(cwd=tmp_path)
    assert source.bundled and "bundled pack" in source.origin
    assert source.rules == (BUNDLED_RULES,)
    assert source.fixtures == (BUNDLED_FIXTURES,)
    assert sorted(rule_key(r) for r in source.load()) == BUNDLED_NAMES


def test_nearest_config_up_the_tree(tmp_path: Path) -> None:
    outer = write_config(tmp_path, 'rules = ["outer"]\n')
    (tmp_path / "outer").mkdir()
    inner = write_config(tmp_path / "a", "")
    (tmp_path / "a" / "rules").mkdir()
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    assert find_config(deep) == inner.resolve()
    assert find_config(tmp_path / "outer") == outer.resolve()
    source = resolve_pack(cwd=deep)
    assert source.root == inner.parent.resolve()
    assert source.rules == ((inner.parent / "rules").resolve(),)
    assert source.fixtures == () and not source.bundled


def test_explicit_paths_win_over_the_config(team: Path) -> None:
    rule = BUNDLED_RULES / "aws_ses_identity_deleted.yml"
    source = resolve_pack([rule], cwd=team)
    assert source.rules == (rule,) and source.selection and not source.bundled
    assert "paths given" in source.origin


def test_include_bundled_override_and_disable(team: Path) -> None:
    source = resolve_pack(cwd=team)
    assert source.bundled and str(team / CONFIG_FILE) in source.origin
    assert source.disabled == tuple(sorted((DISABLED, OVERRIDDEN)))
    pack = source.load()
    names = sorted(rule_key(r) for r in pack)
    assert names == sorted(n for n in BUNDLED_NAMES if n != DISABLED)
    overriding = pack.get(OVERRIDDEN)
    assert overriding.title.startswith("Team Version of ")
    assert pack.file_of(overriding) == (team / "rules" / f"{OVERRIDDEN}.yml").resolve()
    # The bundled fixtures of the rules left out are not run or checked.
    assert set(source.ignored_fixtures) == {
        BUNDLED_FIXTURES / f"{OVERRIDDEN}.yml",
        BUNDLED_FIXTURES / f"{DISABLED}.yml",
    }
    assert "left out" in source.describe(len(pack))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('rules = ["rules"]\nnoise = 1\n', "unknown key(s) noise"),
        ('rules = ["nowhere"]\n', "'nowhere' does not exist"),
        ("rules = 'rules'\n", "rules must be a list"),
        ('disable = ["aws_ses_identity_deleted"]\n', "it needs include_bundled"),
        ('include_bundled = true\ndisable = ["no_such_rule"]\n', "no bundled rule named"),
        ("rules = [\n", "not valid TOML"),
    ],
)
def test_bad_configs_are_errors_naming_the_file(tmp_path: Path, config: str, message: str) -> None:
    path = write_config(tmp_path, config)
    (tmp_path / "rules").mkdir()
    with pytest.raises(ConfigError, match=r"ses-sigma\.toml") as info:
        resolve_pack(cwd=tmp_path)
    assert message in str(info.value)
    assert str(path.resolve()) in str(info.value)


def test_a_bad_config_is_exit_2_for_every_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, "rules = [\n")
    monkeypatch.chdir(tmp_path)
    for args in (["check"], ["test"], ["convert", "-t", "splunk"], ["scan", "-"], ["docs"]):
        result = CliRunner().invoke(main, args, input=b"")
        assert result.exit_code == 2, (args, result.output)
        assert "not valid TOML" in result.output, args
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_filters_load_with_the_rules_in_every_command(
    team: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A site filter in filters/ drops the bundled rule's alert for alice, in scan, and shows
    in convert's query: every command loads the filters together with the rules."""
    event = (
        '{"eventVersion":"1.11","eventTime":"2026-11-20T10:00:00Z","eventID":"e1",'
        '"eventSource":"ses.amazonaws.com","eventName":"GetAccount","awsRegion":"us-east-1",'
        '"userIdentity":{"type":"IAMUser","userName":"%s","accessKeyId":"AKIAEXAMPLE",'
        '"arn":"arn:aws:iam::111122223333:user/%s"}}\n'
    )
    logs = (event % ("alice", "alice")) + (event % ("bob", "bob")).replace('"e1"', '"e2"')
    monkeypatch.chdir(team)
    runner = CliRunner()

    def long_term_key_alerts() -> list[str]:
        result = runner.invoke(main, ["scan", "-"], input=logs.encode())
        assert result.exit_code == 0, result.output
        return [
            line for line in result.stdout.splitlines() if "aws_ses_discovery_long_term" in line
        ]

    assert len(long_term_key_alerts()) == 2
    before = runner.invoke(main, ["convert", "-t", "splunk", "aws_ses_discovery_long_term_key"])
    assert "alice" not in before.stdout
    (team / "filters").mkdir()
    (team / "filters" / "site.yml").write_text(FILTER, encoding="utf-8")
    (alert,) = long_term_key_alerts()
    assert '"e2"' in alert
    after = runner.invoke(main, ["convert", "-t", "splunk", "aws_ses_discovery_long_term_key"])
    assert after.exit_code == 0, after.output
    assert "alice" in after.stdout and "filters from" in after.stderr


def test_team_fixtures_run_with_the_bundled_ones(
    team: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ses-sigma test`` in a team repository: the team's cases and the bundled cases of
    the rules kept; the overridden rule's bundled cases are not run against the override."""
    fixtures = team / "fixtures"
    fixtures.mkdir()
    shutil.copy(BUNDLED_FIXTURES / "_base.yml", fixtures / "_base.yml")
    shutil.copy(BUNDLED_FIXTURES / f"{OVERRIDDEN}.yml", fixtures / f"{OVERRIDDEN}.yml")
    (team / CONFIG_FILE).write_text(
        'rules = ["rules"]\nfixtures = ["fixtures"]\ninclude_bundled = true\n'
        f'disable = ["{DISABLED}"]\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(team)
    result = CliRunner(env={"COLUMNS": None}).invoke(main, ["test"])
    assert result.exit_code == 0, result.output
    kept = len(BUNDLED_NAMES) - 1
    assert f"of {kept} rule(s)" in result.stdout.splitlines()[-1]
    check = CliRunner().invoke(main, ["check"])
    assert check.exit_code == 0, check.output


def test_a_directory_with_a_config_given_as_path_is_that_pack(team: Path, tmp_path: Path) -> None:
    """``ses-sigma check ../other-repo``: that repository's config, not this directory's."""
    here = write_config(tmp_path / "here", "")
    (here.parent / "rules").mkdir()
    source = resolve_pack([team], cwd=here.parent)
    assert source == resolve_pack(cwd=team)
    assert source.bundled and source.disabled
