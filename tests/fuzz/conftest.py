"""Hypothesis profiles for the fuzz suite, selected here (``HYPOTHESIS_PROFILE``).

* ``ci`` (default, what ``make test`` runs): a small fixed budget, derandomized, so the suite
  stays quick and gives the same examples on every run;
* ``fuzz`` (``make fuzz``): many more random examples per property, for a longer search.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,  # timing is a benchmark's job; the machine is shared
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("ci", max_examples=12, derandomize=True, **_COMMON)
settings.register_profile("fuzz", max_examples=400, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
