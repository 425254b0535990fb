"""The plots of a device, as inline SVG strings; every point is labelled with its variant's
number (the tables' ``#`` column and the variant key above the plots), placed clear of every
other point and label (:mod:`edge_vit.reporting.labels`), and carries a tooltip with its
figures.

* ``pareto-<device>-<runtime>``: top-1 vs p50, one plot per runtime on shared axes, one
  ``<circle class="point">`` per row with both, horizontal bars for the p50 CI, vertical bars
  for the top-1 CI; filled points are on the device's Pareto front, whose step line
  (``<path class="pareto-front">``, over every runtime) is drawn on each.
* ``latency-<device>``: p50 per variant × format/precision/runtime as horizontal bars with
  the CI as whiskers, grouped by runtime.
* ``macs-<device>``: measured p50 vs MACs; dashed lines show where latency would be if it
  scaled with MACs from the unpruned baseline (the FLOPs-vs-latency gap).
"""

from __future__ import annotations

from . import columns as C
from . import schema as S
from .labels import Box, place, text_width
from .pareto import Point, front_steps
from .svg import Frame, colors_for, esc, legend, message, nice_ticks, open_svg, padded, tick_text

WIDTH, HEIGHT = 660, 440  # two plots side by side fit a 1400 px window
RADIUS, FRONT_RADIUS = 5.0, 6.5


def combo(r: S.ReportRow) -> str:
    return f"{r.format}/{r.precision}/{r.runtime or '-'}"


def _tooltip(r: S.ReportRow, numbers: dict[str, int] | None = None) -> str:
    n = (numbers or {}).get(r.model_id)
    parts = [f"{'#' + str(n) + ' ' if n else ''}{C.variant(r)} · {r.model_id} "
             f"{r.format}/{r.precision}/{r.runtime or '-'}",
             f"p50 {C.ms_ci(r.p50_ms, r.p50_ci_low_ms, r.p50_ci_high_ms)} ms"]
    if r.top1_pct is not None:
        parts.append(f"top-1 {C.with_ci(r.top1_pct, r.top1_ci_low_pct, r.top1_ci_high_pct)} %")
    if r.speedup is not None:
        parts.append(f"speedup {C.speedup(r)}")
    parts.append(f"pareto: {r.pareto or 'not a candidate'} · status {r.status}")
    return " · ".join(parts)


def pareto_rows(rows: list[S.ReportRow]) -> list[S.ReportRow]:
    """The rows the accuracy-vs-latency plots draw: every row with a p50 and a top-1."""
    return [r for r in rows if r.p50_ms is not None and r.top1_pct is not None]


def runtimes_of(rows: list[S.ReportRow]) -> list[str]:
    return sorted({r.runtime or "-" for r in pareto_rows(rows)})


def _area(frame: Frame) -> Box:
    return Box(frame.left, frame.top, frame.width - frame.right, frame.height - frame.bottom)


def _number_labels(frame: Frame, points: list[tuple[float, float, float]],
                   labels: list[tuple[float, float, str]], cls: str = "point-label"
                   ) -> list[str]:
    out = []
    for (px, py, text), p in zip(labels, place(points, labels, _area(frame)), strict=True):
        if p.leader:
            cx = min(max(px, p.box.x0), p.box.x1)
            cy = min(max(py, p.box.y0), p.box.y1)
            out.append(f'<line class="leader" x1="{px}" y1="{py}" x2="{cx}" y2="{cy}"/>')
        out.append(f'<text class="{cls}" x="{p.x}" y="{p.y}">{esc(text)}</text>')
    return out


def pareto_plots(device: str, rows: list[S.ReportRow], numbers: dict[str, int]) -> list[str]:
    """One accuracy-vs-latency plot per runtime, on the device's shared axes."""
    pts = pareto_rows(rows)
    if not pts:
        frame = Frame(0, 1, 0, 1, width=WIDTH, height=HEIGHT)
        return [open_svg("pareto", device, frame.width, frame.height,
                         f"{device}: top-1 accuracy vs p50 latency")
                + message("no rows with both latency and accuracy", frame.width, frame.height)
                + "</svg>"]
    xs = [v for r in pts for v in (r.p50_ms, r.p50_ci_low_ms, r.p50_ci_high_ms) if v is not None]
    ys = [v for r in pts for v in (r.top1_pct, r.top1_ci_low_pct, r.top1_ci_high_pct)
          if v is not None]
    steps = front_steps([Point(key=r.label, latency=r.p50_ms, accuracy=r.top1_pct)
                         for r in pts if r.on_front])
    colors = colors_for([f"{r.format}/{r.precision}" for r in pts])
    return [_pareto_plot(device, runtime, [r for r in pts if (r.runtime or "-") == runtime],
                         padded(xs, floor=0.0), padded(ys), steps, colors, numbers)
            for runtime in runtimes_of(rows)]


