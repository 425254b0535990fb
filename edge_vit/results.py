"""Typed profiling results: one schema shared by the on-device runner, the native-tool
parsers (trtexec, benchmark_app, ...) and the reports.

The runner (devices/runner/) is a standard-library package and cannot import this module; it
prints plain JSON with exactly these field names, and ``ProfileResult`` reads it back through
the one serializer. A test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PROFILE_SCHEMA_VERSION = "1.2"  # 1.1: rounds and the session; 1.2: emulated

# ProfileResult.status values
OK = "ok"
FAILED = "failed"  # the run itself failed (error says why); other results are unaffected
UNSUPPORTED = "unsupported"  # no runtime on the device can run this artifact


@dataclass
class LatencyStats:
    """Per-inference latency of the timed loop, in milliseconds."""

    count: int
    mean: float
    std: float
    min: float
    max: float
    p50: float
    p90: float
    p95: float
    p99: float
    p50_ci: list[float] = field(default_factory=list)  # [low, high], 95 % (see ci_method)
    p90_ci: list[float] = field(default_factory=list)
    p99_ci: list[float] = field(default_factory=list)
    ci_method: str | None = None  # how the intervals were computed (rounds or one block)
    rounds: int | None = None  # rounds the figures summarise (None: a single block)
    cv: float = 0.0  # std / mean
    noisy: bool = False  # spread too high to trust a single figure
    noise_reason: str | None = None
    throughput_ips: float | None = None  # images per second = batch / mean latency
    total_seconds: float | None = None  # wall time of the timed loop


@dataclass
class MemoryStats:
    baseline_rss_mb: float | None = None  # before the runtime loaded the model
    after_load_rss_mb: float | None = None
    peak_rss_mb: float | None = None  # over the whole run
    model_added_mb: float | None = None  # after_load - baseline
    gpu_mb: float | None = None  # where the tool reports device memory


@dataclass
class PowerStats:
    """From tegrastats (Jetson) or similar samplers taken during the timed loop."""

    source: str  # e.g. "tegrastats"
    samples: int
    mean_w: float | None = None  # board input power
    peak_w: float | None = None
    rails: dict[str, float] = field(default_factory=dict)  # rail -> mean W
    energy_per_inference_mj: float | None = None


@dataclass
class Environment:
    """Where a number was measured. Fields a device cannot read stay None."""

    hostname: str | None = None
    os: str | None = None
    kernel: str | None = None
    machine: str | None = None  # x86_64, aarch64
    cpu_model: str | None = None
    cpu_flags: list[str] = field(default_factory=list)  # the ones that matter (avx512, neon, ...)
    cores_logical: int | None = None
    cpu_freq_mhz: dict[str, float] = field(default_factory=dict)  # cur / min / max
    governor: str | None = None
    temperature_c: float | None = None
    mem_total_mb: float | None = None
    mem_available_mb: float | None = None
    python: str | None = None
    runtimes: dict[str, str] = field(default_factory=dict)  # importable runtime -> version
    board: dict[str, Any] = field(default_factory=dict)  # rpi/jetson facts (model, nvpmodel)
    load_avg: list[float] = field(default_factory=list)
    emulation: str | None = None  # "qemu-user": an emulated CPU (latency not representative)


@dataclass
class RunSettings:
    runtime: str  # onnxruntime | openvino | litert | tflite_runtime | pytorch | tensorrt
    runtime_version: str | None = None
    device: str | None = None  # OpenVINO device (CPU/GPU/NPU), ORT provider, TRT GPU
    providers: list[str] = field(default_factory=list)
    threads: int | None = None
    batch: int = 1
    warmup: int = 0
    min_iterations: int = 0
    min_seconds: float = 0.0
    input: str = "random"  # "random normal (seed=0)" or the image used
    inference_precision: str | None = None  # what the runtime actually computed in
    options: dict[str, Any] = field(default_factory=dict)  # xnnpack, engine flags, ...


@dataclass
class ArtifactRef:
    model_id: str | None
    format: str
    precision: str
    path: str  # as given to the runner (on the device)
    sha256: str | None = None


# RoundRecord.status values
COUNTED = "counted"  # in the statistics
DROPPED = "dropped"  # taken while the machine was busy or throttled: kept here, not counted
WARMUP = "warmup"  # the session's calibration / machine warm-up round, never counted
ROUND_FAILED = "failed"


@dataclass
class RoundRecord:
    """One artifact's timed block in one round of a measurement session."""

    round: int
    status: str = COUNTED
    reason: str | None = None  # why it was dropped or failed
    position: int | None = None  # its place in that round's (shuffled) order
    started: str | None = None
    count: int = 0
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    times_ms: list[float] = field(default_factory=list)  # every timed value (ms)
    load_seconds: float | None = None  # this round's fresh load
    first_inference_ms: float | None = None
    warmup_iterations: int | None = None
    cpu_other_cores: float | None = None  # other processes' CPU use during the block
    cpu_steal_pct: float | None = None  # hypervisor steal during the block
    cpu_own_cores: float | None = None  # the runner's own CPU use (its threads)
    cpu_freq_mhz: float | None = None  # lowest cpufreq clock after the block
    temperature_c: float | None = None
    load_avg_1m: float | None = None  # recorded, not used to decide (it counts our threads)
    throttled: bool | None = None  # vcgencmd during this round's process (Raspberry Pi)
    process: int | None = None  # pid of the runner process that measured it


