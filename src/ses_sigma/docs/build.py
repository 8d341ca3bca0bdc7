"""All generated docs of a pack, and the staleness check of a docs directory.

:func:`build_docs` returns path (relative to the docs directory) -> text: ``rules/<name>.md``
per rule, ``rules/README.md``, ``coverage.md`` and ``attack-navigator-layer.json``. The docs
directory also holds hand-written files (``DESIGN.md``), so only ``rules/`` is owned whole:
:func:`write_docs` replaces it, and :func:`stale_docs` reports a page there that is no longer
generated; elsewhere only the generated files are written and compared.
"""

from __future__ import annotations

import shutil
from collections.abc import Collection, Sequence
from pathlib import Path

from ses_sigma.convert.build import stale_files, write_output
from ses_sigma.docs.coverage import COVERAGE_FILE, coverage_page
from ses_sigma.docs.errors import DocsError
from ses_sigma.docs.model import collect
from ses_sigma.docs.navigator import LAYER_FILE, layer_json
from ses_sigma.docs.pages import INDEX_FILE, PAGES_DIR, index_page, page_path, rule_page
from ses_sigma.docs.queries import convert_pack
from ses_sigma.evaluate.default import default_evaluation
from ses_sigma.evaluate.run import EvalError
from ses_sigma.harness import DEFAULT_FIXTURES_DIR
from ses_sigma.match.errors import RuleCompileError
from ses_sigma.pack import DEFAULT_RULES_DIR, Pack

__all__ = ["DEFAULT_DOCS_DIR", "REPO_ROOT", "build_docs", "stale_docs", "write_docs"]

#: The bundled pack's root (the repository in a checkout; links in the pages are relative to
#: it) and its docs directory. ``ses-sigma docs`` uses the resolved pack's root instead.
REPO_ROOT = DEFAULT_RULES_DIR.parent
DEFAULT_DOCS_DIR = REPO_ROOT / "docs"


def build_docs(
    pack: Pack,
    fixtures_dir: Path | Sequence[Path] = DEFAULT_FIXTURES_DIR,
    repo_root: Path = REPO_ROOT,
    ignored: Collection[Path] = (),
    bundled_root: Path | None = None,
) -> dict[str, str]:
    """Every generated file of the pack's docs (path -> text); DocsError if one cannot be.

    Links are relative to ``repo_root``: every rule and fixture file must be below it, or
    below ``bundled_root`` (bundled rules are named, not linked).
    """
    docs = collect(pack, fixtures_dir, repo_root, ignored, bundled_root)
    conversions = convert_pack(pack)
    files = {page_path(d.name): rule_page(d, conversions) for d in docs}
    files[INDEX_FILE] = index_page(docs)
    try:
        evaluation = default_evaluation(pack)
    except (EvalError, RuleCompileError) as exc:
        raise DocsError(f"coverage page: the campaign replays cannot be evaluated: {exc}") from exc
    files[COVERAGE_FILE] = coverage_page(docs, evaluation)
    files[LAYER_FILE] = layer_json(docs)
    return dict(sorted(files.items()))


def _owned(rel: str) -> bool:
    return rel.startswith(PAGES_DIR + "/")


def stale_docs(files: dict[str, str], directory: Path) -> list[str]:
    """What differs between ``files`` and ``directory``: missing, changed, or a leftover page.

    Built on ``convert.build.stale_files``; files outside ``rules/`` that are not generated
    (hand-written docs) are not reported.
    """
    return [
        p
        for p in stale_files(dict(files), directory)
        if not p.endswith(": not generated any more") or _owned(p.rsplit(": ", 1)[0])
    ]


def write_docs(files: dict[str, str], directory: Path) -> list[Path]:
    """Write the docs: ``rules/`` is replaced whole, other generated files overwritten."""
    pages = directory / PAGES_DIR
    if pages.exists():
        shutil.rmtree(pages)
    return write_output(dict(files), directory)
