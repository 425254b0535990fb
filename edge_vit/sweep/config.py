"""The sweep's grid: its config dataclass, read from TOML/YAML/JSON and checked, and the
embedded default."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..serialization import from_dict, to_dict

UNPRUNED = "none"


@dataclass
class ModelEntry:
    name: str
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    pretrained: str | bool | None = None


BUDGET_DEFAULTS = {"device": None, "runtime": "onnxruntime", "precision": "fp32",
                   "metric": "p50", "margin": None}


@dataclass
class SweepConfig:
    """The grid. Loaded from TOML/YAML/JSON (``--config``) or built from CLI options."""

    name: str = "default"
    models: list[ModelEntry] = field(default_factory=lambda: [
        ModelEntry(name="deit_tiny_patch16_224")])
    prune: list[str] = field(default_factory=lambda: [
        UNPRUNED, "heads=0.34,mlp=0.5", "heads=0.34,mlp=0.75,depth=0.25"])
    formats: list[str] = field(default_factory=lambda: ["onnx", "openvino", "tflite"])
    precisions: list[str] = field(default_factory=lambda: ["fp32"])
    devices: list[str] = field(default_factory=lambda: ["local"])
    inventory: str | None = None
    data: str | None = None  # evaluation images; None: no accuracy (said in the report)
    labels: str = "imagenet"
    limit: int | None = None
    calib: str | None = None  # images for data-driven pruning criteria and int8 calibration
    criterion: str | None = None
    # recovery fine-tuning: each pruned model is also distilled from its unpruned teacher for
    # each N > 0 epochs here (0: the model as pruned), on finetune_data -- never the eval data
    finetune: list[int] = field(default_factory=lambda: [0])
    finetune_data: str | None = None
    finetune_options: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields,
    # plus split / labels / limit for finetune_data
    # latency budgets, each pruned to like `prune --budget-ms` (greedy latency-aware global
    # allocation against the budget device's latency table) and then exported, fine-tuned,
    # profiled and scored like the prune plans: "12" / "12ms" milliseconds, or "0.5x" of the
    # unpruned model's latency there
    budget: list[str] = field(default_factory=list)
    # device (default: the first of devices), runtime, precision, metric, margin (None: the
    # table's held-out error) of the budgets
    budget_options: dict[str, Any] = field(default_factory=dict)
    # ProfileSettings fields; each device is profiled in one interleaved session
    profile: dict[str, Any] = field(default_factory=dict)
    # the report's recommendations: latency budgets ("0.5x" of the unpruned p50, "12ms";
    # None: 0.5x and 0.75x) and the "within N top-1 points" margin (None: 1)
    recommend_under: list[str] | None = None
    recommend_within_pts: float | None = None
    out: str | None = None  # default: sweeps/<name>
    # where units run: "local" (this machine, up to `jobs` at once; a profile of a device on
    # this machine's CPU always alone) or "ray" (tasks and device actors on a Ray cluster)
    executor: str = "local"
    jobs: int | None = None  # local: units at once (None: the machine's cores; 1: in turn)
    ray_address: str | None = None  # None: $RAY_ADDRESS, else a Ray started for the sweep
    # where artifacts and results travel between the driver and Ray workers, by content
    # hash: a folder every node sees, or an fsspec URL (None: <out>/.store)
    ray_store: str | None = None
    # Ray resource requests per unit kind, e.g. {"export": {"num_cpus": 2, "memory": 4e9}}
    ray_resources: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def out_dir(self) -> Path:
        return Path(self.out or f"sweeps/{self.name}")


def demo_config() -> SweepConfig:
    """What ``edge-vit sweep`` runs with no arguments: the shipped CIFAR-10 demo ViT pruned at
    three levels, each also distilled for 2 epochs, scored on the shipped test slice."""
    from .. import demo

    missing = [p.name for p in (demo.WEIGHTS, demo.TEST_SLICE, demo.TRAIN_SLICE)
               if not p.is_file()]
    if missing:
        raise UsageError(f"The embedded demo is incomplete: {', '.join(missing)} missing "
                         f"from {demo.HERE}.", hint="Reinstall edge-vit, or give --model/"
                         "--config for a sweep of your own.")
    return SweepConfig(
        name="default", models=[ModelEntry(name=demo.DEMO_MODEL)],
        prune=[UNPRUNED, "heads=0.25,mlp=0.5", "heads=0.5,mlp=0.5",
               "heads=0.5,mlp=0.5,depth=0.34"],
        finetune=[0, 2], finetune_data=str(demo.TRAIN_SLICE), data=str(demo.TEST_SLICE),
        labels="folders", calib=str(demo.TRAIN_SLICE))


def load_config(path: Path) -> SweepConfig:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"Cannot read sweep config {path}: {exc}") from exc
    try:
        if path.suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
                import tomli as tomllib

            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:
        raise UsageError(f"Sweep config {path} is not valid {path.suffix[1:]}: {exc}") from exc
    if not isinstance(data, dict):
        raise UsageError(f"Sweep config {path} must be a table/mapping.")
    known = set(SweepConfig.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise UsageError(f"Unknown key(s) {unknown} in {path}; known: {sorted(known)}")
    data["models"] = [m if isinstance(m, dict) else {"name": m} for m in data.get("models", [])] \
        or to_dict(SweepConfig().models)
    if isinstance(data.get("budget"), list):  # 12 and "12ms" alike
        data["budget"] = [str(b) if isinstance(b, (int, float)) and not isinstance(b, bool)
                          else b for b in data["budget"]]
    for key in ("prune", "formats", "precisions", "devices", "budget"):
        if key in data and (not isinstance(data[key], list)
                            or not all(isinstance(v, str) for v in data[key])):
            raise UsageError(f"'{key}' in {path} must be a list of strings, got {data[key]!r}")
    from ..profiling import ProfileSettings

    bad = sorted(set(data.get("profile", {})) - set(ProfileSettings.__dataclass_fields__))
    if bad:
        raise UsageError(f"Unknown profile setting(s) {bad} in {path}; known: "
                         f"{sorted(ProfileSettings.__dataclass_fields__)}",
                         hint="min_seconds is gone: a device is measured in rounds of short "
                              "blocks (block_seconds) until every p50 interval is within "
                              "target_ci, within max_seconds for the whole session."
                         if "min_seconds" in bad else None)
    try:
        ProfileSettings(**data.get("profile", {}))
    except TypeError as exc:
        raise UsageError(f"Bad profile settings in {path}: {exc}") from exc
    return from_dict(SweepConfig, data)


