"""Hypothesis profiles: modest example counts by default (CI); ``--hypothesis-profile=long``
for a thorough local run of the property tests (tests/fuzz/ above all)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "long",
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
