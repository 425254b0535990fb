"""Profile exported artifacts on a device: copy them (and the runner) there, plan every
runtime that can run each artifact, and measure them all in one interleaved session
(:mod:`edge_vit.measurement.session`): rounds of short timed blocks in fresh processes, until
every p50 interval is narrow enough. One schema-versioned JSON per device x artifact x
runtime, with every round kept; finished rounds are persisted as they finish, so a device that
dies mid-sweep loses nothing finished and a re-run resumes the session.

A device kind takes part through its profiler strategy (:mod:`devices.profiler`: which plans
it adds or reorders, and how it measures the ones its own tool runs) and ``board_check()``
(board state that ``probe`` adds to the environment's board facts).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from devices import shipping
from exporters.base import runtimes_for, shipped_backends

from . import manifest as mf
from . import results as rs
from .artifact_id import ArtifactId, safe_name
from .errors import DeviceError, ManifestError, UsageError
from .files import path_files
from .serialization import from_dict, write_json_atomic

log = logging.getLogger(__name__)



@dataclass
class ProfileSettings:
    """How a session measures. Times are per unit and round unless said otherwise."""

    threads: int | None = None
    warmup: int = 10  # iterations after each fresh load, at least ...
    warmup_seconds: float = 0.05  # ... and at least this long
    min_iterations: int = 10  # per timed block, at least
    block_seconds: float = 0.1  # one unit's timed block in a round
    rounds: int = 5  # counted rounds per unit before the stopping rule may stop
    max_rounds: int = 30  # rounds after the warm-up round, at most
    target_ci: float = 0.02  # stop when every p50 interval is within +-2 % ...
    max_seconds: float = 150.0  # ... or when counted blocks have taken this long
    busy_cores: float = 0.25  # a block during which other processes used more is dropped
    max_steal_pct: float = 5.0  # ... and one with more hypervisor steal
    # the machine's session-to-session spread (sd, relative) that no session can see, added
    # to the p50/p90/p99 intervals: 0.96 % measured on the 2-vCPU VM (session_spread.py)
    session_sd: float = 0.01
    pin: str | None = None  # CPU affinity of the runner, e.g. "0,1"
    ort_spin: bool = True  # onnxruntime's own default; a unit is unloaded before the next
    seed: int = 0
    runtimes: tuple[str, ...] | None = None  # restrict to these
    ov_device: str = "CPU"
    ov_precision: str = "default"  # what a deployment gets unless it pins one
    include_pytorch: bool = False  # random-init timm reference (unpruned models only)
    command_timeout: float | None = None  # per runner process; default from the settings
    lock_timeout: float = 600.0  # how long a run waits for another profile on the device
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        checks = [("warmup", self.warmup >= 0), ("warmup_seconds", self.warmup_seconds >= 0),
                  ("min_iterations", self.min_iterations >= 1),
                  ("block_seconds", self.block_seconds > 0), ("rounds", self.rounds >= 1),
                  ("max_rounds", self.max_rounds >= self.rounds),
                  ("target_ci", 0 <= self.target_ci < 1), ("max_seconds", self.max_seconds > 0),
                  ("busy_cores", self.busy_cores > 0), ("max_steal_pct", self.max_steal_pct > 0),
                  ("session_sd", 0 <= self.session_sd < 0.5)]
        bad = [name for name, ok in checks if not ok]
        if bad:
            raise UsageError("Impossible profile settings: " + ", ".join(
                f"{n}={getattr(self, n)!r}" for n in bad), hint=SETTINGS_HINT)

    def requested(self) -> dict:
        """What decides how a run is measured: a kept result must have been asked the same."""
        return {k: getattr(self, k) for k in (
            "threads", "warmup", "warmup_seconds", "min_iterations", "block_seconds", "rounds",
            "max_rounds", "target_ci", "max_seconds", "busy_cores", "max_steal_pct",
            "session_sd", "pin",
            "ort_spin", "seed", "ov_device", "ov_precision")} | {"extra": dict(self.extra)}


SETTINGS_HINT = ("warmup >= 0, min_iterations >= 1, block_seconds > 0, 1 <= rounds <= "
                 "max_rounds, 0 <= target_ci < 1 (0.02 = +-2 %), max_seconds > 0, "
                 "busy_cores > 0, max_steal_pct > 0, 0 <= session_sd < 0.5 (0.01 = 1 %)")


@dataclass
class ArtifactEntry:
    """One exported file with the manifest that describes it."""

    manifest: mf.Manifest
    root: Path
    record: mf.ArtifactRecord

    @property
    def main(self) -> Path:
        """The artifact's main file, or its folder (what a runtime is pointed at)."""
        return self.root / self.record.path

    @property
    def files(self) -> list[Path]:
        """What is copied to a device: every file, a folder artifact's one by one."""
        main, *others = mf.artifact_files(self.root, self.record)
        return [f for p in (main, *[p for p in others if p.exists()]) for f in path_files(p)]

    @property
    def companion_sha256(self) -> dict[Path, str]:
        """The recorded sha256 of each file beside the main one (OpenVINO's .bin)."""
        return {self.root / rel: sha for rel, sha in self.record.companions.items()}

    def remote_path(self, path: Path) -> str:
        return f"artifacts/{self.manifest.model.id}/{path.relative_to(self.root).as_posix()}"


