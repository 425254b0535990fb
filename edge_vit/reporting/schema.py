"""The typed report: one :class:`ReportRow` per device × model × format × precision × runtime,
plus the environment of each device and the provenance of weights and images.

Every output (Markdown, CSV, JSON, HTML) is rendered from these dataclasses; JSON goes through
the one serializer and reads back into the same types. Row fields are scalars only, so the CSV
has exactly the JSON's fields, one column each.

Units are in the field names: ``_ms`` milliseconds, ``_pct`` percent (0-100), ``_pts``
percentage points, ``_mb`` megabytes, ``_mj`` millijoules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ManifestError
from ..layers.result import LayerProfile
from ..serialization import from_dict

REPORT_SCHEMA_VERSION = "1.5"  # 1.1: rounds, paired speedups, measurement quality; 1.2: layers;
# 1.3: budget_ms / budget_met; 1.4: emulated (rows of emulated devices, off the front);
# 1.5: variant names, recommendations

# ReportRow.status: the first stage that went wrong, else "ok".
OK = "ok"
EXPORT_FAILED = "export_failed"  # manifest: the conversion failed
VALIDATION_FAILED = "validation_failed"  # manifest: exported, but does not match PyTorch
SKIPPED = "skipped"  # manifest: its source format was not exported
PROFILE_FAILED = "profile_failed"  # the profile run failed on this device
UNSUPPORTED = "unsupported"  # no runtime on this device can run it
NOT_PROFILED = "not_profiled"  # exported fine, but there is no profile on this device
EVAL_FAILED = "eval_failed"  # latency is fine, the accuracy run failed

# ReportRow.pareto
FRONT = "front"  # on the front, its latency interval clear of every other member's
TIED = "tied"  # on the front, but within the noise of another member: no winner declared
DOMINATED = "dominated"


@dataclass
class ReportRow:
    # what
    device: str | None  # None: not tied to a device (accuracy-only or nothing profiled)
    model_id: str
    format: str
    precision: str
    runtime: str | None  # None: never ran (export failed, not profiled)
    name: str | None = None  # what the variant is: "heads −50% · MLP −50% · KD 2 ep"
    device_kind: str | None = None
    architecture: str | None = None  # timm name of the unpruned architecture
    pruned: bool = False
    prune_summary: str | None = None
    params: int | None = None
    macs: int | None = None
    params_ratio: float | None = None  # params / unpruned params
    macs_ratio: float | None = None
    artifact_size_bytes: int | None = None
    artifact_path: str | None = None
    # how it ran
    inference_precision: str | None = None  # what the runtime computed in on this device
    ov_precision: str | None = None  # OpenVINO runs: "default" or the pinned precision
    runtime_version: str | None = None
    threads: int | None = None
    batch: int | None = None
    # latency, throughput, memory, power
    p50_ms: float | None = None
    p50_ci_low_ms: float | None = None
    p50_ci_high_ms: float | None = None
    p90_ms: float | None = None
    p90_ci_low_ms: float | None = None
    p90_ci_high_ms: float | None = None
    p99_ms: float | None = None
    rounds: int | None = None  # counted rounds of its profile session (None: a single run)
    rounds_dropped: int | None = None  # rounds taken while busy/throttled, repeated
    session_id: str | None = None
    throughput_ips: float | None = None
    peak_rss_mb: float | None = None
    model_added_mb: float | None = None  # what loading the model added to the process
    mean_power_w: float | None = None
    energy_per_inference_mj: float | None = None
    noisy: bool = False
    throttled: bool | None = None
    emulated: str | None = None  # "emulated aarch64 (qemu-user): latency not representative"
    # accuracy of this artifact in this runtime (the same on every device)
    top1_pct: float | None = None
    top1_ci_low_pct: float | None = None
    top1_ci_high_pct: float | None = None
    top5_pct: float | None = None
    eval_images: int | None = None
    data_fingerprint: str | None = None
    accuracy_inference_precision: str | None = None
    source_drop_pts: float | None = None  # vs this model's own PyTorch (export fidelity)
    accuracy_flagged: bool = False
    # against the unpruned baseline (same architecture, format, precision, runtime, device)
    baseline_model_id: str | None = None
    baseline_p50_ms: float | None = None
    speedup: float | None = None  # baseline p50 / this p50; > 1 is faster
    speedup_ci_low: float | None = None  # 95 %: paired rounds, or the two p50 CIs
    speedup_ci_high: float | None = None
    speedup_method: str | None = None  # "paired rounds" | "p50 intervals (not paired ...)"
    speedup_resolved: bool | None = None  # False: a tie, the noise cannot order them
    baseline_top1_pct: float | None = None
    drop_vs_baseline_pts: float | None = None  # baseline top-1 - this top-1
    # against the PyTorch fp32 reference of the unpruned architecture
    reference_top1_pct: float | None = None
    drop_vs_reference_pts: float | None = None
    # a model pruned to a latency budget, on the device, runtime and precision it was
    # allocated for: the budget and whether this row's p50 (or p90) is within it
    budget_ms: float | None = None
    budget_met: bool | None = None
    # outcome of each stage, and overall
    export_status: str | None = None
    profile_status: str | None = None
    eval_status: str | None = None
    status: str = OK
    reason: str | None = None
    pareto: str | None = None  # front | tied | dominated; None: not a candidate
    dominated_by: str | None = None  # label of one row that dominates it
    notes: str | None = None  # "; "-joined

    @property
    def label(self) -> str:
        return f"{self.model_id} {self.format}/{self.precision}/{self.runtime or '-'}"

    @property
    def on_front(self) -> bool:
        return self.pareto in (FRONT, TIED)


@dataclass
class DeviceEnvironment:
    device: str
    kind: str | None = None
    hostname: str | None = None
    cpu_model: str | None = None
    cores_logical: int | None = None
    machine: str | None = None
    os: str | None = None
    kernel: str | None = None
    governor: str | None = None
    mem_total_mb: float | None = None
    python: str | None = None
    runtimes: dict[str, str] = field(default_factory=dict)  # runtime -> version
    board: dict[str, Any] = field(default_factory=dict)
    runs: int = 0
    throttled_runs: list[str] = field(default_factory=list)  # labels
    throttle_unknown_runs: int = 0  # the device could not tell
    noisy_runs: list[str] = field(default_factory=list)
    first_run: str | None = None
    last_run: str | None = None
    # measurement quality: the sessions behind this device's figures
    sessions: list[str] = field(default_factory=list)
    rounds_min: int | None = None  # counted rounds per artifact, fewest and most
    rounds_max: int | None = None
    rounds_dropped: int = 0  # over all artifacts
    drop_reasons: dict[str, int] = field(default_factory=dict)
    stopped_by: list[str] = field(default_factory=list)
    target_ci: float | None = None
    widest_p50_ci_pct: float | None = None  # half-width, percent of p50
    widest_p50_ci_row: str | None = None
    single_runs: int = 0  # results from one timed block (older edge-vit): interval too narrow


@dataclass
class ModelProvenance:
    model_id: str
    name: str | None = None
    architecture: str | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    pruned: bool = False
    prune_summary: str | None = None
    baseline_model_id: str | None = None
    weights_kind: str | None = None  # pretrained | checkpoint | random | pruned
    weights_source: str | None = None
    weights_sha256: str | None = None
    state_sha256: str | None = None
    weights_note: str | None = None
    random_init: bool = False  # accuracy of this model means nothing
    manifest: str | None = None


@dataclass
class DataProvenance:
    fingerprint: str
    root: str
    layout: str
    num_images: int
    num_classes: int
    label_space: str | None = None
    limit: int | None = None
    subset_seed: int | None = None
    used_by: list[str] = field(default_factory=list)  # "model format/precision/runtime"


@dataclass
class Recommendation:
    """One answer for one device and architecture: the row to ship for a goal, or why none.

    ``goal`` is "budget" (the most accurate row whose p50 is within ``budget_ms``) or
    "near-baseline" (the fastest row within ``within_pts`` top-1 points of the unpruned
    reference). Rows are named by their labels; ``unresolved`` says, in sentences, what the
    latency and accuracy intervals leave open about the pick."""

    device: str
    goal: str
    title: str
    architecture: str | None = None
    reference: str | None = None  # label of the unpruned row budgets and points are relative to
    budget: str | None = None  # as asked: "0.5x", "12ms"
    budget_ms: float | None = None
    within_pts: float | None = None
    pick: str | None = None  # label of the recommended row; None: nothing qualifies
    summary: str | None = None  # the pick with its intervals, in one line
    unresolved: list[str] = field(default_factory=list)
    reason: str | None = None  # why nothing was picked


@dataclass
class Report:
    rows: list[ReportRow] = field(default_factory=list)
    devices: list[DeviceEnvironment] = field(default_factory=list)
    models: list[ModelProvenance] = field(default_factory=list)
    data: list[DataProvenance] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    layers: list[LayerProfile] = field(default_factory=list)  # per-layer breakdowns (--layers)
    recommendations: list[Recommendation] = field(default_factory=list)
    recommend_under: list[str] = field(default_factory=list)  # the budgets asked, e.g. "0.5x"
    recommend_within_pts: float | None = None
    pareto_rule: str = ""
    include_emulated: bool = False  # rows of emulated devices may be on a Pareto front
    inputs: dict[str, Any] = field(default_factory=dict)  # where the report read from
    generated: str | None = None
    tool: str | None = None
    schema_version: str = REPORT_SCHEMA_VERSION

    def device_names(self) -> list[str]:
        return sorted({r.device for r in self.rows if r.device is not None})

    def rows_for(self, device: str | None) -> list[ReportRow]:
        return [r for r in self.rows if r.device == device]

    def layers_for(self, device: str | None) -> list[LayerProfile]:
        return [p for p in self.layers if p.device_name == device]

    def recommendations_for(self, device: str | None) -> list[Recommendation]:
        return [r for r in self.recommendations if r.device == device]

    def row(self, device: str | None, label: str | None) -> ReportRow | None:
        return next((r for r in self.rows if r.device == device and r.label == label), None)

    def environment(self, device: str) -> DeviceEnvironment | None:
        return next((e for e in self.devices if e.device == device), None)

    @property
    def random_init(self) -> bool:
        return any(m.random_init for m in self.models)


def read_report(path: Path) -> Report:
    """The typed report back from ``report.json`` (same schema major version only)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ManifestError(f"No report at {path}") from exc
    except json.JSONDecodeError as exc:
        raise ManifestError(f"Report {path} is not valid JSON: {exc}") from exc
    major = str(data.get("schema_version", "")).split(".")[0]
    if major != REPORT_SCHEMA_VERSION.split(".")[0]:
        raise ManifestError(f"Report {path} has schema {data.get('schema_version')!r}; "
                            f"this edge-vit reads {REPORT_SCHEMA_VERSION}.")
    return from_dict(Report, data)
