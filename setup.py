"""Package layout that pyproject.toml cannot say: the repository's top-level ``rules/``,
``fixtures/``, ``scenarios/`` (and ``filters/`` when present) ship as the package data of
``ses_sigma.bundled.rules`` / ``.fixtures`` / ``.scenarios`` / ``.filters``
(``src/ses_sigma/bundled``), loaded
through ``importlib.resources``; and the data directories of ``ses-sigma init``'s templates.
Also the C kernel of the raw-bytes pre-filter (``ses_sigma.prefilter._rawscan``, plain C99
against the Python headers; no -march flag, so the build is the same on every x86-64 host:
SSE2 is part of the baseline), and the scan's per-row helpers (``ses_sigma.rowkeys._rowkeys``).
Everything else is in pyproject.toml.
"""

from pathlib import Path

from setuptools import Extension, find_namespace_packages, setup

BUNDLED = {
    f"ses_sigma.bundled.{part}": part
    for part in ("rules", "fixtures", "filters", "scenarios")
    # filters/ ships only with an __init__.py, as rules/ and fixtures/ (editable installs
    # import the mapped package to find it)
    if (Path(part) / "__init__.py").is_file()
}

#: ``ses-sigma init``'s template directories (data only, no ``__init__.py``).
TEMPLATES = (
    "ses_sigma.templates.team",
    "ses_sigma.templates.team.rules",
    "ses_sigma.templates.team.fixtures",
)

# Which files of each package ship: [tool.setuptools.package-data] in pyproject.toml.
# Namespace packages too: src/sigma/pipelines/ses_cloudtrail is a pySigma plugin (sigma and
# sigma.pipelines have no __init__.py), as [tool.setuptools.packages.find] found it before.
PACKAGES = find_namespace_packages("src", exclude=["*__pycache__*"])

RAWSCAN = Extension(
    "ses_sigma.prefilter._rawscan",
    sources=[
        "src/ses_sigma/prefilter/_rawscan.c",
        "src/ses_sigma/prefilter/rawscan_plan.c",
        "src/ses_sigma/prefilter/rawscan_lines.c",
    ],
    depends=["src/ses_sigma/prefilter/_rawscan.h"],
    extra_compile_args=["-O3", "-std=c99", "-Wall", "-Wextra", "-Wno-unused-parameter"],
)

#: The scan's per-row helpers (``ses_sigma.rowkeys._rowkeys``: keyed record digest, uint64
#: set), plain C99 as the kernel above.
ROWKEYS = Extension(
    "ses_sigma.rowkeys._rowkeys",
    sources=["src/ses_sigma/rowkeys/_rowkeys.c"],
    extra_compile_args=["-O3", "-std=c99", "-Wall", "-Wextra", "-Wno-unused-parameter"],
)

setup(
    packages=sorted({*PACKAGES, *BUNDLED, *TEMPLATES}),
    package_dir={"": "src", **BUNDLED},
    ext_modules=[RAWSCAN, ROWKEYS],
)
