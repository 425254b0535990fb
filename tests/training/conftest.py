"""A learnable image-folder data set made on the fly: each class a colour, with noise and
random offsets, so a tiny ViT learns it in a few epochs and a test can demand real learning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

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
