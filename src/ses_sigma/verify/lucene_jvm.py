"""Apache Lucene in this process: the Debian package's jars loaded with JPype.

Lucene comes from the Debian package ``liblucene8-java`` (Lucene 8.8.1 in Debian 12, though its
jar files are named 8.7.0) in ``/usr/share/java``, or the directory ``SES_SIGMA_LUCENE_JARS``
names. JPype starts one JVM per process with them on the class path; documents and queries cross
as plain strings. JPype rather than a Java helper compiled at test time: no protocol to write
and parse between the processes, Lucene's classes are called directly, and its exceptions
surface with their messages.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from functools import cache
from typing import Any

__all__ = ["LUCENE_JARS_ENV", "LuceneQueryError", "LuceneUnavailable", "lucene_version"]

LUCENE_JARS_ENV = "SES_SIGMA_LUCENE_JARS"
_DEFAULT_DIR = "/usr/share/java"
_JARS = (
    "lucene-core",
    "lucene-queryparser",
    "lucene-analyzers-common",
    "lucene-misc",  # InetAddressPoint
)


class LuceneUnavailable(RuntimeError):
    """Lucene (its jars or JPype) cannot be loaded; the message says what is missing."""


class LuceneQueryError(ValueError):
    """A query Lucene rejects, or that Elasticsearch would answer differently than Lucene."""


def _jars() -> list[str]:
    where = os.environ.get(LUCENE_JARS_ENV, _DEFAULT_DIR)
    found = []
    for name in _JARS:
        hits = sorted(glob.glob(os.path.join(where, f"{name}-8*.jar")))
        if not hits:
            raise LuceneUnavailable(
                f"{name}-8*.jar not found in {where} (apt-get install liblucene8-java, or set "
                f"{LUCENE_JARS_ENV})"
            )
        found.append(hits[-1])
    return found


@cache
def _java() -> Any:
    """Start the JVM once per process with Lucene on the class path; the Java packages."""
    try:
        import jpype
        import jpype.imports
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise LuceneUnavailable(f"JPype is not installed ({exc})") from None
    jars = _jars()
    if not jpype.isJVMStarted():
        try:
            jpype.startJVM(classpath=jars, convertStrings=True)
        except OSError as exc:  # no JVM found
            raise LuceneUnavailable(f"cannot start a Java VM: {exc}") from None
    return jpype


@dataclass(frozen=True)
class _Lucene:
    parser_class: Any
    keyword: Any
    standard: Any
    per_field: Any


@cache
def _lucene() -> _Lucene:
    jpype = _java()
    keyword = jpype.JClass("org.apache.lucene.analysis.core.KeywordAnalyzer")()
    standard = jpype.JClass("org.apache.lucene.analysis.standard.StandardAnalyzer")()
    return _Lucene(
        parser_class=jpype.JClass("org.apache.lucene.queryparser.classic.QueryParser"),
        keyword=keyword,
        standard=standard,
        per_field=jpype.JClass("org.apache.lucene.analysis.miscellaneous.PerFieldAnalyzerWrapper"),
    )


def lucene_version() -> str:
    """``Apache Lucene <version>`` as the loaded jar reports it (``Version.LATEST``)."""
    jpype = _java()
    return f"Apache Lucene {jpype.JClass('org.apache.lucene.util.Version').LATEST}"
