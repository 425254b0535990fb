"""The per-layer pass of ``edge-vit profile --layers``: every planned (artifact, runtime) on
the device, loaded with its runtime's op profiler on, in ``rounds`` fresh runner processes
(one per runtime per round, in a shuffled order), then attributed and written to
``<results>/<device>/<model>/layers/<stem>.json``.

Runs with the profiler on are never latency figures (profiling slows them); the latency
session measures those. A runtime without an op profiler gets a result that says so; one
unit's failure never loses the others'.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import results as rs
from ..artifact_id import safe_name
from ..errors import DeviceError, UsageError
from ..serialization import write_json_atomic
from .combine import combine
from .macs import macs_by_scope
from .result import LayerProfile

log = logging.getLogger(__name__)
LAYERS_DIR = "layers"


@dataclass
class LayerSettings:
    rounds: int = 3  # fresh processes per unit: the shares' spread is over these
    iterations: int = 30  # profiled runs per unit and round (each op: their median)

    def __post_init__(self):
        if self.rounds < 1 or self.iterations < 1:
            raise UsageError("--layer-rounds and --layer-iterations must be at least 1.")


def layers_path(results_dir: Path, device: str, plan) -> Path:
    aid = plan.aid
    return Path(results_dir) / safe_name(device) / aid.model_id / LAYERS_DIR / f"{aid.stem}.json"


def onnx_source(entry) -> Path | None:
    """The model's fp32 ONNX artifact (what the other formats were converted from), on which
    the MAC shares are counted; None when the export has none."""
    recs = [r for r in entry.manifest.artifacts if r.format == "onnx" and r.status == "ok"]
    recs.sort(key=lambda r: r.precision != "fp32")
    for r in recs:
        path = entry.root / r.path
        if path.is_file():
            return path
    return None


def _base(plan, device, **kw) -> LayerProfile:
    from ..profiling import artifact_ref

    return LayerProfile(artifact=artifact_ref(plan), runtime=plan.runtime,
                        device_name=device.name, device_kind=device.kind, **kw)


class LayerPass:
    def __init__(self, device, plans: list, settings, layers: LayerSettings,
                 results_dir: Path, say: Callable[[str], None]):
        self.device, self.settings, self.layers = device, settings, layers
        self.results_dir, self.say = Path(results_dir), say
        self.plans = [p for p in plans if p.entry is not None
                      and not p.options.get("unsupported") and not p.options.get("filtered")]
        self.rounds: dict[int, list[dict]] = {i: [] for i in range(len(self.plans))}
        self.failures: dict[int, tuple[str, str]] = {}  # index -> (status, error)
        self.facts: dict[int, dict] = {}
        self.environment: dict = {}

    def run(self) -> list[LayerProfile]:
        from ..measurement.session import runner_settings, runner_unit
        from ..profiling import deploy

        deploy(self.device, [p.entry for p in self.plans])  # files already there are skipped
        native = [i for i, p in enumerate(self.plans) if p.options.get("native")]
        for i in native:
            try:
                self.rounds[i] = self.device.profiler.measure_layers(self.plans[i], self.settings,
                                                                     self.layers)
            except DeviceError as exc:
                self.failures[i] = (rs.FAILED, str(exc))
        wd = self.device.workdir
        plan_file = self.results_dir / safe_name(self.device.name) / "sessions" / \
            "layers-plan.json"
        write_json_atomic(plan_file, {"session": "layers", "settings": runner_settings(
            self.settings), "units": [runner_unit(p, self.settings, wd) for p in self.plans]})
        self.remote_plan = "sessions/layers-plan.json"
        self.device.push([(plan_file, self.remote_plan)])
        rng = random.Random(f"{self.settings.seed}/layers")
        for r in range(self.layers.rounds):
            segments: dict[str, list[int]] = {}
            for i, p in enumerate(self.plans):
                if i not in native and self.failures.get(i, ("",))[0] != rs.UNSUPPORTED:
                    segments.setdefault(p.runtime, []).append(i)
            order = [segments[k] for k in sorted(segments)]
            rng.shuffle(order)
            for seg in order:
                rng.shuffle(seg)
                self._segment(seg, r)
            self.say(f"layers: round {r + 1}/{self.layers.rounds} done")
        return [self._result(i) for i in range(len(self.plans))]

    def _segment(self, seg: list[int], r: int) -> None:
        from ..measurement.segment import parse_segment, segment_failure

        d = self.device
        argv = [*d.profiler.runner_command("layers"), "--plan", f"{d.workdir}/{self.remote_plan}",
                "--units", ",".join(f"{i}:0" for i in seg),
                "--iterations", str(self.layers.iterations), "--round", str(r),
                "--lock", f"{d.workdir}/.profile.lock",
                "--lock-timeout", f"{self.settings.lock_timeout:g}"]
        if not self.environment:
            argv.append("--environment")
        if self.settings.pin:
            argv += ["--pin", self.settings.pin]
        timeout = self.settings.command_timeout or (self.settings.lock_timeout + 120.0
                                                    + 120.0 * len(seg))
        cmd = d.run(argv, timeout=timeout)
        data = parse_segment(cmd.stdout)
        if data and data.get("environment") and not self.environment:
            self.environment = data["environment"]
        got = {u.get("index"): u for u in (data or {}).get("units", []) if isinstance(u, dict)}
        for i in seg:
            unit = got.get(i)
            if unit is None:
                reason, status = segment_failure(cmd, data)
                self.failures[i] = (status, f"round {r}: {reason}")
            elif unit.get("status") == "ok":
                self.rounds[i].append(dict(unit, round=r))
                self.facts[i] = unit
            else:
                self.failures[i] = (unit.get("status") or rs.FAILED, unit.get("error") or "?")
                if unit.get("status") == rs.UNSUPPORTED:
                    self.say(f"layers: {self.plans[i].label}: {unit.get('error')}")

    def _result(self, i: int) -> LayerProfile:
        plan = self.plans[i]
        path = layers_path(self.results_dir, self.device.name, plan)
        rounds = self.rounds[i]
        if not rounds:
            status, error = self.failures.get(i, (rs.FAILED, "no round finished"))
            res = _base(plan, self.device, status=status, error=error,
                        environment=self.environment)
            write_json_atomic(path, res)
            return res
        facts = self.facts.get(i) or rounds[-1]
        onnx = onnx_source(plan.entry)
        macs = None
        notes = list(facts.get("notes") or [])
        if onnx is None:
            notes.append("no ONNX artifact beside this one: MAC shares not counted")
        else:
            try:
                macs = macs_by_scope(onnx)
            except Exception as exc:  # a graph shape inference cannot walk: shares only
                notes.append(f"MACs not counted on {onnx.name}: {type(exc).__name__}: {exc}")
        if i in self.failures:  # some rounds ran; say why the others did not
            notes.append(f"only {len(rounds)} of {self.layers.rounds} rounds: "
                         f"{self.failures[i][1]}")
        res = _base(plan, self.device, runtime_version=facts.get("runtime_version"),
                    inference_precision=facts.get("inference_precision"),
                    threads=facts.get("threads"), batch=facts.get("batch"),
                    source=facts.get("source") or "edge-vit runner",
                    macs_source=str(onnx) if macs else None, environment=self.environment,
                    notes=notes, started=rounds[0].get("started"),
                    finished=rounds[-1].get("finished"), **combine(rounds, macs))
        res.notes += overhead_notes(res)
        write_json_atomic(path, res)
        return res


def overhead_notes(res: LayerProfile) -> list[str]:
    walls = [r.wall_ms for r in res.rounds if r.wall_ms]
    sums = [r.ops_sum_ms for r in res.rounds if r.ops_sum_ms]
    if not walls or not sums:
        return []
    wall, ops = sorted(walls)[len(walls) // 2], sorted(sums)[len(sums) // 2]
    if ops > wall:
        return [f"the ops' times add up to {ops:.3f} ms, more than a whole run with the "
                f"profiler on ({wall:.3f} ms): ops ran in parallel (threads, streams), so "
                "shares are of the summed op time"]
    return [f"the ops account for {ops:.3f} ms of a {wall:.3f} ms run with the profiler on "
            f"({100 * ops / wall:.0f} %); the rest is the runtime between ops"]


def profile_layers(device, plans: list, settings, layers: LayerSettings, results_dir: Path,
                   progress: Callable[[str], None] | None = None) -> list[LayerProfile]:
    return LayerPass(device, plans, settings, layers, results_dir, progress or log.info).run()
