"""Profile exported artifacts on a device: copy them (and the runner) there, run every
runtime that can run each artifact, and save one schema-versioned JSON per device × artifact
× runtime as soon as it exists, so a device that dies mid-sweep loses nothing finished.

A device kind may take part through three optional methods (duck-typed, all on the device):

* ``refine_plans(plans, notes, settings, available) -> (plans, notes)``: add, drop or reorder
  runs before anything is copied (Jetson: TensorRT runs through trtexec; Raspberry Pi: its
  preferred runtimes first). A plan with ``options["native"]`` is run by the device itself;
  ``options["run_precision"]`` names what the runtime is asked to compute in (it goes into the
  result file name); ``options["notes"]`` are copied into that plan's result.
* ``run_native(plan, settings) -> ProfileResult``: run one such plan (it may raise
  DeviceError when the device is gone, like ``run``).
* ``board_check() -> dict``: board state (throttling, power mode) that ``probe`` adds to the
  environment's board facts.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import manifest as mf
from . import results as rs
from .errors import DeviceError, ManifestError, UsageError
from .serialization import from_dict, write_json_atomic

log = logging.getLogger(__name__)

RUNNER = Path(__file__).resolve().parents[1] / "devices" / "runner.py"
REMOTE_RUNNER = "edge_vit_runner.py"

# Which runtimes can run which format, in order of preference.
RUNTIMES_FOR_FORMAT: dict[str, tuple[str, ...]] = {
    "onnx": ("onnxruntime", "openvino"),
    "openvino": ("openvino",),
    "tflite": ("litert", "tflite_runtime"),
}
RUNTIME_MODULE = {"onnxruntime": "onnxruntime", "openvino": "openvino",
                  "litert": "ai_edge_litert", "tflite_runtime": "tflite_runtime",
                  "pytorch": "torch"}


@dataclass
class ProfileSettings:
    threads: int | None = None
    warmup: int = 10
    min_iterations: int = 50
    min_seconds: float = 5.0
    max_seconds: float = 120.0
    seed: int = 0
    runtimes: tuple[str, ...] | None = None  # restrict to these
    ov_device: str = "CPU"
    ov_precision: str = "default"  # what a deployment gets unless it pins one
    include_pytorch: bool = False  # random-init timm reference (unpruned models only)
    command_timeout: float | None = None  # per run; default from the settings
    lock_timeout: float = 600.0  # how long a run waits for another profile on the device
    extra: dict = field(default_factory=dict)

    def run_timeout(self) -> float:
        return self.command_timeout or (self.max_seconds + 120.0 + self.lock_timeout)

    def requested(self) -> dict:
        """What decides how a run is measured: a kept result must have been asked the same."""
        return {k: getattr(self, k) for k in (
            "threads", "warmup", "min_iterations", "min_seconds", "max_seconds", "seed",
            "ov_device", "ov_precision")} | {"extra": dict(self.extra)}


@dataclass
class ArtifactEntry:
    """One exported file with the manifest that describes it."""

    manifest: mf.Manifest
    root: Path
    record: mf.ArtifactRecord

    @property
    def files(self) -> list[Path]:
        main = self.root / self.record.path
        extra = [main.with_suffix(".bin")] if main.suffix == ".xml" else []
        return [main, *[p for p in extra if p.exists()]]

    def remote_path(self, path: Path) -> str:
        return f"artifacts/{self.manifest.model.id}/{path.relative_to(self.root).as_posix()}"


@dataclass
class RunPlan:
    entry: ArtifactEntry | None
    runtime: str
    options: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.entry is None:
            return f"pytorch/{self.options.get('timm_model')}"
        r = self.entry.record
        label = f"{self.entry.manifest.model.id} {r.format}/{r.precision} on {self.runtime}"
        run_precision = self.options.get("run_precision")
        return f"{label} ({run_precision})" if run_precision else label


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
        candidates = [r for r in RUNTIMES_FOR_FORMAT.get(fmt, ())
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
        plans.extend(RunPlan(entry=e, runtime=r) for r in usable)
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
    if plan.entry is None:
        model_id, stem = plan.options["model_id"], "pytorch-fp32-pytorch"
    else:
        r = plan.entry.record
        model_id, stem = plan.entry.manifest.model.id, f"{r.format}-{r.precision}-{plan.runtime}"
        run_precision = plan.options.get("run_precision")
        if run_precision:  # one artifact, several engines: onnx-fp16-tensorrt.json
            stem = (f"{r.format}-{run_precision}-{plan.runtime}" if r.precision == "fp32"
                    else f"{stem}-{run_precision}")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", device)
    return Path(results_dir) / safe / model_id / f"{stem}.json"


def runner_argv(device, plan: RunPlan, settings: ProfileSettings) -> list[str]:
    argv = [device.python, f"{device.workdir}/{REMOTE_RUNNER}", "profile",
            "--runtime", plan.runtime, "--warmup", str(settings.warmup),
            "--min-iterations", str(settings.min_iterations),
            "--min-seconds", str(settings.min_seconds),
            "--max-seconds", str(settings.max_seconds), "--seed", str(settings.seed),
            "--lock", f"{device.workdir}/.profile.lock",
            "--lock-timeout", f"{settings.lock_timeout:g}"]
    if settings.threads:
        argv += ["--threads", str(settings.threads)]
    if plan.entry is None:
        return argv + ["--format", "pytorch", "--artifact", "-",
                       "--timm-model", plan.options["timm_model"],
                       "--timm-kwargs", json.dumps(plan.options["timm_kwargs"]),
                       "--model-id", plan.options["model_id"],
                       "--batch", str(plan.options["batch"])]
    r = plan.entry.record
    argv += ["--artifact", f"{device.workdir}/{plan.entry.remote_path(plan.entry.files[0])}",
             "--format", r.format, "--precision", r.precision,
             "--model-id", plan.entry.manifest.model.id]
    if r.sha256:
        argv += ["--sha256", r.sha256]
    if plan.runtime == "openvino":
        argv += ["--ov-device", settings.ov_device, "--ov-precision", settings.ov_precision]
    return argv


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


def _failed(plan: RunPlan, device, error: str, status: str = rs.FAILED) -> rs.ProfileResult:
    e = plan.entry
    ref = rs.ArtifactRef(
        model_id=e.manifest.model.id if e else plan.options.get("model_id"),
        format=e.record.format if e else "pytorch",
        precision=e.record.precision if e else "fp32",
        path=str(e.root / e.record.path) if e else "-", sha256=e.record.sha256 if e else None)
    return rs.ProfileResult(artifact=ref, settings=rs.RunSettings(runtime=plan.runtime),
                            status=status, error=error, device_name=device.name,
                            device_kind=device.kind)


def deploy(device, entries: list[ArtifactEntry]):
    """Copy the runner and the artifacts; files the device already holds are skipped."""
    files = {REMOTE_RUNNER: RUNNER}
    for e in entries:  # one entry per run: the same file may be listed several times
        files.update({e.remote_path(p): p for p in e.files})
    return device.push([(local, remote) for remote, local in files.items()])


def profile(device, entries: list[ArtifactEntry], settings: ProfileSettings,
            results_dir: Path, progress: Callable[[str], None] | None = None,
            available: dict[str, str | None] | None = None, skip_existing: bool = False
            ) -> list[rs.ProfileResult]:
    """Run every plan; ``skip_existing`` keeps an earlier ``ok`` result of the same artifact
    (same sha256), runtime and device instead of measuring it again (resumed sweeps)."""
    say = progress or log.info
    if available is None:
        available = probe(device)["runtimes"]
    plans, notes = plan_runs(entries, available, settings)
    refine = getattr(device, "refine_plans", None)
    if refine is not None:  # the device kind's own runs and order (see the module docstring)
        plans, notes = refine(plans, notes, settings, available)
    for n in notes:
        say(f"note: {n}")
    deploy(device, [p.entry for p in plans if p.entry is not None])
    out: list[rs.ProfileResult] = []
    for i, plan in enumerate(plans, 1):
        path = result_path(results_dir, device.name, plan)
        if plan.options.get("filtered"):
            continue  # the user asked not to run it: nothing to record
        earlier = _earlier_result(path, plan, settings) if skip_existing else None
        if earlier is not None:
            say(f"[{i}/{len(plans)}] {plan.label}: measured earlier, kept ({path})")
            out.append(earlier)
            continue
        if plan.options.get("unsupported"):
            res = _failed(plan, device, plan.options.get("reason", "no runtime"), rs.UNSUPPORTED)
        else:
            say(f"[{i}/{len(plans)}] {plan.label} ...")
            native = bool(plan.options.get("native"))
            try:
                if native:
                    res = device.run_native(plan, settings)
                else:
                    cmd = device.run(runner_argv(device, plan, settings),
                                     timeout=settings.run_timeout())
            except DeviceError as exc:
                # the device is gone: record this run, keep every finished one, stop here
                res = _failed(plan, device, f"device failed: {exc}")
                write_json_atomic(path, res)
                out.append(res)
                raise
            if not native:
                res = _result_from_command(cmd, plan, device)
        res.notes.extend(n for n in plan.options.get("notes", []) if n not in res.notes)
        res.settings.options["requested"] = settings.requested()
        write_json_atomic(path, res)
        out.append(res)
        if res.latency:
            say(f"    p50 {res.latency.p50:.2f} ms  p90 {res.latency.p90:.2f} ms  "
                f"({res.settings.inference_precision or '?'})  -> {path}")
        elif res.status != rs.OK:
            say(f"    {res.status}: {res.error}")
    return out


def _earlier_result(path: Path, plan: RunPlan, settings: ProfileSettings
                    ) -> rs.ProfileResult | None:
    if not path.exists():
        return None
    try:
        res = from_dict(rs.ProfileResult, json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError, KeyError):
        return None
    same = plan.entry is None or res.artifact.sha256 in (None, plan.entry.record.sha256)
    measured_alike = res.settings.options.get("requested") == settings.requested()
    return res if res.status == rs.OK and same and measured_alike else None


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


def _result_from_command(cmd, plan: RunPlan, device) -> rs.ProfileResult:
    if cmd.timed_out:
        return _failed(plan, device, f"timed out after {cmd.seconds:.0f} s")
    try:
        data = parse_runner_output(cmd.stdout)
    except DeviceError as exc:
        return _failed(plan, device, no_json_error(exc, cmd))
    if data.get("status") == rs.FAILED or cmd.returncode != 0:
        return _failed(plan, device, *runner_error(data, cmd))
    res = from_dict(rs.ProfileResult, data)
    res.device_name, res.device_kind = device.name, device.kind
    if plan.entry is not None:  # the host's view of what was profiled
        res.artifact.path = str(plan.entry.root / plan.entry.record.path)
    return res


def probe(device) -> dict:
    """Copy the runner and ask the device what it has."""
    device.push([(RUNNER, REMOTE_RUNNER)])
    cmd = device.run([device.python, f"{device.workdir}/{REMOTE_RUNNER}", "probe"], timeout=60)
    if cmd.returncode != 0:
        raise DeviceError(f"probe failed on {device.name} (exit {cmd.returncode}): "
                          f"{cmd.stderr.strip()[-300:]}")
    data = parse_runner_output(cmd.stdout)
    runtimes = data.get("runtimes", {})
    data["runtimes"] = {k: v for k, v in runtimes.items()}
    board_check = getattr(device, "board_check", None)
    if board_check is not None:  # rpi: get_throttled and temperature; jetson: power mode
        env = data.setdefault("environment", {})
        env["board"] = {**(env.get("board") or {}), "check": board_check()}
    return data


def load_results(results_dir: Path) -> list[rs.ProfileResult]:
    out = []
    for p in sorted(Path(results_dir).rglob("*.json")):
        if p.relative_to(results_dir).parts[0] == "accuracy":  # edge-vit eval's results
            continue
        try:
            out.append(from_dict(rs.ProfileResult, json.loads(p.read_text())))
        except (json.JSONDecodeError, TypeError, KeyError) as exc:
            log.warning("skipping unreadable result %s: %s", p, exc)
    return out
