"""The other way to a table: one measured model and its per-layer breakdown.

From the unpruned model's p50 and its breakdown (``edge-vit profile --layers``): per block
the attention and the MLP time, scaled linearly with the heads and the MLP width kept (their
MACs do), the norms and residual adds fixed; the patch embedding, final norm and head fixed.
Profiled runs are slower than real ones: every op time is scaled by p50 / (profiled run).
What the ops do not account for (the runtime between ops) is per op, not per MAC: it is
spread over the groups by their op counts and does not shrink with width. One export and one
measurement instead of the sampled variants; how well it predicts is measured the same way
(held-out variants), beside the whole-model table's.
"""

from __future__ import annotations

import statistics

from ..errors import UsageError
from .table import Fitted, Structure


def layer_components(profile, p50_ms: float) -> dict:
    """Per-block mean attention / MLP / rest ms and the fixed ms, in real-run milliseconds."""
    if profile.status != "ok" or not profile.rounds:
        raise UsageError(f"No per-layer breakdown to build from: {profile.error}")
    wall = statistics.median(r.wall_ms for r in profile.rounds if r.wall_ms) \
        if any(r.wall_ms for r in profile.rounds) else None
    ops_ms = sum(g.ms for g in profile.summary)
    if not ops_ms:
        raise UsageError("The per-layer breakdown holds no op time.")
    run_ms = max(wall or ops_ms, ops_ms)  # ops overlapping on threads: no gap to spread
    scale = p50_ms / run_ms
    gap = (run_ms - ops_ms) * scale
    total_ops = sum(g.ops for g in profile.summary) or 1
    per_op_gap = gap / total_ops
    blocks = [g for g in profile.groups if g.group.startswith("blocks.")]
    depth = len({g.group for g in blocks})
    if not depth:
        raise UsageError("The per-layer breakdown has no blocks (was it a ViT?)")

    def mean(part: str, with_gap: bool) -> float:
        rows = [g for g in blocks if g.part == part]
        return sum(g.ms * scale + (g.ops * per_op_gap if with_gap else 0.0)
                   for g in rows) / depth

    attn, mlp = mean("attn", False), mean("mlp", False)
    rest = sum(mean(p, False) for p in ("norms", "residual", "fused"))
    block_gap = sum(g.ops for g in blocks) * per_op_gap / depth
    fixed = p50_ms - depth * (attn + mlp + rest + block_gap)
    return {"attn_ms": attn, "mlp_ms": mlp, "rest_ms": rest, "block_overhead_ms": block_gap,
            "fixed_ms": fixed, "scale": scale, "depth": depth, "p50_ms": p50_ms}


def fitted_from_layers(c: dict, s: Structure, metric: str = "p50") -> Fitted:
    if c["depth"] != s.depth:
        raise UsageError(f"The breakdown has {c['depth']} blocks, the table's model {s.depth}.")
    block = c["attn_ms"] + c["mlp_ms"] + c["rest_ms"] + c["block_overhead_ms"]
    head = {h: -c["attn_ms"] * (s.heads - h) / s.heads for h in range(1, s.heads + 1)}
    mlp = {m: -c["mlp_ms"] * (s.mlp - m) / s.mlp for m in (s.round_to, s.mlp)}
    return Fitted(fixed_ms=c["fixed_ms"], block_ms=block, head_delta=head, mlp_delta=mlp,
                  structure=s, metric=metric)
