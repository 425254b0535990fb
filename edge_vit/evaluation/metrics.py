"""Top-k accuracy, its confidence interval, and when an artifact counts as worse than PyTorch.

Units: accuracies, their intervals and drops are in percent / percentage points (75.3, not
0.753), as timm's validate.py reports them; agreement is a share (0..1).

The flag rule. An artifact is scored on the same images as its PyTorch source, so the drop
``d = top1_ref - top1`` is a paired difference. With ``b`` images only the reference gets
right and ``c`` images only the artifact gets right (n images), its standard error is the
paired (McNemar) one::

    se(d) = 100 * sqrt((b + c) - (b - c)^2 / n) / n        [points]

and the artifact is **flagged** when ``d > max(1 point, 2 * se(d))``: at least one point lost,
and more than chance disagreement on this many images explains (about 95 % one-sided).
"""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054  # two-sided 95 % normal quantile
FLAG_MIN_DROP_PTS = 1.0
FLAG_SE_FACTOR = 2.0


def topk_indices(logits: np.ndarray, k: int = 5) -> np.ndarray:
    """(N, min(k, C)) class indices by descending logit; ties go to the lower index, as
    ``argmax`` does, so every runtime breaks them the same way."""
    logits = np.asarray(logits, dtype=np.float32)
    if logits.ndim != 2:
        logits = logits.reshape(len(logits), -1)
    k = min(k, logits.shape[1])
    return np.argsort(-logits, axis=1, kind="stable")[:, :k].astype(np.int64)


def correct_at(top: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Per-image bool: the label is among the first ``k`` predictions."""
    return (top[:, :k] == np.asarray(labels)[:, None]).any(axis=1)


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion, in percent."""
    if n <= 0:
        return (0.0, 100.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the edges
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (100 * low, 100 * high)


def paired_drop_se(ref_correct: np.ndarray, correct: np.ndarray) -> float:
    """Standard error (points) of ``top1(ref) - top1`` on the same images."""
    n = len(correct)
    if n == 0:
        return float("nan")
    b = int(np.sum(ref_correct & ~correct))
    c = int(np.sum(~ref_correct & correct))
    return 100 * math.sqrt(max(0.0, (b + c) - (b - c) ** 2 / n)) / n


def flag_drop(drop_pts: float, se_pts: float) -> tuple[bool, str | None]:
    threshold = max(FLAG_MIN_DROP_PTS, FLAG_SE_FACTOR * se_pts)
    if drop_pts > threshold:
        return True, (f"top-1 {drop_pts:.2f} points below its PyTorch source (threshold "
                      f"max({FLAG_MIN_DROP_PTS:g}, {FLAG_SE_FACTOR:g} x se {se_pts:.2f}) = "
                      f"{threshold:.2f})")
    return False, None
