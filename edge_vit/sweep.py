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
    calib: str | None = None  # images for data-driven pruning criteria and int8 calibration
    criterion: str | None = None
    # recovery fine-tuning: each pruned model is also distilled from its unpruned teacher for
    # each N > 0 epochs here (0: the model as pruned), on finetune_data -- never the eval data
    finetune: list[int] = field(default_factory=lambda: [0])
    finetune_data: str | None = None
    finetune_options: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields,
    # plus split / labels / limit for finetune_data
    # ProfileSettings fields; each device is profiled in one interleaved session
    profile: dict[str, Any] = field(default_factory=dict)
    out: str | None = None  # default: sweeps/<name>

    @property
    def out_dir(self) -> Path:
        return Path(self.out or f"sweeps/{self.name}")


def demo_config() -> SweepConfig:
    """What ``edge-vit sweep`` runs with no arguments: the shipped CIFAR-10 demo ViT pruned at
    three levels, each also distilled for 2 epochs, scored on the shipped test slice."""
    from . import demo

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
    for key in ("prune", "formats", "precisions", "devices"):
        if key in data and (not isinstance(data[key], list)
                            or not all(isinstance(v, str) for v in data[key])):
            raise UsageError(f"'{key}' in {path} must be a list of strings, got {data[key]!r}")
    from .profiling import ProfileSettings

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


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Unit:
    """One piece of the grid's work. ``inputs`` is everything its result depends on (settings,
    hashes of the files it reads), so the key changes exactly when the work would; ``after``
    names the units whose outputs it uses."""

    kind: str  # export | finetune | profile | eval
    label: str  # what it works on, for people: a model, an export folder, a device
    inputs: tuple = ()
    after: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return _key(self.kind, *self.inputs)

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.label}-{self.key}"


