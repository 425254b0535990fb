"""From the rounds of one unit's per-op records to its group shares.

Each round is one fresh runner process; per op it gives the median over that round's
profiled runs. A group's share is computed per round (its ops' sum over all ops' sum) and
reported as the median over rounds with the lowest and highest, so a share that moves
between processes shows it.
"""

from __future__ import annotations

import statistics

from .attribute import FUSED, OTHER, AttributedOp, attribute, level_key, totals
from .names import Scope
from .result import GroupShare, LayerRound

PART_ORDER = ("patch_embed", "cls+pos", "attn.qkv", "attn.products", "attn.proj", "attn",
              "mlp.fc1", "mlp.act", "mlp.fc2", "mlp", "norms", "residual", "fused")


def order_key(key: tuple[str, str]) -> tuple:
    group, part = key
    if group == "embed":
        rank = 0
    elif group.startswith("blocks."):
        rank = 1 + int(group.split(".")[1])
    else:
        rank = {"norm": 10_000, "head": 10_001, FUSED: 10_002, OTHER: 10_003}.get(group, 10_004)
    return rank, PART_ORDER.index(part) if part in PART_ORDER else len(PART_ORDER), part


def _middle(per_round: list[tuple[list[AttributedOp], float]]) -> int:
    """The round whose ops' total is the median: its op list is the one reported."""
    return sorted(range(len(per_round)), key=lambda i: per_round[i][1])[len(per_round) // 2]


def mac_shares(macs: dict[Scope, int] | None, level: str) -> dict[tuple[str, str], float]:
    if not macs:
        return {}
    total = sum(macs.values()) or 1
    out: dict[tuple[str, str], float] = {}
    for scope, n in macs.items():
        key = level_key(scope.group, scope.part, level)
        out[key] = out.get(key, 0.0) + n / total
    return out


def _rows(per_round: list[tuple[list[AttributedOp], float]], level: str,
          macs: dict[Scope, int] | None) -> list[GroupShare]:
    tables = [(totals(ops, level), total) for ops, total in per_round]
    keys = sorted({k for t, _ in tables for k in t}, key=order_key)
    mshare = mac_shares(macs, level)
    last_ops = per_round[_middle(per_round)][0]
    rows = []
    for key in keys:
        ms = [t.get(key, 0.0) for t, _ in tables]
        shares = [t.get(key, 0.0) / total if total else 0.0 for t, total in tables]
        mine = [o for o in last_ops if level_key(o.group, o.part, level) == key]
        counted = key[0] not in (OTHER, FUSED)
        rows.append(GroupShare(
            group=key[0], part=key[1], ms=round(statistics.median(ms), 5),
            share=round(statistics.median(shares), 5), share_min=round(min(shares), 5),
            share_max=round(max(shares), 5),
            macs_share=round(mshare.get(key, 0.0), 5) if mshare and counted else None,
            ops=len(mine), fused_ops=sum(o.how.startswith("fused") for o in mine),
            by_neighbours=sum(o.how == "neighbours" for o in mine)))
    return rows


def combine(rounds: list[dict], macs: dict[Scope, int] | None) -> dict:
    """``rounds``: the runner's ok unit records of each round. The LayerProfile fields."""
    per_round, meta = [], []
    for i, unit in enumerate(rounds):
        ops = attribute(unit["ops"], unit.get("fused"))
        per_round.append((ops, sum(o.ms for o in ops)))
        meta.append(LayerRound(round=unit.get("round", i), runs=unit.get("runs", 0),
                               wall_ms=unit.get("wall_ms"), ops_sum_ms=unit.get("ops_sum_ms")))
    groups = _rows(per_round, "rollup", macs)
    blocks = _rows(per_round, "group", macs)
    ops = per_round[_middle(per_round)][0]
    other = [g for g in groups if g.group == OTHER]
    across = [g for g in groups if g.group == FUSED]
    return {"summary": blocks, "groups": groups, "parts": _rows(per_round, "part", macs),
            "rounds": meta,
            "other_share": round(sum(g.share for g in other), 5),
            "other_ops": sorted({o.name for o in ops if o.group == OTHER}),
            "fused_across_share": round(sum(g.share for g in across), 5), "ops": ops}
