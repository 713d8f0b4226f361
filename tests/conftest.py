"""Shared fixtures: a tiny demo city built once per test session."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from data.demo import build_demo

# Timing is no test here: the suite shares 2 cores with the browser tests and a database server, so
# Hypothesis' clock-based checks (slow data generation, per-example deadlines) would fail on load, not
# on a defect. Every property still runs all its examples.
settings.register_profile("onemap", suppress_health_check=[HealthCheck.too_slow], deadline=None)
settings.load_profile("onemap")


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory):
    """A tiny demo city (seed 1) as a folder of GeoParquet layers."""
    out = tmp_path_factory.mktemp("demo") / "tiny"
    build_demo(out, "tiny", seed=1, gpkg=False, progress=False)
    return out
