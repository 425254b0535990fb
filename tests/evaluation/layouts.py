"""The shared ImageNet sample (100 real validation images, one per class, two grayscale), and
helpers that lay it out the ways ImageNet is distributed."""

from __future__ import annotations

import shutil
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "data" / "imagenet-sample" / "val"
GRAYSCALE = ("n02096051", "n02823750")  # Airedale, beer glass: mode "L" JPEGs


def sample_files(sample: Path) -> list[tuple[str, Path]]:
    """(synset, image path) for every sample image, in synset order."""
    return [(d.name, f) for d in sorted(sample.iterdir()) for f in sorted(d.iterdir())]


def copy_synset_folders(sample: Path, dest: Path, synsets: list[str] | None = None) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for synset, f in sample_files(sample):
        if synsets is None or synset in synsets:
            (dest / synset).mkdir(exist_ok=True)
            shutil.copy(f, dest / synset / f.name)
    return dest


def flat_copy(sample: Path, dest: Path) -> list[tuple[str, str]]:
    """Copy the sample flat as ILSVRC2012_val_000000NN.JPEG; returns (file name, synset)."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for i, (synset, f) in enumerate(sample_files(sample), start=1):
        name = f"ILSVRC2012_val_{i:08d}.JPEG"
        shutil.copy(f, dest / name)
        out.append((name, synset))
    return out