@dataclass
class RunPlan:
    entry: ArtifactEntry | None
    runtime: str
    options: dict = field(default_factory=dict)

    @property
    def aid(self) -> ArtifactId:
        if self.entry is None:
            return ArtifactId(self.options.get("model_id") or "?", "pytorch", "fp32", "pytorch")
        r = self.entry.record
        return ArtifactId(self.entry.manifest.model.id, r.format, r.precision, self.runtime,
                          self.options.get("run_precision") or self.options.get("variant"))

    @property
    def label(self) -> str:
        if self.entry is None:
            return f"pytorch/{self.options.get('timm_model')}"
        return str(self.aid)


def collect_artifacts(paths: Iterable[Path], formats: Iterable[str] | None = None
                      ) -> list[ArtifactEntry]:
    """Artifacts from export folders (a model folder, or a folder of model folders).
    Only artifacts that exported and passed their parity check are profiled."""
    wanted = set(formats) if formats else None
    entries: list[ArtifactEntry] = []
    for p in paths:
        p = Path(p)
        manifests = [p / mf.MANIFEST_NAME] if (p / mf.MANIFEST_NAME).exists() else sorted(
            p.glob(f"*/{mf.MANIFEST_NAME}"))
        if p.is_file() and p.name == mf.MANIFEST_NAME:
            manifests = [p]
        if not manifests:
            raise ManifestError(f"No export manifest under {p}",
                                hint="Pass a folder made by `edge-vit export`.")
        for path in manifests:
            m = mf.read_manifest(path)
            for rec in m.artifacts:
                if rec.status == mf.OK and (wanted is None or rec.format in wanted):
                    entries.append(ArtifactEntry(manifest=m, root=path.parent, record=rec))
    if not entries:
        raise UsageError("No usable artifacts (status ok) in " + ", ".join(map(str, paths)))
    return entries


def plan_runs(entries: list[ArtifactEntry], available: dict[str, str | None],
              settings: ProfileSettings) -> tuple[list[RunPlan], list[str]]:
    """Every (artifact, runtime) pair the device can run; notes for what it cannot."""
    plans, notes = [], []
    for e in entries:
        fmt = e.record.format
        candidates = [r for r in runtimes_for(fmt)
                      if settings.runtimes is None or r in settings.runtimes]
        usable = [r for r in candidates if available.get(r)]
        if fmt == "tflite" and "litert" in usable and "tflite_runtime" in usable:
            usable.remove("tflite_runtime")  # the same interpreter; time it once
        if not candidates:
            # every runtime for this format was filtered out (--runtime): no result is written,
            # but a device kind with runtimes of its own (a Jetson's TensorRT) may fill the gap
            plans.append(RunPlan(entry=e, runtime="none", options={
                "unsupported": True, "filtered": True,
                "reason": f"{fmt}: no runtime left after the --runtime filter"}))
            continue
        if not usable:
            note = (f"{e.manifest.model.id} {fmt}/{e.record.precision}: no runtime for {fmt} "
                    f"on this device (wanted one of {', '.join(candidates)})")
            notes.append(note)
            plans.append(RunPlan(entry=e, runtime=candidates[0],
                                 options={"unsupported": True, "reason": note}))
            continue
        plans.extend(RunPlan(entry=e, runtime=r, options={"variant": settings.ov_precision}
                             if r == "openvino" else {}) for r in usable)
    if settings.include_pytorch and available.get("pytorch"):
        seen = set()
        for e in entries:
            src = e.manifest.model.source
            if e.manifest.model.prune is None and src.name not in seen:
                seen.add(src.name)
                plans.append(RunPlan(entry=None, runtime="pytorch", options={
                    "timm_model": src.name, "timm_kwargs": src.model_kwargs,
                    "model_id": e.manifest.model.id,
                    "batch": e.manifest.model.input_shape[0]}))
    return plans, notes