@dataclass
class UnitRecord:
    """The marker a finished (or failed) unit leaves behind."""

    unit: str
    kind: str  # export | finetune | profile | eval
    status: str  # ok | failed
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float | None = None
    finished: str | None = None
    after: list[str] = field(default_factory=list)  # the units whose outputs it used


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

    def _run_unit(self, u: Unit, fn: Callable[[], dict]) -> UnitRecord:
        unit, kind = u.name, u.kind
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
        rec.after = list(u.after)
        write_json_atomic(self._marker(unit), rec)
        self.summary.ran.append(unit)
        return rec

    # -- the grid ---------------------------------------------------------------------------
    def run(self) -> SweepSummary:
        self._check_finetune()  # every check before the first file is written
        self._check_profile()
        self._check_grid()
        self.root.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.root / "sweep.json", self.cfg)
        cfg = self.cfg
        exports: dict[Path, str] = {}  # export folder -> the unit that made it
        for model in cfg.models:
            for plan in cfg.prune:
                u = Unit("export", model.name, (to_dict(model), plan, cfg.formats,
                                                cfg.precisions, cfg.criterion, cfg.calib))
                rec = self._run_unit(u, lambda m=model, p=plan: self._export(m, p))
                if rec.status == "ok":
                    exports[Path(rec.outputs["manifest_dir"])] = u.name
                if plan == UNPRUNED:
                    continue
                for epochs in sorted({e for e in cfg.finetune if e > 0}):
                    made = self._finetuned(model, plan, epochs)
                    if made is None:
                        continue
                    folder, trained_by = made
                    u = Unit("export", folder.name, (cfg.formats, cfg.precisions, cfg.calib,
                                                     _weights_hash(folder)), (trained_by,))
                    rec = self._run_unit(u, lambda m=model, f=folder: self._export(m, None, f))
                    if rec.status == "ok":
                        exports[Path(rec.outputs["manifest_dir"])] = u.name
        folders = list(exports)
        for device in cfg.devices if exports else ():
            # one interleaved session per device over every export; settings and the exported
            # files are part of the unit, so a new or re-exported variant measures again (its
            # results already measured the same way are kept)
            u = Unit("profile", device, (cfg.profile, sorted(_artifact_hashes(m)
                                                             for m in folders)),
                     tuple(exports.values()))
            self._run_unit(u, lambda d=device: self._profile(d, folders))
        if cfg.data:
            for mdir, made_by in exports.items():
                u = Unit("eval", mdir.name, (cfg.data, cfg.limit, cfg.labels,
                                             _artifact_hashes(mdir)), (made_by,))
                self._run_unit(u, lambda m=mdir: self._evaluate(m))
        else:
            self.say("note: no evaluation data given (--data): the report has latency only")
        self.summary.report = self._report()
        return self.summary

    def _model_options(self, model: ModelEntry, plan: str | None):
        from .model_options import ModelOptions

        return ModelOptions(
            name=model.name, model_kwargs=dict(model.model_kwargs),
            checkpoint=Path(model.checkpoint) if model.checkpoint else None,
            pretrained=model.pretrained, prune=None if plan in (None, UNPRUNED) else plan,
            criterion=self.cfg.criterion,
            calib_dir=Path(self.cfg.calib) if self.cfg.calib else None)

    def _export_options(self, model: ModelEntry, plan: str | None):
        from .export import ExportOptions

        return ExportOptions(model=self._model_options(model, plan),
                             formats=tuple(self.cfg.formats),
                             precisions=tuple(self.cfg.precisions),
                             out_root=self.root / "artifacts")

    def _export(self, model: ModelEntry, plan: str | None, finetuned: Path | None = None
                ) -> dict:
        """Export ``model`` cut by ``plan``, or the fine-tuned pruned-model folder."""
        import dataclasses

        from .export import run_export
        from .model_options import default_model_id

        opts = self._export_options(model, plan)
        if finetuned is not None:
            from .pruning import read_spec

            spec = read_spec(finetuned)
            source = dataclasses.replace(opts.model, name=str(finetuned), prune=None)
            opts = dataclasses.replace(opts, model=source, model_id=(
                f"{default_model_id(model.name, spec, model.model_kwargs)}"
                f"-kd{spec.finetune['epochs']}"))
        result = run_export(opts, progress=lambda m: self.say(f"    {m}"))
        failed = [f"{a.format}/{a.precision}: {a.status}" for a in result.failed]
        return {"manifest_dir": str(result.manifest_path.parent), "failed_artifacts": failed}

    def _check_grid(self) -> None:
        """Every cell of the grid (models, pruning plans, formats, precisions, devices, data
        paths) checked before any work, all problems reported at once: an impossible plan is
        found now, not after the other units ran for an hour."""
        from devices import get_device_config

        from .export import check_options
        from .model_options import resolve_plan
        from .models import create_model
        from .pruning import validate_plan

        cfg, problems = self.cfg, []

        def check(what: str, fn) -> Any:
            try:
                return fn()
            except EdgeVitError as exc:
                problems.append(f"{what}: {exc}" + (f" ({exc.hint})" if exc.hint else ""))
                return None

        for key in ("data", "calib", "finetune_data"):
            value = getattr(cfg, key)
            if value and not Path(value).exists():
                problems.append(f"{key}: {value} does not exist")
        for model in cfg.models:
            if model.checkpoint and not Path(model.checkpoint).is_file():
                problems.append(f"model {model.name}: checkpoint {model.checkpoint} does not "
                                "exist")
            pruned_folder = (Path(model.name) / "prune_spec.json").is_file()
            net = None if pruned_folder else check(
                f"model {model.name}", lambda m=model: create_model(m.name, m.model_kwargs))
            check("formats/precisions", lambda m=model: check_options(
                self._export_options(m, None)))
            for plan in cfg.prune:
                if plan == UNPRUNED:
                    continue
                if pruned_folder:
                    problems.append(f"prune {plan!r}: {model.name} is already pruned")
                    continue
                parsed = check(f"prune {plan!r}",
                               lambda m=model, p=plan: resolve_plan(self._model_options(m, p)))
                if parsed is not None and net is not None:
                    check(f"prune {plan!r} on {model.name}", lambda p=parsed, n=net:
                          validate_plan(p, n))
        for device in cfg.devices:
            check(f"device {device}", lambda d=device: get_device_config(d, cfg.inventory))
        if problems:
            unique = list(dict.fromkeys(problems))
            raise UsageError(f"The sweep grid has {len(unique)} problem(s), found before any "
                             "work:\n  - " + "\n  - ".join(unique))

    def _check_profile(self) -> None:
        """Impossible profile settings fail before any export runs."""
        from .profiling import ProfileSettings

        try:
            ProfileSettings(**self.cfg.profile)
        except TypeError as exc:
            raise UsageError(f"Bad profile settings {self.cfg.profile}: {exc}") from exc

    # -- recovery fine-tuning -----------------------------------------------------------------
    def _check_finetune(self) -> None:
        if self.cfg.calib and self.cfg.data and _overlap(self.cfg.calib, self.cfg.data):
            raise UsageError("calib is the evaluation data: int8 calibrated on the images it "
                             "is scored on would overstate its accuracy.",
                             hint="Calibrate on training images (e.g. a train split).")
        if not any(e > 0 for e in self.cfg.finetune):
            return
        if any(not isinstance(e, int) or e < 0 for e in self.cfg.finetune):
            raise UsageError(f"finetune must list epoch counts >= 0, got {self.cfg.finetune}")
        if not self.cfg.finetune_data:
            raise UsageError("finetune epochs are set but no finetune_data (training images).")
        if self.cfg.data and _overlap(self.cfg.finetune_data, self.cfg.data):
            raise UsageError("finetune_data is the evaluation data: fine-tuning on the images "
                             "it is scored on would overstate what recovery buys.")
        from .training import TrainConfig

        known = set(TrainConfig.__dataclass_fields__) - {"epochs"} | {"split", "labels",
                                                                     "limit"}
        bad = sorted(set(self.cfg.finetune_options) - known)
        if bad:
            raise UsageError(f"Unknown finetune option(s) {bad}; known: {sorted(known)} "
                             "(epochs come from the finetune list)")

    def _finetuned(self, model: ModelEntry, plan: str, epochs: int) -> tuple[Path, str] | None:
        """(folder, unit name) of ``model`` cut by ``plan`` and distilled for ``epochs``."""
        cfg = self.cfg
        u = Unit("finetune", model.name, (to_dict(model), plan, cfg.criterion, cfg.calib,
                                          epochs, cfg.finetune_data, cfg.finetune_options,
                                          cfg.labels))
        folder = self.root / "finetuned" / f"{model.name}-{u.key}-kd{epochs}"
        rec = self._run_unit(u, lambda: self._finetune(model, plan, epochs, folder))
        return (folder, u.name) if rec.status == "ok" else None

    def _finetune(self, model: ModelEntry, plan: str, epochs: int, folder: Path) -> dict:
        from .model_options import load_source_model
        from .pruning import save_pruned
        from .training import TrainConfig
        from .training.jobs import DataSpec, finetune_pruned

        opts = dict(self.cfg.finetune_options)
        # class indices as the evaluation data numbers them, unless told otherwise
        data = DataSpec(path=str(self.cfg.finetune_data), split=opts.pop("split", None),
                        labels=opts.pop("labels", self.cfg.labels),
                        limit=opts.pop("limit", None))
        pruned, _, spec, _ = load_source_model(self._model_options(model, plan))
        start = folder.with_name(folder.name + "-start")
        save_pruned(pruned, spec, start)
        cfg = TrainConfig(**{"epochs": epochs, "lr": 5e-4, "warmup_epochs": 0.0, **opts})
        report = finetune_pruned(start, data, folder, cfg, teacher=model.checkpoint,
                                 progress=lambda m: self.say(f"    {m}"))
        return {"folder": str(folder), "epochs": report.result.epochs_done,
                "train_images": report.result.train_images,
                "minutes": round(report.result.seconds / 60, 2)}

    def _profile(self, device_name: str, manifest_dirs: list[Path]) -> dict:
        from devices import get_device_config, open_device

        from .profiling import ProfileSettings, collect_artifacts, profile

        settings = ProfileSettings(**self.cfg.profile)
        entries = collect_artifacts(manifest_dirs)
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


def _weights_hash(folder: Path) -> str:
    """sha256 of a pruned-model folder's weights ("missing" if gone: its export then fails
    in its own unit, with a message, instead of stopping the sweep)."""
    from .files import file_sha256
    from .pruning.spec import WEIGHTS_FILE

    path = folder / WEIGHTS_FILE
    return file_sha256(path) if path.is_file() else "missing"


def _overlap(a: str, b: str) -> bool:
    """Whether two image sets (folders or archives) are the same or one holds the other."""
    from .data.archive import resolve_data_root

    ra, rb = (resolve_data_root(Path(p)).resolve() if Path(p).exists() else Path(p).resolve()
              for p in (a, b))
    return ra == rb or ra in rb.parents or rb in ra.parents


def _artifact_hashes(manifest_dir: Path) -> list:
    from .manifest import read_manifest

    m = read_manifest(manifest_dir)
    return sorted((a.format, a.precision, a.status, a.sha256) for a in m.artifacts)


class _UnitFailed(EdgeVitError):
    """A unit that ran but did not finish its work (kept for a retry on the next run)."""


def run_sweep(config: SweepConfig, progress: Callable[[str], None] | None = None
              ) -> SweepSummary:
    return Sweep(config, progress).run()


