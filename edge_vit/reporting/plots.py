"""The three plots of a device, as inline SVG strings.

* ``pareto-<device>``: top-1 vs p50 latency, one ``<circle class="point">`` per row with both,
  horizontal bars for the p50 CI, vertical bars for the top-1 CI, and the Pareto front as a
  step line (``<path class="pareto-front">``).
* ``latency-<device>``: p50 per model × format/precision/runtime as horizontal bars with the
  CI as whiskers.
* ``macs-<device>``: measured p50 vs MACs; dashed lines show where latency would be if it
  scaled with MACs from the unpruned baseline (the FLOPs-vs-latency gap).
"""

from __future__ import annotations

from . import columns as C
from . import schema as S
from .pareto import Point, front_steps
from .svg import Frame, colors_for, esc, legend, message, nice_ticks, open_svg, padded, tick_text


def combo(r: S.ReportRow) -> str:
    return f"{r.format}/{r.precision}/{r.runtime or '-'}"


def _tooltip(r: S.ReportRow) -> str:
    parts = [r.label, f"p50 {C.with_ci(r.p50_ms, r.p50_ci_low_ms, r.p50_ci_high_ms)} ms"]
    if r.top1_pct is not None:
        parts.append(f"top-1 {C.with_ci(r.top1_pct, r.top1_ci_low_pct, r.top1_ci_high_pct)} %")
    if r.speedup is not None:
        parts.append(f"speedup {C.speedup(r)}")
    parts.append(f"pareto: {r.pareto or 'not a candidate'} · status {r.status}")
    return " · ".join(parts)


def pareto_rows(rows: list[S.ReportRow]) -> list[S.ReportRow]:
    """The rows the accuracy-vs-latency plot draws: every row with a p50 and a top-1."""
    return [r for r in rows if r.p50_ms is not None and r.top1_pct is not None]


def pareto_plot(device: str, rows: list[S.ReportRow]) -> str:
    pts = pareto_rows(rows)
    frame = Frame(0, 1, 0, 1, width=620, height=420, right=180)
    out = [open_svg("pareto", device, frame.width, frame.height,
                    f"{device}: top-1 accuracy vs p50 latency")]
    if not pts:
        out.append(message("no rows with both latency and accuracy", frame.width, frame.height))
        return "".join(out) + "</svg>"
    xs = [v for r in pts for v in (r.p50_ms, r.p50_ci_low_ms, r.p50_ci_high_ms) if v is not None]
    ys = [v for r in pts for v in (r.top1_pct, r.top1_ci_low_pct, r.top1_ci_high_pct)
          if v is not None]
    frame.x_lo, frame.x_hi = padded(xs, floor=0.0)
    frame.y_lo, frame.y_hi = padded(ys)
    out += frame.axes("p50 latency (ms), bars: 95% CI", "top-1 accuracy (%)")
    colors = colors_for([combo(r) for r in pts])
    front = [r for r in pts if r.on_front]
    steps = front_steps([Point(key=r.label, latency=r.p50_ms, accuracy=r.top1_pct)
                         for r in front])
    if steps:
        d = " ".join(f"{'M' if i == 0 else 'L'}{frame.x(x)},{frame.y(y)}"
                     for i, (x, y) in enumerate(steps))
        out.append(f'<path class="pareto-front" d="{d}"/>')
    for r in pts:
        cx, cy = frame.x(r.p50_ms), frame.y(r.top1_pct)
        color = colors[combo(r)]
        if r.p50_ci_low_ms is not None and r.p50_ci_high_ms is not None:
            out.append(f'<line class="ci-x" x1="{frame.x(r.p50_ci_low_ms)}" y1="{cy}" '
                       f'x2="{frame.x(r.p50_ci_high_ms)}" y2="{cy}" stroke="{color}"/>')
        if r.top1_ci_low_pct is not None and r.top1_ci_high_pct is not None:
            out.append(f'<line class="ci-y" x1="{cx}" y1="{frame.y(r.top1_ci_low_pct)}" '
                       f'x2="{cx}" y2="{frame.y(r.top1_ci_high_pct)}" stroke="{color}"/>')
    for r in pts:
        cls = r.pareto or "ineligible"
        out.append(f'<circle class="point {esc(cls)}" data-model="{esc(r.model_id)}" '
                   f'data-combo="{esc(combo(r))}" cx="{frame.x(r.p50_ms)}" '
                   f'cy="{frame.y(r.top1_pct)}" r="{6 if r.on_front else 4.5}" '
                   f'fill="{colors[combo(r)] if r.on_front else "#fff"}" '
                   f'stroke="{colors[combo(r)]}"><title>{esc(_tooltip(r))}</title></circle>')
        if r.on_front:
            out.append(f'<text class="point-label" x="{frame.x(r.p50_ms) + 8}" '
                       f'y="{frame.y(r.top1_pct) - 8}">{esc(_short(r.model_id))}</text>')
    lx = frame.width - frame.right + 12
    out += legend(sorted(colors.items()), lx, frame.top + 10)
    ly = frame.top + 10 + 16 * len(colors) + 10
    out.append(f'<g class="legend"><text x="{lx}" y="{ly}">filled: Pareto front</text>'
               f'<text x="{lx}" y="{ly + 16}">hollow: dominated / not ok</text>'
               f'<text x="{lx}" y="{ly + 32}">line: best top-1 so far</text></g>')
    return "".join(out) + "</svg>"


