"""The model commands: export, info, prune, models, and doctor (what is installed)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from .. import __version__
from ..errors import (
    ExportError,
    ValidationError,
)
from ..models import DEFAULT_MODEL
from .app import (
    console,
    csv_list,
    err_console,
    kv_pairs,
    model_options,
    pruning_options,
    styled,
)


@click.command()
@click.argument("model", default=DEFAULT_MODEL)
@model_options
@click.option("--prune", help="Uniform ratios like heads=0.34,mlp=0.5,depth=0.25, or a JSON/"
                              "YAML per-layer plan file.")
@pruning_options
@click.option("--formats", default="onnx,openvino,tflite", show_default=True)
@click.option("--precision", "precisions", default="fp32,fp16", show_default=True,
              help="fp32, fp16, int8 (static/full-integer, needs --calib), int8-dynamic "
                   "(ONNX, TFLite), int8-mixed (TFLite: int8 but attention products, Softmax "
                   "and LayerNorm in float32, needs --calib); each format makes the ones it "
                   "offers (ONNX always fp32).")
@click.option("--opset", type=int, default=17, show_default=True,
              help="ONNX opset, 14..20.")
@click.option("--int8-weight-bits", type=click.Choice(["7", "8"]), default="7",
              show_default=True, help="int8 weight range. 7 runs the same on every x86 CPU; 8 "
              "only for VNNI or ARM targets (x86 without VNNI saturates, losing accuracy).")
@click.option("--batch", type=int, default=1, show_default=True)
@click.option("--dynamic-batch", is_flag=True, help="Dynamic batch axis (ONNX, OpenVINO).")
@click.option("--tflite-layout", type=click.Choice(["NHWC", "NCHW"]), default="NHWC",
              show_default=True, help="Input layout of the TFLite model.")
@click.option("--out", "out_root", type=click.Path(path_type=Path), default=Path("artifacts"),
              show_default=True)
@click.option("--id", "model_id", help="Folder name under --out (default: derived).")
@click.option("--parity-inputs", type=int, default=4, show_default=True)
@click.option("--parity-images", type=click.Path(path_type=Path),
              help="Real images for the parity check (default: --calib, else random).")
@click.option("--val-data", "val_dir", type=click.Path(path_type=Path),
              help="Labelled images for OpenVINO int8's accuracy-controlled mode (with "
                   "--max-drop); never the calibration images.")
@click.option("--val-labels", type=click.Choice(["imagenet", "folders"]), default="imagenet",
              show_default=True, help="Class indices of --val-data.")
@click.option("--val-size", type=click.IntRange(min=1), default=300, show_default=True,
              help="How many --val-data images (class-balanced) NNCF validates on.")
@click.option("--max-drop", type=float, help="OpenVINO int8: NNCF keeps layers in fp32 until "
              "top-1 on --val-data drops by at most this many points.")
def export(model, pretrained, checkpoint, model_args, seed, prune, criterion, round_to,
           calib_dir, calib_size, importance_size, calib_labels, formats, precisions, opset,
           int8_weight_bits, batch, dynamic_batch, tflite_layout, out_root, model_id,
           parity_inputs, parity_images, val_dir, val_labels, val_size, max_drop):
    """Export MODEL (a timm name or a pruned-model folder; default deit_tiny_patch16_224)
    to checked ONNX, OpenVINO IR and TFLite artifacts under artifacts/<model-id>/."""
    from exporters.onnx_export import OnnxOptions
    from exporters.openvino_export import OpenVinoOptions
    from exporters.tflite_export import TFLiteOptions

    from ..export import ExportOptions, run_export
    from ..model_options import ModelOptions

    source = ModelOptions(name=model, pretrained=pretrained, checkpoint=checkpoint,
                          model_kwargs=kv_pairs(model_args), prune=prune, criterion=criterion,
                          round_to=round_to, calib_dir=calib_dir, calib_size=calib_size,
                          importance_size=importance_size, calib_labels=calib_labels, seed=seed)
    bits = int(int8_weight_bits)
    chosen = {"onnx": OnnxOptions(int8_weight_bits=bits),
              "openvino": OpenVinoOptions(int8_weight_bits=bits, val_dir=val_dir,
                                          val_labels=val_labels, val_size=val_size,
                                          max_drop=max_drop),
              "tflite": TFLiteOptions(layout=tflite_layout)}
    formats = csv_list(formats)
    opts = ExportOptions(
        model=source, formats=formats, precisions=csv_list(precisions), opset=opset,
        batch=batch, dynamic_batch=dynamic_batch, out_root=out_root, model_id=model_id,
        parity_inputs=parity_inputs, parity_images=parity_images,
        format_options={f: o for f, o in chosen.items()
                        if f in formats or (f == "openvino" and max_drop is not None)})
    result = run_export(opts, progress=lambda m: err_console.print(m))
    _print_manifest(result.manifest, result.manifest_path)
    if result.failed:
        names = ", ".join(f"{a.format}/{a.precision}: {a.status}" for a in result.failed)
        err_console.print(styled((f"{len(result.failed)} artifact(s) not usable:", "bold red"),
                                 f" {names}"))
        for a in result.kept:
            err_console.print(f"kept the earlier good {a.format}/{a.precision} ({a.path}); the "
                              "failed attempt is in the manifest as its failed_attempt")
        sys.exit(ValidationError.exit_code if all(a.status == "validation_failed"
                                                  for a in result.failed)
                 else ExportError.exit_code)


def _num(value, fmt: str) -> str:
    """A figure, or '-' when it was not measured (None, or NaN from a failed run)."""
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return format(value, fmt)


def _print_manifest(manifest, path: Path) -> None:
    m = manifest.model
    title = (f"{m.id}  ·  {m.params / 1e6:.2f} M params  ·  {m.macs / 1e9:.3f} GMACs  ·  "
             f"weights: {m.source.weights.kind}")
    table = Table(title=title)
    for col in ("format", "prec", "ran", "status", "MB", "max|Δ|", "cosine", "top-1",
                "export s"):
        table.add_column(col, no_wrap=True)
    for a in manifest.artifacts:
        p = a.parity
        table.add_row(
            a.format, a.precision, str(a.runtime.get("inference_precision", "-")),
            styled((a.status, "green" if a.status == "ok" else "red")),
            f"{a.size_bytes / 1e6:.2f}" if a.size_bytes else "-",
            _num(p and p.max_abs_diff, ".1e"), _num(p and p.min_cosine, ".6f"),
            _num(p and p.top1_agreement, ".0%"),
            f"{a.export_seconds:.1f}" if a.export_seconds is not None else "-")
    console.print(table)
    for a in manifest.artifacts:
        console.print(f"  {a.format}/{a.precision}: {a.path or a.error}")
    console.print(f"manifest: {path}")


@click.command()
@click.argument("model", default=DEFAULT_MODEL)
@model_options
@click.option("--prune", help="Show the model after this pruning plan.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def info(model, pretrained, checkpoint, model_args, seed, prune, as_json):
    """Params, MACs (attention included), depth, heads, widths and input config of MODEL."""
    from ..complexity import count_macs, describe, model_input_size
    from ..data.images import data_config
    from ..model_options import ModelOptions, load_source_model
    from ..serialization import dumps

    opts = ModelOptions(name=model, pretrained=pretrained, checkpoint=checkpoint,
                        model_kwargs=kv_pairs(model_args), prune=prune, seed=seed)
    net, source, spec, warnings = load_source_model(opts)
    for w in warnings:
        err_console.print(f"warning: {w}")
    size = model_input_size(net)
    comp = count_macs(net, (1, *size))
    arch = describe(net)
    if as_json:
        console.print_json(dumps({"model": source.name, "params": comp.params,
                                  "macs": comp.macs, "macs_by_kind": comp.macs_by_kind,
                                  "architecture": arch, "data_config": data_config(net, size)}))
        return
    t = Table(title=f"{source.name}{' (pruned)' if spec else ''}", show_header=False)
    t.add_row("params", f"{comp.params:,} ({comp.params / 1e6:.2f} M)")
    t.add_row("MACs", f"{comp.macs:,} ({comp.gmacs:.3f} G) at batch 1")
    t.add_row("  of which", ", ".join(f"{k} {v / 1e9:.3f} G" for k, v in comp.macs_by_kind.items()))
    t.add_row("family / depth", f"{arch.family} / {arch.depth}")
    t.add_row("embed dim", str(arch.embed_dim))
    t.add_row("heads per block", _compact(arch.heads))
    t.add_row("head dim", _compact(arch.head_dim))
    t.add_row("MLP hidden per block", _compact(arch.mlp_hidden))
    t.add_row("input", f"{list(arch.input_size)} (patch {arch.patch_size})")
    t.add_row("classes", str(arch.num_classes))
    t.add_row("weights", source.weights.kind)
    console.print(t)


def _compact(values: list[int]) -> str:
    return f"{values[0]} × {len(values)}" if len(set(values)) == 1 else str(values)


@click.command()
@click.argument("model", default=DEFAULT_MODEL)
@model_options
@click.option("--prune", help="heads=0.34,mlp=0.5,depth=0.25 or a plan file.")
@click.option("--budget-ms", type=click.FloatRange(min=0, min_open=True),
              help="Instead of --prune: the latency to reach on --device, measured there "
                   "(a latency table of MODEL, built or reused; see `edge-vit lut`).")
@click.option("--device", "device_name", default="local", show_default=True,
              help="--budget-ms: the device whose latency counts.")
@click.option("--inventory", type=click.Path(path_type=Path, dir_okay=False),
              help="Device inventory (TOML), as for `edge-vit profile`.")
@click.option("--runtime", default="onnxruntime", show_default=True,
              type=click.Choice(["onnxruntime", "openvino", "litert"]),
              help="--budget-ms: the runtime whose latency counts.")
@click.option("--precision", default="fp32", show_default=True)
@click.option("--metric", type=click.Choice(["p50", "p90"]), default="p50", show_default=True)
@click.option("--work", type=click.Path(path_type=Path), default=Path("lut-work"),
              show_default=True, help="--budget-ms: where tables, artifacts, results go.")
@click.option("--margin", type=click.FloatRange(0, 1, max_open=True),
              help="--budget-ms: aim this share below the budget (default: the table's "
                   "held-out p90 error after `lut check`, else 0.05; 0: at the budget).")
@click.option("--finetune", type=click.IntRange(min=1), help="--budget-ms: distil the pruned "
              "model from the unpruned one for N epochs (as `edge-vit finetune`) before it is "
              "exported and measured.")
@click.option("--finetune-data", help="--finetune: training images (folder or .tar.gz; "
              "default: the demo's train slice for the demo model).")
@click.option("--finetune-labels", type=click.Choice(["folders", "imagenet"]),
              default="folders", show_default=True)
@click.option("--finetune-limit", type=click.IntRange(min=1),
              help="--finetune: a class-balanced subset of N training images.")
@pruning_options
@click.option("--out", type=click.Path(path_type=Path), help="Output folder (default: "
                                                             "pruned/<model>-pruned-<hash>).")
def prune(model, pretrained, checkpoint, model_args, seed, prune, budget_ms, device_name,
          inventory, runtime, precision, metric, work, margin, finetune, finetune_data,
          finetune_labels, finetune_limit, criterion, round_to, calib_dir, calib_size, importance_size,
          calib_labels, out):
    """Prune MODEL and save it as a spec + safetensors folder that `export` accepts: by a plan
    (--prune), or to a latency budget on a device (--budget-ms: greedy latency-aware global
    allocation of heads, MLP channels and blocks against the device's latency table, then
    exported, profiled there, and predicted vs measured latency printed). A table from an
    earlier session is first scaled by the unpruned model's latency now over then."""
    from ..complexity import count_macs, model_input_size
    from ..model_options import ModelOptions, default_model_id, load_source_model
    from ..models import build_model
    from ..pruning import save_pruned

    if (prune is None) == (budget_ms is None):
        raise click.UsageError("Pass one of --prune and --budget-ms.")
    opts = ModelOptions(name=model, pretrained=pretrained, checkpoint=checkpoint,
                        model_kwargs=kv_pairs(model_args), prune=prune, criterion=criterion,
                        round_to=round_to, calib_dir=calib_dir, calib_size=calib_size,
                        importance_size=importance_size, calib_labels=calib_labels, seed=seed)
    if budget_ms is not None:
        return _prune_to_budget(opts, budget_ms, device_name, inventory, runtime, precision,
                                metric, work, out, _finetune_request(
                                    model, finetune, finetune_data, finetune_labels,
                                    finetune_limit), margin)
    if finetune:
        raise click.UsageError("--finetune goes with --budget-ms; after --prune run "
                               "`edge-vit finetune` on the saved folder.")
    net, source, spec, warnings = load_source_model(opts)
    for w in warnings:
        err_console.print(f"warning: {w}")
    out = out or Path("pruned") / default_model_id(model, spec, opts.model_kwargs)
    save_pruned(net, spec, out)
    size = model_input_size(net)
    before, _ = build_model(source.name, model_kwargs=source.model_kwargs)
    a, b = count_macs(before, (1, *size)), count_macs(net, (1, *size))
    console.print(f"params {a.params / 1e6:.2f} M -> {b.params / 1e6:.2f} M, "
                  f"MACs {a.gmacs:.3f} G -> {b.gmacs:.3f} G ({b.macs / a.macs:.0%})")
    console.print(f"saved: {out}  (export it with: edge-vit export {out})")


