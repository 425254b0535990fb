"""Point labels that do not overlap: a greedy placer for short labels beside plot points.

Each label tries positions around its point, nearest first (right, left, above, below, the
diagonals, then the same further out with a leader line) and takes the first whose box hits
no point, no label placed before it and nothing outside the plot area. Boxes come from an
upper bound of the text's width (digits and letters at the report's 11 px bold), so the
browser's real glyphs fit inside them.
"""

from __future__ import annotations

from dataclasses import dataclass

CHAR_W = 7.2  # px per character at 11 px bold: above system-ui's widest digits and letters
ASCENT, DESCENT = 10.0, 3.0
PAD = 1.5
DISTANCES = (9.0, 16.0, 26.0, 40.0, 56.0)


@dataclass(frozen=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float

    def hits(self, other: Box) -> bool:
        return self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 \
            and other.y0 < self.y1

    def inside(self, area: Box) -> bool:
        return (self.x0 >= area.x0 and self.x1 <= area.x1 and self.y0 >= area.y0
                and self.y1 <= area.y1)

    def overlap(self, other: Box) -> float:
        w = min(self.x1, other.x1) - max(self.x0, other.x0)
        h = min(self.y1, other.y1) - max(self.y0, other.y0)
        return max(w, 0.0) * max(h, 0.0)


@dataclass(frozen=True)
class Placed:
    x: float  # text anchor (start) and baseline
    y: float
    box: Box
    leader: bool  # far from its point: draw a line to it


def text_width(text: str) -> float:
    return CHAR_W * len(text)


def _box(x: float, y: float, text: str) -> Box:
    return Box(x - PAD, y - ASCENT - PAD, x + text_width(text) + PAD, y + DESCENT + PAD)


def _candidates(px: float, py: float, w: float):
    mid = ASCENT / 2 - 1  # baseline that centres the text vertically on the point
    for d in DISTANCES:
        diag = d * 0.72
        yield px + d, py + mid  # right
        yield px - d - w, py + mid  # left
        yield px - w / 2, py - d  # above
        yield px - w / 2, py + d + ASCENT  # below
        yield px + diag, py - diag  # up-right
        yield px - diag - w, py - diag  # up-left
        yield px + diag, py + diag + ASCENT  # down-right
        yield px - diag - w, py + diag + ASCENT  # down-left


def place(points: list[tuple[float, float, float]], labels: list[tuple[float, float, str]],
          area: Box) -> list[Placed]:
    """Positions for ``labels`` (point x, y, text) clear of ``points`` (x, y, radius), of
    each other and inside ``area``; in the given order (place the important ones first)."""
    obstacles = [Box(x - r - PAD, y - r - PAD, x + r + PAD, y + r + PAD) for x, y, r in points]
    out: list[Placed] = []
    for px, py, text in labels:
        w = text_width(text)
        best, best_cost = None, None
        for x, y in _candidates(px, py, w):
            box = _box(x, y, text)
            if not box.inside(area):
                continue
            cost = sum(box.overlap(o) for o in obstacles)
            if cost == 0:
                best = (x, y, box)
                break
            if best_cost is None or cost < best_cost:
                best, best_cost = (x, y, box), cost
        if best is None:  # nowhere inside the area: at the point, clipped by the frame
            best = (px + DISTANCES[0], py, _box(px + DISTANCES[0], py, text))
        x, y, box = best
        leader = abs((box.x0 + box.x1) / 2 - px) + abs((box.y0 + box.y1) / 2 - py) > 30
        out.append(Placed(round(x, 2), round(y, 2), box, leader))
        obstacles.append(box)
    return out
