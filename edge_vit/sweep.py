"""`edge-vit sweep`: the whole grid, models × pruning plans × formats × precisions × devices,
exported, profiled, evaluated and reported, resumably.

Work is cut into units (one export per model × plan, one profile per device × export, one
evaluation per export). Each finished unit writes a marker atomically under ``units/``; a
re-run — after Ctrl-C, a crash or a dead device — skips every unit whose marker says ``ok``
and retries the rest. Inside a profile unit each result file is itself kept, so a device that
died halfway is resumed from the first missing result. One failing unit never stops the
others; the report shows every failure with its reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import EdgeVitError, UsageError
from .serialization import from_dict, to_dict, write_json_atomic

log = logging.getLogger(__name__)

UNPRUNED = "none"


@dataclass
class ModelEntry:
    name: str
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    pretrained: str | bool | None = None


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
    calib: str | None = None  # images for data-driven pruning criteria
    criterion: str | None = None
    profile: dict[str, Any] = field(default_factory=lambda: {
        "warmup": 10, "min_iterations": 50, "min_seconds": 2.0, "max_seconds": 60.0})
    out: str | None = None  # default: sweeps/<name>

    @property
    def out_dir(self) -> Path:
        return Path(self.out or f"sweeps/{self.name}")


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
    for key in ("prune", "formats", "precisions", "devices"):
        if key in data and (not isinstance(data[key], list)
                            or not all(isinstance(v, str) for v in data[key])):
            raise UsageError(f"'{key}' in {path} must be a list of strings, got {data[key]!r}")
    from .profiling import ProfileSettings

    bad = sorted(set(data.get("profile", {})) - set(ProfileSettings.__dataclass_fields__))
    if bad:
        raise UsageError(f"Unknown profile setting(s) {bad} in {path}; known: "
                         f"{sorted(ProfileSettings.__dataclass_fields__)}")
    return from_dict(SweepConfig, data)


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


@dataclass
class UnitRecord:
    """The marker a finished (or failed) unit leaves behind."""

    unit: str
    kind: str  # export | profile | eval
    status: str  # ok | failed
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float | None = None
    finished: str | None = None


@dataclass
class SweepSummary:
    out_dir: Path
    ran: list[str] = field(default_factory=list)  # units executed by this run
    skipped: list[str] = field(default_factory=list)  # already done before
    failed: list[UnitRecord] = field(default_factory=list)
    report: dict[str, Path] = field(default_factory=dict)


class Sweep:
    def __init__(self, config: SweepConfig, progress: Callable[[str], None] | None = None):
        self.cfg = config
        self.root = config.out_dir
        self.say = progress or log.info
        self.summary = SweepSummary(out_dir=self.root)

    # -- unit bookkeeping -------------------------------------------------------------------
    def _marker(self, unit: str) -> Path:
        return self.root / "units" / f"{unit}.json"

    def _done(self, unit: str) -> UnitRecord | None:
        p = self._marker(unit)
        if not p.exists():
            return None
        try:
            rec = from_dict(UnitRecord, json.loads(p.read_text()))
        except (json.JSONDecodeError, TypeError):
            return None  # a torn marker cannot exist (atomic writes), but never trust one
        return rec if rec.status == "ok" else None

    def _run_unit(self, unit: str, kind: str, fn: Callable[[], dict]) -> UnitRecord:
        done = self._done(unit)
        if done is not None:
            self.summary.skipped.append(unit)
            self.say(f"= {unit}: done earlier, skipped")
            return done
        self.say(f"> {unit}")
        t0 = time.perf_counter()
        try:
            outputs = fn()
            rec = UnitRecord(unit=unit, kind=kind, status="ok", outputs=outputs)
        except Exception as exc:  # one unit's failure never stops the grid
            error = str(exc) if isinstance(exc, EdgeVitError) else f"{type(exc).__name__}: {exc}"
            rec = UnitRecord(unit=unit, kind=kind, status="failed", error=error)
            self.summary.failed.append(rec)
            self.say(f"! {unit}: {error}")
        rec.seconds = round(time.perf_counter() - t0, 2)
        rec.finished = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        write_json_atomic(self._marker(unit), rec)
        self.summary.ran.append(unit)
        return rec

    # -- the grid ---------------------------------------------------------------------------
    def run(self) -> SweepSummary:
        self.root.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.root / "sweep.json", self.cfg)
        exports = []
        for model in self.cfg.models:
            for plan in self.cfg.prune:
                unit = f"export-{model.name}-{_key(to_dict(model), plan, self.cfg.formats, self.cfg.precisions, self.cfg.criterion)}"
                rec = self._run_unit(unit, "export", lambda m=model, p=plan: self._export(m, p))
                if rec.status == "ok":
                    exports.append(Path(rec.outputs["manifest_dir"]))
        for device in self.cfg.devices:
            for mdir in exports:
                # settings and the exported files are part of the unit: changing either
                # (e.g. a re-export with other weights) measures again
                unit = (f"profile-{device}-{mdir.name}-"
                        f"{_key(self.cfg.profile, _artifact_hashes(mdir))}")
                self._run_unit(unit, "profile", lambda d=device, m=mdir: self._profile(d, m))
        if self.cfg.data:
            for mdir in exports:
                key = _key(self.cfg.data, self.cfg.limit, self.cfg.labels,
                           _artifact_hashes(mdir))
                unit = f"eval-{mdir.name}-{key}"
                self._run_unit(unit, "eval", lambda m=mdir: self._evaluate(m))
        else:
            self.say("note: no evaluation data given (--data): the report has latency only")
        self.summary.report = self._report()
        return self.summary

    def _export(self, model: ModelEntry, plan: str) -> dict:
        from .export import ExportOptions, run_export

        result = run_export(ExportOptions(
            model=model.name, model_kwargs=dict(model.model_kwargs),
            checkpoint=Path(model.checkpoint) if model.checkpoint else None,
            pretrained=model.pretrained, prune=None if plan == UNPRUNED else plan,
            criterion=self.cfg.criterion, calib_dir=Path(self.cfg.calib) if self.cfg.calib
            else None, formats=tuple(self.cfg.formats), precisions=tuple(self.cfg.precisions),
            out_root=self.root / "artifacts"), progress=lambda m: self.say(f"    {m}"))
        failed = [f"{a.format}/{a.precision}: {a.status}" for a in result.failed]
        return {"manifest_dir": str(result.manifest_path.parent), "failed_artifacts": failed}

    def _profile(self, device_name: str, manifest_dir: Path) -> dict:
        from devices import get_device_config, open_device

        from .profiling import ProfileSettings, collect_artifacts, profile

        settings = ProfileSettings(**self.cfg.profile)
        entries = collect_artifacts([manifest_dir])
        config = get_device_config(device_name, self.cfg.inventory)
        with open_device(config) as device:
            results = profile(device, entries, settings, self.root / "results",
                              progress=lambda m: self.say(f"    {m}"), skip_existing=True)
        bad = [r for r in results if r.status == "failed"]
        if bad:  # retried on the next run; the good results are kept either way
            raise _UnitFailed(f"{len(bad)} profile run(s) failed on {device_name}: "
                              f"{bad[0].error}")
        return {"results": len(results)}

    def _evaluate(self, manifest_dir: Path) -> dict:
        from .evaluation import evaluate_all

        def said(r):
            top1 = f"{r.top1:.2f} %" if r.top1 is not None else r.status
            self.say(f"    {r.artifact.model_id} {r.artifact.format}/{r.artifact.precision} "
                     f"on {r.runtime}: top-1 {top1}")

        results = evaluate_all([manifest_dir], Path(self.cfg.data), limit=self.cfg.limit,
                               labels=self.cfg.labels, results_dir=self.root / "results",
                               on_result=said)
        bad = [r for r in results if r.status == "failed"]
        if bad:
            raise _UnitFailed(f"{len(bad)} evaluation(s) failed: {bad[0].error}")
        return {"results": len(results)}

    def _report(self) -> dict[str, Path]:
        from .reporting import build_report, write_report

        artifacts = self.root / "artifacts"
        if not artifacts.exists():
            return {}
        report = build_report([artifacts], self.root / "results",
                              self.root / "results" / "accuracy")
        written = write_report(report, self.root / "report")
        for kind, path in written.items():
            self.say(f"report ({kind}): {path}")
        return written


def _artifact_hashes(manifest_dir: Path) -> list:
    from .manifest import read_manifest

    m = read_manifest(manifest_dir)
    return sorted((a.format, a.precision, a.status, a.sha256) for a in m.artifacts)


class _UnitFailed(EdgeVitError):
    """A unit that ran but did not finish its work (kept for a retry on the next run)."""


def run_sweep(config: SweepConfig, progress: Callable[[str], None] | None = None
              ) -> SweepSummary:
    return Sweep(config, progress).run()