def result_path(results_dir: Path, device: str, plan: RunPlan) -> Path:
    """``<results>/<device>/<model>/<format>-<precision>-<runtime>[-<variant>].json``."""
    aid = plan.aid
    return Path(results_dir) / safe_name(device) / aid.model_id / f"{aid.stem}.json"


def parse_runner_output(stdout: str) -> dict:
    """The runner prints one JSON object; tolerate stray lines a runtime wrote to stdout."""
    text = stdout.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        for line in reversed(text.splitlines()):
            line = line.strip()
            if line.startswith("{") and line.endswith("}"):
                try:
                    return json.loads(line)
                except json.JSONDecodeError:
                    continue
    raise DeviceError(f"The runner printed no JSON result: {text[-300:]!r}")


def artifact_ref(plan: RunPlan) -> rs.ArtifactRef:
    """The host's view of what a plan measures."""
    e = plan.entry
    if e is None:
        return rs.ArtifactRef(model_id=plan.options.get("model_id"), format="pytorch",
                              precision="fp32", path=f"timm:{plan.options.get('timm_model')}")
    return rs.ArtifactRef(model_id=e.manifest.model.id, format=e.record.format,
                          precision=e.record.precision, path=str(e.root / e.record.path),
                          sha256=e.record.sha256)


def plan_batch(plan: RunPlan) -> int:
    """The batch the plan's artifact takes (its own input shape, else the model's)."""
    if plan.entry is None:
        return int(plan.options.get("batch") or 1)
    shape = plan.entry.record.input_shape or plan.entry.manifest.model.input_shape
    return int(shape[0]) if shape else 1


def failed_result(plan: RunPlan, device, error: str, status: str = rs.FAILED
                  ) -> rs.ProfileResult:
    """The one place a result without a measurement is built (runner, trtexec, host checks)."""
    settings = rs.RunSettings(runtime=plan.runtime, batch=plan_batch(plan))
    if plan.options.get("run_precision"):
        settings.inference_precision = plan.options["run_precision"]
    if plan.runtime == "openvino":
        settings.options["ov_precision"] = plan.options.get("variant") or "default"
    return rs.ProfileResult(artifact=artifact_ref(plan), settings=settings, status=status,
                            error=error, device_name=device.name, device_kind=device.kind,
                            source="trtexec" if plan.runtime == "tensorrt" else "edge-vit runner")


def deploy(device, entries: list[ArtifactEntry]):
    """Copy the runner (with the backends of runtimes it does not ship) and the artifacts;
    files the device already holds are skipped."""
    files = {remote: local for local, remote in shipping.runner_files(shipped_backends())}
    for e in entries:  # one entry per run: the same file may be listed several times
        files.update({e.remote_path(p): p for p in e.files})
    return device.push([(local, remote) for remote, local in files.items()])


def profile(device, entries: list[ArtifactEntry], settings: ProfileSettings,
            results_dir: Path, progress: Callable[[str], None] | None = None,
            available: dict[str, str | None] | None = None, skip_existing: bool = False
            ) -> list[rs.ProfileResult]:
    """Measure every plan in one interleaved session; ``skip_existing`` keeps an earlier
    result of the same artifact (same sha256), runtime and device that a finished session
    measured with the same settings (resumed sweeps: a re-run with nothing new does nothing).
    An interrupted session resumes from its last finished round."""
    from .measurement.session import MeasurementSession

    say = progress or log.info
    plans, notes = device_plans(device, entries, settings, available)
    for n in notes:
        say(f"note: {n}")
    out: list[rs.ProfileResult] = []
    pending: list[RunPlan] = []
    checked: dict[Path, str | None] = {}
    for plan in plans:
        if plan.options.get("filtered"):
            continue  # the user asked not to run it: nothing to record
        path = result_path(results_dir, device.name, plan)
        earlier = _earlier_result(path, plan, settings) if skip_existing else None
        if earlier is not None:
            say(f"{plan.label}: measured earlier, kept ({path})")
            out.append(earlier)
        elif plan.options.get("unsupported"):
            res = failed_result(plan, device, plan.options.get("reason", "no runtime"),
                                rs.UNSUPPORTED)
            res.settings.options["requested"] = settings.requested()
            write_json_atomic(path, res)
            out.append(res)
        elif (broken := _broken_files(plan, checked)) is not None:
            # its files are not what was exported: measuring them would time another model
            # (or crash the runtime); the others go on
            say(f"{plan.label}: FAILED: {broken}")
            res = failed_result(plan, device, broken)
            write_json_atomic(path, res)
            out.append(res)
        else:
            pending.append(plan)
    if pending:
        deploy(device, [p.entry for p in pending if p.entry is not None])
        out += MeasurementSession(device, pending, settings, results_dir, say).run()
    return out


