"""Images for parity checks and calibration, preprocessed the way the model expects.

Preprocessing follows the model's timm data config (resize, crop, interpolation, mean, std) so
that every runtime sees the same tensors. Files are taken in a fixed, sorted, class-balanced
order so a run is reproducible.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UsageError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm", ".tif", ".tiff"}


def data_config(model, input_size: tuple[int, int, int]) -> dict[str, Any]:
    """timm's data config for this model, at the size the model was built for."""
    from timm.data import resolve_model_data_config

    cfg = resolve_model_data_config(model)
    cfg["input_size"] = tuple(input_size)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}


def list_images(folder: Path, limit: int | None = None) -> list[Path]:
    """Image files under ``folder`` (or a .tar/.tar.gz of one), round-robin across
    sub-folders (classes) for balance."""
    folder = Path(folder)
    if folder.is_file():
        from .archive import resolve_data_root

        folder = resolve_data_root(folder)
    if not folder.is_dir():
        raise UsageError(f"Image folder not found: {folder}")
    groups: dict[Path, list[Path]] = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            groups.setdefault(p.parent, []).append(p)
    if not groups:
        raise UsageError(f"No images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {folder}")
    ordered: list[Path] = []
    queues = [list(v) for _, v in sorted(groups.items())]
    while queues and (limit is None or len(ordered) < limit):
        for q in queues:
            if q:
                ordered.append(q.pop(0))
        queues = [q for q in queues if q]
    return ordered[:limit] if limit else ordered


def load_images(paths: list[Path], cfg: dict[str, Any]):
    """Preprocess images into a float32 tensor (N, 3, H, W); grayscale/CMYK become RGB."""
    import torch
    from PIL import Image
    from timm.data import create_transform

    transform = create_transform(
        input_size=tuple(cfg["input_size"]), interpolation=cfg.get("interpolation", "bicubic"),
        mean=tuple(cfg["mean"]), std=tuple(cfg["std"]), crop_pct=cfg.get("crop_pct", 0.875),
        crop_mode=cfg.get("crop_mode", "center"), is_training=False,
    )
    tensors = []
    for p in paths:
        try:
            with Image.open(p) as im:
                tensors.append(transform(im.convert("RGB")))
        except OSError as exc:
            raise UsageError(f"Cannot read image {p}: {exc}") from exc
    return torch.stack(tensors).float()


def random_inputs(n: int, input_size: tuple[int, int, int], seed: int = 0):
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, *input_size), generator=g)
