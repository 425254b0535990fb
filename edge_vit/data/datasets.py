"""Labelled validation images: which files, with which class index, in which layout.

Layouts (``DataRef.layout``):

* ``synset-folders`` -- one folder per synset (``n01440764/*.JPEG``), ImageNet-1k indices;
* ``flat+LOC_val_solution.csv`` -- images in one folder, labels from Kaggle's CSV;
* ``flat+val.txt`` -- images in one folder, integer class indices per file name;
* ``image-folder`` -- only with ``labels="folders"``: any folder per class, index = sorted
  folder order (for models that are not ImageNet-1k classifiers, e.g. tiny 10-class tests).

Nothing is decoded here: listing is a directory walk and a ``stat`` per file, so the data
fingerprint is known before any image is read.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..results import DataRef
from .images import IMAGE_SUFFIXES
from .labels import (
    IMAGENET_1K,
    LOC_SOLUTION,
    VAL_TXT,
    imagenet_synsets,
    read_loc_solution,
    read_val_txt,
    synset_to_index,
)

SYNSET_FOLDERS = "synset-folders"
FLAT_LOC = f"flat+{LOC_SOLUTION}"
FLAT_VAL_TXT = f"flat+{VAL_TXT}"
IMAGE_FOLDER = "image-folder"
LABEL_CHOICES = ("imagenet", "folders")
FOLDERS_SPACE = "folders"
# Kaggle's archive keeps the CSV at the top and the images three folders down.
_KAGGLE_VAL = Path("ILSVRC") / "Data" / "CLS-LOC" / "val"


@dataclass(frozen=True)
class LabeledImage:
    path: str  # relative to the data root, POSIX separators
    size: int  # bytes
    label: int  # class index in the label space


@dataclass
class EvalDataset:
    """The images one evaluation uses (after ``--limit``), and how they were found."""

    root: Path
    layout: str
    label_space: str  # "imagenet-1k" or "folders"
    images: list[LabeledImage]
    class_names: list[str]  # index -> synset (imagenet-1k) or folder name
    available: int  # images found before the limit
    limit: int | None = None
    seed: int | None = None
    notes: list[str] = field(default_factory=list)
    # preprocessed pixels per data config, filled by data.preprocess (one decode per run)
    prepared: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.images)

    @property
    def num_classes(self) -> int:
        return len({im.label for im in self.images})

    def ref(self, images: list[LabeledImage] | None = None) -> DataRef:
        """DataRef of ``images`` (default: all selected), e.g. only those that could be read."""
        used = self.images if images is None else images
        return DataRef(root=str(self.root), layout=self.layout, fingerprint=fingerprint(used),
                       num_images=len(used), num_classes=len({im.label for im in used}),
                       label_space=self.label_space, limit=self.limit,
                       subset_seed=self.seed if self.limit is not None else None)


def fingerprint(images: list[LabeledImage]) -> str:
    """sha256 over (relative path, size, label) of ``images``, in path order."""
    h = hashlib.sha256()
    for im in sorted(images, key=lambda i: i.path):
        h.update(os.fsencode(im.path))
        h.update(f"\0{im.size}\0{im.label}\n".encode())
    return h.hexdigest()


def load_dataset(root: Path, labels: str = "imagenet", limit: int | None = None,
                 seed: int = 0) -> EvalDataset:
    """Find the layout of ``root`` and label its images.

    ``labels="imagenet"`` (default) uses canonical ImageNet-1k indices whatever subset is
    present; ``labels="folders"`` numbers sorted class folders 0..N-1 instead."""
    from .archive import resolve_data_root

    root = Path(root)
    if root.is_file():  # a .tar/.tar.gz of the folder
        root = resolve_data_root(root)
    if labels not in LABEL_CHOICES:
        raise UsageError(f"labels must be one of {', '.join(LABEL_CHOICES)}, not {labels!r}.")
    if limit is not None and limit < 1:
        raise UsageError("--limit must be at least 1.")
    if not root.is_dir():
        raise UsageError(f"Data folder not found: {root}")
    notes: list[str] = []
    if labels == "folders":
        layout, items, names = _image_folder(root, notes)
    else:
        layout, items, names = _imagenet(root, notes)
    available = len(items)
    chosen = select_balanced(items, limit, seed) if limit is not None else items
    if limit is not None and limit > available:
        notes.append(f"--limit {limit} is more than the {available} images found; using all.")
    return EvalDataset(root=root.resolve(), layout=layout,
                       label_space=FOLDERS_SPACE if labels == "folders" else IMAGENET_1K,
                       images=sorted(chosen, key=lambda i: i.path), class_names=names,
                       available=available, limit=limit, seed=seed if limit is not None else None,
                       notes=notes)


def select_balanced(images: list[LabeledImage], limit: int, seed: int = 0
                    ) -> list[LabeledImage]:
    """A class-balanced subset: each class's images shuffled with ``seed``, then taken one
    per class round-robin over the classes in index order until ``limit`` are chosen."""
    by_class: dict[int, list[LabeledImage]] = {}
    for im in sorted(images, key=lambda i: i.path):
        by_class.setdefault(im.label, []).append(im)
    rng = random.Random(seed)
    queues = []
    for label in sorted(by_class):
        group = by_class[label]
        rng.shuffle(group)
        queues.append(group)
    chosen: list[LabeledImage] = []
    depth = 0
    while len(chosen) < limit and any(depth < len(q) for q in queues):
        for q in queues:
            if depth < len(q) and len(chosen) < limit:
                chosen.append(q[depth])
        depth += 1
    return chosen


def _is_image(p: Path) -> bool:
    return (p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
            and p.is_file())


def _images_in(folder: Path, recursive: bool) -> list[Path]:
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if _is_image(p)
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _item(root: Path, path: Path, label: int) -> LabeledImage:
    return LabeledImage(path=path.relative_to(root).as_posix(), size=path.stat().st_size,
                        label=label)


def _class_folders(root: Path) -> dict[str, list[Path]]:
    folders = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = _images_in(d, recursive=True)
        if files:
            folders[d.name] = files
    return folders


def _imagenet(root: Path, notes: list[str]) -> tuple[str, list[LabeledImage], list[str]]:
    synsets = list(imagenet_synsets())
    for images_dir in (root, root / _KAGGLE_VAL):
        flat = _images_in(images_dir, recursive=False) if images_dir.is_dir() else []
        labels_file = next((root / n for n in (LOC_SOLUTION, VAL_TXT) if (root / n).is_file()),
                           None)
        if flat and labels_file is not None:
            return (*_flat(root, flat, labels_file, notes), synsets)
    folders = _class_folders(root)
    if not folders:
        flat = _images_in(root, recursive=False)
        if flat:
            raise UsageError(
                f"{root} holds {len(flat)} images but no labels file ({LOC_SOLUTION} or "
                f"{VAL_TXT}) and no class folders.",
                hint=f"Put {LOC_SOLUTION} or {VAL_TXT} beside the images, or sort them into "
                     "one folder per synset.")
        raise UsageError(f"No images ({', '.join(sorted(IMAGE_SUFFIXES))}) found in {root} or "
                         "its sub-folders: not a known data layout.",
                         hint="Expected n01440764/*.JPEG folders, or a flat folder of images "
                              f"with {LOC_SOLUTION} or {VAL_TXT}.")
    items: list[LabeledImage] = []
    for name, files in folders.items():
        try:
            index = synset_to_index(name, f"folder {root / name}")
        except UsageError as exc:
            if (root / "val").is_dir() and name == "val":
                exc.hint = f"This looks like a data set root: pass --data {root / 'val'}."
            raise
        items.extend(_item(root, p, index) for p in files)
    loose = _images_in(root, recursive=False)
    if loose:
        notes.append(f"{len(loose)} image(s) directly in {root} have no class folder and were "
                     "ignored.")
    return SYNSET_FOLDERS, items, synsets


def _flat(root: Path, files: list[Path], labels_file: Path, notes: list[str]
          ) -> tuple[str, list[LabeledImage]]:
    if labels_file.name == LOC_SOLUTION:
        table = read_loc_solution(labels_file)  # keyed by image id = file stem
        layout, key = FLAT_LOC, (lambda p: p.stem)
    else:
        table = read_val_txt(labels_file)  # keyed by file name (stem accepted too)
        layout, key = FLAT_VAL_TXT, (lambda p: p.name if p.name in table else p.stem)
    items, unlabeled = [], []
    for p in files:
        label = table.get(key(p))
        if label is None:
            unlabeled.append(p.name)
        else:
            items.append(_item(root, p, label))
    if not items:
        raise UsageError(f"None of the {len(files)} images in {files[0].parent} is listed in "
                         f"{labels_file}.")
    if unlabeled:
        notes.append(f"{len(unlabeled)} image(s) not listed in {labels_file.name} were ignored "
                     f"(e.g. {', '.join(unlabeled[:3])}).")
    return layout, items


def _image_folder(root: Path, notes: list[str]) -> tuple[str, list[LabeledImage], list[str]]:
    folders = _class_folders(root)
    if not folders:
        raise UsageError(f"--labels folders needs one sub-folder of images per class; {root} "
                         "has none.")
    names = sorted(folders)
    items = [_item(root, p, i) for i, name in enumerate(names) for p in folders[name]]
    loose = _images_in(root, recursive=False)
    if loose:
        notes.append(f"{len(loose)} image(s) directly in {root} have no class folder and were "
                     "ignored.")
    return IMAGE_FOLDER, items, names
