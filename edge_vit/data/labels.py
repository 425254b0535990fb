"""Class indices of ImageNet-1k, in the canonical order every timm classifier was trained on,
and the two labels files ImageNet's validation set ships with.

The order comes from timm (``timm.data.ImageNetInfo``: the 1000 WordNet synsets, sorted), never
from the folders present on disk, so a subset of the classes still scores correctly.
"""

from __future__ import annotations

import csv
import functools
import re
from pathlib import Path

from ..errors import UsageError

IMAGENET_1K = "imagenet-1k"
NUM_IMAGENET_CLASSES = 1000
SYNSET_PATTERN = re.compile(r"^n\d{8}$")

LOC_SOLUTION = "LOC_val_solution.csv"  # Kaggle: ImageId,PredictionString ("n01751748 x y x y ...")
VAL_TXT = "val.txt"  # Caffe: "ILSVRC2012_val_00000001.JPEG 65"


@functools.lru_cache(maxsize=1)
def imagenet_synsets() -> tuple[str, ...]:
    """The 1000 ImageNet-1k synsets; the position of each is its class index."""
    from timm.data import ImageNetInfo

    synsets = tuple(ImageNetInfo("imagenet-1k").label_names())
    if len(synsets) != NUM_IMAGENET_CLASSES:  # pragma: no cover - a broken timm install
        raise UsageError(f"timm's ImageNet-1k synset list has {len(synsets)} entries, not 1000.")
    return synsets


@functools.lru_cache(maxsize=1)
def _synset_index() -> dict[str, int]:
    return {s: i for i, s in enumerate(imagenet_synsets())}


def synset_to_index(synset: str, where: str = "") -> int:
    """Canonical class index of ``synset``; UsageError if it is not an ImageNet-1k class."""
    index = _synset_index().get(synset)
    if index is not None:
        return index
    at = f" ({where})" if where else ""
    if SYNSET_PATTERN.match(synset):
        raise UsageError(f"Synset {synset}{at} is not one of the 1000 ImageNet-1k classes.",
                         hint="ImageNet-21k/22k classes cannot be scored by a 1k classifier; "
                              "remove them from the data folder.")
    raise UsageError(f"{synset!r}{at} is not an ImageNet synset (like n01440764).",
                     hint="For a generic folder-per-class data set, pass --labels folders "
                          "(class index = sorted folder order).")


def read_loc_solution(path: Path) -> dict[str, int]:
    """``LOC_val_solution.csv`` -> {image id (file stem): class index}."""
    labels: dict[str, int] = {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header or [h.strip() for h in header[:2]] != ["ImageId", "PredictionString"]:
            raise UsageError(f"{path} does not start with the header ImageId,PredictionString.")
        for line, row in enumerate(reader, start=2):
            if not row or not row[0].strip():
                continue
            tokens = row[1].split() if len(row) > 1 else []
            if not tokens:
                raise UsageError(f"{path}:{line}: no synset for {row[0]!r}.")
            labels[row[0].strip()] = synset_to_index(tokens[0], f"{path.name} line {line}")
    if not labels:
        raise UsageError(f"{path} lists no images.")
    return labels


def read_val_txt(path: Path) -> dict[str, int]:
    """``val.txt`` -> {file name: class index}; names may contain spaces (label is last)."""
    labels: dict[str, int] = {}
    with open(path, encoding="utf-8") as fh:
        for line, text in enumerate(fh, start=1):
            text = text.strip()
            if not text:
                continue
            parts = text.rsplit(None, 1)
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                raise UsageError(f"{path}:{line}: expected '<file name> <class index>', "
                                 f"got {text[:80]!r}.")
            index = int(parts[1])
            if not 0 <= index < NUM_IMAGENET_CLASSES:
                raise UsageError(f"{path}:{line}: class index {index} is outside ImageNet-1k's "
                                 f"0..{NUM_IMAGENET_CLASSES - 1}.")
            labels[parts[0]] = index
    if not labels:
        raise UsageError(f"{path} lists no images.")
    return labels
