"""From a latency budget to a pruning plan file: the model's importance scores, the device's
latency table as the cost, :func:`edge_vit.lut.solver.allocate_budget` in between."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from .solver import Allocation, allocate_budget
from .table import LatencyTable


def check_model(table: LatencyTable, model, model_name: str, input_shape: list[int]) -> None:
    from ..pruning.layout import describe_blocks

    s = table.structure
    blocks = describe_blocks(model)
    found = (len(blocks), {b.num_heads for b in blocks}, {b.mlp_hidden for b in blocks})
    if found != (s.depth, {s.heads}, {s.mlp}) or list(input_shape) != list(table.input_shape):
        raise UsageError(
            f"The latency table is of {table.model} ({s.depth} blocks, {s.heads} heads, MLP "
            f"{s.mlp}, input {table.input_shape}); {model_name} has {found[0]} blocks, heads "
            f"{sorted(found[1])}, MLP {sorted(found[2])}, input {input_shape}.",
            hint="Build a table of this model: edge-vit lut build --model ...")


def budget_plan(opts, table: LatencyTable, budget_ms: float, metric: str, out: Path
                ) -> tuple[Allocation, Path]:
    """Score the unpruned model (``opts.criterion``, calibration images for data-driven ones),
    allocate, and write the plan file ``out``."""
    from ..complexity import model_input_size
    from ..model_options import importance_batches, load_source_model
    from ..pruning.importance import compute_importance

    base = dataclasses.replace(opts, prune=None)
    model, *_ = load_source_model(base)
    check_model(table, model, opts.name, [1, *model_input_size(model)])
    criterion = opts.criterion or "magnitude"
    if criterion != "magnitude" and opts.calib_dir is None:
        raise UsageError(f"The {criterion} criterion needs --calib images.")
    calib = importance_batches(model, opts)[0] if criterion != "magnitude" else None
    imp = compute_importance(model, criterion, calib)
    depth = table.structure.depth
    alloc = allocate_budget(
        table.fit(metric), {i: imp.heads[i].tolist() for i in range(depth)},
        {i: imp.mlp[i].tolist() for i in range(depth)},
        imp.blocks.tolist() if imp.blocks is not None else [1.0] * depth, budget_ms)
    plan = dict(alloc.plan(table.structure.round_to), criterion=criterion)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(plan, indent=1))
    return alloc, out


@dataclass
class BudgetResult:
    budget_ms: float
    metric: str
    allocation: Allocation
    pruned: Path  # the spec + safetensors folder
    plan: Path
    table: Path
    artifact: Path | None = None
    measured_ms: float | None = None
    measured_ci: list[float] | None = None
    # the unpruned model in the same session, and in the table's: the device's drift
    reference_ms: float | None = None
    table_reference_ms: float | None = None
    error: str | None = None

    @property
    def met(self) -> bool | None:
        return None if self.measured_ms is None else self.measured_ms <= self.budget_ms


def prune_to_budget(device, opts, req, budget_ms: float, metric: str, out: Path | None,
                    work: Path, settings, say) -> BudgetResult:
    """Table (cached or built), plan, pruned model saved, exported to the runtime's format,
    profiled on the device: what was predicted and what was measured."""
    from ..export import ExportOptions, run_export
    from ..model_options import ModelOptions, default_model_id, load_source_model
    from ..profiling import collect_artifacts, profile
    from ..pruning import save_pruned
    from .build import build_table

    table, table_path = build_table(device, req, settings, work / "build", progress=say)
    alloc, plan = budget_plan(opts, table, budget_ms, metric, work / "budget-plan.json")
    say(f"budget {budget_ms:g} ms ({metric}): predicted {alloc.predicted_ms:.3f} ms after "
        f"{alloc.steps} steps; blocks kept {sum(b is not None for b in alloc.config)} of "
        f"{len(alloc.config)}")
    net, _, spec, warnings = load_source_model(dataclasses.replace(opts, prune=str(plan)))
    for w in warnings:
        say(f"warning: {w}")
    spec.budget = {"budget_ms": budget_ms, "metric": metric, "predicted_ms": alloc.predicted_ms,
                   "table": str(table_path), "fingerprint": table.fingerprint_key}
    out = out or Path("pruned") / default_model_id(opts.name, spec, opts.model_kwargs)
    save_pruned(net, spec, out)
    res = BudgetResult(budget_ms, metric, alloc, out, plan, table_path)
    formats = ("onnx", req.format) if req.format != "onnx" else ("onnx",)
    folders = []
    for name, source in (("pruned", str(out)), ("unpruned", None)):
        model_opts = ModelOptions(name=source) if source else dataclasses.replace(opts, prune=None)
        exported = run_export(ExportOptions(model=model_opts, formats=formats,
                                            precisions=(req.precision,),
                                            out_root=work / "artifacts",
                                            model_id=f"budget-{name}"))
        folders.append(exported.manifest_path.parent)
    entries = [e for e in collect_artifacts(folders, [req.format])
               if e.record.precision == req.precision]
    by_model = {e.manifest.model.id: e for e in entries}
    if "budget-pruned" not in by_model:
        res.error = f"the pruned model did not export to {req.format}"
        return res
    res.artifact = by_model["budget-pruned"].main
    settings.runtimes = (req.runtime,)
    # the unpruned model is measured beside it: the device's speed now vs the table's session
    results = {r.artifact.model_id: r for r in profile(device, entries, settings,
                                                       work / "results", progress=say)
               if r.settings.runtime == req.runtime}
    pick = (lambda lat: lat.p50) if metric == "p50" else (lambda lat: lat.p90)
    ref = results.get("budget-unpruned")
    if ref is not None and ref.latency is not None:
        res.reference_ms = pick(ref.latency)
        full = next(m for m in table.measurements if m.variant == "full")
        res.table_reference_ms = full.p50_ms if metric == "p50" else full.p90_ms
    got = results.get("budget-pruned")
    if got is None or got.latency is None:
        res.error = got.error if got else "not measured"
        return res
    res.measured_ms = pick(got.latency)
    res.measured_ci = got.latency.p50_ci if metric == "p50" else got.latency.p90_ci
    return res