def _pareto_plot(device: str, runtime: str, pts: list[S.ReportRow], xr, yr, steps,
                 colors: dict[str, str], numbers: dict[str, int]) -> str:
    frame = Frame(*xr, *yr, width=WIDTH, height=HEIGHT, right=150)
    out = [open_svg("pareto", f"{device}-{runtime}", frame.width, frame.height,
                    f"{device} · {runtime}: top-1 accuracy vs p50 latency", device=device,
                    extra=f' data-runtime="{esc(runtime)}"')]
    out.append(f'<text class="plot-title" x="{frame.left}" y="18">{esc(runtime)}</text>')
    out += frame.axes("p50 latency (ms), bars: 95% CI", "top-1 accuracy (%)")
    if steps:
        d = " ".join(f"{'M' if i == 0 else 'L'}{frame.x(x)},{frame.y(y)}"
                     for i, (x, y) in enumerate(steps))
        out.append(f'<path class="pareto-front" d="{d}"/>')
    for r in pts:
        cx, cy = frame.x(r.p50_ms), frame.y(r.top1_pct)
        color = colors[f"{r.format}/{r.precision}"]
        if r.p50_ci_low_ms is not None and r.p50_ci_high_ms is not None:
            out.append(f'<line class="ci-x" x1="{frame.x(r.p50_ci_low_ms)}" y1="{cy}" '
                       f'x2="{frame.x(r.p50_ci_high_ms)}" y2="{cy}" stroke="{color}"/>')
        if r.top1_ci_low_pct is not None and r.top1_ci_high_pct is not None:
            out.append(f'<line class="ci-y" x1="{cx}" y1="{frame.y(r.top1_ci_low_pct)}" '
                       f'x2="{cx}" y2="{frame.y(r.top1_ci_high_pct)}" stroke="{color}"/>')
    circles, labels = [], []
    for r in sorted(pts, key=lambda r: (not r.on_front, r.p50_ms)):
        cx, cy = frame.x(r.p50_ms), frame.y(r.top1_pct)
        radius = FRONT_RADIUS if r.on_front else RADIUS
        color = colors[f"{r.format}/{r.precision}"]
        out.append(f'<circle class="point {esc(r.pareto or "ineligible")}" '
                   f'data-model="{esc(r.model_id)}" data-combo="{esc(combo(r))}" cx="{cx}" '
                   f'cy="{cy}" r="{radius}" fill="{color if r.on_front else "#fff"}" '
                   f'stroke="{color}"><title>{esc(_tooltip(r, numbers))}</title></circle>')
        circles.append((cx, cy, radius))
        labels.append((cx, cy, str(numbers.get(r.model_id, "?"))))
    out += _number_labels(frame, circles, labels)
    lx = frame.width - frame.right + 14
    shown = sorted((k, c) for k, c in colors.items()
                   if any(f"{r.format}/{r.precision}" == k for r in pts))
    out += legend(shown, lx, frame.top + 10)
    ly = frame.top + 10 + 16 * len(shown) + 10
    out.append(f'<g class="legend"><text x="{lx}" y="{ly}">filled: Pareto front</text>'
               f'<text x="{lx}" y="{ly + 16}">hollow: dominated</text>'
               f'<text x="{lx}" y="{ly + 32}">line: the device\'s front</text>'
               f'<text x="{lx}" y="{ly + 48}">(every runtime)</text>'
               f'<text x="{lx}" y="{ly + 70}">numbers: variants</text></g>')
    return "".join(out) + "</svg>"


def _bar_label(r: S.ReportRow, numbers: dict[str, int]) -> str:
    return f"{numbers.get(r.model_id, '?')} · {C.variant(r)} · {r.format}/{r.precision}"


