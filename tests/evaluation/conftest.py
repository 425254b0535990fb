"""Fixtures: the shared real ImageNet sample, and a cache folder of the test's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.evaluation.layouts import SAMPLE


@pytest.fixture
def sample() -> Path:
    if not SAMPLE.is_dir():
        pytest.skip(f"shared ImageNet sample not found at {SAMPLE}")
    return SAMPLE


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """No test reads or writes the user's ~/.cache/edge-vit."""
    monkeypatch.setenv("EDGE_VIT_CACHE", str(tmp_path / "edge-vit-cache"))
