"""A Spark session for the Spark target's proof and ``scan --engine spark``.

``spark_session()`` uses Spark's usual settings: ``MASTER`` or ``PYSPARK_SUBMIT_ARGS`` /
``spark-defaults.conf`` (a cluster), else ``local[*]`` (pyspark's default); ``SPARK_REMOTE``
gives a Spark Connect session (not tested here; the scan needs the RDD API, which it lacks).
``local_session()`` is the small local session the tests share: ``local[2]``, 1 GB of driver
memory, 2 shuffle partitions, no UI. Both set the session time zone to UTC, so that an
``eventTime`` without an offset means UTC, as it does to the matcher.
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["SparkUnavailable", "local_session", "spark_engine_name", "spark_session"]


class SparkUnavailable(RuntimeError):
    """pyspark is not installed or Spark (its JVM) does not start; the message says why."""


def _builder() -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SparkUnavailable(
            f"pyspark is not installed ({exc}); pip install 'ses-sigma[spark]'"
        ) from None
    return SparkSession.builder


def _start(builder: Any) -> Any:
    # Local Python workers run this interpreter (where ses-sigma is installed), not "python3".
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    try:
        session = (
            builder.config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate()
        )
    except Exception as exc:  # py4j / JVM start-up errors have no common base class
        raise SparkUnavailable(f"Spark does not start: {exc}") from None
    if not os.environ.get("SPARK_REMOTE"):
        session.sparkContext.setLogLevel("ERROR")
    return session


def spark_session(master: str | None = None, app_name: str = "ses-sigma") -> Any:
    """A Spark session from Spark's usual settings (``master`` overrides them)."""
    builder = _builder().appName(app_name)
    if master:
        builder = builder.master(master)
    return _start(builder)


def local_session() -> Any:
    """A small local session (tests and proofs on one machine)."""
    builder = (
        _builder()
        .appName("ses-sigma-proof")
        .master("local[2]")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.adaptive.enabled", "false")
    )
    return _start(builder)


def spark_engine_name(session: Any) -> str:
    """``Apache Spark 4.x.y (local[2])``, or ``(Spark Connect)``."""
    try:
        master = session.sparkContext.master
    except Exception:  # Spark Connect sessions have no SparkContext
        master = "Spark Connect"
    return f"Apache Spark {session.version} ({master})"
