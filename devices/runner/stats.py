"""Exact latency statistics (percentiles, bootstrap intervals, the noise verdict), tested against
numpy; the host imports them from here rather than keeping a copy."""

import math
import random

# Thresholds: a spread above these makes one figure untrustworthy (flagged, never hidden).
NOISY_CV = 0.10
NOISY_CI_HALF_WIDTH = 0.05  # of p50
NOISY_TAIL_RATIO = 3.0  # p99 / p50
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_MAX_DRAWS = 5000000  # resamples * n: keeps a 120 s loop's CI under a few seconds
SINGLE_BLOCK_CI = ("bootstrap within one timed block: jitter inside the block only, not the "
                   "variation between runs (edge-vit profile measures in rounds for that)")


def percentile(sorted_values, q):
    """q-th percentile (0-100) of already sorted data, linear interpolation (numpy's default)."""
    n = len(sorted_values)
    if n == 0:
        raise ValueError("percentile of no data")
    pos = (n - 1) * q / 100.0
    lo = int(math.floor(pos))
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def mean_std(values):
    """Mean and population standard deviation (ddof=0, numpy's default)."""
    m = math.fsum(values) / len(values)
    return m, math.sqrt(math.fsum((v - m) ** 2 for v in values) / len(values))


def bootstrap_ci(values, qs, resamples=BOOTSTRAP_RESAMPLES, seed=0, level=0.95):
    """Percentile-bootstrap intervals [low, high] for each q-th percentile in ``qs``, from
    the same seeded resamples (one sort serves every q; reruns agree)."""
    rng = random.Random(seed)
    stats = [[] for _ in qs]
    for _ in range(resamples):
        sample = sorted(rng.choices(values, k=len(values)))
        for dist, q in zip(stats, qs):  # noqa: B905 (3.8)
            dist.append(percentile(sample, q))
    tail = (1.0 - level) / 2.0 * 100.0
    return [[percentile(d, tail), percentile(d, 100.0 - tail)] for d in map(sorted, stats)]


def bootstrap_resamples(n):
    return max(100, min(BOOTSTRAP_RESAMPLES, BOOTSTRAP_MAX_DRAWS // max(n, 1)))


def latency_stats(times_ms, batch=1, total_seconds=None, seed=0):
    """LatencyStats fields for per-iteration times in ms, with the noise verdict."""
    data = sorted(times_ms)
    m, sd = mean_std(data)
    resamples = bootstrap_resamples(len(data))
    p50, p90, p99 = percentile(data, 50), percentile(data, 90), percentile(data, 99)
    p50_ci, p90_ci, p99_ci = bootstrap_ci(data, (50, 90, 99), resamples, seed)
    cv = sd / m if m > 0 else 0.0
    reasons = []
    if cv > NOISY_CV:
        reasons.append("cv %.3f > %.2f" % (cv, NOISY_CV))
    half = (p50_ci[1] - p50_ci[0]) / 2.0
    if p50 > 0 and half > NOISY_CI_HALF_WIDTH * p50:
        reasons.append("p50 CI half-width %.1f%% of p50 > %.0f%%"
                       % (100 * half / p50, 100 * NOISY_CI_HALF_WIDTH))
    if p50 > 0 and p99 > NOISY_TAIL_RATIO * p50:
        reasons.append("p99 %.3g ms > %.0fx p50 %.3g ms" % (p99, NOISY_TAIL_RATIO, p50))
    r = _round
    return {
        "count": len(data), "mean": r(m), "std": r(sd), "min": r(data[0]), "max": r(data[-1]),
        "p50": r(p50), "p90": r(p90), "p95": r(percentile(data, 95)), "p99": r(p99),
        "p50_ci": [r(v) for v in p50_ci],
        "p90_ci": [r(v) for v in p90_ci],
        "p99_ci": [r(v) for v in p99_ci],
        "ci_method": SINGLE_BLOCK_CI, "rounds": None,
        "cv": round(cv, 5), "noisy": bool(reasons),
        "noise_reason": "; ".join(reasons) or None,
        "throughput_ips": round(batch * 1000.0 / m, 3) if m > 0 else None,
        "total_seconds": round(total_seconds, 4) if total_seconds is not None else None,
    }


def _round(v, digits=6):  # ms to the nanosecond: ratios of rounded values stay exact enough
    return round(float(v), digits)

