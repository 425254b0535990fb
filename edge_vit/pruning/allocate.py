"""Global allocation: how many heads and MLP channels each block keeps when a plan's ratios
apply to the model as a whole (``allocate=global``), decided across blocks by importance.

Within one unit type (heads, or MLP channels) every unit costs the same MACs in every block
of a ViT, so keeping the same total count as the uniform plan keeps the same MACs (up to the
rounding of MLP widths); which units stay is decided by their scores across blocks, each
block's scores divided by their mean (Torch-Pruning's default normaliser), so that a block
loses more where its own units are unequal. Every block keeps at least one head and at least
``round_to`` channels; widths are then rounded to ``round_to`` per block.
"""

from __future__ import annotations

import torch

from ..errors import PruningPlanError
from .importance import Importance
from .plan import PruningPlan, removed_count
from .validate import Targets, UnitTarget, round_width


def allocate_global(plan: PruningPlan, targets: Targets, scores: Importance,
                    dropped: list[int]) -> list[str]:
    """Replace the per-block keep counts of ``targets`` (those the uniform ratios set) by a
    global allocation; returns notes on what was decided."""
    notes = []
    for unit in ("heads", "mlp"):
        ratio = getattr(plan, unit)
        eligible = {i: t for i, t in getattr(targets, unit).items()
                    if i not in dropped and t.indices is None and not _overridden(plan, i, unit)}
        if ratio == 0 or not eligible:
            continue
        by_block = getattr(scores, unit)
        floor = {i: 1 if unit == "heads" else min(plan.round_to, t.total)
                 for i, t in eligible.items()}
        total = sum(t.total for t in eligible.values())
        keep_total = total - removed_count(total, ratio)
        if keep_total < sum(floor.values()):
            what = "head" if unit == "heads" else f"{plan.round_to} MLP channels"
            raise PruningPlanError(
                f"global {unit}={ratio} keeps {keep_total} of {total} {unit}, fewer than one "
                f"{what} in each of the {len(eligible)} blocks.",
                hint=f"Lower {unit}, or drop whole blocks with depth/drop_blocks instead.")
        counts = _counts(eligible, by_block, floor, keep_total)
        for i, t in eligible.items():
            keep = counts[i] if unit == "heads" else round_width(counts[i], t.total,
                                                                  plan.round_to)
            getattr(targets, unit)[i] = UnitTarget(t.total, keep=keep)
        kept = [getattr(targets, unit)[i].kept for i in sorted(eligible)]
        notes.append(f"global allocation of {unit}: {sum(kept)} of {total} kept "
                     f"(uniform would keep {keep_total}), per block {kept}")
    return notes


def _overridden(plan: PruningPlan, index: int, unit: str) -> bool:
    override = plan.block(index)
    return override is not None and (getattr(override, unit) is not None
                                     or getattr(override, f"keep_{unit}") is not None)


def _counts(eligible: dict[int, UnitTarget], by_block: dict[int, torch.Tensor],
            floor: dict[int, int], keep_total: int) -> dict[int, int]:
    """How many units each block keeps: its ``floor`` best, then the globally best of the
    rest by mean-normalised score (ties to the lower block, then the lower unit)."""
    counts = dict(floor)
    pool = []
    for i in sorted(eligible):
        s = by_block[i].detach().float().cpu()
        s = s / s.mean().clamp_min(1e-12)
        order = torch.argsort(s, descending=True, stable=True).tolist()
        pool += [(-float(s[j]), i, rank) for rank, j in enumerate(order) if rank >= floor[i]]
    pool.sort()
    for _, i, _ in pool[:keep_total - sum(floor.values())]:
        counts[i] += 1
    return counts