def _short(model_id: str, n: int = 28) -> str:
    return model_id if len(model_id) <= n else "…" + model_id[-(n - 1):]


def latency_bars(device: str, rows: list[S.ReportRow]) -> str:
    bars = sorted((r for r in rows if r.p50_ms is not None),
                  key=lambda r: (r.pruned, r.model_id, combo(r)))
    height = 60 + 22 * max(len(bars), 1)
    frame = Frame(0, 1, 0, 1, width=620, height=height, left=290, right=20, top=12, bottom=40)
    out = [open_svg("latency", device, frame.width, frame.height,
                    f"{device}: p50 latency by model, format and runtime")]
    if not bars:
        out.append(message("no latency measured", frame.width, frame.height))
        return "".join(out) + "</svg>"
    hi = max(r.p50_ci_high_ms or r.p50_ms for r in bars)
    frame.x_lo, frame.x_hi = 0.0, hi * 1.08
    x0, y0 = frame.x(0), frame.height - frame.bottom
    out.append(f'<rect class="plot-area" x="{x0}" y="{frame.top}" '
               f'width="{frame.width - frame.right - x0}" height="{y0 - frame.top}"/>')
    for t in nice_ticks(frame.x_lo, frame.x_hi, 6):
        px = frame.x(t)
        out.append(f'<line class="grid" x1="{px}" y1="{y0}" x2="{px}" y2="{frame.top}"/>'
                   f'<text class="tick" x="{px}" y="{y0 + 16}" text-anchor="middle">'
                   f'{esc(tick_text(t))}</text>')
    out.append(f'<text class="axis-label" x="{(x0 + frame.width - frame.right) / 2}" '
               f'y="{frame.height - 8}" text-anchor="middle">p50 latency (ms), whiskers: 95% CI'
               f'</text>')
    colors = colors_for([combo(r) for r in bars])
    for i, r in enumerate(bars):
        y = frame.top + 10 + i * 22
        w = frame.x(r.p50_ms) - x0
        out.append(f'<text class="bar-label" x="{x0 - 6}" y="{y + 12}" text-anchor="end">'
                   f'{esc(_short(r.model_id, 24))} · {esc(combo(r))}</text>')
        out.append(f'<rect class="bar" data-model="{esc(r.model_id)}" data-combo="'
                   f'{esc(combo(r))}" x="{x0}" y="{y}" width="{max(w, 1)}" height="16" '
                   f'fill="{colors[combo(r)]}"><title>{esc(_tooltip(r))}</title></rect>')
        if r.p50_ci_low_ms is not None and r.p50_ci_high_ms is not None:
            out.append(f'<line class="ci-x" x1="{frame.x(r.p50_ci_low_ms)}" y1="{y + 8}" '
                       f'x2="{frame.x(r.p50_ci_high_ms)}" y2="{y + 8}"/>')
    return "".join(out) + "</svg>"


