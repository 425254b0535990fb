"""How far does the machine move between profile sessions? Estimates ``--session-sd`` for a
machine from the sessions that benchmarks/reproducibility.py leaves in its --work folders.

Consecutive sessions (in the order they ran) are paired. For each pair it prints the common
shift of every unit's p50 (median log ratio, the whole machine moving), the rms of the log
ratios, the per-unit residual around the shift, and what the rounds alone predict for the
difference (each session's two-level bootstrap, as `edge-vit profile` computes it). Pooled
over the pairs: the per-session error (rms / sqrt 2), the part the rounds explain, and the
rest, which no single session can see and ``--session-sd`` stands for.

    .venv/bin/python benchmarks/session_spread.py WORK [WORK ...]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load_session(folder: Path) -> tuple[float, dict[str, tuple[float, float]]]:
    """(when it ran, {unit: (p50, sd of log p50 from the rounds)}) of one profile folder."""
    from edge_vit.measurement import stats

    units, started = {}, math.inf
    for path in sorted(folder.glob("*/*/*.json")):
        if path.parent.name == "sessions":
            continue
        data = json.loads(path.read_text())
        lat = data.get("latency") or {}
        counted = [r["times_ms"] for r in sorted(data.get("rounds") or [],
                                                key=lambda r: r["round"])
                   if r["status"] == "counted" and r["round"] > 0 and r["times_ms"]]
        if not lat.get("p50") or len(counted) < 2:
            continue
        summary = stats.summarize_rounds(counted, resamples=400, seed=0)
        hw = summary.half_width(50.0)
        units[str(path.relative_to(folder))] = (lat["p50"], hw / stats.Z975)
        started = min(started, path.stat().st_mtime)
    return started, units


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("work", type=Path, nargs="+", help="reproducibility.py --work folders")
    args = ap.parse_args()
    pairs = []
    for work in args.work:
        folders = [f for f in work.iterdir() if f.is_dir() and f.name[-2:] in ("-1", "-2")]
        sessions = sorted((load_session(f) + (f.name,) for f in folders), key=lambda s: s[0])
        for (_, a, na), (_, b, nb) in itertools.pairwise(sessions):
            common = [k for k in a if k in b]
            if not common:
                continue
            logs = [math.log(b[k][0] / a[k][0]) for k in common]
            shift = statistics.median(logs)
            rms = math.sqrt(statistics.fmean([v * v for v in logs]))
            resid = math.sqrt(statistics.fmean([(v - shift) ** 2 for v in logs]))
            rounds = math.sqrt(statistics.fmean([a[k][1] ** 2 + b[k][1] ** 2 for k in common]))
            pairs.append((shift, rms, rounds))
            print(f"{work.name}/{na} -> {nb}: {len(common)} units, shift {shift:+.2%}, "
                  f"rms {rms:.2%}, residual {resid:.2%}, the rounds predict {rounds:.2%}")
    if not pairs:
        sys.exit("no pair of sessions with common units found")
    total = statistics.fmean([p[1] ** 2 for p in pairs]) / 2
    rounds = statistics.fmean([p[2] ** 2 for p in pairs]) / 2
    shifts = [p[0] for p in pairs]
    print(f"\n{len(pairs)} session pairs: per-session error {math.sqrt(total):.2%} (sd of log "
          f"p50), the rounds explain {math.sqrt(rounds):.2%}, beyond them "
          f"{math.sqrt(max(total - rounds, 0.0)):.2%}; the common shift between sessions: "
          f"sd {statistics.pstdev(shifts):.2%}, largest {max(shifts, key=abs):+.2%}")


if __name__ == "__main__":
    main()
