"""Which blocks of a session count: the rules that drop a block the machine disturbed in a way
a single block cannot show (a mixin of :class:`.session.MeasurementSession`, which owns the
units and rounds they read)."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from .. import results as rs

SPELL_MIN_UNITS = 3  # a slow spell is seen in at least this many artifacts of one process ...
SPELL_RATIO = 1.15  # ... running together this much slower than their own medians

if TYPE_CHECKING:
    from .unit import Unit


class QualityRules:
    def _mark_spells(self) -> None:
        """Re-decide, over every round so far, which blocks ran during a slow spell of the
        machine: one runner process whose artifacts ran together more than ``SPELL_RATIO``
        slower than their own session medians, either most of them (the median of the
        process) or a stretch of at least ``SPELL_MIN_UNITS`` measured back to back (a spell
        shorter than the process). /proc/stat cannot see such a spell (the hypervisor's
        scheduling, another tenant); several independent artifacts slowing at once, one after
        the other, can. Their blocks are dropped and repeated like busy ones. Decided again
        each round: each artifact's median moves as rounds come."""
        self._mark_busy_processes()
        typical = {}
        for u in self._active():
            meds = [x.p50 for x in u.records if x.round > 0 and x.p50
                    and (x.status == rs.COUNTED or is_spell(x))]
            if meds:
                typical[u.index] = statistics.median(meds)
        groups = self._by_process(lambda u, x: bool(x.p50 and typical.get(u.index)) and (
            x.status == rs.COUNTED or is_spell(x)))
        for members in groups.values():
            members.sort(key=lambda m: m[1].position if m[1].position is not None else 0)
            ratios = [x.p50 / typical[u.index] for u, x in members]
            whole = (len(ratios) >= SPELL_MIN_UNITS
                     and statistics.median(ratios) > SPELL_RATIO)
            stretch = _slow_stretches(ratios)
            for k, (_, x) in enumerate(members):
                if whole or k in stretch:
                    many = len(ratios) if whole else stretch[k]
                    what = "of this runner process" if whole else "measured back to back"
                    x.status = rs.DROPPED
                    x.reason = (f"slow spell: {many} artifacts {what} ran "
                                f"{statistics.median(ratios) if whole else ratios[k]:.2f}x "
                                f"their own medians together (the machine, not one artifact)")
                elif is_spell(x):
                    x.status, x.reason = rs.COUNTED, None

    def _mark_busy_processes(self) -> None:
        """A runner process most of whose blocks (at least half, of two or more) were busy ran
        on a busy machine: its other blocks are dropped too. A 0.1 s block's /proc/stat window
        holds a few ticks, so one block now and then slips under the threshold while a hog
        runs (seen: blocks with 0.28-0.41 other CPUs counted, 26-62 % slow)."""
        for members in self._by_process().values():
            recs = [x for _, x in members]
            busy = sum(x.status == rs.DROPPED and reason_kind(x.reason) == "busy"
                       for x in recs)
            if len(recs) < 2 or 2 * busy < len(recs):
                continue
            for x in recs:
                if x.status == rs.COUNTED or is_spell(x):
                    x.status = rs.DROPPED
                    x.reason = (f"busy: {busy} of the {len(recs)} blocks of this runner "
                                f"process were (a short block can slip under the threshold)")

    def _by_process(self, keep=None) -> dict[tuple, list[tuple[Unit, rs.RoundRecord]]]:
        """The blocks of every runner process after the warm-up round (``keep``: a filter),
        by (round, process)."""
        groups: dict[tuple, list[tuple[Unit, rs.RoundRecord]]] = {}
        for u in self._active():
            for x in u.records:
                if x.round > 0 and x.process and (keep is None or keep(u, x)):
                    groups.setdefault((x.round, x.process), []).append((u, x))
        return groups


def _slow_stretches(ratios: list[float]) -> dict[int, int]:
    """Indices inside runs of at least SPELL_MIN_UNITS consecutive ratios above SPELL_RATIO,
    each mapped to its run's length."""
    out, start = {}, None
    for k, r in enumerate(ratios + [0.0]):
        if r > SPELL_RATIO:
            start = k if start is None else start
            continue
        if start is not None and k - start >= SPELL_MIN_UNITS:
            out.update({i: k - start for i in range(start, k)})
        start = None
    return out


def is_spell(rec: rs.RoundRecord) -> bool:
    return rec.status == rs.DROPPED and (rec.reason or "").startswith("slow spell")


def reason_kind(reason: str | None) -> str:
    return (reason or "?").split(":", 1)[0]
