"""Decode and preprocess the images once, identically for every runtime.

The timm eval transform (from the manifest's data config) is split at its to-tensor step:
the geometric part (resize, crop) runs once per image and its RGB uint8 output is kept -- in
memory on the dataset, and on disk as ``pixels.npy`` (N, H, W, 3) so a later run decodes
nothing; the rest (to-tensor, normalize) runs per batch on the kept pixels. Because the kept
image is exactly the PIL image the full transform would have passed on, the tensors equal
``timm`` preprocessing bit for bit, at a quarter of float32's size (7.5 GB for the 50 000
ImageNet validation images at 224 px).

Unreadable images are skipped and listed; they are not fatal unless none can be read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError
from ..files import atomic_dir, cache_root
from ..progress import progress_bar
from .datasets import EvalDataset, LabeledImage

log = logging.getLogger(__name__)

PREPROCESS_VERSION = 1
UNREADABLE_NOTE = "unreadable image(s) skipped, not scored"  # the start of the result note
_IN_MEMORY_BYTES = 1 << 30  # larger uncached pixel arrays are backed by a temporary file
_TO_TENSOR = ("ToTensor", "MaybeToTensor", "PILToTensor", "MaybePILToTensor")


def image_cache_dir(cache_dir: Path | None = None) -> Path:
    """The decode cache: preprocessed pixels per data set and data config, shared by eval,
    training and export (``<cache root>/eval/images``, where it has always been)."""
    return cache_root(cache_dir) / "eval" / "images"


class NoReadableImagesError(UsageError):
    """Not one image of the data set could be decoded: a data problem, not an artifact's."""


def config_key(cfg: dict[str, Any]) -> str:
    """Hash of the preprocessing: the settings (input size, interpolation, crop, mean, std)
    and the versions of the libraries that resize (a new Pillow may round differently)."""
    import PIL
    import timm
    import torchvision

    versions = {"pillow": PIL.__version__, "torchvision": torchvision.__version__,
                "timm": timm.__version__}
    text = json.dumps({"v": PREPROCESS_VERSION, "versions": versions, **cfg}, sort_keys=True,
                      default=list)
    return hashlib.sha256(text.encode()).hexdigest()


def build_transforms(cfg: dict[str, Any]) -> tuple[Callable, Callable]:
    """(geometric: PIL -> PIL, finish: PIL -> CHW float tensor) from timm's eval transform,
    built exactly as ``edge_vit.data.images.load_images`` builds it."""
    from timm.data import create_transform
    from torchvision import transforms as T

    full = create_transform(
        input_size=tuple(cfg["input_size"]), interpolation=cfg.get("interpolation", "bicubic"),
        mean=tuple(cfg["mean"]), std=tuple(cfg["std"]), crop_pct=cfg.get("crop_pct", 0.875),
        crop_mode=cfg.get("crop_mode", "center"), is_training=False)
    steps = list(full.transforms)
    cut = next((i for i, t in enumerate(steps) if type(t).__name__ in _TO_TENSOR), None)
    if cut is None:  # pragma: no cover - every timm eval transform converts to a tensor
        raise UsageError(f"timm's eval transform for {cfg} has no to-tensor step.")
    return T.Compose(steps[:cut]), T.Compose(steps[cut:])


@dataclass
class PreparedImages:
    """Preprocessed images of one dataset under one data config."""

    pixels: np.ndarray  # uint8 (N, H, W, 3) after resize+crop; a read-only memmap from disk
    images: list[LabeledImage]  # the readable images, in order
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    finish: Callable | None = field(default=None, repr=False)
    from_disk: bool = False

    @property
    def labels(self) -> np.ndarray:
        return np.asarray([im.label for im in self.images], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, start: int, stop: int) -> np.ndarray:
        """Float32 NCHW batch of images ``start:stop``, normalized as timm does."""
        import torch
        from PIL import Image

        with torch.inference_mode():
            return torch.stack([self.finish(Image.fromarray(np.asarray(p)))
                                for p in self.pixels[start:stop]]).float().numpy()

    def notes(self) -> list[str]:
        if not self.unreadable:
            return []
        shown = "; ".join(f"{p} ({why})" for p, why in self.unreadable[:5])
        more = f" and {len(self.unreadable) - 5} more" if len(self.unreadable) > 5 else ""
        return [f"{len(self.unreadable)} {UNREADABLE_NOTE}: {shown}{more}"]


