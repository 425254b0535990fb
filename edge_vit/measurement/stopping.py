"""When a session stops: every p50 interval narrow enough, enough rounds, or the time budget
spent on counted blocks (a mixin of :class:`.session.MeasurementSession`); and the one line
per round it prints."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import TYPE_CHECKING

from .. import results as rs
from . import stats
from .quality import reason_kind

if TYPE_CHECKING:
    from .unit import Unit

MIN_ROUNDS_FOR_BUDGET = 2  # the time budget never stops a session before this many rounds
REPEAT_FACTOR = 2  # dropped rounds are repeated until 2x max_rounds rounds / 2x max_seconds
STOP_CHECK_RESAMPLES = 500


class StoppingRule:
    def _summary(self, u: Unit, resamples: int = stats.BOOTSTRAP_RESAMPLES
                 ) -> stats.RoundsSummary | None:
        counted = u.with_status(rs.COUNTED)
        if not counted:
            return None
        if u.native:
            return stats.summarize_round_figures(
                [{50.0: x.p50, 90.0: x.p90, 99.0: x.p99} for x in counted])
        return stats.summarize_rounds([x.times_ms for x in counted], resamples=resamples,
                                      seed=self.settings.seed)

    def _widths(self) -> dict[int, float | None]:
        """Each active unit's within-session p50 half-width, bootstrapped once per state of
        the rounds (the progress line and the stopping rule both ask after each round)."""
        key = tuple((u.index, tuple(x.status for x in u.records)) for u in self._active())
        if self._widths_cache is not None and self._widths_cache[0] == key:
            return self._widths_cache[1]
        out = {}
        for u in self._active():
            summary = self._summary(u, STOP_CHECK_RESAMPLES)
            out[u.index] = summary.half_width(50.0) if summary else None
        self._widths_cache = (key, out)
        return out

    def _effective_seconds(self) -> float:
        """Session time that bought counted blocks: a round's seconds times the share of its
        blocks that counted (dropped rounds are repeated without eating the budget)."""
        total = 0.0
        for x in self.rounds:
            r = x["round"]
            recs = [rec for u in self.units for rec in u.records if rec.round == r]
            share = 1.0 if r == 0 or not recs else \
                sum(rec.status == rs.COUNTED for rec in recs) / len(recs)
            total += (x.get("seconds") or 0.0) * share
        return total

    def _stop_reason(self) -> str | None:
        s = self.settings
        active = self._active()
        if not active:
            return "every unit failed"
        self._mark_spells()
        ran = len(self.rounds) - 1  # rounds after the warm-up round
        counted = [len(u.with_status(rs.COUNTED)) for u in active]
        if ran >= 1 and s.target_ci > 0 and min(counted) >= s.rounds:  # target 0: run max
            widths = self._widths().values()
            if all(w is not None and w <= s.target_ci for w in widths):
                return "target"
        if min(counted) >= s.max_rounds:
            return "max rounds"
        elapsed = sum(x.get("seconds") or 0.0 for x in self.rounds)
        typical = statistics.median([x.get("seconds") or 0.0 for x in self.rounds])
        if min(counted) >= MIN_ROUNDS_FOR_BUDGET and \
                self._effective_seconds() + typical > s.max_seconds:
            return "time budget"
        # dropped rounds are repeated, but a bounded number of times: at most max_seconds
        # spent on dropped blocks, at most REPEAT_FACTOR x max_rounds rounds
        if ran >= REPEAT_FACTOR * s.max_rounds or \
                elapsed - self._effective_seconds() >= s.max_seconds:
            return "repeat limit (the machine stayed busy)"
        return None

    def _progress(self, r: int, seconds: float) -> None:
        active = self._active()
        if r == 0:
            self.say(f"  round 0 (warm-up, calibration): {len(active)} unit(s), "
                     f"{seconds:.1f} s")
            return
        self._mark_spells()
        recs = [x for u in active for x in u.records if x.round == r]
        dropped = [x for x in recs if x.status == rs.DROPPED]
        widths = {i: w for i, w in self._widths().items() if w is not None}
        widest = ""
        if widths:
            i = max(widths, key=lambda k: widths[k])
            widest = f", widest p50 ±{widths[i]:.1%} ({self.units[i].aid})"
        kinds = Counter(reason_kind(x.reason) for x in dropped)
        first = {}
        for x in dropped:  # one reason of each kind as the example
            first.setdefault(reason_kind(x.reason), x.reason)
        drops = (f", {len(dropped)} dropped ("
                 + "; ".join(f"{n} {k}, e.g. {first[k]}" if n > 1 else first[k]
                             for k, n in sorted(kinds.items())) + ")" if dropped else "")
        self.say(f"  round {r}: {len(recs)} block(s){drops}{widest}, {seconds:.1f} s")
