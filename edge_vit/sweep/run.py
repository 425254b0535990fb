"""Running the grid: units in dependency order, each skipped when its marker says ok."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from .. import interrupts
from ..errors import EdgeVitError
from ..serialization import from_dict, to_dict, write_json_atomic
from .checks import GridChecks
from .config import UNPRUNED, ModelEntry, SweepConfig
from .units import SweepSummary, Unit, UnitRecord

log = logging.getLogger(__name__)


class Sweep(GridChecks):
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
        interrupts.check()  # a Ctrl-C something swallowed: stop before the next unit
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
            plans, made_by = list(cfg.prune), {}
            for budget in cfg.budget:  # a budget becomes a plan file, then runs like a plan
                got = self._budget_plan(model, budget)
                if got is not None:
                    plans.append(got[0])
                    made_by[got[0]] = got[1]
            for plan in plans:
                u = Unit("export", model.name, (to_dict(model), _plan_input(plan),
                                                cfg.formats, cfg.precisions, cfg.criterion,
                                                cfg.calib), tuple(made_by.get(plan, ())))
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
        from ..model_options import ModelOptions

        return ModelOptions(
            name=model.name, model_kwargs=dict(model.model_kwargs),
            checkpoint=Path(model.checkpoint) if model.checkpoint else None,
            pretrained=model.pretrained, prune=None if plan in (None, UNPRUNED) else plan,
            criterion=self.cfg.criterion,
            calib_dir=Path(self.cfg.calib) if self.cfg.calib else None)

    def _export_options(self, model: ModelEntry, plan: str | None):
        from ..export import ExportOptions

        return ExportOptions(model=self._model_options(model, plan),
                             formats=tuple(self.cfg.formats),
                             precisions=tuple(self.cfg.precisions),
                             out_root=self.root / "artifacts")

    def _export(self, model: ModelEntry, plan: str | None, finetuned: Path | None = None
                ) -> dict:
        """Export ``model`` cut by ``plan``, or the fine-tuned pruned-model folder."""
        import dataclasses

        from ..export import run_export
        from ..model_options import default_model_id

        opts = self._export_options(model, plan)
        if finetuned is not None:
            from ..pruning import read_spec

            spec = read_spec(finetuned)
            source = dataclasses.replace(opts.model, name=str(finetuned), prune=None)
            opts = dataclasses.replace(opts, model=source, model_id=(
                f"{default_model_id(model.name, spec, model.model_kwargs)}"
                f"-kd{spec.finetune['epochs']}"))
        result = run_export(opts, progress=lambda m: self.say(f"    {m}"))
        failed = [f"{a.format}/{a.precision}: {a.status}" for a in result.failed]
        return {"manifest_dir": str(result.manifest_path.parent), "failed_artifacts": failed}

    def _budget_plan(self, model: ModelEntry, budget: str) -> tuple[str, tuple] | None:
        """(plan file, the unit that wrote it) of ``model`` pruned to ``budget`` on the
        budget device, or None when it failed (its unit says why; the grid goes on)."""
        from .config import BUDGET_DEFAULTS

        cfg = self.cfg
        o = {**BUDGET_DEFAULTS, **cfg.budget_options}
        o["device"] = o["device"] or cfg.devices[0]
        u = Unit("budget", model.name, (to_dict(model), budget, o, cfg.criterion, cfg.calib,
                                        cfg.profile))
        plan = self.root / "budget" / f"{model.name}-{u.key}.json"
        rec = self._run_unit(u, lambda: self._allocate(model, budget, o, plan))
        return (str(plan), (u.name,)) if rec.status == "ok" and plan.is_file() else None

    def _allocate(self, model: ModelEntry, budget: str, o: dict, plan: Path) -> dict:
        from devices import get_device_config, open_device

        from ..lut.budget import allocate_on_device
        from ..lut.build import TableRequest
        from ..profiling import ProfileSettings

        req = TableRequest(model.name, dict(model.model_kwargs), o["runtime"], o["precision"])
        config = get_device_config(o["device"], self.cfg.inventory)
        with open_device(config) as device:
            done = allocate_on_device(device, self._model_options(model, None), req, budget,
                                      o["metric"], self.root / "budget" / plan.stem,
                                      ProfileSettings(**self.cfg.profile),
                                      lambda m: self.say(f"    {m}"), plan, o["margin"])
        return {"plan": str(plan), "budget_ms": done.budget_ms,
                "predicted_ms": done.allocation.predicted_ms, "table": str(done.table_path)}

    def _finetuned(self, model: ModelEntry, plan: str, epochs: int) -> tuple[Path, str] | None:
        """(folder, unit name) of ``model`` cut by ``plan`` and distilled for ``epochs``."""
        cfg = self.cfg
        u = Unit("finetune", model.name, (to_dict(model), _plan_input(plan), cfg.criterion,
                                          cfg.calib, epochs, cfg.finetune_data,
                                          cfg.finetune_options, cfg.labels))
        folder = self.root / "finetuned" / f"{model.name}-{u.key}-kd{epochs}"
        rec = self._run_unit(u, lambda: self._finetune(model, plan, epochs, folder))
        return (folder, u.name) if rec.status == "ok" else None

    def _finetune(self, model: ModelEntry, plan: str, epochs: int, folder: Path) -> dict:
        from ..model_options import load_source_model
        from ..pruning import save_pruned
        from ..training import TrainConfig
        from ..training.jobs import DataSpec, finetune_pruned

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

        from ..profiling import ProfileSettings, collect_artifacts, profile

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
        from ..evaluation import evaluate_all

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
        from ..reporting import build_report, write_report

        artifacts = self.root / "artifacts"
        if not artifacts.exists():
            return {}
        report = build_report([artifacts], self.root / "results",
                              self.root / "results" / "accuracy",
                              under=self.cfg.recommend_under,
                              within_pts=self.cfg.recommend_within_pts)
        written = write_report(report, self.root / "report")
        for kind, path in written.items():
            self.say(f"report ({kind}): {path}")
        return written


def _plan_input(plan: str) -> str | list:
    """A plan as a unit's input: a plan file with its content's hash (a budget re-allocated
    to other units is other work), a plan string as it is."""
    from ..files import file_sha256

    path = Path(plan)
    return [plan, file_sha256(path)] if path.suffix in (".json", ".yaml", ".yml") \
        and path.is_file() else plan


def _weights_hash(folder: Path) -> str:
    """sha256 of a pruned-model folder's weights ("missing" if gone: its export then fails
    in its own unit, with a message, instead of stopping the sweep)."""
    from ..files import file_sha256
    from ..pruning.spec import WEIGHTS_FILE

    path = folder / WEIGHTS_FILE
    return file_sha256(path) if path.is_file() else "missing"


def _artifact_hashes(manifest_dir: Path) -> list:
    from ..manifest import read_manifest

    m = read_manifest(manifest_dir)
    return sorted((a.format, a.precision, a.status, a.sha256) for a in m.artifacts)


class _UnitFailed(EdgeVitError):
    """A unit that ran but did not finish its work (kept for a retry on the next run)."""


def run_sweep(config: SweepConfig, progress: Callable[[str], None] | None = None
              ) -> SweepSummary:
    return Sweep(config, progress).run()


