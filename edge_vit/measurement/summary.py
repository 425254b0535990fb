"""A session's units turned into ProfileResults: latency over the counted rounds with their
intervals, the run facts, and notes on everything that was dropped (a mixin of
:class:`.session.MeasurementSession`)."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

from devices.runner.stats import NOISY_CI_HALF_WIDTH as NOISY_HALF_WIDTH
from devices.runner.stats import NOISY_TAIL_RATIO

from .. import results as rs
from ..manifest import utc_now
from ..serialization import from_dict, write_json_atomic
from . import stats
from .quality import reason_kind

if TYPE_CHECKING:
    from .unit import Unit


class SessionResults:
    def _write_results(self, complete: bool) -> list[rs.ProfileResult]:
        self._mark_spells()
        out = []
        for u in self.units:
            res = self._result(u, complete)
            write_json_atomic(u.path, res)
            out.append(res)
            lat = res.latency
            if lat is not None and lat.p50_ci:
                half = (lat.p50_ci[1] - lat.p50_ci[0]) / 2.0 / lat.p50 if lat.p50 else 0.0
                self.say(f"    {u.aid}: p50 {lat.p50:.3f} ms [{lat.p50_ci[0]:.3f}, "
                         f"{lat.p50_ci[1]:.3f}] (±{half:.1%}, {lat.rounds} rounds)  "
                         f"p90 {lat.p90:.3f} ms  ({res.settings.inference_precision or '?'})"
                         f"  -> {u.path}")
            elif lat is not None:
                self.say(f"    {u.aid}: p50 {lat.p50:.3f} ms ({lat.rounds} round, no "
                         f"interval)  -> {u.path}")
            elif res.status != rs.OK:
                self.say(f"    {u.aid}: {res.status}: {res.error}")
        return out

    def _session_info(self, u: Unit, counted: int, complete: bool) -> rs.SessionInfo:
        dropped = u.with_status(rs.DROPPED)
        reasons = Counter(reason_kind(x.reason) for x in dropped)
        times = [t for x in self.rounds for t in (x.get("started"), x.get("finished")) if t]
        return rs.SessionInfo(
            id=self.id, units=len(self.units), rounds_run=max(0, len(self.rounds) - 1),
            rounds_counted=counted, rounds_dropped=len(dropped), drop_reasons=dict(reasons),
            warmup_rounds=1 if self.rounds else 0, stopped_by=self.stopped_by,
            complete=complete, target_ci=self.settings.target_ci,
            max_seconds=self.settings.max_seconds,
            order=f"shuffled per round (seed {self.settings.seed}), one process per runtime",
            started=min(times) if times else self.started,
            finished=max(times) if times else None,
            seconds=round(sum(x.get("seconds") or 0.0 for x in self.rounds), 2))

    def _result(self, u: Unit, complete: bool) -> rs.ProfileResult:
        from ..profiling import failed_result

        counted = u.with_status(rs.COUNTED)
        if u.native and u.native_results:
            base = next((u.native_results[k] for k in sorted(u.native_results, reverse=True)
                         if u.native_results[k].status == rs.OK), None)
        else:
            base = None
        if not counted and u.failure is None and not complete and not u.records:
            u.failure = (rs.FAILED, f"the session stopped before this artifact was measured "
                                    f"({self.stopped_by})")
        if u.failure is not None and not counted:
            res = failed_result(u.plan, self.device, u.failure[1], u.failure[0])
            res.rounds = list(u.records)
            res.session = self._session_info(u, 0, complete)
            return res
        used, notes = counted, []
        if not used:  # no quiet round at all: use what there is, loudly
            used = u.with_status(rs.DROPPED) or u.with_status(rs.WARMUP)
            kind = "dropped (busy or throttled)" if u.with_status(rs.DROPPED) else "warm-up"
            notes.append(f"no counted round: these figures come from {len(used)} {kind} "
                         f"round(s)")
        summary = (stats.summarize_round_figures(
            [{50.0: x.p50, 90.0: x.p90, 99.0: x.p99} for x in used]) if u.native else
            stats.summarize_rounds([x.times_ms for x in used], seed=self.settings.seed))
        res = base if base is not None else self._runner_result(u, used)
        first = u.native_results.get(0)
        if base is not None and first is not None and first is not base:  # the engine build
            res.notes = _unique(first.notes + res.notes)
            for k in ("engine_build_seconds", "engine"):
                if first.settings.options.get(k) is not None:
                    res.settings.options[k] = first.settings.options[k]
        res.latency = self._latency(u, used, summary, notes)
        if u.failure is not None:
            notes.append(f"later failed: {u.failure[1]}")
        res.rounds = list(u.records)
        res.session = self._session_info(u, len(counted), complete)
        res.notes = _unique(res.notes + list(u.plan.options.get("notes", []))
                            + self._session_notes(u, summary, complete) + notes)
        res.settings.options["requested"] = self.settings.requested()
        res.device_name, res.device_kind = self.device.name, self.device.kind
        res.started = min((x.started for x in u.records if x.started), default=res.started)
        res.finished = (self.rounds[-1].get("finished") if self.rounds else None) or utc_now()
        return res

    def _runner_result(self, u: Unit, used: list[rs.RoundRecord]) -> rs.ProfileResult:
        from ..profiling import artifact_ref

        f, s = u.facts, self.settings
        mem = [x for x in (f.get("memory"),) if x]
        settings = rs.RunSettings(
            runtime=f.get("runtime") or u.runtime, runtime_version=f.get("runtime_version"),
            device=f.get("device"), providers=list(f.get("providers") or []),
            threads=f.get("threads"), batch=int(f.get("batch") or 1), warmup=s.warmup,
            min_iterations=u.iterations, min_seconds=s.block_seconds,
            input=f.get("input") or "random", inference_precision=f.get("inference_precision"),
            options=dict(f.get("options") or {}, block_iterations=u.iterations,
                         warmup_seconds=s.warmup_seconds, affinity=(self.environment or {})
                         .get("affinity"), pinned=s.pin))
        env = None
        if self.environment:
            known = set(rs.Environment.__dataclass_fields__)
            env = from_dict(rs.Environment, {k: v for k, v in self.environment.items()
                                              if k in known})
        loads = [x.load_seconds for x in used if x.load_seconds is not None]
        firsts = [x.first_inference_ms for x in used if x.first_inference_ms is not None]
        throttled = [x.throttled for x in used if x.throttled is not None]
        emulated = rs.emulated_label(env)
        return rs.ProfileResult(
            artifact=artifact_ref(u.plan), settings=settings, emulated=emulated,
            load_seconds=round(statistics.median(loads), 4) if loads else None,
            first_inference_ms=round(statistics.median(firsts), 4) if firsts else None,
            memory=from_dict(rs.MemoryStats, mem[0]) if mem else None, environment=env,
            throttled=any(throttled) if throttled else None,
            throttle_detail=f.get("throttle_detail"),
            notes=([emulated] if emulated else []) + list(f.get("notes") or []))

    def _latency(self, u: Unit, used: list[rs.RoundRecord], summary: stats.RoundsSummary,
                 notes: list[str]) -> rs.LatencyStats:
        p = summary.percentiles
        sd = self.settings.session_sd  # what one session cannot see: see stats.widen
        ci = {q: [round(v, 6) for v in stats.widen(p[q], summary.intervals[q], sd)]
              if q in summary.intervals else [] for q in stats.QUANTILES}
        batch = int(u.facts.get("batch") or 1)
        throughput = None
        if u.native:
            # trtexec's own throughput (queries overlap on the GPU), per counted round
            rounds_used = {x.round for x in used}
            tps = [res.latency.throughput_ips for k, res in u.native_results.items()
                   if k in rounds_used and res.latency and res.latency.throughput_ips]
            throughput = stats.geometric_interval(tps)[0] if tps else None
            mean = stats.geometric_interval([x.mean for x in used if x.mean])[0]
            lo = min(x.min for x in used if x.min is not None)
            hi = max(x.max for x in used if x.max is not None)
            count = sum(x.count for x in used)
            std, p95 = 0.0, p[90.0]
        else:
            values = np.concatenate([np.asarray(x.times_ms) for x in used])
            mean, std, lo, hi = (float(values.mean()), float(values.std()),
                                 float(values.min()), float(values.max()))
            count, p95 = len(values), float(np.percentile(values, 95))
        reasons = []
        half = (ci[50.0][1] - ci[50.0][0]) / 2.0 / p[50.0] if ci[50.0] and p[50.0] else None
        if half is None:
            reasons.append(f"only {summary.rounds} round: no interval")
        elif half > NOISY_HALF_WIDTH:
            reasons.append(f"p50 interval ±{half:.1%} > ±{NOISY_HALF_WIDTH:.0%}")
        if p[50.0] > 0 and p[99.0] > NOISY_TAIL_RATIO * p[50.0]:
            reasons.append(f"p99 {p[99.0]:.3g} ms > {NOISY_TAIL_RATIO:g}x p50 {p[50.0]:.3g} ms")
        if notes:
            reasons.append("no quiet round")
        return rs.LatencyStats(
            count=count, mean=round(mean, 6), std=round(std, 6), min=round(lo, 6),
            max=round(hi, 6), p50=round(p[50.0], 6), p90=round(p[90.0], 6), p95=round(p95, 6),
            p99=round(p[99.0], 6), p50_ci=ci[50.0], p90_ci=ci[90.0], p99_ci=ci[99.0],
            cv=round(std / mean, 5) if mean > 0 else 0.0, noisy=bool(reasons),
            noise_reason="; ".join(reasons) or None,
            throughput_ips=round(throughput, 4) if throughput else
            round(batch * 1000.0 / mean, 3) if mean > 0 else None,
            total_seconds=round(sum(x.count * (x.mean or 0) for x in used) / 1000.0, 4),
            ci_method=summary.method + (f"; plus ±{stats.Z975 * sd:.1%} for the machine's "
                                        f"session-to-session spread (session_sd {sd:g})"
                                        if sd else ""), rounds=summary.rounds)

    def _session_notes(self, u: Unit, summary: stats.RoundsSummary, complete: bool
                       ) -> list[str]:
        s = self.settings
        out = [f"measured in {summary.rounds} interleaved round(s) of session {self.id} "
               f"({len(self.units)} units, stopped by: {self.stopped_by})"]
        dropped = u.with_status(rs.DROPPED)
        if dropped:
            kinds = Counter(reason_kind(x.reason) for x in dropped)
            out.append(f"{len(dropped)} round(s) dropped and repeated: "
                       + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
        half = summary.half_width(50.0)
        if half is not None and half > s.target_ci:
            out.append(f"p50 interval ±{half:.1%} is wider than the target ±{s.target_ci:.1%}"
                       f" ({self.stopped_by})")
        if not complete:
            out.append("the session was cut short; profiling again resumes it")
        return out


def _unique(items: list[str]) -> list[str]:
    seen, out = set(), []
    for x in items:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out
