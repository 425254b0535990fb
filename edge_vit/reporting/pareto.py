"""The accuracy-vs-latency Pareto front of one device, with measurement noise taken seriously.

Rule (also written into every report as :data:`PARETO_RULE`):

* A point P is **dominated** when some other point Q is
  (a) at least as accurate: ``Q.top1 >= P.top1`` (point estimates; Q better by any margin,
      beyond its CI or not, or equal), AND
  (b) faster beyond the noise. For two rows measured in the same session this is the paired
      comparison: the 95 % interval of the per-round ratio P/Q of their medians lies wholly
      above 1 (see :mod:`edge_vit.measurement.stats`). Rows without a shared session fall
      back to non-overlapping p50 intervals, ``Q.p50_ci_high < P.p50_ci_low`` (a point
      without an interval counts as [p50, p50]).
* Every point not dominated is on the front. Comparisons the noise cannot resolve never
  decide, so points within the noise of each other are all kept.
* A front member is **tied** when another front member is within the noise of it: neither
  is faster beyond the noise (by the same test as (b)), or their top-1 CIs overlap (accuracy
  indistinguishable). Tied members are listed with each other; no winner is declared among
  them. Other front members are **front** (clearly separated on both axes).
* The front is ordered by p50, fastest first; its step line is the best accuracy reachable at
  each latency (running maximum of top-1 along that order).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

PARETO_RULE = (
    "A point is dominated when another point is at least as accurate (top-1 point estimate "
    "greater or equal) AND faster beyond the noise: for two rows of the same profile session, "
    "the 95% interval of their per-round latency ratio (paired rounds) lies wholly on one side "
    "of 1; rows of different sessions need non-overlapping p50 intervals. Every other point "
    "is on the front. Front members that are not faster than each other beyond the noise, or "
    "whose top-1 CIs overlap, are within the noise of each other and marked 'tied': all are "
    "kept, no winner is declared among them. The front is ordered by p50; its step line is "
    "the best top-1 reachable at each latency.")

FRONT = "front"
TIED = "tied"
DOMINATED = "dominated"


@dataclass(frozen=True)
class Point:
    key: Hashable
    latency: float  # p50, ms
    accuracy: float  # top-1
    latency_low: float | None = None  # p50 CI
    latency_high: float | None = None
    accuracy_low: float | None = None  # top-1 CI
    accuracy_high: float | None = None

    @property
    def lat_lo(self) -> float:
        return self.latency if self.latency_low is None else self.latency_low

    @property
    def lat_hi(self) -> float:
        return self.latency if self.latency_high is None else self.latency_high

    @property
    def acc_lo(self) -> float:
        return self.accuracy if self.accuracy_low is None else self.accuracy_low

    @property
    def acc_hi(self) -> float:
        return self.accuracy if self.accuracy_high is None else self.accuracy_high


@dataclass
class ParetoMark:
    status: str  # front | tied | dominated
    dominated_by: Hashable | None = None  # the fastest of the points that dominate it
    tied_with: list[Hashable] = field(default_factory=list)


Faster = Callable[[Point, Point], bool]


def clearly_faster(q: Point, p: Point) -> bool:
    """q's p50 interval lies wholly below p's (the test for rows of different sessions)."""
    return q.lat_hi < p.lat_lo


def dominates(q: Point, p: Point, faster: Faster = clearly_faster) -> bool:
    return q.accuracy >= p.accuracy and faster(q, p)


def _overlap(lo1: float, hi1: float, lo2: float, hi2: float) -> bool:
    return lo1 <= hi2 and lo2 <= hi1


def within_noise(a: Point, b: Point, faster: Faster = clearly_faster) -> bool:
    """Indistinguishable on latency, or (where both have CIs) on accuracy."""
    if not faster(a, b) and not faster(b, a):
        return True
    has_ci = None not in (a.accuracy_low, a.accuracy_high, b.accuracy_low, b.accuracy_high)
    return has_ci and _overlap(a.acc_lo, a.acc_hi, b.acc_lo, b.acc_hi)


def pareto_front(points: Sequence[Point], faster: Faster = clearly_faster
                 ) -> dict[Hashable, ParetoMark]:
    """A mark for every point; see the module docstring for the rule. ``faster(q, p)`` says
    whether q is faster than p beyond the noise (default: non-overlapping p50 intervals)."""
    keys = [p.key for p in points]
    if len(set(keys)) != len(keys):
        raise ValueError("pareto_front: point keys must be unique")
    marks: dict[Hashable, ParetoMark] = {}
    front: list[Point] = []
    for p in points:
        doms = [q for q in points if q is not p and dominates(q, p, faster)]
        if doms:
            best = min(doms, key=lambda q: (q.latency, -q.accuracy))
            marks[p.key] = ParetoMark(DOMINATED, dominated_by=best.key)
        else:
            front.append(p)
    for p in front:
        tied = [q.key for q in order_front(front) if q is not p and within_noise(p, q, faster)]
        marks[p.key] = ParetoMark(TIED if tied else FRONT, tied_with=tied)
    return marks


def order_front(points: Sequence[Point]) -> list[Point]:
    """Fastest first; equal p50 by higher accuracy."""
    return sorted(points, key=lambda p: (p.latency, -p.accuracy, str(p.key)))


def front_steps(front: Sequence[Point]) -> list[tuple[float, float]]:
    """Vertices of the step line through the front: at each member's p50 the best accuracy
    reachable so far; horizontal, then vertical, segments."""
    steps: list[tuple[float, float]] = []
    best = None
    for p in order_front(front):
        if best is None:
            steps.append((p.latency, p.accuracy))
            best = p.accuracy
        elif p.accuracy > best:
            steps.append((p.latency, best))
            steps.append((p.latency, p.accuracy))
            best = p.accuracy
    if steps and len(front) > 1:
        last = max(p.latency for p in front)
        if last > steps[-1][0]:
            steps.append((last, steps[-1][1]))
    return steps
