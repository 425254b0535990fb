"""What each kind of unit does, as plain functions of (config, sweep folder, arguments).

They run wherever an executor puts them: in the driver (``--jobs 1``), in a local worker
process, or in a Ray task or device actor on another machine. So they take only JSON-able
arguments, read and write only under ``root`` (the sweep folder, or a worker's scratch copy of
the parts it needs), and return paths relative to it. Nothing here writes a unit's record:
the driver alone does that.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import EdgeVitError
from ..serialization import from_dict
from .config import UNPRUNED, ModelEntry, SweepConfig

Say = Callable[[str], None]


@dataclass
class Job:
    """A unit ready to run. ``device``: the device it holds (one job per device at a time);
    ``exclusive``: it measures this machine's own CPU, so nothing else may run beside it;
    ``seeds``: the parts of the sweep folder it reads (root-relative), which an executor
    running it elsewhere ships there first."""

    unit: str
    kind: str
    args: dict[str, Any] = field(default_factory=dict)
    device: str | None = None
    exclusive: bool = False
    seeds: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    """What running a job gave: its outputs or its error, and where and when it ran (the
    worker's clock, so queueing time is not counted)."""

    outputs: dict[str, Any] | None = None
    error: str | None = None
    started: str | None = None
    finished: str | None = None
    seconds: float | None = None
    host: str | None = None
    pid: int | None = None
    attempts: int = 1
    node: str | None = None  # the Ray node it ran on (several nodes may share one host)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def run_job(cfg: SweepConfig, root: Path, job: Job, say: Say) -> Outcome:
    """Run ``job``; its failure becomes the outcome's error (one unit never stops the grid).
    KeyboardInterrupt and a dying process go through: the unit then has no record and runs
    again on the next run."""
    out = Outcome(started=now(), host=socket.gethostname(), pid=os.getpid())
    t0 = time.perf_counter()
    try:
        out.outputs = KINDS[job.kind](cfg, Path(root), job.args, say)
    except Exception as exc:
        out.error = str(exc) if isinstance(exc, EdgeVitError) else f"{type(exc).__name__}: {exc}"
    out.seconds = round(time.perf_counter() - t0, 2)
    out.finished = now()
    return out


def rel(root: Path, path: Path) -> str:
    """``path`` relative to the sweep folder (records stay valid wherever the folder runs)."""
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def under(root: Path, value: str) -> Path:
    """A path a record or argument gives, relative to the sweep folder; records written before
    paths were relative hold the folder's own path in front, which resolves as it is."""
    p = Path(value)
    return p if p.is_absolute() or not (Path(root) / p).exists() and p.exists() else root / p


# ------------------------------------------------------------------------------- the kinds
def model_options(cfg: SweepConfig, model: ModelEntry, plan: str | None):
    from ..model_options import ModelOptions

    return ModelOptions(
        name=model.name, model_kwargs=dict(model.model_kwargs),
        checkpoint=Path(model.checkpoint) if model.checkpoint else None,
        pretrained=model.pretrained, prune=None if plan in (None, UNPRUNED) else plan,
        criterion=cfg.criterion, calib_dir=Path(cfg.calib) if cfg.calib else None)


def export_options(cfg: SweepConfig, root: Path, model: ModelEntry, plan: str | None):
    from ..export import ExportOptions

    return ExportOptions(model=model_options(cfg, model, plan), formats=tuple(cfg.formats),
                         precisions=tuple(cfg.precisions), out_root=Path(root) / "artifacts")


def _plan(root: Path, plan: str | None) -> str | None:
    """A plan argument: a plan string as it is, a plan file the sweep wrote under its folder."""
    if plan is None or plan == UNPRUNED or not plan.endswith((".json", ".yaml", ".yml")):
        return plan
    return str(under(root, plan))


def export(cfg: SweepConfig, root: Path, args: dict, say: Say) -> dict:
    """Export a model cut by a plan, or a fine-tuned pruned-model folder."""
    from ..export import run_export
    from ..model_options import default_model_id

    model = from_dict(ModelEntry, args["model"])
    opts = export_options(cfg, root, model, _plan(root, args.get("plan")))
    if args.get("finetuned"):
        from ..pruning import read_spec

        folder = under(root, args["finetuned"])
        spec = read_spec(folder)
        source = dataclasses.replace(opts.model, name=str(folder), prune=None)
        opts = dataclasses.replace(opts, model=source, model_id=(
            f"{default_model_id(model.name, spec, model.model_kwargs)}"
            f"-kd{spec.finetune['epochs']}"))
    result = run_export(opts, progress=lambda m: say(f"    {m}"))
    failed = [f"{a.format}/{a.precision}: {a.status}" for a in result.failed]
    return {"manifest_dir": rel(root, result.manifest_path.parent), "failed_artifacts": failed}


def budget(cfg: SweepConfig, root: Path, args: dict, say: Say) -> dict:
    """Prune to a latency budget on the budget device: a plan file under ``budget/``."""
    from devices import get_device_config, open_device

    from ..lut.budget import allocate_on_device
    from ..lut.build import TableRequest
    from ..profiling import ProfileSettings

    model, o = from_dict(ModelEntry, args["model"]), args["options"]
    plan = Path(root) / args["plan"]
    req = TableRequest(model.name, dict(model.model_kwargs), o["runtime"], o["precision"])
    config = get_device_config(o["device"], cfg.inventory)
    with open_device(config) as device:
        done = allocate_on_device(device, model_options(cfg, model, None), req,
                                  args["budget"], o["metric"], plan.parent / plan.stem,
                                  ProfileSettings(**cfg.profile), lambda m: say(f"    {m}"),
                                  plan, o["margin"])
    return {"plan": rel(root, plan), "budget_ms": done.budget_ms,
            "predicted_ms": done.allocation.predicted_ms, "table": rel(root, done.table_path)}


def finetune(cfg: SweepConfig, root: Path, args: dict, say: Say) -> dict:
    """Distil a pruned model from its unpruned teacher into ``finetuned/<name>``."""
    from ..model_options import load_source_model
    from ..pruning import save_pruned
    from ..training import TrainConfig
    from ..training.jobs import DataSpec, finetune_pruned

    model, epochs = from_dict(ModelEntry, args["model"]), args["epochs"]
    folder = Path(root) / args["folder"]
    opts = dict(cfg.finetune_options)
    # class indices as the evaluation data numbers them, unless told otherwise
    data = DataSpec(path=str(cfg.finetune_data), split=opts.pop("split", None),
                    labels=opts.pop("labels", cfg.labels), limit=opts.pop("limit", None))
    pruned, _, spec, _ = load_source_model(model_options(cfg, model, _plan(root, args["plan"])))
    start = folder.with_name(folder.name + "-start")
    save_pruned(pruned, spec, start)
    tc = TrainConfig(**{"epochs": epochs, "lr": 5e-4, "warmup_epochs": 0.0, **opts})
    report = finetune_pruned(start, data, folder, tc, teacher=model.checkpoint,
                             progress=lambda m: say(f"    {m}"))
    return {"folder": rel(root, folder), "epochs": report.result.epochs_done,
            "train_images": report.result.train_images,
            "minutes": round(report.result.seconds / 60, 2)}


def profile(cfg: SweepConfig, root: Path, args: dict, say: Say) -> dict:
    """One interleaved session on a device over every export; each result file is kept as it
    is written, so a session that died halfway resumes from the first missing one."""
    from devices import get_device_config, open_device

    from ..profiling import ProfileSettings, collect_artifacts
    from ..profiling import profile as run_profile

    device_name = args["device"]
    settings = ProfileSettings(**cfg.profile)
    entries = collect_artifacts([under(root, m) for m in args["manifest_dirs"]])
    config = get_device_config(device_name, cfg.inventory)
    with open_device(config) as device:
        results = run_profile(device, entries, settings, Path(root) / "results",
                              progress=lambda m: say(f"    {m}"), skip_existing=True)
    bad = [r for r in results if r.status == "failed"]
    if bad:  # retried on the next run; the good results are kept either way
        raise UnitFailed(f"{len(bad)} profile run(s) failed on {device_name}: {bad[0].error}")
    return {"results": len(results)}


def evaluate(cfg: SweepConfig, root: Path, args: dict, say: Say) -> dict:
    from ..evaluation import evaluate_all

    def said(r):
        top1 = f"{r.top1:.2f} %" if r.top1 is not None else r.status
        say(f"    {r.artifact.model_id} {r.artifact.format}/{r.artifact.precision} "
            f"on {r.runtime}: top-1 {top1}")

    results = evaluate_all([under(root, args["manifest_dir"])], Path(cfg.data),
                           limit=cfg.limit, labels=cfg.labels,
                           results_dir=Path(root) / "results", on_result=said)
    bad = [r for r in results if r.status == "failed"]
    if bad:
        raise UnitFailed(f"{len(bad)} evaluation(s) failed: {bad[0].error}")
    return {"results": len(results)}


KINDS: dict[str, Callable[[SweepConfig, Path, dict, Say], dict]] = {
    "budget": budget, "export": export, "finetune": finetune, "profile": profile,
    "eval": evaluate}


class UnitFailed(EdgeVitError):
    """A unit that ran but did not finish its work (kept for a retry on the next run)."""
