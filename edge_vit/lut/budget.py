"""From a latency budget to a pruning plan file: the model's importance scores, the device's
latency table as the cost, :func:`edge_vit.lut.solver.allocate_budget` in between."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from .build import export_variant, measure_session
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


def parse_budget(text) -> tuple[float, bool]:
    """(value, relative): "12", "12ms" or 12.0 -> (12.0, False) milliseconds; "0.5x" ->
    (0.5, True), a share of the unpruned model's latency."""
    raw = str(text).strip().lower().replace(" ", "")
    relative = raw.endswith("x")
    number = raw[:-1] if relative else raw.removesuffix("ms")
    try:
        value = float(number)
    except ValueError:
        raise UsageError(f"A latency budget is milliseconds (12, 12ms) or a share of the "
                         f"unpruned model's latency (0.5x), not {text!r}.") from None
    if not value > 0 or (relative and value > 1):
        raise UsageError(f"Budget {text!r}: milliseconds above 0, or a share in (0, 1].")
    return value, relative


DEFAULT_MARGIN = 0.05  # for a table never checked on held-out variants


def auto_margin(table: LatencyTable, metric: str) -> float:
    """How far below the budget to aim: the table's held-out p90 error (drift-corrected, as
    predictions are anchored) of the model that predicts, else :data:`DEFAULT_MARGIN`."""
    method = table.preferred if metric == "p50" else "whole-model"
    checks = [v for v in table.validation if v.metric == metric and v.method == method
              and v.drift_corrected_p90_abs_error_pct is not None]
    if not checks:
        return DEFAULT_MARGIN
    return min(0.25, checks[-1].drift_corrected_p90_abs_error_pct / 100.0)


def budget_plan(opts, table: LatencyTable, budget_ms: float, metric: str, out: Path,
                scale: float = 1.0, about: dict | None = None, margin: float = 0.0
                ) -> tuple[Allocation, Path]:
    """Score the unpruned model (``opts.criterion``, calibration images for data-driven ones),
    allocate to ``budget_ms`` less ``margin`` (a share) with the table's times times ``scale``
    (the device's speed now over the table's session's), and write the plan file ``out``
    (``about``: more of its ``budget`` entry, which the pruned model's spec keeps)."""
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
        table.fit(metric).scaled(scale), {i: imp.heads[i].tolist() for i in range(depth)},
        {i: imp.mlp[i].tolist() for i in range(depth)},
        imp.blocks.tolist() if imp.blocks is not None else [1.0] * depth,
        budget_ms * (1.0 - margin))
    plan = dict(alloc.plan(table.structure.round_to), criterion=criterion)
    plan["budget"] = {"budget_ms": round(budget_ms, 5), "margin": round(margin, 4),
                      "target_ms": round(budget_ms * (1.0 - margin), 5), "metric": metric,
                      "predicted_ms": round(alloc.predicted_ms, 5), "scale": round(scale, 4),
                      "model": table.model, "runtime": table.runtime,
                      "precision": table.precision, "fingerprint": table.fingerprint_key,
                      **(about or {})}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(plan, indent=1))
    return alloc, out


@dataclass
class FinetuneRequest:
    """``--finetune``: distil the budget-pruned model from the unpruned one, as `finetune`."""

    epochs: int
    data: str
    labels: str = "folders"
    split: str | None = None
    limit: int | None = None  # a class-balanced subset of N training images


@dataclass
class BudgetResult:
    budget_ms: float
    metric: str
    allocation: Allocation  # its predicted_ms: with the table's times scaled by ``scale``
    pruned: Path  # the spec + safetensors folder (the fine-tuned one with --finetune)
    plan: Path
    table: Path
    # the device's speed when the budget was allocated over its speed in the table's session,
    # from the unpruned model measured just before (1.0 when the table was built by this run)
    scale: float = 1.0
    anchor_ms: float | None = None
    artifact: Path | None = None  # the pruned model's export folder
    measured_ms: float | None = None
    measured_ci: list[float] | None = None
    # the unpruned model in the final session, and in the table's: the device's drift
    reference_ms: float | None = None
    table_reference_ms: float | None = None
    finetuned_from: Path | None = None
    error: str | None = None

    @property
    def met(self) -> bool | None:
        return None if self.measured_ms is None else self.measured_ms <= self.budget_ms


@dataclass
class Allocated:
    """A budget turned into a plan file on a device, and what it was turned with."""

    table: LatencyTable
    table_path: Path
    allocation: Allocation  # predicted_ms: the table's times scaled by ``scale``
    plan: Path
    budget_ms: float
    # the device's speed when allocating over its speed in the table's session, from the
    # unpruned model measured just before (1.0 when the table was built by this call)
    scale: float
    anchor_ms: float | None
    unpruned: Path  # the unpruned model's export folder


