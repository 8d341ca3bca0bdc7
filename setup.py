"""Package layout that pyproject.toml cannot say: the repository's top-level ``rules/``,
``fixtures/``, ``scenarios/`` (and ``filters/`` when present) ship as the package data of
``ses_sigma.bundled.rules`` / ``.fixtures`` / ``.scenarios`` / ``.filters``
(``src/ses_sigma/bundled``), loaded
through ``importlib.resources``; and the data directories of ``ses-sigma init``'s templates.
Everything else is in pyproject.toml.
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup

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

setup(
    packages=sorted({*PACKAGES, *BUNDLED, *TEMPLATES}),
    package_dir={"": "src", **BUNDLED},
)
