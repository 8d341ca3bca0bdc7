"""pySigma plugin: the ses-sigma CloudTrail pipelines (``ses_cloudtrail_splunk``, ``..._elastic``).

``sigma.pipelines`` is pySigma's namespace package: this directory has no ``__init__.py`` above
it on purpose. pySigma's plugin discovery (``InstalledSigmaPlugins.autodiscover``, used by
sigma-cli's ``convert``, ``list`` and ``check``) imports every module here and reads its
``pipelines`` dict.

Through sigma-cli the pipelines meet pySigma's stock backends, so they first refuse what those
would convert into something else: correlations (fixed time buckets, or no support) and
first-seen rules (a plain query alerts on every match). ``sigma convert -s`` skips them and
converts the rest; ``ses-sigma convert`` converts them faithfully.

Importing this module also points pySigma's ATT&CK loader at ses-sigma's vendored copy (unless
something already set a URL, or ``SES_SIGMA_ATTACK=online`` is set), so that ``sigma check``
and the Elasticsearch backend's rule formats work offline in an environment where ses-sigma is
installed. See ``ses_sigma.attack``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from sigma.data import mitre_attack as _mitre_attack
from sigma.processing.pipeline import ProcessingItem as _Item
from sigma.processing.pipeline import ProcessingPipeline as _Pipeline

from ses_sigma.attack import use_vendored_attack as _use_vendored_attack
from ses_sigma.pipelines import PIPELINES as _PIPELINES
from ses_sigma.pipelines.compat import collect_correlation_errors as _collect_correlation_errors
from ses_sigma.pipelines.transformations import StockBackendRefusal as _Refusal

# Only "pipelines" is exported: pySigma's discovery registers every public function of a
# module without __all__ as a pipeline.
__all__ = ["pipelines"]


def _for_stock_backends(name: str, factory: Callable[[], _Pipeline]) -> Callable[[], _Pipeline]:
    """The pipeline plus a first step that refuses correlations and first-seen rules."""

    def make() -> _Pipeline:
        base = factory()
        refusal = _Pipeline(
            items=[_Item(identifier="ses_stock_backend_refusal", transformation=_Refusal(name))]
        )
        combined = refusal + base  # __add__ re-binds the items but drops these three:
        combined.name, combined.priority = base.name, base.priority
        combined.allowed_backends = base.allowed_backends
        return combined

    make.__doc__ = (
        f"ses-sigma CloudTrail pipeline {name}; correlations and first-seen rules are refused "
        "(use ses-sigma convert)"
    )
    return make


pipelines = {name: _for_stock_backends(name, factory) for name, factory in _PIPELINES.items()}

# pySigma 1.5.1 ignores collect_errors (sigma convert -s) for correlation rules: see compat.py.
_collect_correlation_errors()

# pySigma 1.5.1 has no public getter for the configured URL; None means "download from MITRE".
if (
    os.environ.get("SES_SIGMA_ATTACK", "vendored") != "online"
    and getattr(_mitre_attack, "_custom_url", None) is None
):
    _use_vendored_attack()
