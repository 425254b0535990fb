"""Latency statistics over rounds: percentiles, their intervals, and paired ratios.

One artifact measured in a session gives R *rounds* (one short timed block each, in a fresh
load, interleaved with every other artifact of the session); round r holds n_r per-inference
times. Run-to-run variation lives between rounds (each round is its own process, load and
moment of the machine), so every interval here treats the round as the unit of replication:

* **Percentiles** (p50, p90, p99) summarise all counted rounds pooled, each round weighted
  equally (a slow round is not under-weighted for holding fewer samples).
* **Their 95 % intervals** come from a two-level bootstrap: draw R rounds with replacement,
  then within each drawn round draw its values with replacement (at most
  ``MAX_DRAWS_PER_ROUND``), and take the pooled percentile. The percentile-bootstrap interval of R rounds is too narrow when R is small (it
  uses the normal quantile and the plug-in variance), so each side is widened by
  ``t(R-1) / z * sqrt(R / (R-1))`` -- the "expanded percentile" correction (Hesterberg 2015),
  which brings the coverage of a mean of R values to that of the t-interval. With one round
  there is no between-round information and no interval is given.
* **Paired ratios** ("A is 1.42x faster than B") come from the two artifacts' medians in the
  *same* round, r_k = median_A,k / median_B,k, summarised over rounds as the 20 %-trimmed
  mean of log r_k with Yuen's interval (the trimmed-mean t-interval with the winsorized
  variance; a plain paired t-interval when fewer than 5 rounds leave nothing to trim).
  Whatever slowed the whole machine during round k slows both sides and cancels; a few rounds
  where only one side was caught in a slow spell of the machine (seen here: 1-4 s spells that
  make two-thread runtimes 1.5-1.7x slower) are trimmed instead of dragging the mean. The
  comparison is *resolved* when the interval excludes 1, else it is a tie: the noise cannot
  order the two.
* **Between sessions.** However many rounds a session runs, it sees one stretch of the
  machine's life, and the machine's speed moves between sessions too (on the 2-vCPU VM:
  0.96 % sd per session beyond what the rounds predict, shifts of every artifact at once of
  up to 3.7 % from one session to the next; benchmarks/session_spread.py). :func:`widen`
  adds that spread (``session_sd``) to the percentile intervals in quadrature; the stopping
  rule looks at what more rounds can shrink, without it. In a paired ratio the shift of the
  whole machine cancels, but not all of it: two artifacts do not answer a change of the
  machine alike (measured: speedups moved 0.6 % sd between sessions where p50s moved
  1.1 %), so paired intervals add ``RATIO_SESSION_SHARE`` (half) of ``session_sd``.
* **Summary-only rounds** (a native tool such as trtexec reports percentiles, not samples):
  the estimate is the geometric mean of the per-round figures with the t-interval of their
  logs.

numpy does the resampling; nothing here needs scipy (the t quantile is computed exactly).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
Z975 = 1.959963984540054
BOOTSTRAP_RESAMPLES = 2000
MAX_DRAWS_PER_ROUND = 128
QUANTILES = (50.0, 90.0, 99.0)


# ---------------------------------------------------------------- Student's t, exactly

def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    x = df / (df + t * t)
    tail = 0.5 * _betainc(df / 2.0, 0.5, x)
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t with ``df`` degrees of freedom (bisection on the exact
    CDF; 1e-10 absolute)."""
    if not 0.0 < p < 1.0 or df <= 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0, got p={p}, df={df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-10:
            break
    return (lo + hi) / 2.0


def expansion(rounds: int, level: float = LEVEL) -> float:
    """Widening of a percentile-bootstrap interval over ``rounds`` replicates so that it has
    the t-interval's coverage: t(R-1)/z * sqrt(R/(R-1))."""
    if rounds < 2:
        return float("nan")
    p = 1.0 - (1.0 - level) / 2.0
    z = Z975 if level == LEVEL else _normal_quantile(p)
    return t_quantile(p, rounds - 1) / z * math.sqrt(rounds / (rounds - 1))


def _normal_quantile(p: float) -> float:
    lo, hi = -10.0, 10.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if 0.5 * math.erfc(-mid / math.sqrt(2.0)) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


# ---------------------------------------------------------------- percentiles over rounds

def pooled_percentiles(rounds: Sequence[Sequence[float]], qs: Sequence[float] = QUANTILES
                       ) -> list[float]:
    """Percentiles of all rounds pooled, each round weighted equally (weights 1/n_r), with
    numpy's linear interpolation when every round has the same size."""
    arrays = [np.asarray(r, dtype=float) for r in rounds if len(r)]
    if not arrays:
        raise ValueError("percentiles of no data")
    sizes = {len(a) for a in arrays}
    if len(sizes) == 1:
        return [float(v) for v in np.percentile(np.concatenate(arrays), qs)]
    values = np.concatenate(arrays)
    weights = np.concatenate([np.full(len(a), 1.0 / len(a)) for a in arrays])
    return _weighted_percentiles(values, weights, qs)


def _weighted_percentiles(values: np.ndarray, weights: np.ndarray, qs: Sequence[float]
                          ) -> list[float]:
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cum = np.cumsum(w) - 0.5 * w  # mid-point rule: each value at the middle of its weight
    cum /= w.sum()
    return [float(np.interp(q / 100.0, cum, v)) for q in qs]


@dataclass
class RoundsSummary:
    """Percentiles of a unit over its counted rounds, with between-round intervals."""

    rounds: int
    count: int  # values in all counted rounds
    percentiles: dict[float, float]
    intervals: dict[float, tuple[float, float]]  # empty with fewer than 2 rounds
    method: str

    def half_width(self, q: float = 50.0) -> float | None:
        """Half the interval's width relative to the estimate (0.02 = +-2 %)."""
        if q not in self.intervals or not self.percentiles.get(q):
            return None
        lo, hi = self.intervals[q]
        return (hi - lo) / 2.0 / self.percentiles[q]


BOOTSTRAP_METHOD = ("two-level bootstrap over rounds, then values within each round, "
                    "widened by t(R-1)/z*sqrt(R/(R-1))")
SUMMARY_METHOD = "geometric mean of per-round figures, t-interval of their logs"


def summarize_rounds(rounds: Sequence[Sequence[float]], qs: Sequence[float] = QUANTILES,
                     resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0,
                     level: float = LEVEL) -> RoundsSummary:
    """Pooled percentiles and their two-level bootstrap intervals (see the module text)."""
    arrays = [np.asarray(r, dtype=float) for r in rounds if len(r)]
    if not arrays:
        raise ValueError("no rounds with values")
    points = pooled_percentiles(arrays, qs)
    est = dict(zip(qs, points, strict=True))
    n_rounds = len(arrays)
    if n_rounds < 2:
        return RoundsSummary(1, int(sum(map(len, arrays))), est, {}, BOOTSTRAP_METHOD)
    rng = np.random.default_rng(seed)
    # every drawn round contributes the same number of draws m: rounds weigh equally. m is
    # capped: drawing fewer values than a round holds overstates its (small) within-round
    # noise a little, never understates it, and keeps a 28-unit stopping check cheap
    m = min(MAX_DRAWS_PER_ROUND, int(np.median([len(a) for a in arrays])))
    lengths = np.array([len(a) for a in arrays])
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    flat = np.concatenate(arrays)
    stats = np.empty((resamples, len(qs)))
    chunk = max(1, int(4_000_000 // max(1, n_rounds * m)))
    done = 0
    while done < resamples:
        b = min(chunk, resamples - done)
        picked = rng.integers(0, n_rounds, size=(b, n_rounds))
        within = (rng.random((b, n_rounds, m)) * lengths[picked][..., None]).astype(np.int64)
        idx = offsets[picked][..., None] + within
        draws = flat[idx].reshape(b, n_rounds * m)
        stats[done:done + b] = np.percentile(draws, qs, axis=1).T
        done += b
    tail = (1.0 - level) / 2.0 * 100.0
    lo_q, hi_q = np.percentile(stats, [tail, 100.0 - tail], axis=0)
    f = expansion(n_rounds, level)
    intervals = {}
    for i, q in enumerate(qs):
        p = est[q]
        lo = p - f * max(0.0, p - float(lo_q[i]))
        hi = p + f * max(0.0, float(hi_q[i]) - p)
        intervals[q] = (max(lo, 0.0), hi)
    return RoundsSummary(n_rounds, int(lengths.sum()), est, intervals, BOOTSTRAP_METHOD)


RATIO_SESSION_SHARE = 0.5  # of session_sd, added to paired ratios (see the module text)


def widen(point: float, interval: tuple[float, float], session_sd: float,
          level: float = LEVEL) -> tuple[float, float]:
    """Add a between-session term to an interval from one session's rounds. However many
    rounds a session runs, it sees one stretch of the machine's life; how the machine's speed
    moves from one session to the next (measured 0.96 % sd on the 2-vCPU VM, see
    benchmarks/session_spread.py) is added in quadrature on the log scale."""
    if not session_sd or point <= 0:
        return interval
    z = Z975 if level == LEVEL else _normal_quantile(1.0 - (1.0 - level) / 2.0)
    extra = (z * session_sd) ** 2
    lo, hi = interval
    down = math.sqrt(math.log(point / lo) ** 2 + extra) if lo > 0 else float("inf")
    up = math.sqrt(math.log(hi / point) ** 2 + extra)
    return (point * math.exp(-down) if lo > 0 else 0.0, point * math.exp(up))


def summarize_round_figures(per_round: Sequence[Mapping[float, float]],
                            qs: Sequence[float] = QUANTILES, level: float = LEVEL
                            ) -> RoundsSummary:
    """For rounds that report percentiles but no samples (trtexec): geometric mean over rounds
    of each percentile, t-interval of its logs."""
    est, intervals = {}, {}
    n = len(per_round)
    if n == 0:
        raise ValueError("no rounds")
    for q in qs:
        vals = [r[q] for r in per_round if r.get(q)]
        if not vals:
            continue
        est[q], ci = geometric_interval(vals, level)
        if ci is not None:
            intervals[q] = ci
    return RoundsSummary(n, 0, est, intervals, SUMMARY_METHOD)


def geometric_interval(values: Sequence[float], level: float = LEVEL
                       ) -> tuple[float, tuple[float, float] | None]:
    logs = [math.log(v) for v in values]
    n = len(logs)
    mean = math.fsum(logs) / n
    if n < 2:
        return math.exp(mean), None
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in logs) / (n - 1))
    half = t_quantile(1.0 - (1.0 - level) / 2.0, n - 1) * sd / math.sqrt(n)
    return math.exp(mean), (math.exp(mean - half), math.exp(mean + half))


# ---------------------------------------------------------------- paired comparisons

@dataclass
class PairedRatio:
    """a / b from the same rounds: ratio > 1 means a is slower (b is faster by ``ratio``)."""

    ratio: float
    low: float | None
    high: float | None
    rounds: int  # rounds both sides have

    @property
    def resolved(self) -> bool:
        """The interval excludes 1: one side is faster beyond the noise."""
        return self.low is not None and (self.low > 1.0 or self.high < 1.0)

    @property
    def direction(self) -> int:
        """+1: a slower than b (b faster), -1: a faster, 0: tie (unresolved)."""
        if not self.resolved:
            return 0
        return 1 if self.low > 1.0 else -1

    def inverted(self) -> PairedRatio:
        return PairedRatio(1.0 / self.ratio, None if self.high is None else 1.0 / self.high,
                           None if self.low is None else 1.0 / self.low, self.rounds)


TRIM = 0.2  # share of rounds trimmed from each end of the paired log ratios


def trimmed_interval(values: Sequence[float], trim: float = TRIM, level: float = LEVEL
                     ) -> tuple[float, tuple[float, float] | None]:
    """The ``trim``-trimmed mean and Yuen's interval (t with n - 2g - 1 degrees of freedom on
    the winsorized standard error); with g = 0 it is the ordinary t-interval."""
    x = sorted(values)
    n = len(x)
    g = int(math.floor(trim * n))
    kept = x[g:n - g]
    mean = math.fsum(kept) / len(kept)
    if n < 2:
        return mean, None
    w = [min(max(v, x[g]), x[n - g - 1]) for v in x]  # winsorized
    wm = math.fsum(w) / n
    sw = math.sqrt(math.fsum((v - wm) ** 2 for v in w) / (n - 1))
    df = n - 2 * g - 1
    if df < 1:
        return mean, None
    half = t_quantile(1.0 - (1.0 - level) / 2.0, df) * sw / ((1.0 - 2.0 * g / n) * math.sqrt(n))
    return mean, (mean - half, mean + half)


def paired_ratio(a: Mapping[int, float], b: Mapping[int, float], level: float = LEVEL
                 ) -> PairedRatio | None:
    """Ratio of per-round medians a_k / b_k over the rounds k both have (None when they share
    no round): exp of the 20 %-trimmed mean of the log ratios, with Yuen's interval."""
    common = sorted(k for k in set(a) & set(b) if a[k] > 0 and b[k] > 0)
    if not common:
        return None
    mean, ci = trimmed_interval([math.log(a[k] / b[k]) for k in common], level=level)
    return PairedRatio(math.exp(mean), math.exp(ci[0]) if ci else None,
                       math.exp(ci[1]) if ci else None, len(common))