def prepare(dataset: EvalDataset, cfg: dict[str, Any], cache_dir: Path | None = None,
            workers: int | None = None, show_progress: bool = False) -> PreparedImages:
    """Preprocessed pixels of ``dataset`` for ``cfg``: from memory, else from ``cache_dir``
    (an ``images`` folder; None: no disk cache), else decoded now (and stored there)."""
    ckey = config_key(cfg)
    if ckey in dataset.prepared:
        return dataset.prepared[ckey]
    geometric, finish = build_transforms(cfg)
    folder = Path(cache_dir) / f"{dataset.fingerprint[:24]}-{ckey[:12]}" if cache_dir else None
    prepared = _read(folder, dataset, finish) if folder else None
    if prepared is None and folder is not None:
        try:
            prepared = _decode_to(folder, dataset, cfg, geometric, finish, workers,
                                  show_progress)
        except OSError as exc:  # full or read-only disk: decode again next time, no more
            log.warning("cannot cache preprocessed images in %s: %s", folder, exc)
    if prepared is None:
        prepared = _decode_to(None, dataset, cfg, geometric, finish, workers, show_progress)
    if not prepared.images:
        raise NoReadableImagesError(f"None of the {len(dataset.images)} images under "
                                    f"{dataset.root} could be read: {prepared.notes()[0]}")
    dataset.prepared[ckey] = prepared
    return prepared


def _load_one(root: Path, item: LabeledImage, geometric) -> np.ndarray | str:
    from PIL import Image

    try:
        with Image.open(root / item.path) as im:
            out = geometric(im.convert("RGB"))  # grayscale, CMYK, palette, RGBA -> RGB
        return np.asarray(out, dtype=np.uint8)
    except Exception as exc:  # PIL raises OSError, ValueError, DecompressionBombError, ...
        text = str(exc).splitlines()[0][:120] if str(exc) else ""
        return f"{type(exc).__name__}: {text}"


def _decode(dataset: EvalDataset, out: np.ndarray, geometric, workers: int | None,
            show_progress: bool) -> tuple[list[LabeledImage], list[tuple[str, str]]]:
    """Decode into ``out`` (N, H, W, 3), readable images first in order; returns
    (readable images, unreadable (path, reason))."""
    workers = workers or min(8, os.cpu_count() or 1)  # PIL decodes with the GIL released
    kept: list[LabeledImage] = []
    unreadable: list[tuple[str, str]] = []
    with progress_bar(show_progress, "decoding images", len(dataset.images)) as advance, \
            ThreadPoolExecutor(max_workers=workers) as pool:
        decoded = pool.map(lambda it: _load_one(dataset.root, it, geometric), dataset.images)
        for item, arr in zip(dataset.images, decoded, strict=True):
            if isinstance(arr, np.ndarray) and arr.shape != out.shape[1:]:
                arr = f"preprocessed to {arr.shape}, expected {out.shape[1:]}"
            if isinstance(arr, str):
                unreadable.append((item.path, arr))
                log.warning("cannot read %s: %s", item.path, arr)
            else:
                out[len(kept)] = arr
                kept.append(item)
            advance(1)
    return kept, unreadable


def _decode_to(folder: Path | None, dataset: EvalDataset, cfg, geometric, finish,
               workers: int | None, show_progress: bool) -> PreparedImages:
    _, h, w = (int(v) for v in cfg["input_size"])
    shape = (len(dataset.images), h, w, 3)
    if folder is None:
        # no disk cache: big sets still go to an anonymous temporary file, not to memory
        big = int(np.prod(shape)) > _IN_MEMORY_BYTES
        pixels = np.memmap(tempfile.TemporaryFile(prefix="edge-vit-pixels-"), np.uint8, "w+",
                           shape=shape) if big else np.empty(shape, np.uint8)
        kept, unreadable = _decode(dataset, pixels, geometric, workers, show_progress)
        return PreparedImages(pixels=pixels[:len(kept)], images=kept, unreadable=unreadable,
                              finish=finish)
    # Decode straight into the cache file (no second copy in memory), in a temporary folder
    # renamed into place when complete, so readers never see half a cache.
    with atomic_dir(folder) as tmp:
        pixels = np.lib.format.open_memmap(tmp / "pixels.npy", mode="w+", dtype=np.uint8,
                                           shape=shape)
        kept, unreadable = _decode(dataset, pixels, geometric, workers, show_progress)
        pixels.flush()
        del pixels
        (tmp / "index.json").write_text(json.dumps({
            "fingerprint": dataset.fingerprint, "root": str(dataset.root), "data_config": cfg,
            "images": [im.path for im in kept], "unreadable": [list(u) for u in unreadable]}))
    prepared = _read(folder, dataset, finish)
    if prepared is None:  # pragma: no cover - written a moment ago
        raise UsageError(f"The preprocessed-image cache {folder} could not be read back.")
    prepared.from_disk = False
    return prepared


def _read(folder: Path, dataset: EvalDataset, finish) -> PreparedImages | None:
    try:
        index = json.loads((folder / "index.json").read_text())
        pixels = np.load(folder / "pixels.npy", mmap_mode="r")
    except (OSError, ValueError):
        return None
    by_path = {im.path: im for im in dataset.images}
    try:
        images = [by_path[p] for p in index["images"]]
        unreadable = [(str(p), str(why)) for p, why in index["unreadable"]]
    except (KeyError, TypeError, ValueError):
        return None
    if index.get("fingerprint") != dataset.fingerprint or len(pixels) < len(images):
        return None
    return PreparedImages(pixels=pixels[:len(images)], images=images, unreadable=unreadable,
                          finish=finish, from_disk=True)
