"""Latency comparisons between report rows ("A is 1.4x faster than B, beyond the noise?").

Two rows measured in the same profile session are compared round by round: the ratio of
their medians in each round, summarised over the rounds both have (20 %-trimmed geometric
mean, Yuen's 95 % interval, plus half the session's ``session_sd``;
:func:`edge_vit.measurement.stats.paired_ratio`). Whatever slowed the machine
during a round slowed both, so it cancels. Rows from different sessions (or results without
rounds) fall back to their p50 intervals, combined conservatively: the ratio's interval runs
from low/high to high/low, and it resolves only when the two intervals do not overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import results as rs
from ..measurement.stats import RATIO_SESSION_SHARE, paired_ratio, widen
from . import schema as S

PAIRED = "paired rounds"
INTERVALS = "p50 intervals (not paired: different sessions)"


@dataclass(frozen=True)
class Series:
    """A row's per-round medians in its session, and the session-to-session spread its
    session was asked to allow for."""

    session: str
    medians: dict[int, float]
    session_sd: float = 0.0


def series_of(res: rs.ProfileResult) -> Series | None:
    if res.session is None or res.status != rs.OK:
        return None
    medians = res.round_medians()
    sd = float((res.settings.options.get("requested") or {}).get("session_sd") or 0.0)
    return Series(res.session.id, medians, sd) if medians else None


@dataclass(frozen=True)
class Comparison:
    """a's latency / b's latency (> 1: b is faster)."""

    ratio: float
    low: float | None
    high: float | None
    method: str
    rounds: int = 0

    @property
    def resolved(self) -> bool:
        return self.low is not None and self.high is not None and (
            self.low > 1.0 or self.high < 1.0)

    @property
    def a_slower(self) -> bool:
        return self.resolved and self.low > 1.0


def compare(a: S.ReportRow, b: S.ReportRow, sa: Series | None, sb: Series | None
            ) -> Comparison | None:
    if sa is not None and sb is not None and sa.session == sb.session:
        pr = paired_ratio(sa.medians, sb.medians)
        if pr is not None and pr.low is not None:
            low, high = widen(pr.ratio, (pr.low, pr.high), RATIO_SESSION_SHARE * sa.session_sd)
            return Comparison(pr.ratio, low, high, PAIRED, pr.rounds)
    if not a.p50_ms or not b.p50_ms:
        return None
    ratio = a.p50_ms / b.p50_ms
    if None in (a.p50_ci_low_ms, a.p50_ci_high_ms, b.p50_ci_low_ms, b.p50_ci_high_ms) \
            or not b.p50_ci_low_ms or not b.p50_ci_high_ms:
        return Comparison(ratio, None, None, INTERVALS)
    low = a.p50_ci_low_ms / b.p50_ci_high_ms
    high = a.p50_ci_high_ms / b.p50_ci_low_ms
    return Comparison(ratio, low, high, INTERVALS)
