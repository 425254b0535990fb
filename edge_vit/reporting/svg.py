"""Just enough SVG to draw the report's plots by hand: linear scales, nice ticks, axes, a
legend. Output is plain markup (every text escaped), so the HTML page stays self-contained."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#7f7f7f", "#bcbd22")


def esc(text: object) -> str:
    return escape(str(text), quote=True)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    out, v = [], first
    while v <= hi + step * 1e-9:
        out.append(round(v, 12))
        v += step
    return out


def padded(values: list[float], frac: float = 0.08, floor: float | None = None
           ) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    span = hi - lo or abs(hi) * 0.1 or 1.0
    lo, hi = lo - span * frac, hi + span * frac
    if floor is not None:
        lo = max(lo, floor)
    return lo, hi


def tick_text(v: float) -> str:
    return f"{v:g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.1e}"


@dataclass
class Frame:
    """Data ranges mapped into a plot area of an SVG canvas."""

    x_lo: float
    x_hi: float
    y_lo: float
    y_hi: float
    width: int = 660
    height: int = 400
    left: int = 64
    right: int = 16
    top: int = 28
    bottom: int = 52

    def x(self, v: float) -> float:
        span = self.x_hi - self.x_lo or 1.0
        return round(self.left + (v - self.x_lo) / span * (self.width - self.left - self.right), 2)

    def y(self, v: float) -> float:
        span = self.y_hi - self.y_lo or 1.0
        plot_h = self.height - self.top - self.bottom
        return round(self.top + plot_h - (v - self.y_lo) / span * plot_h, 2)

    def axes(self, x_label: str, y_label: str) -> list[str]:
        w, h = self.width, self.height
        x0, x1 = self.left, w - self.right
        y0, y1 = h - self.bottom, self.top
        out = [f'<rect class="plot-area" x="{x0}" y="{y1}" width="{x1 - x0}" '
               f'height="{y0 - y1}"/>']
        for t in nice_ticks(self.x_lo, self.x_hi, 6):
            px = self.x(t)
            out.append(f'<line class="grid" x1="{px}" y1="{y0}" x2="{px}" y2="{y1}"/>')
            out.append(f'<text class="tick" x="{px}" y="{y0 + 16}" text-anchor="middle">'
                       f'{esc(tick_text(t))}</text>')
        for t in nice_ticks(self.y_lo, self.y_hi, 5):
            py = self.y(t)
            out.append(f'<line class="grid" x1="{x0}" y1="{py}" x2="{x1}" y2="{py}"/>')
            out.append(f'<text class="tick" x="{x0 - 6}" y="{py + 4}" text-anchor="end">'
                       f'{esc(tick_text(t))}</text>')
        out.append(f'<text class="axis-label" x="{(x0 + x1) / 2}" y="{h - 12}" '
                   f'text-anchor="middle">{esc(x_label)}</text>')
        out.append(f'<text class="axis-label" transform="translate(16 {(y0 + y1) / 2}) '
                   f'rotate(-90)" text-anchor="middle">{esc(y_label)}</text>')
        return out


def open_svg(plot: str, key: str, width: int, height: int, title: str,
             device: str | None = None, extra: str = "") -> str:
    """``data-plot="<plot>-<key>"``; ``key`` is the device unless the plot is one of several."""
    return (f'<svg class="plot" data-plot="{esc(plot)}-{esc(key)}" '
            f'data-device="{esc(device or key)}"{extra} viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-label="{esc(title)}">'
            f'<title>{esc(title)}</title>')


def legend(items: list[tuple[str, str]], x: float, y: float, cls: str = "legend") -> list[str]:
    """Colour swatches (rects, so they never count as data points) with labels."""
    out = [f'<g class="{cls}">']
    for i, (label, color) in enumerate(items):
        yy = y + i * 16
        out.append(f'<rect x="{x}" y="{yy - 9}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{x + 14}" y="{yy}">{esc(label)}</text>')
    out.append("</g>")
    return out


def message(text: str, width: int, height: int) -> str:
    return (f'<text class="empty" x="{width / 2}" y="{height / 2}" text-anchor="middle">'
            f'{esc(text)}</text>')


def colors_for(keys: list[str]) -> dict[str, str]:
    return {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(sorted(set(keys)))}