def _finetune_request(model, epochs, data, labels, limit):
    from ..demo import DEMO_MODEL, TRAIN_SLICE
    from ..lut.budget import FinetuneRequest

    if not epochs:
        if data:
            raise click.UsageError("--finetune-data needs --finetune N.")
        return None
    if data is None and model != DEMO_MODEL:
        raise click.UsageError("--finetune needs --finetune-data (training images).")
    return FinetuneRequest(epochs, str(data or TRAIN_SLICE), labels, limit=limit)


def _prune_to_budget(opts, budget_ms, device_name, inventory, runtime, precision, metric,
                     work, out, finetune, margin) -> None:
    from devices import get_device_config, open_device

    from ..lut.budget import prune_to_budget
    from ..lut.build import TableRequest
    from ..profiling import ProfileSettings

    req = TableRequest(opts.name, opts.model_kwargs, runtime, precision,
                       opts.round_to or 8)
    with open_device(get_device_config(device_name, inventory)) as device:
        res = prune_to_budget(device, opts, req, budget_ms, metric, out, work,
                              ProfileSettings(), lambda m: err_console.print(m), finetune,
                              margin)
    blocks = [b for b in res.allocation.config if b is not None]
    console.print(f"pruned to {len(blocks)} of {len(res.allocation.config)} blocks, heads "
                  f"{[b[0] for b in blocks]}, MLP {[b[1] for b in blocks]}")
    console.print(f"saved: {res.pruned}  (plan {res.plan}, table {res.table})")
    if res.finetuned_from is not None:
        console.print(f"distilled for {finetune.epochs} epoch(s) from the unpruned model: "
                      f"{res.finetuned_from} -> {res.pruned}")
    if res.measured_ms is None:
        raise ExportError(f"The budget-pruned model could not be measured: {res.error}")
    ci = f" [{res.measured_ci[0]:.3f}, {res.measured_ci[1]:.3f}]" if res.measured_ci else ""
    verdict = "MET" if res.met else "MISSED"
    console.print(f"{metric} on {device_name} ({runtime} {precision}): predicted "
                  f"{res.allocation.predicted_ms:.3f} ms, measured {res.measured_ms:.3f} ms{ci}; "
                  f"budget {budget_ms:g} ms {verdict}")
    if res.reference_ms and res.table_reference_ms:
        # the unpruned model's latency when the budget was allocated: the anchor (or the
        # table's session when it was built just now)
        then = res.anchor_ms or res.table_reference_ms
        when = "just before allocating" if res.anchor_ms else "in the table's session"
        console.print(f"the unpruned model: {res.table_reference_ms:.3f} ms in the table's "
                      f"session, {then:.3f} ms {when}, {res.reference_ms:.3f} ms beside the "
                      f"pruned one; pruned/unpruned predicted {res.allocation.predicted_ms / then:.3f},"
                      f" measured {res.measured_ms / res.reference_ms:.3f}")
        # the budget as a share of the unpruned model, held against the same-session ratio
        share = budget_ms / then
        met = res.measured_ms / res.reference_ms <= share
        console.print(f"relative to the unpruned model measured beside it: budget "
                      f"{share:.3f} of it, reached {res.measured_ms / res.reference_ms:.3f}: "
                      f"{'MET' if met else 'MISSED'} once the device's drift is taken out")
    if not res.met:
        sys.exit(1)


@click.command()
@click.argument("pattern", default="*")
def models(pattern):
    """List supported timm model names (optionally matching PATTERN, e.g. 'deit_*')."""
    from ..models import supported_models

    for name in supported_models(pattern):
        console.print(name)


@click.command()
def doctor():
    """Which converters and runtimes are importable here, and what to install for the rest."""
    from ..doctor import check_components, host_summary

    host = host_summary()
    console.print(f"edge-vit {__version__} · Python {host['python']} · {host['platform']}")
    t = Table()
    for col in ("component", "status", "version", "purpose", "to install"):
        t.add_column(col)
    for c in check_components():
        t.add_row(c.module, styled(("ok", "green")) if c.available else styled(("missing", "red")),
                  c.version or "-", c.purpose, "" if c.available else c.install)
    console.print(t)


