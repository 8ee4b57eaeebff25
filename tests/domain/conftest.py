"""Hypothesis profile for the domain tests (no database needed).

``QUOTATREE_DOMAIN_EXAMPLES`` scales the number of examples per property
(default 100); the whole ``tests/domain`` run stays well under a minute on two
cores. The profile is registered here and used explicitly by the test modules
(``settings.get_profile``), so it does not change other test packages.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "quotatree-domain",
    max_examples=int(os.environ.get("QUOTATREE_DOMAIN_EXAMPLES", "100")),
    deadline=None,
    derandomize=os.environ.get("QUOTATREE_DOMAIN_DERANDOMIZE", "") == "1",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
