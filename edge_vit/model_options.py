"""Which model to start from: a timm name (with arguments, weights or a checkpoint) or a
pruned-model folder, optionally pruned by a plan. What ``info``, ``prune``, ``export`` and the
sweep all need before they do anything else, and nothing format-specific."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .complexity import model_input_size
from .data.images import data_config, list_images, load_images
from .errors import UsageError
from .files import file_sha256
from .models import DEFAULT_MODEL, ModelSource, build_model


@dataclass
class ModelOptions:
    name: str = DEFAULT_MODEL  # timm name, or a pruned-model folder (prune_spec.json)
    pretrained: str | bool | None = None
    checkpoint: Path | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    prune: str | None = None  # "heads=0.34,mlp=0.5" or a plan file path
    criterion: str | None = None  # importance criterion override
    round_to: int | None = None
    # images for data-driven importance (and, in export, int8 calibration), taken
    # class-balanced in a fixed order
    calib_dir: Path | None = None
    calib_size: int = 32  # how many calibrate int8 (export)
    importance_size: int = 256  # how many score a data-driven pruning criterion
    # the labels a criterion scores against: "auto" (the folders' labels when they are ImageNet
    # synsets of a 1000-class model, or one folder per class of the model), "imagenet",
    # "folders", or "none" (the model's own predictions)
    calib_labels: str = "auto"
    seed: int = 0


def unpacked(opts: ModelOptions) -> ModelOptions:
    """Calibration images given as a .tar/.tar.gz archive, replaced by its unpacked folder."""
    from .data.archive import resolve_data_root

    if opts.calib_dir is not None and Path(opts.calib_dir).is_file():
        return dataclasses.replace(opts, calib_dir=resolve_data_root(Path(opts.calib_dir)))
    return opts


def resolve_plan(opts: ModelOptions):
    if not opts.prune:
        return None
    from .pruning import load_plan_file, parse_plan

    text = opts.prune.strip()
    plan = load_plan_file(Path(text)) if Path(text).suffix.lower() in (
        ".json", ".yaml", ".yml") else parse_plan(text)
    # replace() re-runs the plan's own checks on the overridden values
    changes = {k: v for k, v in (("criterion", opts.criterion), ("round_to", opts.round_to))
               if v is not None}
    return dataclasses.replace(plan, **changes) if changes else plan


def load_source_model(opts: ModelOptions):
    """(model, ModelSource, PruneSpec|None, warnings), validating every input before work."""
    model_path = Path(opts.name)
    if model_path.is_dir() and (model_path / "prune_spec.json").exists():
        from .pruning import load_pruned

        if opts.prune:
            raise UsageError("This folder holds an already pruned model; prune its source "
                             "instead, or export it without --prune.")
        model, spec = load_pruned(model_path)
        from .models import WeightsInfo, state_dict_sha256

        origin = spec.source_weights
        note = origin.note if origin is not None and origin.kind == "random" else None
        source = ModelSource(name=spec.arch, model_kwargs=dict(spec.model_kwargs),
                             weights=WeightsInfo(
                                 kind="pruned", source=str(model_path),
                                 sha256=file_sha256(model_path / "model.safetensors"),
                                 state_sha256=state_dict_sha256(model.state_dict()),
                                 note=note))
        return model, source, spec, []
    plan = resolve_plan(opts)  # syntax and ratio ranges: before anything is built
    model, source = build_model(opts.name, model_kwargs=opts.model_kwargs,
                                pretrained=opts.pretrained, checkpoint=opts.checkpoint,
                                seed=opts.seed)
    if plan is None:
        return model, source, None, []
    from .pruning import prune_model, validate_plan

    warnings = validate_plan(plan, model)
    calib, record = None, None
    if plan.criterion != "magnitude":
        if not opts.calib_dir:
            raise UsageError(f"The '{plan.criterion}' criterion needs calibration images: "
                             "pass --calib DIR.")
        calib, record = importance_batches(model, opts)
    pruned, spec, more = prune_model(model, plan, calib=calib, source=source)
    if record is not None:
        spec.importance_data = record
    return pruned, source, spec, warnings + list(more)


LABEL_CHOICES = ("auto", "imagenet", "folders", "none")
_SYNSET = re.compile(r"^n\d{8}$")


def calib_label_space(folder: Path, num_classes: int | None, wanted: str = "auto") -> str | None:
    """Which labels the importance images carry: ``wanted``, or for ``auto`` ImageNet's when
    every class folder is a synset and the model has 1000 classes, the folders' own numbering
    when there is one folder per class of the model, else None (no labels)."""
    if wanted not in LABEL_CHOICES:
        raise UsageError(f"--calib-labels must be one of {', '.join(LABEL_CHOICES)}, "
                         f"not {wanted!r}.")
    if wanted != "auto":
        return None if wanted == "none" else wanted
    folders = sorted(p.name for p in Path(folder).iterdir() if p.is_dir()) \
        if Path(folder).is_dir() else []
    if folders and all(_SYNSET.match(f) for f in folders) and num_classes == 1000:
        return "imagenet"
    if folders and len(folders) == num_classes:
        return "folders"
    return None


def importance_batches(model, opts: ModelOptions) -> tuple[list, dict]:
    """The images a data-driven criterion scores on — with their labels when the folder has
    them (the loss is then the true one, not agreement with the model's own guesses) — in
    batches of 8, and what was used (recorded in the pruning spec)."""
    import torch

    from .data.archive import resolve_data_root

    folder = Path(opts.calib_dir)
    if folder.is_file():
        folder = resolve_data_root(folder)
    cfg = data_config(model, model_input_size(model))
    labels = calib_label_space(folder, getattr(model, "num_classes", None), opts.calib_labels)
    record = {"folder": str(folder), "requested": opts.importance_size,
              "selection": "class-balanced, sorted (first per class in turn)"}
    if labels is None:
        images = load_images(list_images(folder, opts.importance_size), cfg)
        record.update(images=len(images), labels="none: the model's own predictions")
        return list(images.split(8)), record
    from .data.datasets import load_dataset
    from .data.preprocess import prepare

    data = load_dataset(folder, labels=labels, limit=opts.importance_size, seed=opts.seed)
    prepared = prepare(data, cfg)
    x = torch.from_numpy(prepared.batch(0, len(prepared)))
    y = torch.from_numpy(prepared.labels.astype("int64"))
    record.update(images=len(prepared), labels=data.label_space,
                  fingerprint=data.ref(prepared.images).fingerprint)
    return list(zip(x.split(8), y.split(8), strict=True)), record


def default_model_id(name: str, spec, model_kwargs: dict | None = None) -> str:
    """Readable and collision-free: arguments and prune spec each add a short hash."""
    import hashlib
    import json

    base = Path(name).name.split(".", 1)[0]
    if model_kwargs:
        digest = hashlib.sha256(json.dumps(model_kwargs, sort_keys=True).encode()).hexdigest()
        base += f"-args-{digest[:6]}"
    return f"{base}-pruned-{spec.spec_hash()[:8]}" if spec is not None else base
