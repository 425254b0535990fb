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

The session is split by concern: :mod:`.unit` (a unit and its rounds), :mod:`.segment` (what
one runner process printed), :mod:`.quality` (which blocks count), :mod:`.stopping` (when to
stop), :mod:`.summary` (the results); this module runs the rounds and keeps them on disk.
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from devices.runner.system import HOT_C

from .. import interrupts
from .. import results as rs
from ..artifact_id import safe_name
from ..errors import DeviceError
from ..manifest import utc_now
from ..serialization import from_dict, to_dict, write_json_atomic
from .quality import QualityRules
from .segment import culprit as find_culprit
from .segment import parse_segment, segment_failure
from .stopping import StoppingRule
from .summary import SessionResults
from .unit import Unit, session_id

log = logging.getLogger(__name__)

ROUND_FILE = "round-{:04d}.json"
PLAN_FILE = "plan.json"
SESSION_FILE = "session.json"
MAX_ITERATIONS = 100_000


class MeasurementSession(QualityRules, StoppingRule, SessionResults):
    def __init__(self, device, plans: list, settings, results_dir: Path,
                 say: Callable[[str], None] | None = None):
        from ..profiling import result_path

        self.device, self.settings = device, settings
        self.say = say or log.info
        self.units = [Unit(i, p, p.aid, result_path(results_dir, device.name, p))
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
                interrupts.check()
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
        s = self.settings
        return {"session": self.id,
                "units": [runner_unit(u.plan, s, self.device.workdir) for u in self.units],
                "settings": runner_settings(s)}

    def _active(self) -> list[Unit]:
        return [u for u in self.units if u.failure is None]

    def _order(self, r: int) -> list[list[Unit]]:
        """The round's segments: one per runtime (one per native unit), shuffled, and the
        units inside each shuffled; seeded by the session and the round."""
        rng = random.Random(f"{self.settings.seed}/{self.id}/{r}")
        groups: dict[str, list[Unit]] = {}
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
    def _run_segment(self, seg: list[Unit], r: int, position: int, environment: bool) -> None:
        pending = list(seg)
        while pending:
            argv = self._argv(pending, r, environment)
            cmd = self.device.run(argv, timeout=self._timeout(pending))
            data = parse_segment(cmd.stdout)
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
            reason, status = segment_failure(cmd, data)
            culprit = find_culprit(cmd.stderr, rest)
            if culprit is None:  # it failed before measuring anything: lock, plan, numpy
                for u in rest:
                    self._fail(u, status, f"round {r}: {reason}")
                return
            self._fail(culprit, rs.FAILED, f"round {r}: the runner process died while "
                                           f"measuring this artifact ({reason})")
            pending = [u for u in rest if u is not culprit]

    def _argv(self, units: list[Unit], r: int, environment: bool) -> list[str]:
        d, s = self.device, self.settings
        argv = [*d.profiler.runner_command("measure"),
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

    def _timeout(self, units: list[Unit]) -> float:
        s = self.settings
        if s.command_timeout:
            return s.command_timeout
        return s.lock_timeout + 120.0 + len(units) * (60.0 + 20.0 * s.block_seconds)

    def _record(self, u: Unit, block: dict, r: int, position: int, seg: dict) -> None:
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
        self._classify(rec, r, seg, cpu.get("resolution_cores"), cpu.get("steal_resolution_pct"))
        u.records.append(rec)
        u.facts = {k: v for k, v in block.items() if k not in ("times_ms", "cpu")}
        u.facts["throttle_detail"] = seg.get("throttle_detail")
        if r == 0:  # calibration: a block of about block_seconds from now on
            s = self.settings
            n = math.ceil(s.block_seconds * 1000.0 / max(p50, 1e-6))
            u.iterations = int(min(MAX_ITERATIONS, max(s.min_iterations, n)))

    def _classify(self, rec: rs.RoundRecord, r: int, seg: dict,
                  resolution: float | None = None,
                  steal_resolution: float | None = None) -> None:
        """Drop a block taken on a busy or throttled machine. ``resolution`` (CPUs) and
        ``steal_resolution`` (% steal): what /proc/stat's whole ticks cannot tell apart over
        this block (one tick per CPU), added to the thresholds so that a short block is not
        dropped for a rounding error (seen in CI: one tick of steal, 25 % of a 0.02 s block
        on 2 CPUs, dropped a round)."""
        s = self.settings
        if r == 0:
            rec.status, rec.reason = rs.WARMUP, "warm-up and calibration round"
            return
        reason = None
        if rec.cpu_other_cores is not None and \
                rec.cpu_other_cores > s.busy_cores + (resolution or 0.0):
            reason = f"busy: other processes used {rec.cpu_other_cores:.2f} CPUs"
        elif rec.cpu_steal_pct is not None and \
                rec.cpu_steal_pct > s.max_steal_pct + (steal_resolution or 0.0):
            reason = f"busy: {rec.cpu_steal_pct:.1f} % CPU steal (hypervisor)"
        elif seg.get("throttled"):
            reason = f"throttled: {seg.get('throttle_detail') or 'vcgencmd'}"
        elif rec.temperature_c is not None and rec.temperature_c >= HOT_C:
            reason = f"hot: {rec.temperature_c:.0f} C"
        if reason:
            rec.status, rec.reason = rs.DROPPED, reason

    def _fail(self, u: Unit, status: str, error: str) -> None:
        if u.failure is None:
            u.failure = (status, error)
            self.say(f"    {u.aid}: {status}: {error}")

    # -- a native tool's unit (a Jetson's trtexec): one invocation per round -------------------
    def _run_native(self, u: Unit, r: int, position: int) -> None:
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


__all__ = ["MeasurementSession", "session_id"]


def runner_unit(p, s, wd: str) -> dict:
    """What the runner needs of one plan (``measure`` and ``layers`` read the same plan)."""
    aid = p.aid
    unit = {"id": aid.key, "runtime": p.runtime, "format": aid.format,
            "precision": aid.precision, "model_id": aid.model_id}
    if p.entry is None:  # the PyTorch reference: a random-init timm model
        unit.update(timm_model=p.options["timm_model"],
                    timm_kwargs=p.options["timm_kwargs"], batch=p.options["batch"])
    else:
        unit.update(artifact=f"{wd}/{p.entry.remote_path(p.entry.main)}",
                    sha256=p.entry.record.sha256,
                    companions={f"{wd}/{p.entry.remote_path(f)}": sha for f, sha in
                                p.entry.companion_sha256.items()})
    if p.runtime == "openvino":
        unit.update(ov_device=s.ov_device, ov_precision=s.ov_precision)
    return unit


def runner_settings(s) -> dict:
    return {"threads": s.threads, "warmup": s.warmup, "warmup_seconds": s.warmup_seconds,
            "block_seconds": s.block_seconds, "min_iterations": s.min_iterations,
            "seed": s.seed, "ort_spin": s.ort_spin}
