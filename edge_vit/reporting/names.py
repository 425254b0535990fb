"""Variants called by what they are ("heads −50% · MLP −50% · KD 2 ep"), not by the hash in
their model id; the id stays beside the name in the detail table and in every tooltip.

Names come from the prune spec a manifest records (plan ratios, budget, criterion, recovery
fine-tuning). They are made unique within one report: with more than one architecture the
architecture leads the name, and two variants that would still read alike get the tail of
their model ids.
"""

from __future__ import annotations

UNPRUNED = "unpruned"


def _pct(share: float) -> str:
    return f"−{share * 100:.3g}%"


def variant_name(prune: dict | None) -> str:
    """The name of one model from its prune spec (None: the unpruned model)."""
    if not prune:
        return UNPRUNED
    plan = prune.get("plan") or {}
    parts: list[str] = []
    budget = plan.get("budget") or {}
    if budget.get("budget_ms") is not None:
        asked = str(budget.get("asked") or "")
        parts.append(f"budget {asked[:-1]}× {budget.get('metric', 'p50')}"
                     if asked.endswith("x") else f"budget {budget['budget_ms']:.3g} ms")
    else:
        for key, label in (("heads", "heads"), ("mlp", "MLP"), ("depth", "depth")):
            share = plan.get(key)
            if isinstance(share, (int, float)) and share:
                parts.append(f"{label} {_pct(share)}")
        if plan.get("blocks") or plan.get("drop_blocks"):
            parts.append("per-block plan")
    criterion = plan.get("criterion") or prune.get("criterion")
    if criterion and criterion != "magnitude":
        parts.append(str(criterion))
    epochs = (prune.get("finetune") or {}).get("epochs")
    if epochs:
        parts.append(f"KD {epochs} ep")
    return " · ".join(parts) or "pruned"


def unique_names(models: dict[str, tuple[str | None, dict | None]]) -> dict[str, str]:
    """model id -> name, for ``{model id: (architecture, prune spec)}``; no two alike."""
    archs = {arch for arch, _ in models.values()}
    names = {mid: (f"{arch} · " if len(archs) > 1 and arch else "") + variant_name(prune)
             for mid, (arch, prune) in models.items()}
    seen: dict[str, list[str]] = {}
    for mid, name in names.items():
        seen.setdefault(name, []).append(mid)
    for name, ids in seen.items():
        if len(ids) > 1:
            for mid in ids:
                names[mid] = f"{name} ({mid.rsplit('-', 1)[-1]})"
    return names
