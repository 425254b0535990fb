"""The report's hand-written SVG plots against matplotlib, on one real report.

    pip install matplotlib        # not a dependency of edge-vit; only this comparison needs it
    python benchmarks/plots_vs_matplotlib.py sweeps/default/report/report.json [DEVICE RUNTIME]

Draws the accuracy-vs-latency plot of one device and runtime both ways (the same points,
95 % bars, variant numbers as labels at matplotlib's usual fixed offset) and prints size,
time (best of 5, in this one run), tooltips and how many label pairs overlap."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path


def best_of(fn, n: int = 5) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(path: str, device: str = "local", runtime: str = "openvino") -> None:
    t0 = time.perf_counter()
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt
    t_import = time.perf_counter() - t0

    from edge_vit.reporting.columns import variant_numbers
    from edge_vit.reporting.plots import pareto_plots, pareto_rows
    from edge_vit.reporting.schema import read_report

    rep = read_report(Path(path))
    rows = rep.rows_for(device)
    numbers = variant_numbers(rep.models, rep.rows)
    pts = [r for r in pareto_rows(rows) if r.runtime == runtime]
    state = {}

    def with_matplotlib():
        fig, ax = plt.subplots(figsize=(6.6, 4.4), dpi=100)
        texts = []
        for r in pts:
            ax.errorbar(r.p50_ms, r.top1_pct,
                        xerr=[[r.p50_ms - r.p50_ci_low_ms], [r.p50_ci_high_ms - r.p50_ms]],
                        yerr=[[r.top1_pct - r.top1_ci_low_pct], [r.top1_ci_high_pct - r.top1_pct]],
                        fmt="o")
            texts.append(ax.annotate(str(numbers[r.model_id]), (r.p50_ms, r.top1_pct),
                                     xytext=(6, 4), textcoords="offset points"))
        ax.set_xlabel("p50 latency (ms)")
        ax.set_ylabel("top-1 accuracy (%)")
        buf = io.StringIO()
        fig.savefig(buf, format="svg")
        fig.canvas.draw()
        boxes = [t.get_window_extent(fig.canvas.get_renderer()) for t in texts]
        state["mpl"] = buf.getvalue()
        state["overlaps"] = sum(boxes[i].overlaps(boxes[j]) for i in range(len(boxes))
                                for j in range(i + 1, len(boxes)))
        plt.close(fig)

    def ours():
        state["ours"] = next(s for s in pareto_plots(device, rows, numbers)
                             if f'data-runtime="{runtime}"' in s)

    t_mpl, t_ours = best_of(with_matplotlib), best_of(ours)
    print(f"{device} · {runtime}: {len(pts)} points")
    print(f"matplotlib {matplotlib.__version__}: import {t_import:.2f} s, plot {t_mpl * 1e3:.1f} ms, "
          f"SVG {len(state['mpl']) / 1024:.0f} KiB, tooltips {state['mpl'].count('<title>')}, "
          f"overlapping label pairs {state['overlaps']}")
    print(f"edge-vit SVG: plot {t_ours * 1e3:.1f} ms, SVG {len(state['ours']) / 1024:.0f} KiB, "
          f"tooltips {state['ours'].count('<circle')} (one per point), overlapping label pairs 0 "
          "by construction (checked in Chromium by tests/reporting/test_browser.py)")
    print(f"ratio matplotlib/edge-vit: time {t_mpl / t_ours:.0f}x, size "
          f"{len(state['mpl']) / len(state['ours']):.1f}x")


if __name__ == "__main__":
    main(*sys.argv[1:])
