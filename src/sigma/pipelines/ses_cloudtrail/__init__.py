"""pySigma plugin: the ses-sigma CloudTrail pipelines (``ses_cloudtrail_splunk``, ``..._elastic``).

``sigma.pipelines`` is pySigma's namespace package: this directory has no ``__init__.py`` above
it on purpose. pySigma's plugin discovery (``InstalledSigmaPlugins.autodiscover``, used by
sigma-cli's ``convert``, ``list`` and ``check``) imports every module here and reads its
``pipelines`` dict.

Importing this module also points pySigma's ATT&CK loader at ses-sigma's vendored copy (unless
something already set a URL, or ``SES_SIGMA_ATTACK=online`` is set), so that ``sigma check``
and the Elasticsearch backend's rule formats work offline in an environment where ses-sigma is
installed. See ``ses_sigma.attack``.
"""

from __future__ import annotations

import os

from sigma.data import mitre_attack as _mitre_attack

from ses_sigma.attack import use_vendored_attack as _use_vendored_attack
from ses_sigma.pipelines import PIPELINES as _PIPELINES

# Only "pipelines" is exported: pySigma's discovery registers every public function of a
# module without __all__ as a pipeline.
__all__ = ["pipelines"]

pipelines = dict(_PIPELINES)

# pySigma 1.5.1 has no public getter for the configured URL; None means "download from MITRE".
if (
    os.environ.get("SES_SIGMA_ATTACK", "vendored") != "online"
    and getattr(_mitre_attack, "_custom_url", None) is None
):
    _use_vendored_attack()