def latency_bars(device: str, rows: list[S.ReportRow], numbers: dict[str, int]) -> str:
    bars = sorted((r for r in rows if r.p50_ms is not None),
                  key=lambda r: (r.runtime or "", numbers.get(r.model_id, 0), combo(r)))
    groups = sorted({r.runtime or "-" for r in bars})
    left = min(520, max([text_width(_bar_label(r, numbers)) for r in bars] + [160]) + 30)
    height = 70 + 22 * max(len(bars), 1) + 26 * len(groups)
    frame = Frame(0, 1, 0, 1, width=2 * WIDTH + 16, height=int(height), left=int(left),
                  right=24, top=12, bottom=44)
    out = [open_svg("latency", device, frame.width, frame.height,
                    f"{device}: p50 latency by variant, format and runtime")]
    if not bars:
        out.append(message("no latency measured", frame.width, frame.height))
        return "".join(out) + "</svg>"
    hi = max(r.p50_ci_high_ms or r.p50_ms for r in bars)
    frame.x_lo, frame.x_hi = 0.0, hi * 1.08
    x0, y0 = frame.x(0), frame.height - frame.bottom
    out.append(f'<rect class="plot-area" x="{x0}" y="{frame.top}" '
               f'width="{frame.width - frame.right - x0}" height="{y0 - frame.top}"/>')
    for t in nice_ticks(frame.x_lo, frame.x_hi, 8):
        px = frame.x(t)
        out.append(f'<line class="grid" x1="{px}" y1="{y0}" x2="{px}" y2="{frame.top}"/>'
                   f'<text class="tick" x="{px}" y="{y0 + 16}" text-anchor="middle">'
                   f'{esc(tick_text(t))}</text>')
    out.append(f'<text class="axis-label" x="{(x0 + frame.width - frame.right) / 2}" '
               f'y="{frame.height - 8}" text-anchor="middle">p50 latency (ms), whiskers: 95% CI'
               f'</text>')
    out.append(f'<text class="axis-label" transform="translate(14 {(frame.top + y0) / 2}) '
               f'rotate(-90)" text-anchor="middle">variant · format/precision</text>')
    colors = colors_for([r.runtime or "-" for r in bars])
    y = frame.top + 8
    for runtime in groups:
        out.append(f'<text class="group-label" x="{x0 + 6}" y="{y + 14}">{esc(runtime)}</text>')
        y += 26
        for r in (b for b in bars if (b.runtime or "-") == runtime):
            w = frame.x(r.p50_ms) - x0
            out.append(f'<text class="bar-label" x="{x0 - 6}" y="{y + 12}" '
                       f'text-anchor="end">{esc(_bar_label(r, numbers))}</text>')
            out.append(f'<rect class="bar" data-model="{esc(r.model_id)}" data-combo="'
                       f'{esc(combo(r))}" x="{x0}" y="{y}" width="{max(w, 1)}" height="16" '
                       f'fill="{colors[r.runtime or "-"]}"><title>{esc(_tooltip(r, numbers))}'
                       f'</title></rect>')
            if r.p50_ci_low_ms is not None and r.p50_ci_high_ms is not None:
                out.append(f'<line class="ci-x" x1="{frame.x(r.p50_ci_low_ms)}" y1="{y + 8}" '
                           f'x2="{frame.x(r.p50_ci_high_ms)}" y2="{y + 8}"/>')
            out.append(f'<text class="bar-value" x="{frame.x(r.p50_ci_high_ms or r.p50_ms) + 6}"'
                       f' y="{y + 12}">{esc(C.ms(r.p50_ms))}</text>')
            y += 22
    return "".join(out) + "</svg>"


def macs_plot(device: str, rows: list[S.ReportRow], numbers: dict[str, int]) -> str:
    pts = [r for r in rows if r.p50_ms is not None and r.macs]
    frame = Frame(0, 1, 0, 1, width=WIDTH, height=HEIGHT, right=180)
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
    circles = []
    for r in pts:
        cx, cy = frame.x(r.macs / 1e9), frame.y(r.p50_ms)
        out.append(f'<circle class="point" data-model="{esc(r.model_id)}" data-combo="'
                   f'{esc(combo(r))}" cx="{cx}" cy="{cy}" r="{RADIUS}" '
                   f'fill="{colors[combo(r)]}"><title>{esc(_tooltip(r, numbers))} · '
                   f'{r.macs / 1e9:.3f} GMACs</title></circle>')
        circles.append((cx, cy, RADIUS))
    # one number per variant, at its slowest point: a variant's points share their MACs
    top: dict[str, S.ReportRow] = {}
    for r in pts:
        if r.model_id not in top or r.p50_ms > top[r.model_id].p50_ms:
            top[r.model_id] = r
    labels = [(frame.x(r.macs / 1e9), frame.y(r.p50_ms), str(numbers.get(mid, "?")))
              for mid, r in sorted(top.items(), key=lambda kv: numbers.get(kv[0], 0))]
    out += _number_labels(frame, circles, labels)
    lx = frame.width - frame.right + 12
    out += legend(sorted(colors.items()), lx, frame.top + 10)
    ly = frame.top + 10 + 16 * len(colors) + 10
    out.append(f'<g class="legend"><text x="{lx}" y="{ly}">dashed: latency if it</text>'
               f'<text x="{lx}" y="{ly + 16}">scaled with MACs from</text>'
               f'<text x="{lx}" y="{ly + 32}">the unpruned baseline</text>'
               f'<text x="{lx}" y="{ly + 54}">numbers: variants</text></g>')
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
