"""The parts of ``ses-sigma report``: pairing rules, diffs, coverage, git plumbing, the size
bound of the Markdown."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import PROJECT, git, make_pack_repo

from ses_sigma.review.build import build_review
from ses_sigma.review.diff import Kind, compare, coverage, diff_counts, unified_diff
from ses_sigma.review.gitrefs import (
    UnknownRef,
    export_tree,
    locate,
    resolve_commit,
)
from ses_sigma.review.report import render
from ses_sigma.review.snapshot import RuleInfo, Snapshot, load_snapshot

# --------------------------------------------------------------------------- pairing


def snap(rules: list[RuleInfo], files: dict[str, bytes]) -> Snapshot:
    return Snapshot(label="x", root=Path("."), files=files, rules={r.key: r for r in rules})


def rule(key: str, file: str | None = None, id_: str | None = None, refs: tuple[str, ...] = ()):
    return RuleInfo(
        key=key, file=file or f"rules/{key}.yml", id=id_ or f"id-{key}", references=refs
    )


def kinds(base: Snapshot, head: Snapshot) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(str(c.kind), c.key, c.via) for c in compare(base, head)]


def test_pairing_by_name_then_id() -> None:
    base = snap(
        [rule("a"), rule("b"), rule("c"), rule("old", id_="same")],
        {"rules/a.yml": b"a", "rules/b.yml": b"b", "rules/c.yml": b"c", "rules/old.yml": b"o"},
    )
    head = snap(
        [rule("a"), rule("b", file="rules/moved.yml"), rule("d"), rule("new", id_="same")],
        {"rules/a.yml": b"a2", "rules/moved.yml": b"b", "rules/d.yml": b"d", "rules/new.yml": b"o"},
    )
    assert kinds(base, head) == [
        ("changed", "a", ()),
        ("changed", "b", ()),  # file moved, same content
        ("changed", "new", ()),  # renamed, same id
        ("added", "d", ()),
        ("removed", "c", ()),
    ]
    renamed = next(c for c in compare(base, head) if c.key == "new")
    assert renamed.renamed and renamed.base is not None and renamed.base.key == "old"


def test_correlations_over_changed_rules_are_affected() -> None:
    files = {"rules/a.yml": b"a", "rules/c1.yml": b"c1", "rules/c2.yml": b"c2", "rules/z.yml": b"z"}
    rules = [
        rule("a"),
        rule("c1", refs=("id-a",)),  # by id
        rule("c2", refs=("c1", "z")),  # through another correlation
        rule("z"),
    ]
    base = snap(rules, files)
    head = snap(rules, {**files, "rules/a.yml": b"a changed"})
    assert kinds(base, head) == [
        ("changed", "a", ()),
        ("affected", "c1", ("id-a",)),
        ("affected", "c2", ("c1",)),
    ]
    assert kinds(base, snap(rules, files)) == []


def test_fixture_only_changes() -> None:
    rules = [rule("a"), rule("b")]
    files = {
        "rules/a.yml": b"a",
        "rules/b.yml": b"b",
        "fixtures/_base.yml": b"base",
        "fixtures/a.yml": b"fa",
    }
    base = snap(rules, files)
    assert kinds(base, snap(rules, {**files, "fixtures/a.yml": b"fa2"})) == [
        ("fixtures changed", "a", ())
    ]
    assert kinds(base, snap(rules, {**files, "fixtures/_base.yml": b"base2"})) == [
        ("fixtures changed", "a", ()),
        ("fixtures changed", "b", ()),
    ]
    assert Kind.FIXTURES == "fixtures changed"


# --------------------------------------------------------------------------- diffs, coverage


def test_unified_diff() -> None:
    assert unified_diff("a\n", "a\n", "x", "y") == ""
    diff = unified_diff("a\nb\n", "a\n++c\n", "a/f", "b/f")
    assert diff.split("\n")[:2] == ["--- a/f", "+++ b/f"]
    assert diff_counts(diff) == (1, 1)  # "+++c" is a content line, not a header
    assert unified_diff(None, "x\n", "a/f", "b/f").startswith("--- /dev/null\n+++ b/f\n")
    assert unified_diff("x\n", None, "a/f", "b/f").startswith("--- a/f\n+++ /dev/null\n")
    no_newline = unified_diff("x\n", "x", "a/f", "b/f")
    assert "\\ No newline at end of file" in no_newline and diff_counts(no_newline) == (1, 1)


def test_coverage() -> None:
    rules = [
        RuleInfo("a", "rules/a.yml", techniques=("T1070", "T1526")),
        RuleInfo("b", "rules/b.yml", techniques=("T1070",)),
        RuleInfo("c", "rules/c.yml"),
    ]
    assert coverage(rules) == {"T1070": ("a", "b"), "T1526": ("a",)}


def test_snapshot_reads_techniques_from_tags() -> None:
    pack = load_snapshot(PROJECT, "the project")
    assert pack.load_error is None
    info = pack.rules["aws_ses_identity_created"]
    assert info.techniques == ("T1585.002",)
    assert info.file == "rules/aws_ses_identity_created.yml"
    corr = pack.rules["aws_ses_identity_added_then_deleted"]
    assert set(corr.references) == {"aws_ses_identity_created", "aws_ses_identity_deleted"}


# --------------------------------------------------------------------------- git plumbing


def test_export_tree_is_byte_exact_and_skips_symlinks(tmp_path: Path) -> None:
    pack = make_pack_repo(tmp_path / "repo", subdir="sub/pack")
    odd = pack / "rules" / "odd.yml"
    odd.write_bytes(b"crlf: yes\r\nlatin: caf\xe9\n")
    os.symlink("odd.yml", pack / "rules" / "link.yml")
    (pack / "elsewhere.txt").write_text("not exported\n", encoding="utf-8")
    git(tmp_path / "repo", "add", "-A")
    git(tmp_path / "repo", "commit", "-q", "-m", "odd files")
    checkout = locate(pack)
    assert checkout.prefix == "sub/pack"
    assert checkout.top.resolve() == (tmp_path / "repo").resolve()
    commit = resolve_commit(checkout, "HEAD")
    dest = tmp_path / "out"
    notes = export_tree(checkout, commit, ("rules", "fixtures"), dest)
    assert notes == [f"rules/link.yml: not a regular file at {commit[:12]} (blob 120000), skipped"]
    exported = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    expected = sorted(
        p.relative_to(pack).as_posix()
        for sub in ("rules", "fixtures")
        for p in (pack / sub).rglob("*")
        if p.is_file() and not p.is_symlink()
    )
    assert exported == expected
    assert (dest / "rules" / "odd.yml").read_bytes() == b"crlf: yes\r\nlatin: caf\xe9\n"
    shutil.rmtree(dest)
    # A commit without the directories exports nothing.
    git(tmp_path / "repo", "checkout", "-q", "--orphan", "empty")
    git(tmp_path / "repo", "rm", "-rq", "--cached", ".")
    git(tmp_path / "repo", "commit", "-q", "--allow-empty", "-m", "empty")
    assert export_tree(checkout, resolve_commit(checkout, "empty"), ("rules",), dest) == []
    assert not dest.exists() or not any(dest.iterdir())


@pytest.mark.parametrize("ref", ["-h", "--output=x", "", "no/such", "HEAD~99"])
def test_resolve_commit_refuses_what_is_not_a_commit(tmp_path: Path, ref: str) -> None:
    pack = make_pack_repo(tmp_path / "repo")
    with pytest.raises(UnknownRef):
        resolve_commit(locate(pack), ref)


# --------------------------------------------------------------------------- size bound


def test_render_stays_under_the_bound(tmp_path: Path) -> None:
    base = tmp_path / "base"
    head = tmp_path / "head"
    for side in (base, head):
        for sub in ("rules", "fixtures"):
            shutil.copytree(PROJECT / sub, side / sub)
    long_text = "".join(f"  line {i} of a very long description\n" for i in range(3000))
    for name in ("aws_ses_identity_deleted", "aws_ses_identity_created"):
        path = head / "rules" / f"{name}.yml"
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("description: |\n", "description: |\n" + long_text, 1))
    review = build_review(load_snapshot(base, "base"), load_snapshot(head, "head"))
    full = render(review, 10**9)
    assert "*Diff cut to 400 of 30" in full  # the first per-diff budget already cuts
    for bound in (65_000, 20_000, 8_000, 5_000):
        text = render(review, bound)
        assert len(text) <= bound
        assert text == render(review, bound)
        assert text.count("<details") == text.count("</details>")
        assert text.count("\n```") % 2 == 0
        assert "### Lint" in text and "### ATT&CK coverage" in text
        # at 5,000 characters the ATT&CK table of the 36-rule pack leaves no room for diffs
        assert ("*Diff cut to " in text) is (bound >= 8_000)
    assert "more passing case(s) not listed" in render(review, 20_000)
    assert "left out to fit a comment: " in render(review, 5_000)


# --------------------------------------------------------------------------- hostile text


def test_render_shows_hidden_characters_as_escapes(tmp_path: Path) -> None:
    """A pull request's rule text cannot hide or reorder what the comment shows: bidi
    overrides, zero-width and control characters (ANSI escapes) come out as \\uXXXX."""
    base = tmp_path / "base"
    head = tmp_path / "head"
    for side in (base, head):
        for sub in ("rules", "fixtures"):
            shutil.copytree(PROJECT / sub, side / sub)
    path = head / "rules" / "aws_ses_identity_deleted.yml"
    text = path.read_text(encoding="utf-8")
    hostile = 'title: "Quiet \\u202e\\u200b\\x1b[31m rule"\n'
    path.write_text(
        hostile + "\n".join(ln for ln in text.splitlines() if not ln.startswith("title:"))
    )
    review = build_review(load_snapshot(base, "base"), load_snapshot(head, "head"))
    out = render(review, 10**9)
    assert "Quiet \\u202e\\u200b\\u001b[31m rule" in out
    for ch in ("\u202e", "\u200b", "\x1b"):
        assert ch not in out


def test_a_case_filter_change_changes_the_fixtures_of_the_rules_using_it(tmp_path: Path) -> None:
    """A fixture case's own filter file (``filters:`` of a case) is part of the rule's
    fixtures: editing it re-runs the cases of the rules whose cases apply it."""
    base = tmp_path / "base"
    head = tmp_path / "head"
    for side in (base, head):
        for sub in ("rules", "fixtures"):
            shutil.copytree(PROJECT / sub, side / sub)
    path = head / "fixtures" / "_filters" / "known_monitoring_keys.yml"
    text = path.read_text(encoding="utf-8")
    assert text.count("198.51.100.80") == 1
    path.write_text(text.replace("198.51.100.80", "198.51.100.81"), encoding="utf-8")
    before, after = load_snapshot(base, "base"), load_snapshot(head, "head")
    assert after.case_filters == {
        "aws_ses_discovery_long_term_key": ("fixtures/_filters/known_monitoring_keys.yml",)
    }
    assert kinds(before, after) == [("fixtures changed", "aws_ses_discovery_long_term_key", ())]


def test_render_bounds_many_changed_filter_files() -> None:
    """Changed filter files are listed up to 60 and their diffs shrink, then go, to fit."""
    from ses_sigma.review.build import FilterSection, Review
    from ses_sigma.review.diff import FilterChange
    from ses_sigma.review.evaluate import LintSummary

    body = "".join(f"  allow_{i}: 198.51.100.{i % 250}\n" for i in range(300))
    filters = [
        FilterSection(
            FilterChange(f"filters/f{i:03}.yml", None, body, (), ("some_rule",)),
            unified_diff(None, body, "/dev/null", f"b/filters/f{i:03}.yml"),
        )
        for i in range(70)
    ]
    review = Review("base", "head", [], [], LintSummary(), {}, {}, filters=filters)
    full = render(review, 10**9)
    assert "- … and 10 more filter files." in full
    assert full.count("<summary>filters/f") == 60
    assert "**0 rules changed, 0 added, 0 removed, 70 filter files changed**" in full
    for bound in (65_000, 20_000, 6_000):
        text = render(review, bound)
        assert len(text) <= bound and text == render(review, bound)
        assert text.count("<details") == text.count("</details>")
        assert text.count("\n```") % 2 == 0
        assert "- `filters/f059.yml` (added): applies to none → `some_rule`" in text
    assert "filter diffs left out to fit a comment" in render(review, 6_000)


def test_scrub_names_paths_as_the_report_does(tmp_path: Path) -> None:
    """Temporary and machine paths in messages become the report's names: relative to the
    pack directory, up from it to the repository's top, or under <bundled>/."""
    from ses_sigma.bundled import bundled_dir
    from ses_sigma.review.refs import _scrub

    top = tmp_path / "ses-sigma-review-x" / "base"
    root = top / "team" / "detections"
    rules = bundled_dir("rules")
    assert rules is not None
    text = f"{root}/rules/a.yml: bad; {top}/shared/b.yml: bad; {rules}/c.yml: bad; in {root}"
    assert _scrub(text, [root], [top], "team/detections") == (
        "rules/a.yml: bad; ../../shared/b.yml: bad; <bundled>/rules/c.yml: bad; in ."
    )
