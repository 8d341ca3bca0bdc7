"""Package layout that pyproject.toml cannot say: the repository's top-level ``rules/``,
``fixtures/`` (and ``filters/`` when present) ship as the package data of
``ses_sigma.bundled.rules`` / ``.fixtures`` / ``.filters`` (``src/ses_sigma/bundled``), loaded
through ``importlib.resources``. Everything else is in pyproject.toml.
"""

from pathlib import Path

from setuptools import find_packages, setup

BUNDLED = {
    f"ses_sigma.bundled.{part}": part
    for part in ("rules", "fixtures", "filters")
    if (Path(part) / "__init__.py").is_file()
}

setup(
    packages=[*find_packages("src"), *BUNDLED],
    package_dir={"": "src", **BUNDLED},
    package_data={name: ["*.yml", "*.yaml", "*.md"] for name in BUNDLED},
)