def device_plans(device, entries: list[ArtifactEntry], settings: ProfileSettings,
                 available: dict[str, str | None] | None = None
                 ) -> tuple[list[RunPlan], list[str]]:
    """The plans of a profile on ``device``: every (artifact, runtime) its runtimes can run,
    refined by the device kind's profiler (its own runs, devices.profiler)."""
    if available is None:
        available = probe(device)["runtimes"]
    plans, notes = plan_runs(entries, available, settings)
    return device.profiler.refine(plans, notes, settings, available)


def _broken_files(plan: RunPlan, checked: dict[Path, str | None]) -> str | None:
    """Why the plan's artifact files on this host are not the exported ones, or None (each
    artifact hashed once, however many runtimes run it)."""
    e = plan.entry
    if e is None:
        return None
    key = e.root / (e.record.path or "")
    if key not in checked:
        try:
            mf.verify_files(e.root, e.record)
            checked[key] = None
        except ManifestError as exc:
            checked[key] = f"{exc} {exc.hint or ''}".strip()
    return checked[key]


def _earlier_result(path: Path, plan: RunPlan, settings: ProfileSettings
                    ) -> rs.ProfileResult | None:
    if not path.exists():
        return None
    try:
        res = from_dict(rs.ProfileResult, json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError, KeyError, ValueError):
        return None
    same = plan.entry is None or res.artifact.sha256 in (None, plan.entry.record.sha256)
    measured_alike = res.settings.options.get("requested") == settings.requested()
    finished = res.session is not None and res.session.complete
    return res if res.status == rs.OK and same and measured_alike and finished else None


def no_json_error(exc: DeviceError, cmd) -> str:
    """Why a finished command gave no runner result (crash, SIGKILL, stray output)."""
    return f"{exc} (exit {cmd.returncode}; stderr: {cmd.stderr.strip()[-300:]})"


def runner_error(data: dict, cmd) -> tuple[str, str]:
    """(message, status) of the runner's JSON error. A runtime the device lacks is a gap in
    coverage (unsupported), not a failed measurement."""
    error = data.get("error") or f"runner exit {cmd.returncode}"
    if data.get("hint"):
        error += f" (hint: {data['hint']})"
    status = rs.UNSUPPORTED if data.get("error_type") == "MissingRuntime" else rs.FAILED
    return error, status


def probe(device) -> dict:
    """Ask the device what it has (its profiler strategy: the runner's probe by default),
    with the board's own state."""
    data = device.profiler.probe()
    runtimes = data.get("runtimes", {})
    data["runtimes"] = {k: v for k, v in runtimes.items()}
    check = device.board_check()  # rpi: get_throttled and temperature; jetson: power mode
    if check is not None:
        env = data.setdefault("environment", {})
        env["board"] = {**(env.get("board") or {}), "check": check}
    return data


def load_results(results_dir: Path) -> list[rs.ProfileResult]:
    """Every profile result under ``results_dir`` (``<device>/<model>/<stem>.json``)."""
    out = []
    for p in sorted(Path(results_dir).glob("*/*/*.json")):
        if p.relative_to(results_dir).parts[0] == "accuracy" or p.parts[-2] == "sessions":
            continue  # edge-vit eval's results; session state
        try:
            out.append(from_dict(rs.ProfileResult, json.loads(p.read_text())))
        except (json.JSONDecodeError, TypeError, KeyError) as exc:
            log.warning("skipping unreadable result %s: %s", p, exc)
    return out
