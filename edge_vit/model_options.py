"""Which model to start from: a timm name (with arguments, weights or a checkpoint) or a
pruned-model folder, optionally pruned by a plan. What ``info``, ``prune``, ``export`` and the
sweep all need before they do anything else, and nothing format-specific."""

from __future__ import annotations

import dataclasses
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
    # images for data-driven importance (and, in export, int8 calibration): how many, taken
    # class-balanced in a fixed order
    calib_dir: Path | None = None
    calib_size: int = 32
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
    calib = None
    if plan.criterion != "magnitude":
        if not opts.calib_dir:
            raise UsageError(f"The '{plan.criterion}' criterion needs calibration images: "
                             "pass --calib DIR.")
        cfg = data_config(model, model_input_size(model))
        images = load_images(list_images(opts.calib_dir, opts.calib_size), cfg)
        calib = list(images.split(8))
    pruned, spec, more = prune_model(model, plan, calib=calib, source=source)
    return pruned, source, spec, warnings + list(more)


def default_model_id(name: str, spec, model_kwargs: dict | None = None) -> str:
    """Readable and collision-free: arguments and prune spec each add a short hash."""
    import hashlib
    import json

    base = Path(name).name.split(".", 1)[0]
    if model_kwargs:
        digest = hashlib.sha256(json.dumps(model_kwargs, sort_keys=True).encode()).hexdigest()
        base += f"-args-{digest[:6]}"
    return f"{base}-pruned-{spec.spec_hash()[:8]}" if spec is not None else base
