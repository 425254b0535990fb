"""Pruning to a latency budget: which heads, MLP channels and blocks go, with a latency table
as the cost.

Algorithm (greedy, latency-aware global allocation): start from the unpruned model; at each
step consider, in every kept block, removing its least important remaining head, its least
important ``round_to`` MLP channels, or the whole block; take the move that loses the least
importance per millisecond the table says it saves; repeat until the predicted latency is
within the budget; then give back removed units (most importance per millisecond first)
while the prediction stays within it, since the last step may overshoot. Importance is made
comparable across blocks and unit types as the global
allocator does: within a block a head counts its share of the block's total head score and a
group of channels its share of the block's MLP score (each block's attention and MLP are worth
1 each), and a block counts twice its score over the blocks' mean (its attention and MLP).
Every block keeps a head and ``round_to`` channels; at least one block stays. A budget below
what one block at its cheapest reaches is refused, naming that latency.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import PruningPlanError
from .table import Config, Fitted


@dataclass
class Allocation:
    config: Config
    keep_heads: dict[int, list[int]] = field(default_factory=dict)  # block -> original heads
    keep_mlp: dict[int, list[int]] = field(default_factory=dict)
    drop_blocks: list[int] = field(default_factory=list)
    predicted_ms: float = 0.0
    steps: int = 0

    def plan(self, round_to: int) -> dict:
        """A pruning plan file's content that prunes exactly this allocation."""
        return {"round_to": round_to, "drop_blocks": sorted(self.drop_blocks),
                "blocks": {str(i): {"keep_heads": self.keep_heads[i],
                                    "keep_mlp": self.keep_mlp[i]}
                           for i in sorted(self.keep_heads) if i not in self.drop_blocks}}


def _order(scores) -> list[int]:
    """Unit indices, least important first (ties: the lower index first)."""
    vals = [float(v) for v in scores]
    return sorted(range(len(vals)), key=lambda j: (vals[j], j))


def allocate_budget(fitted: Fitted, head_scores: dict[int, list[float]],
                    mlp_scores: dict[int, list[float]], block_scores: list[float],
                    budget_ms: float) -> Allocation:
    s = fitted.structure
    floor = fitted.floor_ms()
    if budget_ms < floor:
        raise PruningPlanError(
            f"A budget of {budget_ms:g} ms is below the smallest latency this model reaches on "
            f"the table's device: {floor:.3f} ms (the fixed parts {fitted.fixed_ms:.3f} ms and "
            "one block at one head and the narrowest MLP).",
            hint=f"Ask for at least {floor:.3f} ms, or a smaller model.")
    heads = {i: [float(v) for v in head_scores[i]] for i in range(s.depth)}
    mlp = {i: [float(v) for v in mlp_scores[i]] for i in range(s.depth)}
    h_order = {i: _order(heads[i]) for i in heads}
    m_order = {i: _order(mlp[i]) for i in mlp}
    h_gone = {i: 0 for i in heads}  # how many of h_order[i] are removed
    m_gone = {i: 0 for i in mlp}
    kept_blocks = set(range(s.depth))
    mean_block = sum(block_scores) / len(block_scores) if block_scores else 1.0

    def config() -> Config:
        return [[s.heads - h_gone[i], s.mlp - m_gone[i]] if i in kept_blocks else None
                for i in range(s.depth)]

    current, steps = fitted.predict(config()), 0
    while current > budget_ms:
        moves = []
        for i in sorted(kept_blocks):
            h, m = s.heads - h_gone[i], s.mlp - m_gone[i]
            if h > 1:
                lost = heads[i][h_order[i][h_gone[i]]] / (sum(heads[i]) or 1.0)
                moves.append((lost, fitted.block(h, m) - fitted.block(h - 1, m), "head", i))
            if m - s.round_to >= s.round_to:
                chunk = m_order[i][m_gone[i]:m_gone[i] + s.round_to]
                lost = sum(mlp[i][j] for j in chunk) / (sum(mlp[i]) or 1.0)
                moves.append((lost, fitted.block(h, m) - fitted.block(h, m - s.round_to),
                              "mlp", i))
            if len(kept_blocks) > 1:
                lost = 2.0 * float(block_scores[i]) / (mean_block or 1.0)
                moves.append((lost, fitted.block(h, m), "block", i))
        useful = [mv for mv in moves if mv[1] > 0]
        if not useful:
            raise PruningPlanError(f"No pruning step lowers the predicted latency below "
                                   f"{current:.3f} ms (budget {budget_ms:g} ms).")
        lost, _saved, kind, i = min(useful, key=lambda mv: (mv[0] / mv[1], mv[3], mv[2]))
        if kind == "head":
            h_gone[i] += 1
        elif kind == "mlp":
            m_gone[i] += s.round_to
        else:
            kept_blocks.discard(i)
        current, steps = fitted.predict(config()), steps + 1
    # back-fill: a last step (a whole block, say) can overshoot the budget by far; give back
    # removed units, the most importance per millisecond first, while the budget still holds
    while True:
        adds = []
        for i in range(s.depth):
            h, m = s.heads - h_gone[i], s.mlp - m_gone[i]
            if i not in kept_blocks:
                adds.append((2.0 * float(block_scores[i]) / (mean_block or 1.0),
                             fitted.block(h, m), "block", i))
                continue
            if h_gone[i]:
                gain = heads[i][h_order[i][h_gone[i] - 1]] / (sum(heads[i]) or 1.0)
                adds.append((gain, fitted.block(h + 1, m) - fitted.block(h, m), "head", i))
            if m_gone[i]:
                chunk = m_order[i][m_gone[i] - s.round_to:m_gone[i]]
                gain = sum(mlp[i][j] for j in chunk) / (sum(mlp[i]) or 1.0)
                adds.append((gain, fitted.block(h, m + s.round_to) - fitted.block(h, m),
                             "mlp", i))
        fits = [a for a in adds if current + a[1] <= budget_ms]
        if not fits:
            break
        _gain, _cost, kind, i = max(fits, key=lambda a: (a[0] / max(a[1], 1e-9), -a[3]))
        if kind == "head":
            h_gone[i] -= 1
        elif kind == "mlp":
            m_gone[i] -= s.round_to
        else:
            kept_blocks.add(i)
        current, steps = fitted.predict(config()), steps + 1
    return Allocation(
        config=config(), predicted_ms=current, steps=steps,
        keep_heads={i: sorted(h_order[i][h_gone[i]:]) for i in kept_blocks},
        keep_mlp={i: sorted(m_order[i][m_gone[i]:]) for i in kept_blocks},
        drop_blocks=sorted(set(range(s.depth)) - kept_blocks))