def macs_plot(device: str, rows: list[S.ReportRow]) -> str:
    pts = [r for r in rows if r.p50_ms is not None and r.macs]
    frame = Frame(0, 1, 0, 1, width=620, height=400, right=180)
    out = [open_svg("macs", device, frame.width, frame.height,
                    f"{device}: measured latency vs MACs")]
    if not pts:
        out.append(message("no rows with both MACs and latency", frame.width, frame.height))
        return "".join(out) + "</svg>"
    ideal = _ideal_lines(pts)
    xs = [r.macs / 1e9 for r in pts] + [0.0]
    ys = [r.p50_ms for r in pts] + [y for seg in ideal.values() for _, y in seg] + [0.0]
    frame.x_lo, frame.x_hi = padded(xs, floor=0.0)
    frame.y_lo, frame.y_hi = padded(ys, floor=0.0)
    out += frame.axes("GMACs per image (batch 1)", "p50 latency (ms)")
    colors = colors_for([combo(r) for r in pts])
    for (family, key), seg in sorted(ideal.items()):
        (xa, ya), (xb, yb) = seg
        out.append(f'<path class="ideal" data-model="{esc(family)}" data-combo="{esc(key)}" '
                   f'd="M{frame.x(xa)},{frame.y(ya)} L{frame.x(xb)},{frame.y(yb)}" '
                   f'stroke="{colors[key]}"/>')
    for (_, key), series in sorted(_series(pts).items()):
        if len(series) > 1:
            d = " ".join(f"{'M' if i == 0 else 'L'}{frame.x(r.macs / 1e9)},{frame.y(r.p50_ms)}"
                         for i, r in enumerate(series))
            out.append(f'<path class="series" d="{d}" stroke="{colors[key]}"/>')
    for r in pts:
        out.append(f'<circle class="point" data-model="{esc(r.model_id)}" data-combo="'
                   f'{esc(combo(r))}" cx="{frame.x(r.macs / 1e9)}" cy="{frame.y(r.p50_ms)}" '
                   f'r="4.5" fill="{colors[combo(r)]}"><title>{esc(_tooltip(r))} · '
                   f'{r.macs / 1e9:.3f} GMACs</title></circle>')
    lx = frame.width - frame.right + 12
    out += legend(sorted(colors.items()), lx, frame.top + 10)
    ly = frame.top + 10 + 16 * len(colors) + 10
    out.append(f'<g class="legend"><text x="{lx}" y="{ly}">dashed: latency if it</text>'
               f'<text x="{lx}" y="{ly + 16}">scaled with MACs from</text>'
               f'<text x="{lx}" y="{ly + 32}">the unpruned baseline</text></g>')
    return "".join(out) + "</svg>"


def _series(pts: list[S.ReportRow]) -> dict[tuple[str, str], list[S.ReportRow]]:
    """(baseline model, format/precision/runtime) -> its rows by MACs: one architecture's
    pruned variants in one runtime."""
    out: dict[tuple[str, str], list[S.ReportRow]] = {}
    for r in pts:
        out.setdefault((r.baseline_model_id or r.model_id, combo(r)), []).append(r)
    return {k: sorted(v, key=lambda r: r.macs) for k, v in out.items()}


def _ideal_lines(pts: list[S.ReportRow]
                 ) -> dict[tuple[str, str], tuple[tuple[float, float], ...]]:
    """Per series with an unpruned baseline and pruned variants: the line through the
    baseline's point and the origin (p50 proportional to MACs), from the smallest variant's
    MACs to the baseline's."""
    out = {}
    for (family, key), series in _series(pts).items():
        base = next((r for r in series if r.model_id == family and not r.pruned), None)
        if base is None or len(series) < 2:
            continue
        x_min, x_max = series[0].macs / 1e9, base.macs / 1e9
        slope = base.p50_ms / x_max
        out[(family, key)] = ((x_min, slope * x_min), (x_max, slope * x_max))
    return out
