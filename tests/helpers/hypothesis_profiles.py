"""Hypothesis profiles: "ci" (the default) is derandomized, so every run, in CI or not, tries
the same examples and a failure reproduces; "explore" draws new random examples, many more of
them (HYPOTHESIS_PROFILE=explore .venv/bin/pytest tests/unit/test_ber_properties.py)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,  # nothing written into the checkout
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "explore",
    max_examples=1000,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
