"""Check a plan against a model before any work, and turn it into per-block targets.

Every impossible request raises :class:`PruningPlanError` here, so scoring and slicing never
start on a plan that cannot finish. What is legal but unusual comes back as warnings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from torch import nn

from ..errors import PruningPlanError
from .layout import BlockInfo, describe_blocks
from .plan import PruningPlan, removed_count


@dataclass
class UnitTarget:
    """How one unit type of one block is cut: a count chosen by importance, or given indices."""

    total: int
    keep: int | None = None
    indices: list[int] | None = None

    @property
    def kept(self) -> int:
        return len(self.indices) if self.indices is not None else int(self.keep)


@dataclass
class Targets:
    heads: dict[int, UnitTarget] = field(default_factory=dict)  # by original block index
    mlp: dict[int, UnitTarget] = field(default_factory=dict)
    drop: list[int] = field(default_factory=list)  # explicit drop_blocks
    depth_extra: int = 0  # further blocks to drop, lowest importance first
    depth_candidates: list[int] = field(default_factory=list)

    @property
    def needs_scores(self) -> bool:
        units = [*self.heads.values(), *self.mlp.values()]
        return self.depth_extra > 0 or any(t.indices is None and t.keep < t.total for t in units)


def round_width(keep: int, total: int, multiple: int) -> int:
    """Nearest multiple of ``multiple`` (half up), never 0, never above ``total``."""
    if multiple <= 1:
        return keep
    return min(max(math.floor(keep / multiple + 0.5) * multiple, multiple), total)


def _keep_from_ratio(n: int, ratio: float) -> tuple[int, bool]:
    """Kept units and whether the at-least-one floor was hit."""
    keep = n - removed_count(n, ratio)
    return max(keep, 1), keep < 1


def _check_indices(indices: list[int], total: int, what: str) -> None:
    if not indices:
        raise PruningPlanError(f"{what} is empty: that would remove every unit.",
                               hint="Drop the whole block with drop_blocks instead.")
    if indices[-1] >= total:
        raise PruningPlanError(f"{what} = {indices} names index {indices[-1]}, but there are "
                               f"only {total} (0-{total - 1}).")


def _unit_target(info: BlockInfo, unit: str, plan: PruningPlan, uniform: float,
                 warnings: list[str]) -> UnitTarget:
    total = info.num_heads if unit == "heads" else info.mlp_hidden
    noun = "heads" if unit == "heads" else "MLP channels"
    where = f"Block {info.index}"
    override = plan.block(info.index)
    amount = getattr(override, unit) if override else None
    indices = getattr(override, f"keep_{unit}") if override else None
    if indices is not None:
        _check_indices(indices, total, f"{where} keep_{unit}")
        target = UnitTarget(total, indices=list(indices))
    elif isinstance(amount, int):
        if amount > total:
            raise PruningPlanError(f"{where} keeps {amount} {noun}, but it has only {total}.")
        target = UnitTarget(total, keep=amount)
    else:
        ratio = uniform if amount is None else amount
        keep, floored = _keep_from_ratio(total, ratio)
        if floored:
            warnings.append(f"{where}: {unit} ratio {ratio} would remove all {total} {noun}; "
                            "keeping 1.")
        if unit == "mlp":
            keep = round_width(keep, total, plan.round_to)
        return UnitTarget(total, keep=keep)
    if unit == "mlp" and target.kept % plan.round_to and target.kept != total:
        warnings.append(f"{where}: MLP width {target.kept} is not a multiple of "
                        f"round_to={plan.round_to} (given explicitly); runtimes prefer multiples "
                        "of 8.")
    return target


def _wants(plan: PruningPlan, unit: str, index: int) -> bool:
    override = plan.block(index)
    if override and (getattr(override, unit) is not None
                     or getattr(override, f"keep_{unit}") is not None):
        amount = getattr(override, unit)
        return not (isinstance(amount, float) and amount == 0.0)
    return getattr(plan, unit) > 0


def resolve_targets(plan: PruningPlan, layout: list[BlockInfo]) -> tuple[Targets, list[str]]:
    """Per-block keep counts / indices for ``plan`` on a model described by ``layout``."""
    n = len(layout)
    warnings: list[str] = []
    for name, indices in (("drop_blocks", plan.drop_blocks),
                          ("blocks", [b.index for b in plan.blocks])):
        bad = [i for i in indices if i >= n]
        if bad:
            raise PruningPlanError(f"Plan {name} names block(s) {bad}, but the model has {n} "
                                   f"blocks (0-{n - 1}).")
    dropped = set(plan.drop_blocks)
    if len(dropped) >= n:
        raise PruningPlanError(f"drop_blocks {plan.drop_blocks} removes every one of the {n} "
                               "blocks.")
    both = sorted(dropped & {b.index for b in plan.blocks})
    if both:
        raise PruningPlanError(f"Block(s) {both} are in drop_blocks and also have overrides.")

    targets = Targets(drop=sorted(dropped))
    for info in layout:
        if info.index in dropped:
            continue
        for unit, width, norm in (("heads", info.num_heads, info.attn_norm),
                                  ("mlp", info.mlp_hidden, info.mlp_norm)):
            wanted = _wants(plan, unit, info.index)
            if width is None:
                if wanted:
                    raise PruningPlanError(_no_unit_message(info, unit))
                continue
            target = _unit_target(info, unit, plan, getattr(plan, unit), warnings)
            getattr(targets, unit)[info.index] = target
            if norm and target.kept < width:
                warnings.append(
                    f"Block {info.index}: its {'attention' if unit == 'heads' else 'MLP'} "
                    "has a LayerNorm over the pruned width; it is sliced too, so outputs "
                    "change by more than the removed units.")

    total_drop = removed_count(n, plan.depth)
    if total_drop >= n:
        warnings.append(f"depth ratio {plan.depth} would remove all {n} blocks; keeping 1.")
        total_drop = n - 1
    targets.depth_extra = max(0, total_drop - len(dropped))
    overridden = {b.index for b in plan.blocks}
    targets.depth_candidates = [i for i in range(n) if i not in dropped and i not in overridden]
    if targets.depth_extra > len(targets.depth_candidates):
        raise PruningPlanError(
            f"depth={plan.depth} asks for {total_drop} of {n} blocks removed, but only "
            f"{len(dropped) + len(targets.depth_candidates)} can be: blocks with overrides "
            f"({sorted(overridden)}) are kept.")
    if not targets.drop and not targets.depth_extra and all(
            t.kept == t.total for t in [*targets.heads.values(), *targets.mlp.values()]):
        warnings.append("The plan removes nothing from this model.")
    return targets, warnings


def _no_unit_message(info: BlockInfo, unit: str) -> str:
    if unit == "heads" and info.kind == "resmlp":
        return (f"Block {info.index} is a ResMLP block: it has no attention heads, so heads "
                "pruning does not apply (use mlp and depth).")
    part = "attention" if unit == "heads" else "MLP"
    return (f"Block {info.index}'s {part} is not a plain timm {part}; edge-vit cannot slice "
            f"it, so '{unit}' pruning does not apply there.")


def validate_plan(plan: PruningPlan, model: nn.Module) -> list[str]:
    """Raise PruningPlanError if ``plan`` cannot be applied to ``model``; return warnings."""
    return resolve_targets(plan, describe_blocks(model))[1]
