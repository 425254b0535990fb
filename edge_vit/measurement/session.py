"""A measurement session: every pending (artifact, runtime) unit of one device, measured in
interleaved rounds until every p50 interval is narrow enough or the time budget is spent.

Method (the README's "How latency is measured" says why each part is there):

* Round 0 is the machine's warm-up and the calibration round: each unit is timed for
  ``block_seconds`` and its block size is fixed from that (``block_seconds`` worth of
  iterations, at least ``min_iterations``). Round 0 is kept in the result, never counted.
* Every later round runs every unit once, in an order shuffled per round (seeded). A round
  is a few *segments*: one fresh runner process per runtime, in which each unit is loaded,
  run once, warmed up, timed for its block and unloaded before the next. So every round is a
  fresh process and a fresh load: load-to-load variation is sampled in every round, one model
  is in memory at a time, and nothing a runtime leaves spinning reaches the next unit.
* A block taken while other processes used more than ``busy_cores`` CPUs (from /proc/stat
  deltas minus the runner's own CPU time), with more than ``max_steal_pct`` hypervisor steal,
  or while the board throttled, is dropped: kept in the result with its reason, not counted,
  and the session runs more rounds (up to ``max_rounds`` and the time budget).
* A runner process whose artifacts ran more than 1.15x their own session medians together
  (the median of at least three, or at least three measured back to back) was caught in a
  *slow spell* of the machine that /proc/stat cannot show
  (the hypervisor's scheduling: on the 2-vCPU VM this was built on, spells of 1-30 s make
  two-thread runtimes 1.5-1.7x slower and leave one-thread ones alone). Its blocks are dropped
  and repeated like busy ones; this is re-decided every round as the medians settle.
* After each round the stopping rule is checked: stop when every unit has at least
  ``rounds`` counted rounds and its p50 interval's half-width is at most ``target_ci`` of its
  p50; or when every unit has ``max_rounds`` counted rounds; or when the next round would
  overrun ``max_seconds`` of time spent on counted blocks (never before two counted rounds,
  so there is an interval). Dropped rounds are repeated on top of that, up to twice
  ``max_rounds`` rounds in all and ``max_seconds`` spent on dropped blocks.
* Each finished round is written atomically under ``<results>/<device>/sessions/<id>/``; an
  interrupted session (Ctrl-C, a lost device) resumes from its last finished round when the
  same units are profiled with the same settings again. A finished session keeps one
  ``session.json`` (order and environment of every round) and one result file per unit.

A unit that fails (cannot load, crashes the runner) is recorded as failed and left out of the
later rounds; the others carry on. A crash is pinned on the unit the runner was measuring
(it writes ``unit-start``/``unit-end`` marks on stderr).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import shutil
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from devices.runner.measure import UNIT_MARK
from devices.runner.stats import NOISY_CI_HALF_WIDTH as NOISY_HALF_WIDTH
from devices.runner.stats import NOISY_TAIL_RATIO

from .. import results as rs
from ..artifact_id import ArtifactId, safe_name
from ..errors import DeviceError
from ..manifest import utc_now
from ..serialization import from_dict, to_dict, write_json_atomic
from . import stats

log = logging.getLogger(__name__)

ROUND_FILE = "round-{:04d}.json"
PLAN_FILE = "plan.json"
SESSION_FILE = "session.json"
MIN_ROUNDS_FOR_BUDGET = 2  # the time budget never stops a session before this many rounds
REPEAT_FACTOR = 2  # dropped rounds are repeated until 2x max_rounds rounds / 2x max_seconds
SPELL_MIN_UNITS = 3  # a slow spell is seen in at least this many artifacts of one process ...
SPELL_RATIO = 1.15  # ... running together this much slower than their own medians
STOP_CHECK_RESAMPLES = 500
MAX_ITERATIONS = 100_000
HOT_C = 80.0


@dataclass
class _Unit:
    index: int
    plan: object  # edge_vit.profiling.RunPlan
    aid: ArtifactId
    path: Path
    iterations: int = 0  # fixed block size after calibration (0: time the block)
    records: list[rs.RoundRecord] = field(default_factory=list)
    facts: dict = field(default_factory=dict)  # the runner's facts of its last good block
    native_results: dict[int, rs.ProfileResult] = field(default_factory=dict)  # by round
    failure: tuple[str, str] | None = None  # (status, error)

    @property
    def native(self) -> bool:
        return bool(self.plan.options.get("native"))

    @property
    def runtime(self) -> str:
        return self.plan.runtime

    def with_status(self, status: str) -> list[rs.RoundRecord]:
        return [r for r in self.records if r.status == status]


def session_id(device_name: str, units: list[_Unit], settings) -> str:
    """Same device, same units (same files) and same settings: the same session (resumable)."""
    what = [device_name, sorted((u.aid.key, u.plan.entry.record.sha256 if u.plan.entry else "-")
                                for u in units), settings.requested()]
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:12]


class MeasurementSession:
    def __init__(self, device, plans: list, settings, results_dir: Path,
                 say: Callable[[str], None] | None = None):
        from ..profiling import result_path

        self.device, self.settings = device, settings
        self.say = say or log.info
        self.units = [_Unit(i, p, p.aid, result_path(results_dir, device.name, p))
                      for i, p in enumerate(plans)]
        self.id = session_id(device.name, self.units, settings)
        self.dir = Path(results_dir) / safe_name(device.name) / "sessions" / self.id
        self.remote_plan = f"sessions/{self.id}/{PLAN_FILE}"
        self.rounds: list[dict] = []  # finished rounds' summaries (order, seconds, env)
        self._widths_cache: tuple | None = None
        self.environment: dict | None = None
        self.stopped_by: str | None = None
        self.started = utc_now()

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> list[rs.ProfileResult]:
        self._prepare()
        s = self.settings
        self.say(f"session {self.id}: {len(self.units)} unit(s) on {self.device.name}, "
                 f"interleaved rounds until every p50 is within ±{s.target_ci:.1%} "
                 f"(at least {s.rounds}, at most {s.max_rounds} rounds, {s.max_seconds:g} s)")
        try:
            while self.stopped_by is None:
                r = len(self.rounds)
                t0 = time.monotonic()
                started = utc_now()
                order = self._run_round(r)
                self._finish_round(r, order, started, time.monotonic() - t0)
                self.stopped_by = self._stop_reason()
        except DeviceError as exc:
            self.stopped_by = f"device failed: {exc}"
            self._write_results(complete=False)
            raise
        results = self._write_results(complete=True)
        self._compact()
        return results

    def _prepare(self) -> None:
        done = self.dir / SESSION_FILE
        if done.exists():  # an earlier, finished session of the same units: measure anew
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        plan_path = self.dir / PLAN_FILE
        write_json_atomic(plan_path, self._plan())
        self.device.push([(plan_path, self.remote_plan)])
        for path in sorted(self.dir.glob("round-*.json")):
            try:
                self._replay(json.loads(path.read_text()))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("session %s: ignoring unreadable %s (%s)", self.id, path, exc)
                break
        if self.rounds:
            self.say(f"session {self.id}: resuming after {len(self.rounds)} finished round(s)")
            self.stopped_by = self._stop_reason()

    def _plan(self) -> dict:
        s, wd = self.settings, self.device.workdir
        units = []
        for u in self.units:
            p = u.plan
            unit = {"id": u.aid.key, "runtime": p.runtime, "format": u.aid.format,
                    "precision": u.aid.precision, "model_id": u.aid.model_id}
            if p.entry is None:  # the PyTorch reference: a random-init timm model
                unit.update(timm_model=p.options["timm_model"],
                            timm_kwargs=p.options["timm_kwargs"], batch=p.options["batch"])
            else:
                unit.update(artifact=f"{wd}/{p.entry.remote_path(p.entry.files[0])}",
                            sha256=p.entry.record.sha256,
                            companions={f"{wd}/{p.entry.remote_path(f)}": sha for f, sha in
                                        p.entry.companion_sha256.items()})
            if p.runtime == "openvino":
                unit.update(ov_device=s.ov_device, ov_precision=s.ov_precision)
            units.append(unit)
        return {"session": self.id, "units": units, "settings": {
            "threads": s.threads, "warmup": s.warmup, "warmup_seconds": s.warmup_seconds,
            "block_seconds": s.block_seconds, "min_iterations": s.min_iterations,
            "seed": s.seed, "ort_spin": s.ort_spin}}

    def _active(self) -> list[_Unit]:
        return [u for u in self.units if u.failure is None]

    def _order(self, r: int) -> list[list[_Unit]]:
        """The round's segments: one per runtime (one per native unit), shuffled, and the
        units inside each shuffled; seeded by the session and the round."""
        rng = random.Random(f"{self.settings.seed}/{self.id}/{r}")
        groups: dict[str, list[_Unit]] = {}
        for u in self._active():
            groups.setdefault(f"native:{u.index}" if u.native else u.runtime, []).append(u)
        segments = [groups[k] for k in sorted(groups)]
        rng.shuffle(segments)
        for seg in segments:
            rng.shuffle(seg)
        return segments

    def _run_round(self, r: int) -> list[str]:
        order, position = [], 0
        for seg in self._order(r):
            if seg[0].native:
                self._run_native(seg[0], r, position)
            else:
                self._run_segment(seg, r, position, environment=self.environment is None)
            order += [u.aid.key for u in seg]
            position += len(seg)
        return order

    # -- one segment: one runner process ---------------------------------------------------------
    def _run_segment(self, seg: list[_Unit], r: int, position: int, environment: bool) -> None:
        pending = list(seg)
        while pending:
            argv = self._argv(pending, r, environment)
            cmd = self.device.run(argv, timeout=self._timeout(pending))
            data = _parse(cmd.stdout)
            if data and data.get("environment") and environment:
                self.environment = data["environment"]
            blocks = {b.get("index"): b for b in (data or {}).get("units", [])
                      if isinstance(b, dict)}
            for u in pending:
                if u.index in blocks:
                    self._record(u, blocks[u.index], r, position + seg.index(u), data)
            rest = [u for u in pending if u.index not in blocks]
            if not rest:
                return
            reason, status = _segment_failure(cmd, data)
            culprit = _culprit(cmd.stderr, rest)
            if culprit is None:  # it failed before measuring anything: lock, plan, numpy
                for u in rest:
                    self._fail(u, status, f"round {r}: {reason}")
                return
            self._fail(culprit, rs.FAILED, f"round {r}: the runner process died while "
                                           f"measuring this artifact ({reason})")
            pending = [u for u in rest if u is not culprit]

    def _argv(self, units: list[_Unit], r: int, environment: bool) -> list[str]:
        from devices.shipping import runner_command

        d, s = self.device, self.settings
        argv = [*runner_command(d, "measure"),
                "--plan", f"{d.workdir}/{self.remote_plan}",
                "--units", ",".join(f"{u.index}:{u.iterations}" for u in units),
                "--round", str(r), "--lock", f"{d.workdir}/.profile.lock",
                "--lock-timeout", f"{s.lock_timeout:g}"]
        if r == 0:
            argv.append("--verify")  # sha256 of every file once, in the first round
        if environment:
            argv.append("--environment")
        if s.pin:
            argv += ["--pin", s.pin]
        return argv

    def _timeout(self, units: list[_Unit]) -> float:
        s = self.settings
        if s.command_timeout:
            return s.command_timeout
        return s.lock_timeout + 120.0 + len(units) * (60.0 + 20.0 * s.block_seconds)

    def _record(self, u: _Unit, block: dict, r: int, position: int, seg: dict) -> None:
        if block.get("status") != rs.OK:
            status = rs.UNSUPPORTED if block.get("error_type") == "MissingRuntime" else rs.FAILED
            hint = f" (hint: {block['hint']})" if block.get("hint") else ""
            self._fail(u, status, f"round {r}: {block.get('error') or 'failed'}{hint}")
            return
        times = [float(t) for t in block.get("times_ms") or []]
        if not times:
            self._fail(u, rs.FAILED, f"round {r}: the runner timed no iteration")
            return
        cpu = block.get("cpu") or {}
        env = seg.get("environment") or {}
        load = env.get("load_avg") or []
        a = np.asarray(times)
        p50, p90, p99 = (float(v) for v in np.percentile(a, (50, 90, 99)))
        rec = rs.RoundRecord(
            round=r, position=position, started=block.get("started"), count=len(times),
            p50=p50, p90=p90, p99=p99, mean=float(a.mean()), min=float(a.min()),
            max=float(a.max()), times_ms=times, load_seconds=block.get("load_seconds"),
            first_inference_ms=block.get("first_inference_ms"),
            warmup_iterations=block.get("warmup_iterations"),
            cpu_other_cores=cpu.get("other_cores"), cpu_steal_pct=cpu.get("steal_pct"),
            cpu_own_cores=cpu.get("own_cores"), cpu_freq_mhz=block.get("cpu_freq_mhz"),
            temperature_c=block.get("temperature_c"), load_avg_1m=load[0] if load else None,
            throttled=seg.get("throttled"), process=seg.get("pid"))
        self._classify(rec, r, seg, cpu.get("resolution_cores"))
        u.records.append(rec)
        u.facts = {k: v for k, v in block.items() if k not in ("times_ms", "cpu")}
        u.facts["throttle_detail"] = seg.get("throttle_detail")
        if r == 0:  # calibration: a block of about block_seconds from now on
            s = self.settings
            n = math.ceil(s.block_seconds * 1000.0 / max(p50, 1e-6))
            u.iterations = int(min(MAX_ITERATIONS, max(s.min_iterations, n)))

    def _classify(self, rec: rs.RoundRecord, r: int, seg: dict,
                  resolution: float | None = None) -> None:
        """Drop a block taken on a busy or throttled machine. ``resolution``: what /proc/stat's
        whole ticks cannot tell apart over this block (one tick per CPU), added to the
        threshold so that a short block is not dropped for a rounding error."""
        s = self.settings
        if r == 0:
            rec.status, rec.reason = rs.WARMUP, "warm-up and calibration round"
            return
        reason = None
        if rec.cpu_other_cores is not None and \
                rec.cpu_other_cores > s.busy_cores + (resolution or 0.0):
            reason = f"busy: other processes used {rec.cpu_other_cores:.2f} CPUs"
        elif rec.cpu_steal_pct is not None and rec.cpu_steal_pct > s.max_steal_pct:
            reason = f"busy: {rec.cpu_steal_pct:.1f} % CPU steal (hypervisor)"
        elif seg.get("throttled"):
            reason = f"throttled: {seg.get('throttle_detail') or 'vcgencmd'}"
        elif rec.temperature_c is not None and rec.temperature_c >= HOT_C:
            reason = f"hot: {rec.temperature_c:.0f} C"
        if reason:
            rec.status, rec.reason = rs.DROPPED, reason

    def _fail(self, u: _Unit, status: str, error: str) -> None:
        if u.failure is None:
            u.failure = (status, error)
            self.say(f"    {u.aid}: {status}: {error}")

    # -- a native tool's unit (a Jetson's trtexec): one invocation per round -------------------
    def _run_native(self, u: _Unit, r: int, position: int) -> None:
        res = self.device.profiler.measure_native(u.plan, self.settings, r)
        u.native_results[r] = res
        if res.status != rs.OK or res.latency is None:
            self._fail(u, res.status if res.status != rs.OK else rs.FAILED,
                       f"round {r}: {res.error or 'no latency'}")
            return
        lat = res.latency
        rec = rs.RoundRecord(round=r, position=position, started=res.started, count=lat.count,
                             p50=lat.p50, p90=lat.p90, p99=lat.p99, mean=lat.mean,
                             min=lat.min, max=lat.max, load_seconds=res.load_seconds,
                             throttled=res.throttled)
        self._classify(rec, r, {"throttled": res.throttled,
                                "throttle_detail": res.throttle_detail})
        u.records.append(rec)

    # -- persistence --------------------------------------------------------------------------
    def _finish_round(self, r: int, order: list[str], started: str, seconds: float) -> None:
        summary = {"round": r, "started": started, "finished": utc_now(),
                   "seconds": round(seconds, 3), "order": order,
                   "environment": self.environment if r == 0 else None}
        units = {}
        for u in self.units:
            rec = next((x for x in u.records if x.round == r), None)
            units[str(u.index)] = {
                "id": u.aid.key, "record": to_dict(rec) if rec else None,
                "facts": u.facts, "iterations": u.iterations,
                "failure": list(u.failure) if u.failure else None,
                "native": to_dict(u.native_results[r]) if r in u.native_results else None}
        write_json_atomic(self.dir / ROUND_FILE.format(r), {**summary, "units": units})
        self.rounds.append(summary)
        self._progress(r, seconds)

    def _replay(self, data: dict) -> None:
        r = int(data["round"])
        if r != len(self.rounds):
            raise KeyError(f"round {r} out of sequence")
        for u in self.units:
            entry = data["units"].get(str(u.index))
            if entry is None or entry.get("id") != u.aid.key:
                raise KeyError(f"round {r} does not list {u.aid.key}")
            if entry.get("record"):
                u.records.append(from_dict(rs.RoundRecord, entry["record"]))
            if entry.get("native"):
                u.native_results[r] = from_dict(rs.ProfileResult, entry["native"])
            u.facts = entry.get("facts") or u.facts
            u.iterations = int(entry.get("iterations") or 0)
            if entry.get("failure"):
                u.failure = tuple(entry["failure"])
        if data.get("environment"):
            self.environment = data["environment"]
        self.rounds.append({k: data.get(k) for k in ("round", "started", "finished",
                                                     "seconds", "order", "environment")})

    def _compact(self) -> None:
        """A finished session keeps one file: the order and environment of every round."""
        write_json_atomic(self.dir / SESSION_FILE, {
            "id": self.id, "device": self.device.name, "complete": True,
            "stopped_by": self.stopped_by, "settings": self.settings.requested(),
            "units": [u.aid.key for u in self.units], "results": [str(u.path) for u in self.units],
            "rounds": self.rounds})
        for path in self.dir.glob("round-*.json"):
            path.unlink()

    # -- the stopping rule -----------------------------------------------------------------------
    def _summary(self, u: _Unit, resamples: int = stats.BOOTSTRAP_RESAMPLES
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
                    and (x.status == rs.COUNTED or _is_spell(x))]
            if meds:
                typical[u.index] = statistics.median(meds)
        groups = self._by_process(lambda u, x: bool(x.p50 and typical.get(u.index)) and (
            x.status == rs.COUNTED or _is_spell(x)))
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
                elif _is_spell(x):
                    x.status, x.reason = rs.COUNTED, None

    def _mark_busy_processes(self) -> None:
        """A runner process most of whose blocks (at least half, of two or more) were busy ran
        on a busy machine: its other blocks are dropped too. A 0.1 s block's /proc/stat window
        holds a few ticks, so one block now and then slips under the threshold while a hog
        runs (seen: blocks with 0.28-0.41 other CPUs counted, 26-62 % slow)."""
        for members in self._by_process().values():
            recs = [x for _, x in members]
            busy = sum(x.status == rs.DROPPED and _reason_kind(x.reason) == "busy"
                       for x in recs)
            if len(recs) < 2 or 2 * busy < len(recs):
                continue
            for x in recs:
                if x.status == rs.COUNTED or _is_spell(x):
                    x.status = rs.DROPPED
                    x.reason = (f"busy: {busy} of the {len(recs)} blocks of this runner "
                                f"process were (a short block can slip under the threshold)")

    def _by_process(self, keep=None) -> dict[tuple, list[tuple[_Unit, rs.RoundRecord]]]:
        """The blocks of every runner process after the warm-up round (``keep``: a filter),
        by (round, process)."""
        groups: dict[tuple, list[tuple[_Unit, rs.RoundRecord]]] = {}
        for u in self._active():
            for x in u.records:
                if x.round > 0 and x.process and (keep is None or keep(u, x)):
                    groups.setdefault((x.round, x.process), []).append((u, x))
        return groups

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
        kinds = Counter(_reason_kind(x.reason) for x in dropped)
        first = {}
        for x in dropped:  # one reason of each kind as the example
            first.setdefault(_reason_kind(x.reason), x.reason)
        drops = (f", {len(dropped)} dropped ("
                 + "; ".join(f"{n} {k}, e.g. {first[k]}" if n > 1 else first[k]
                             for k, n in sorted(kinds.items())) + ")" if dropped else "")
        self.say(f"  round {r}: {len(recs)} block(s){drops}{widest}, {seconds:.1f} s")

    # -- results --------------------------------------------------------------------------------
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

    def _session_info(self, u: _Unit, counted: int, complete: bool) -> rs.SessionInfo:
        dropped = u.with_status(rs.DROPPED)
        reasons = Counter(_reason_kind(x.reason) for x in dropped)
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

    def _result(self, u: _Unit, complete: bool) -> rs.ProfileResult:
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

    def _runner_result(self, u: _Unit, used: list[rs.RoundRecord]) -> rs.ProfileResult:
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
        return rs.ProfileResult(
            artifact=artifact_ref(u.plan), settings=settings,
            load_seconds=round(statistics.median(loads), 4) if loads else None,
            first_inference_ms=round(statistics.median(firsts), 4) if firsts else None,
            memory=from_dict(rs.MemoryStats, mem[0]) if mem else None, environment=env,
            throttled=any(throttled) if throttled else None,
            throttle_detail=f.get("throttle_detail"), notes=list(f.get("notes") or []))

    def _latency(self, u: _Unit, used: list[rs.RoundRecord], summary: stats.RoundsSummary,
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

    def _session_notes(self, u: _Unit, summary: stats.RoundsSummary, complete: bool
                       ) -> list[str]:
        s = self.settings
        out = [f"measured in {summary.rounds} interleaved round(s) of session {self.id} "
               f"({len(self.units)} units, stopped by: {self.stopped_by})"]
        dropped = u.with_status(rs.DROPPED)
        if dropped:
            kinds = Counter(_reason_kind(x.reason) for x in dropped)
            out.append(f"{len(dropped)} round(s) dropped and repeated: "
                       + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
        half = summary.half_width(50.0)
        if half is not None and half > s.target_ci:
            out.append(f"p50 interval ±{half:.1%} is wider than the target ±{s.target_ci:.1%}"
                       f" ({self.stopped_by})")
        if not complete:
            out.append("the session was cut short; profiling again resumes it")
        return out


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


def _is_spell(rec: rs.RoundRecord) -> bool:
    return rec.status == rs.DROPPED and (rec.reason or "").startswith("slow spell")


def _reason_kind(reason: str | None) -> str:
    return (reason or "?").split(":", 1)[0]


def _unique(items: list[str]) -> list[str]:
    seen, out = set(), []
    for x in items:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


def _parse(stdout: str) -> dict | None:
    from ..profiling import parse_runner_output

    try:
        data = parse_runner_output(stdout)
    except DeviceError:
        return None
    return data if isinstance(data, dict) else None


def _segment_failure(cmd, data: dict | None) -> tuple[str, str]:
    """(why a segment ended early, the status its unmeasured units get)."""
    from ..profiling import no_json_error, runner_error

    if cmd.timed_out:
        return f"timed out after {cmd.seconds:.0f} s", rs.FAILED
    if data is None:
        return no_json_error(DeviceError("the runner printed no JSON result"), cmd), rs.FAILED
    if data.get("error") or cmd.returncode != 0:
        return runner_error(data, cmd)
    return f"the runner skipped it (exit {cmd.returncode})", rs.FAILED


def _culprit(stderr: str, rest: list[_Unit]):
    """The unit whose ``unit-start`` mark has no ``unit-end``: it was running when the
    process died. None when the process measured nothing."""
    started, ended = [], set()
    for line in (stderr or "").splitlines():
        if line.startswith(UNIT_MARK + "start "):
            started.append(_int(line.rsplit(" ", 1)[-1]))
        elif line.startswith(UNIT_MARK + "end "):
            ended.add(_int(line.rsplit(" ", 1)[-1]))
    open_ = [i for i in started if i not in ended]
    by_index = {u.index: u for u in rest}
    for i in reversed(open_):
        if i in by_index:
            return by_index[i]
    return None


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


__all__ = ["MeasurementSession", "session_id"]
