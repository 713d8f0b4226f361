"""Shared fixtures: a tiny demo city built once per test session."""

from __future__ import annotations

import pytest

from data.demo import build_demo


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory):
    """A tiny demo city (seed 1) as a folder of GeoParquet layers."""
    out = tmp_path_factory.mktemp("demo") / "tiny"
    build_demo(out, "tiny", seed=1, gpkg=False, progress=False)
    return out
