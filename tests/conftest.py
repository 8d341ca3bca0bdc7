"""Shared fixtures for tests that need a real engine (Lucene, Spark).

A test that needs an engine which is not installed is skipped with the reason (``-ra`` prints
it in the summary); ``.ci/run`` installs both, so CI always runs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def lucene() -> str:
    """Lucene loaded in this process (its version), or the test is skipped saying why."""
    from ses_sigma.verify.lucene import LuceneUnavailable, lucene_version

    try:
        return lucene_version()
    except LuceneUnavailable as exc:
        pytest.skip(f"ENGINE MISSING: Apache Lucene is not available: {exc}")


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark session for the whole test process (small: 1g driver, 2 partitions)."""
    from ses_sigma.verify.spark_session import SparkUnavailable, local_session

    try:
        session = local_session()
    except SparkUnavailable as exc:
        pytest.skip(f"ENGINE MISSING: Apache Spark is not available: {exc}")
    yield session
    session.stop()
