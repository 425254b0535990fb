"""Prune a model: check the plan, score the units, choose the kept ones, slice a copy.

The choice is written down as a :class:`PruneSpec` first and the copy is cut by
:func:`apply_spec`, the same function that rebuilds a saved model, so what is saved is
exactly what was pruned.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..errors import PruningPlanError
from ..models import ModelSource, create_model
from .importance import Calibration, Importance, compute_importance
from .layout import BlockInfo, describe_blocks
from .plan import PruningPlan
from .spec import BlockSpec, PruneSpec, apply_spec
from .validate import Targets, UnitTarget, resolve_targets


def _top(scores: torch.Tensor, k: int) -> list[int]:
    """Indices of the ``k`` highest scores, ascending; ties go to the lower index."""
    order = torch.argsort(scores.detach().float().cpu(), descending=True, stable=True)
    return sorted(order[:k].tolist())


def _kept(target: UnitTarget | None, scores: dict[int, torch.Tensor] | None,
          index: int) -> list[int] | None:
    if target is None:
        return None
    if target.indices is not None:
        return list(target.indices)
    if target.keep >= target.total:
        return list(range(target.total))
    return _top(scores[index], target.keep)


def _dropped(targets: Targets, scores: Importance | None) -> list[int]:
    extra: list[int] = []
    if targets.depth_extra:
        cand = targets.depth_candidates
        block_scores = scores.blocks[cand].detach().float().cpu()
        order = torch.argsort(block_scores, stable=True)  # lowest importance goes first
        extra = [cand[i] for i in order[:targets.depth_extra].tolist()]
    return sorted({*targets.drop, *extra})


def _source(model: nn.Module, source: ModelSource | None,
            warnings: list[str]) -> ModelSource:
    if source is not None:
        return source
    cfg = getattr(model, "pretrained_cfg", None) or {}
    arch = cfg.get("architecture")
    if not arch:
        raise PruningPlanError("Cannot tell which timm architecture this model is; pass "
                               "source=ModelSource(name, model_kwargs).")
    # Without the build arguments the spec could not be rebuilt: check the defaults fit now,
    # not when saving after all the work.
    with torch.device("meta"):
        default = create_model(arch)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if shapes != {k: tuple(v.shape) for k, v in default.state_dict().items()}:
        raise PruningPlanError(
            f"This {arch} was built with non-default arguments, which the prune spec must "
            "record to rebuild it.", hint="Pass source=ModelSource(name, model_kwargs).")
    warnings.append(f"No ModelSource given: recording {arch} with its default arguments.")
    return ModelSource(name=arch)


def _block_spec(info: BlockInfo, targets: Targets, scores: Importance | None) -> BlockSpec:
    heads = _kept(targets.heads.get(info.index), scores.heads if scores else None, info.index)
    mlp = _kept(targets.mlp.get(info.index), scores.mlp if scores else None, info.index)
    return BlockSpec(
        index=info.index, kind=info.kind,
        num_heads=len(heads) if heads is not None else None, orig_heads=info.num_heads,
        kept_heads=heads,
        mlp_hidden=len(mlp) if mlp is not None else None, orig_mlp=info.mlp_hidden,
        kept_mlp=mlp,
    )


def plan_spec(model: nn.Module, plan: PruningPlan, calib: Calibration | None = None, *,
              source: ModelSource | None = None) -> tuple[PruneSpec, list[str]]:
    """Decide what to keep (no slicing): the spec ``prune_model`` would apply, and warnings."""
    layout = describe_blocks(model)
    targets, warnings = resolve_targets(plan, layout)
    src = _source(model, source, warnings)
    scores = None
    if targets.needs_scores:
        if plan.data_driven and calib is None:
            raise PruningPlanError(f"criterion={plan.criterion} needs calibration images.",
                                   hint="Pass calibration data, or use criterion=magnitude.")
        if not plan.data_driven and calib is not None:
            warnings.append("Calibration images are not used by the magnitude criterion.")
        scores = compute_importance(model, plan.criterion, calib)
    dropped = _dropped(targets, scores)
    if plan.allocate == "global" and scores is not None:
        from .allocate import allocate_global

        allocate_global(plan, targets, scores, dropped)  # the spec's blocks show the result
    spec = PruneSpec(
        arch=src.name, model_kwargs=dict(src.model_kwargs), original_depth=len(layout),
        blocks=[_block_spec(info, targets, scores) for info in layout
                if info.index not in dropped],
        dropped_blocks=dropped, plan=plan, criterion=plan.criterion,
        source_weights=src.weights,
    )
    return spec, warnings


def prune_model(model: nn.Module, plan: PruningPlan, calib: Calibration | None = None, *,
                source: ModelSource | None = None
                ) -> tuple[nn.Module, PruneSpec, list[str]]:
    """Prune a deep copy of ``model`` by ``plan``; ``model`` itself is left untouched.

    ``calib`` (image tensors or (images, labels) pairs) is needed by the taylor and activation
    criteria. ``source`` records the architecture name and kwargs in the spec; without it the
    timm default arguments of ``model.pretrained_cfg['architecture']`` are assumed.
    Returns (pruned model, spec, warnings)."""
    spec, warnings = plan_spec(model, plan, calib, source=source)
    pruned = apply_spec(copy.deepcopy(model), spec)
    return pruned, spec, warnings
