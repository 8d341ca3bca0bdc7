"""Shared fixtures for tests that need a real engine (Lucene, Spark).

A test that needs an engine which is not installed is skipped with the reason (``-ra`` prints
it in the summary). Under CI (``CI=true``) a missing engine fails instead: ``.ci/run`` installs
both, so a skip there would hide a broken install.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest


def _missing(what: str, exc: Exception) -> None:
    message = f"ENGINE MISSING: {what} is not available: {exc}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI must prove every target: see .ci/run)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def lucene() -> str:
    """Lucene loaded in this process (its version), or the test is skipped saying why."""
    from ses_sigma.verify.lucene import LuceneUnavailable, lucene_version

    try:
        return lucene_version()
    except LuceneUnavailable as exc:
        _missing("Apache Lucene", exc)


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark session for the whole test process (small: 1g driver, 2 partitions)."""
    from ses_sigma.verify.spark_session import SparkUnavailable, local_session

    try:
        session = local_session()
    except SparkUnavailable as exc:
        _missing("Apache Spark", exc)
    yield session
    session.stop()