def allocate_on_device(device, opts, req, budget, metric: str, work: Path, settings, say,
                       plan_path: Path | None = None, margin: float | None = None
                       ) -> Allocated:
    """The device's table (cached or built); the unpruned model measured now when the table
    is from an earlier session (the device drifts between sessions: the table's times are
    scaled by now/then); ``budget`` (ms, or "0.5x" of the unpruned model now) less ``margin``
    (None: :func:`auto_margin`) allocated and written as a plan file."""
    from ..manifest import utc_now
    from .build import build_table

    value, relative = parse_budget(budget)
    started = utc_now()
    table, table_path = build_table(device, req, settings, work / "build", progress=say)
    settings.runtimes = (req.runtime,)
    then = table.reference_ms(metric)
    unpruned = export_variant(dataclasses.replace(opts, prune=None), "budget-unpruned", req,
                              work).manifest_path.parent
    scale, anchor = 1.0, None
    if table.built is None or table.built < started:  # a table of an earlier session
        now = measure_session(device, [unpruned], req, settings, work / "results-anchor", say)
        got = now.get("budget-unpruned")
        if got is None or got.latency is None:
            raise UsageError(f"The unpruned model could not be measured on {device.name}: "
                             f"{got.error if got else 'no result'}")
        anchor = _metric(got.latency, metric)
        scale = anchor / then
        say(f"lut: the unpruned model runs {anchor:.3f} ms now, {then:.3f} ms in the table's "
            f"session ({100 * (scale - 1):+.1f} %): the table's times are scaled by "
            f"{scale:.3f}")
    budget_ms = value * (anchor or then) if relative else value
    about = {"asked": str(budget), "unpruned_ms": round(anchor or then, 5),
             "table": str(table_path), "device": device.name}
    why = "as asked" if margin is not None else "no held-out check of the table yet" \
        if not table.validation else "the table's held-out p90 error"
    margin = auto_margin(table, metric) if margin is None else margin
    if not 0 <= margin < 1:
        raise UsageError(f"A budget margin is a share in [0, 1), not {margin!r}.")
    alloc, plan = budget_plan(opts, table, budget_ms, metric,
                              plan_path or work / "budget-plan.json", scale, about, margin)
    say(f"budget {budget_ms:g} ms ({metric}), aiming {100 * margin:.1f} % below it ({why}): "
        f"predicted {alloc.predicted_ms:.3f} ms after "
        f"{alloc.steps} steps; blocks kept {sum(b is not None for b in alloc.config)} of "
        f"{len(alloc.config)}")
    return Allocated(table, table_path, alloc, plan, budget_ms, scale, anchor, unpruned)


def _metric(latency, metric: str) -> float:
    return latency.p50 if metric == "p50" else latency.p90


def prune_to_budget(device, opts, req, budget, metric: str, out: Path | None,
                    work: Path, settings, say, finetune: FinetuneRequest | None = None,
                    margin: float | None = None) -> BudgetResult:
    """:func:`allocate_on_device`, the pruned model saved (and distilled with ``finetune``),
    exported to the runtime's format and profiled on the device beside the unpruned model:
    what was predicted and what was measured."""
    from ..model_options import ModelOptions, default_model_id, load_source_model
    from ..pruning import save_pruned

    done = allocate_on_device(device, opts, req, budget, metric, work, settings, say,
                              margin=margin)
    net, _, spec, warnings = load_source_model(dataclasses.replace(opts, prune=str(done.plan)))
    for w in warnings:
        say(f"warning: {w}")
    out = out or Path("pruned") / default_model_id(opts.name, spec, opts.model_kwargs)
    save_pruned(net, spec, out)
    res = BudgetResult(done.budget_ms, metric, done.allocation, out, done.plan,
                       done.table_path, scale=done.scale, anchor_ms=done.anchor_ms,
                       table_reference_ms=done.table.reference_ms(metric))
    if finetune is not None:
        res.finetuned_from, res.pruned = out, _finetune(out, opts, finetune, say)
    pruned = export_variant(ModelOptions(name=str(res.pruned)), "budget-pruned", req,
                            work).manifest_path.parent
    # the unpruned model is measured beside it: the device's speed now vs when allocated
    results = measure_session(device, [pruned, done.unpruned], req, settings,
                              work / "results", say)
    ref = results.get("budget-unpruned")
    if ref is not None and ref.latency is not None:
        res.reference_ms = _metric(ref.latency, metric)
    got = results.get("budget-pruned")
    if got is None or got.latency is None:
        res.error = got.error if got else f"the pruned model did not export to {req.format}"
        return res
    res.artifact = pruned
    res.measured_ms = _metric(got.latency, metric)
    res.measured_ci = got.latency.p50_ci if metric == "p50" else got.latency.p90_ci
    return res


def _finetune(pruned: Path, opts, ft: FinetuneRequest, say) -> Path:
    """The budget-pruned model distilled from the unpruned one (``finetune``'s defaults)."""
    from ..training import TrainConfig
    from ..training.jobs import DataSpec, finetune_pruned

    folder = pruned.with_name(f"{pruned.name}-kd{ft.epochs}")
    teacher = str(opts.checkpoint) if opts.checkpoint else None
    finetune_pruned(pruned, DataSpec(path=ft.data, split=ft.split, labels=ft.labels,
                                             limit=ft.limit), folder,
                    TrainConfig(epochs=ft.epochs, lr=5e-4, warmup_epochs=0.0), teacher=teacher,
                    progress=say)
    return folder
