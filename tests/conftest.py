"""Shared fixtures: tiny ViTs at 32x32 so the default suite stays fast, and the shared data."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

# The hub is never reachable in tests: make timm/huggingface fail fast instead of retrying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Caches (evaluation results, preprocessed images, the local device's work dir) go to a
# throwaway folder, never to the user's ~/.cache.
os.environ["EDGE_VIT_CACHE"] = tempfile.mkdtemp(prefix="edge-vit-test-cache-")

TINY_VIT = {"img_size": 32, "patch_size": 8, "depth": 2, "num_classes": 10}


# flat keyword -> (where it goes, its name there): tests name options flat, as the CLI does
_MODEL_KEYS = {"model": "name", "pretrained": "pretrained", "checkpoint": "checkpoint",
               "model_kwargs": "model_kwargs", "prune": "prune", "criterion": "criterion",
               "round_to": "round_to", "calib_dir": "calib_dir", "calib_size": "calib_size",
               "seed": "seed"}
_FORMAT_KEYS = {"tflite_layout": ("tflite", "layout"), "tflite_timeout_s": ("tflite", "timeout_s"),
                "val_dir": ("openvino", "val_dir"), "val_labels": ("openvino", "val_labels"),
                "val_size": ("openvino", "val_size"), "max_drop": ("openvino", "max_drop")}


def export_options(**flat):
    """ExportOptions from flat keywords: model keys into ModelOptions, format keys into that
    format's options dataclass (``int8_weight_bits`` into ONNX's and OpenVINO's)."""
    from edge_vit.export import ExportOptions
    from edge_vit.model_options import ModelOptions
    from exporters.base import get_exporter

    model = {_MODEL_KEYS[k]: flat.pop(k) for k in list(flat) if k in _MODEL_KEYS}
    per_format: dict[str, dict] = {}
    for key in list(flat):
        if key in _FORMAT_KEYS:
            fmt, name = _FORMAT_KEYS[key]
            per_format.setdefault(fmt, {})[name] = flat.pop(key)
    formats = tuple(flat.get("formats", ExportOptions.formats))
    if "int8_weight_bits" in flat:  # as the CLI: both int8 formats that are exported
        bits = flat.pop("int8_weight_bits")
        for fmt in ("onnx", "openvino"):
            if fmt in formats:
                per_format.setdefault(fmt, {})["int8_weight_bits"] = bits
    options = {f: get_exporter(f).options_class(**kw) for f, kw in per_format.items()}
    return ExportOptions(model=ModelOptions(**model), format_options=options, **flat)


def tiny_export_options(out_root: Path, **changes):
    """ExportOptions for the tiny ViT to ONNX + OpenVINO under ``out_root``, with changes."""
    base = dict(model="deit_tiny_patch16_224", model_kwargs=dict(TINY_VIT),
                formats=("onnx", "openvino"), out_root=out_root)
    return export_options(**{**base, **changes})
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


# A learnable image-folder data set made on the fly: each class a colour, with noise and random
# offsets, so a tiny ViT learns it in a few epochs and a test can demand real learning.
PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
           (145, 30, 180), (70, 240, 240), (240, 50, 230), (128, 128, 0), (0, 0, 128)]


def make_color_classes(root: Path, per_class: int, seed: int, classes: int = 10) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in range(classes):
        folder = root / f"class{c:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = rng.integers(0, 60, (32, 32, 3)).astype(np.int16)
            y, x = rng.integers(0, 16, 2)
            img[y:y + 16, x:x + 16] += np.array(PALETTE[c], dtype=np.int16)  # a coloured square
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / f"{i:03d}.png")
    return root


@pytest.fixture(scope="session")
def color_data(tmp_path_factory) -> Path:
    """``train/`` (30 per class) and ``test/`` (10 per class), disjoint draws."""
    root = tmp_path_factory.mktemp("colors")
    make_color_classes(root / "train", 30, seed=1)
    make_color_classes(root / "test", 10, seed=2)
    return root


@pytest.fixture(scope="session")
def color_teacher(tmp_path_factory, color_data) -> Path:
    """Weights (safetensors) of a TINY_VIT deit_tiny trained on ``color_data`` (a few
    seconds): a model whose accuracy means something, for pruning, distillation and int8."""
    from edge_vit.training import TrainConfig
    from edge_vit.training.jobs import DataSpec, train_from_scratch

    out = tmp_path_factory.mktemp("color-teacher")
    train_from_scratch("deit_tiny_patch16_224", dict(TINY_VIT),
                       DataSpec(path=str(color_data), split="train"), out,
                       TrainConfig(epochs=5, batch_size=32, lr=2e-3, warmup_epochs=0.5,
                                   threads=1))
    return out / "model.safetensors"
