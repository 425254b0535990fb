"""Shared fixtures: tiny ViTs at 32x32 so the default suite stays fast, and the shared data."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# The hub is never reachable in tests: make timm/huggingface fail fast instead of retrying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Caches (evaluation results, preprocessed images, the local device's work dir) go to a
# throwaway folder, never to the user's ~/.cache.
os.environ["EDGE_VIT_CACHE"] = tempfile.mkdtemp(prefix="edge-vit-test-cache-")

TINY_VIT = {"img_size": 32, "patch_size": 8, "depth": 2, "num_classes": 10}
# resmlp_* fix patch_size=16 in timm, so a 32x32 ResMLP has 4 tokens
TINY_RESMLP = {"img_size": 32, "num_classes": 10}  # 12 blocks, fixed by timm

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
IMAGENET_SAMPLE = SHARED_DATA / "imagenet-sample" / "val"


@pytest.fixture
def tiny_vit_kwargs() -> dict:
    return dict(TINY_VIT)


@pytest.fixture
def imagenet_sample() -> Path:
    if not IMAGENET_SAMPLE.is_dir():
        pytest.skip(f"shared ImageNet sample not found at {IMAGENET_SAMPLE}")
    return IMAGENET_SAMPLE
