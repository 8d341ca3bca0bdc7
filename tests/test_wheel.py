"""The wheel, as a user gets it: built from the checkout without network, installed (not
editable) into a new virtual environment, every command run from an empty directory.

The new environment reuses the dependencies already installed in the project's ``.venv``
(no network): a ``.pth`` file points at a directory of links to ``.venv``'s site-packages
entries, leaving out the editable ses-sigma (its finder and metadata), so nothing from the
checkout can be imported by accident. The test checks that too.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from ses_sigma.pack import DEFAULT_RULES_DIR, load_pack
from ses_sigma.scan import scan

CHECKOUT = DEFAULT_RULES_DIR.parent
#: What the build reads (setup.py maps rules/, fixtures/, scenarios/, filters/ into the package).
BUILD_INPUTS = (
    "pyproject.toml",
    "setup.py",
    "README.md",
    "src",
    "rules",
    "fixtures",
    "scenarios",
    "filters",
)
EXAMPLE = "team_ses_notification_topic_changed"

pytestmark = pytest.mark.skipif(
    not (CHECKOUT / "setup.py").is_file(), reason="needs the source checkout to build from"
)


def _run(
    args: list[str], cwd: Path, env: dict[str, str], stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        args,
        cwd=cwd,
        env=env,
        input=stdin.decode("latin-1") if stdin is not None else None,
        capture_output=True,
        text=True,
        encoding="latin-1",
        timeout=600,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def _shared_site_packages(tmp: Path) -> Path:
    """Links to the project's installed dependencies, without the editable ses-sigma."""
    site = Path(sysconfig.get_paths()["purelib"])
    shared = tmp / "deps"
    shared.mkdir()
    for entry in site.iterdir():
        name = entry.name.lower()
        if name.startswith(("__editable__", "ses_sigma", "ses-sigma")) or name.endswith(".pth"):
            continue
        (shared / entry.name).symlink_to(entry)
    return shared


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment (PATH first) of a new venv holding the wheel, built offline."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    for name in BUILD_INPUTS:
        path = CHECKOUT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif path.is_file():
            shutil.copy(path, source / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
    env["PIP_NO_INDEX"] = "1"  # nothing from the network, in any pip call below
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    wheels = tmp / "wheels"
    pip = [sys.executable, "-m", "pip"]
    build = _run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)],
        tmp,
        env,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = wheels.glob("ses_sigma-*.whl")
    venv = tmp / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp, env)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    purelib = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        tmp,
        env,
    ).stdout.strip()
    Path(purelib, "project-deps.pth").write_text(f"{_shared_site_packages(tmp)}\n")
    install = _run(
        [*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)], tmp, env
    )
    assert install.returncode == 0, install.stdout + install.stderr
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env["COLUMNS"] = "200"
    for who in ("AUTHOR", "COMMITTER"):  # the README's git commit, on a machine without config
        env[f"GIT_{who}_NAME"] = "ses-sigma test"
        env[f"GIT_{who}_EMAIL"] = "test@example.com"
    # Nothing of the checkout: the package, its bundled pack and the pySigma pipeline plugin
    # (a namespace package) come from the new venv.
    where = _run(
        [
            str(python),
            "-c",
            "import importlib.resources as r, ses_sigma, sigma.pipelines.ses_cloudtrail as p; "
            "print(ses_sigma.__file__); print(r.files('ses_sigma.bundled.rules')); "
            "print(p.__file__)",
        ],
        tmp,
        env,
    )
    assert where.returncode == 0, where.stderr
    for line in where.stdout.splitlines():
        assert Path(line).is_relative_to(purelib), where.stdout
    return env


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    directory = tmp_path / "empty"
    directory.mkdir()
    return directory


def test_scan_from_an_empty_directory_gives_the_bundled_pack_alerts(
    installed: dict[str, str], empty: Path
) -> None:
    logs = CHECKOUT / "examples" / "logs"
    expected = scan([logs], load_pack()).alerts
    assert expected
    result = _run(["ses-sigma", "scan", str(logs)], empty, installed)
    assert result.returncode == 0, result.stderr
    alerts = [json.loads(line) for line in result.stdout.splitlines()]
    # JSON alerts stream out as found: the same alerts as the library's, once sorted.
    alerts.sort(key=lambda a: (a["time"], a["rule_name"], a["event_ids"]))
    assert alerts == [a.to_dict() for a in expected]
    assert re.search(r"^pack: the bundled pack of ses-sigma .+, 36 rule\(s\)$", result.stderr, re.M)
    # Standard input, gzipped, gives the same alerts.
    data = b"".join(gzip.decompress(p.read_bytes()) for p in sorted(logs.glob("*.json.gz")))
    if data:
        piped = _run(["ses-sigma", "scan", "-"], empty, installed, stdin=gzip.compress(data))
        assert piped.returncode in (0, 1), piped.stderr
    # (test, convert and report run in the team repository below, with the bundled pack)
    for command in (["check"], ["docs", "-o", "docs"]):
        result = _run(["ses-sigma", *command], empty, installed)
        assert result.returncode == 0, (command, result.stdout[-2000:], result.stderr[-2000:])
        assert "pack: the bundled pack" in result.stderr, command


def test_team_repository_workflow(installed: dict[str, str], empty: Path) -> None:
    """README "Your own detection repository", command by command (the README block is run
    as it is written)."""
    readme = (CHECKOUT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- team-workflow: [^\n]*-->\n```sh\n(.*?)```", readme, re.S)
    assert block is not None, "README has no team-workflow block"
    script = "set -euo pipefail\n" + block.group(1)
    result = _run(["bash", "-c", script], empty, installed)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    team = empty / "detections"
    assert (team / "out" / f"{EXAMPLE}.spl").is_file()
    assert (team / "out" / "aws_ses_identity_deleted.spl").is_file()  # a bundled rule
    page = (team / "docs" / "rules" / "aws_ses_identity_deleted.md").read_text(encoding="utf-8")
    assert "`ses-sigma/rules/aws_ses_identity_deleted.yml` (bundled with ses-sigma)" in page
    # A duplicated key appended to the example rule: check fails with a finding.
    rule = team / "rules" / f"{EXAMPLE}.yml"
    with rule.open("a", encoding="utf-8") as handle:
        handle.write("level: high\n")
    check = _run(["ses-sigma", "check"], team, installed)
    assert check.returncode == 1, check.stdout + check.stderr
    assert f"rules/{EXAMPLE}.yml:" in check.stdout and "yaml_duplicate_key" in check.stdout


def test_check_in_a_clone_lints_that_clone(installed: dict[str, str], tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    for name in ("rules", "fixtures", "ses-sigma.toml"):
        path = CHECKOUT / name
        if path.is_dir():
            shutil.copytree(path, clone / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, clone / name)
    rule = clone / "rules" / "aws_ses_identity_deleted.yml"
    with rule.open("a", encoding="utf-8") as handle:
        handle.write("level: low\n")
    below = clone / "rules"  # from a subdirectory too, as git finds its root
    result = _run(["ses-sigma", "check"], below, installed)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"pack: {clone.resolve() / 'ses-sigma.toml'}, 36 rule(s)" in result.stderr
    assert "aws_ses_identity_deleted.yml:" in result.stdout
    assert "yaml_duplicate_key: duplicate key 'level'" in result.stdout