@dataclass
class SessionInfo:
    """The measurement session a result comes from: what was run and why it stopped."""

    id: str
    units: int  # (artifact, runtime) pairs measured together
    rounds_run: int  # rounds after the warm-up round
    rounds_counted: int  # this artifact's rounds in its statistics
    rounds_dropped: int
    drop_reasons: dict[str, int] = field(default_factory=dict)
    warmup_rounds: int = 1
    stopped_by: str | None = None  # target | time budget | max rounds | device failed | ...
    complete: bool = True  # False: cut short (device lost); a re-run resumes the session
    target_ci: float | None = None  # relative p50 half-width the stopping rule aimed at
    max_seconds: float | None = None
    order: str | None = None  # how units were ordered in each round
    started: str | None = None
    finished: str | None = None
    seconds: float | None = None


def emulated_label(env: Environment | None) -> str | None:
    """The label every latency figure from an emulated CPU carries, or None."""
    if env is None or not env.emulation:
        return None
    return f"emulated {env.machine or 'CPU'} ({env.emulation}): latency not representative"


@dataclass
class ProfileResult:
    artifact: ArtifactRef
    settings: RunSettings
    status: str = OK
    error: str | None = None
    source: str = "edge-vit runner"  # or "trtexec", "benchmark_app", ...
    device_name: str | None = None  # inventory name
    device_kind: str | None = None
    load_seconds: float | None = None
    first_inference_ms: float | None = None
    latency: LatencyStats | None = None
    memory: MemoryStats | None = None
    power: PowerStats | None = None
    environment: Environment | None = None
    throttled: bool | None = None  # None: could not be read on this device
    throttle_detail: str | None = None
    # set when the device emulates its CPU: "emulated aarch64 (qemu-user): latency not
    # representative"; such results stay off Pareto fronts unless asked for
    emulated: str | None = None
    started: str | None = None
    finished: str | None = None
    notes: list[str] = field(default_factory=list)
    session: SessionInfo | None = None  # None: a single run (runner profile, old results)
    rounds: list[RoundRecord] = field(default_factory=list)
    schema_version: str = PROFILE_SCHEMA_VERSION

    def round_medians(self) -> dict[int, float]:
        """round -> this artifact's median in that round, for the counted rounds."""
        return {r.round: r.p50 for r in self.rounds if r.status == COUNTED and r.p50}


ACCURACY_SCHEMA_VERSION = "1.1"  # 1.1: device, device_run, changed_vs_host


@dataclass
class DataRef:
    """Which images an accuracy figure was computed on."""

    root: str
    layout: str  # "synset-folders" | "flat+LOC_val_solution.csv" | "flat+val.txt" | ...
    fingerprint: str  # sha256 over (relative path, size, label) of the images used
    num_images: int
    num_classes: int  # distinct classes among the images used
    label_space: str = "imagenet-1k"  # class indices: canonical 1000-class order
    limit: int | None = None  # --limit: class-balanced subset size
    subset_seed: int | None = None


@dataclass
class AccuracyResult:
    """Top-1/top-5 of one artifact in one runtime (or the PyTorch reference)."""

    artifact: ArtifactRef  # format "pytorch" for the reference
    runtime: str
    data: DataRef
    status: str = OK
    error: str | None = None
    runtime_version: str | None = None
    inference_precision: str | None = None  # what the runtime really computed in
    weights: dict[str, Any] = field(default_factory=dict)  # the manifest's weights record
    # accuracy figures are PERCENT (0-100); drops are percentage points
    top1: float | None = None
    top5: float | None = None
    correct1: int = 0
    correct5: int = 0
    total: int = 0
    top1_ci: list[float] = field(default_factory=list)  # Wilson 95 %
    reference_top1: float | None = None  # PyTorch on the same images
    drop_vs_reference: float | None = None  # reference_top1 - top1 (points of accuracy)
    agreement_with_reference: float | None = None  # share of identical top-1 predictions
    flagged: bool = False  # notably below its PyTorch source
    flag_reason: str | None = None
    # run on a device (`eval --device`): its inventory name and what it said about the run;
    # None: on the host that ran edge-vit
    device: str | None = None
    device_run: dict[str, Any] = field(default_factory=dict)
    host_top1: float | None = None  # the same artifact on this host, the same images
    changed_vs_host: int | None = None  # images whose top-1 class differs from the host's
    changed_vs_host_images: list[str] = field(default_factory=list)
    seconds: float | None = None
    cached: bool = False
    started: str | None = None
    finished: str | None = None
    notes: list[str] = field(default_factory=list)
    schema_version: str = ACCURACY_SCHEMA_VERSION
