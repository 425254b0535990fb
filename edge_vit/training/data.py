"""Image data for training, decoded once into uint8 arrays with the model's own eval
preprocessing (resize + crop from timm's data config), then augmented per batch in torch.

A data set is an image folder (ImageNet val layout or one folder per class) or a .tar/.tar.gz
of one (see ``edge_vit/data/archive.py``); ``split`` picks a sub-folder such as train/ or test/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.archive import resolve_data_root
from ..data.datasets import EvalDataset, load_dataset
from ..data.preprocess import image_cache_dir, prepare
from ..errors import UsageError
from ..results import DataRef


@dataclass
class TrainData:
    """Preprocessed images of one split: what the model sees before normalization."""

    pixels: np.ndarray  # uint8 (N, H, W, 3)
    labels: np.ndarray  # int64 (N,)
    class_names: list[str]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    ref: DataRef
    paths: tuple[str, ...] = ()  # absolute paths of the images, to keep data sets apart

    def __len__(self) -> int:
        return len(self.labels)


def split_folder(root: Path, split: str | None) -> Path:
    """``root/split`` when given (train/test/val); the folder itself otherwise."""
    if not split:
        return root
    sub = root / split
    if not sub.is_dir():
        found = sorted(p.name for p in root.iterdir() if p.is_dir())[:8]
        raise UsageError(f"No '{split}' folder in {root} (found: {', '.join(found) or 'none'}).")
    return sub


def load_split(path: Path, data_cfg: dict[str, Any], *, split: str | None = None,
               labels: str = "folders", limit: int | None = None, seed: int = 0,
               cache_dir: Path | None = None, show_progress: bool = False) -> TrainData:
    """Decode ``path[/split]`` with the model's eval preprocessing, into the same cache as
    ``edge-vit eval`` (so a split decoded for training is not decoded again to score it)."""
    root = split_folder(resolve_data_root(Path(path), cache_dir), split)
    dataset: EvalDataset = load_dataset(root, labels=labels, limit=limit, seed=seed)
    splits = {"train", "test", "val", "valid", "validation"}
    if labels == "folders" and len(dataset.class_names) > 1 and \
            set(dataset.class_names) <= splits:
        raise UsageError(f"The class folders of {root} are {', '.join(dataset.class_names)}: "
                         "that is a data set with splits, not classes.",
                         hint="Pick one with --split (and --val-split).")
    prepared = prepare(dataset, data_cfg, cache_dir=image_cache_dir(cache_dir),
                       show_progress=show_progress)
    return TrainData(pixels=np.asarray(prepared.pixels), labels=prepared.labels,
                     class_names=list(dataset.class_names),
                     mean=tuple(data_cfg["mean"]), std=tuple(data_cfg["std"]),
                     ref=dataset.ref(prepared.images),
                     paths=tuple(str(dataset.root / im.path) for im in prepared.images))
