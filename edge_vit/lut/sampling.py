"""Which variants a latency table measures, and the pruning plan file of each.

Default plan (uniform variants, every block alike, so each isolates one effect): the full
model; every head count below the full one (at most four, spread, for many-headed models);
MLP widths of 1/8, 1/4, 1/2 and 3/4 (rounded to ``round_to``); the first half of the blocks.
deit_tiny: 1 + 2 + 4 + 1 = 8 variants. Which units a variant keeps does not matter for
latency (weights never do), so the magnitude criterion picks them.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from .table import Config, Structure


def head_counts(heads: int) -> list[int]:
    if heads <= 5:
        return list(range(1, heads))
    return sorted({max(1, round(heads * f)) for f in (0.125, 0.25, 0.5, 0.75)} - {heads})


def mlp_widths(s: Structure) -> list[int]:
    out = set()
    for f in (0.125, 0.25, 0.5, 0.75):
        w = max(s.round_to, int(round(s.mlp * f / s.round_to)) * s.round_to)
        if w < s.mlp:
            out.add(w)
    return sorted(out)


def sampling_plan(s: Structure) -> list[tuple[str, Config]]:
    """(variant name, configuration) of every variant the table measures."""
    full = s.full()
    out = [("full", full)]
    out += [(f"heads={h}", [[h, s.mlp] for _ in range(s.depth)]) for h in head_counts(s.heads)]
    out += [(f"mlp={m}", [[s.heads, m] for _ in range(s.depth)]) for m in mlp_widths(s)]
    if s.depth > 1:
        half = max(1, s.depth // 2)
        out.append((f"depth={half}", [b if i < half else None for i, b in enumerate(full)]))
    return out


def held_out(s: Structure, count: int, seed: int = 0) -> list[tuple[str, Config]]:
    """Non-uniform variants the table never saw: per block a random head count and width
    (multiples of ``round_to``), some blocks dropped; seeded."""
    rng = random.Random(seed)
    out = []
    for k in range(count):
        keep_blocks = sorted(rng.sample(range(s.depth), rng.randint(max(1, s.depth // 2),
                                                                     s.depth)))
        config = [None] * s.depth
        for i in keep_blocks:
            config[i] = [rng.randint(1, s.heads),
                         rng.randint(1, s.mlp // s.round_to) * s.round_to]
        out.append((f"heldout-{k}", config))
    return out


def plan_file(config: Config, s: Structure, path: Path) -> Path | None:
    """A pruning plan file that keeps ``config``; None for the unpruned model."""
    if config == s.full():
        return None
    blocks = {str(i): {k: v for k, v in (("heads", b[0]), ("mlp", b[1]))
                       if v != (s.heads if k == "heads" else s.mlp)}
              for i, b in enumerate(config) if b is not None}
    plan = {"round_to": s.round_to, "criterion": "magnitude",
            "drop_blocks": [i for i, b in enumerate(config) if b is None],
            "blocks": {i: b for i, b in blocks.items() if b}}
    path.write_text(json.dumps(plan, indent=1))
    return path
