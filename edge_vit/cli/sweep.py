"""`edge-vit sweep`: export, profile, evaluate and report a whole grid, resumably."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import SWEEP_UNITS_FAILED_EXIT_CODE
from .app import (
    checkpoint_option,
    console,
    err_console,
    kv_pairs,
    model_arg_option,
    pretrained_option,
    styled,
)


@click.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Grid in TOML/YAML/JSON (keys as SweepConfig); options below override it.")
@click.option("--name", help="Sweep name (output folder sweeps/<name>).")
@click.option("--model", "models", multiple=True, help="timm model; repeatable.")
@model_arg_option
@checkpoint_option
@pretrained_option
@click.option("--prune", "plans", multiple=True,
              help="A pruning plan, or 'none' for the unpruned baseline; repeatable.")
@click.option("--budget", "budgets", multiple=True,
              help="A latency budget to prune to on the first device (12ms, or 0.5x of the "
                   "unpruned p50 there), run next to the plans; repeatable.")
@click.option("--finetune", help="Comma-separated distillation epochs per pruned model; 0 "
              "keeps the model as pruned (e.g. 0,2).")
@click.option("--finetune-data", help="Training images for --finetune (folder or .tar.gz); "
              "never the evaluation data.")
@click.option("--formats", help="Comma-separated formats (default onnx,openvino,tflite).")
@click.option("--precision", "precisions", help="Comma-separated precisions (default fp32).")
@click.option("--device", "devices", multiple=True, help="Inventory device; repeatable.")
@click.option("--inventory", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--data", type=click.Path(path_type=Path),
              help="Evaluation images (ImageNet val layout, class folders with --labels "
                   "folders, or a .tar.gz of either).")
@click.option("--labels", type=click.Choice(["imagenet", "folders"]))
@click.option("--limit", type=int, help="Evaluate a class-balanced subset of N images.")
@click.option("--rounds", type=int, help="Profiling: counted rounds per artifact, at least "
              "(default 5).")
@click.option("--target-ci", type=float, help="Profiling: stop when every p50 interval is "
              "within ± this share (default 0.02).")
@click.option("--max-seconds", type=float, help="Profiling: time budget of each device's "
              "session, counted blocks (default 150).")
@click.option("--out", type=click.Path(path_type=Path), help="Output folder.")
@click.option("--executor", type=click.Choice(["local", "ray"]),
              help="Where units run: local (default; this machine, several at once, a profile "
                   "of this machine's CPU alone) or ray (a Ray cluster; needs edge-vit[ray]).")
@click.option("--jobs", type=click.IntRange(min=1),
              help="local: units at once (default: the machine's cores; 1: one after another).")
@click.option("--ray-address", help="ray: the cluster to join (default $RAY_ADDRESS, else a "
              "Ray started on this machine for the sweep).")
def sweep(config_path, name, models, model_args, checkpoint, pretrained, plans, budgets, finetune,
          finetune_data, formats, precisions, devices, inventory, data, labels, limit,
          rounds, target_ci, max_seconds, out, executor, jobs, ray_address):
    """Run the grid models × pruning plans (× recovery fine-tuning) × formats × precisions ×
    devices: export, profile, evaluate, report. Re-running resumes: finished units are
    skipped. With no options: the shipped CIFAR-10 demo ViT, pruned, distilled, exported to
    every format, profiled here and scored on the shipped test images."""
    from ..sweep import ModelEntry, SweepConfig, demo_config, load_config, run_sweep

    # no config and no model: the embedded demo (its own data); another model starts from
    # the plain defaults, so the demo's CIFAR-10 images are never used to score it
    cfg = load_config(config_path) if config_path else \
        SweepConfig() if models else demo_config()
    kwargs = kv_pairs(model_args)
    if models:
        cfg.models = [ModelEntry(name=m, model_kwargs=dict(kwargs)) for m in models]
    elif kwargs:
        for m in cfg.models:
            m.model_kwargs.update(kwargs)
    for m in cfg.models:
        if checkpoint:
            m.checkpoint = str(checkpoint)
        if pretrained:
            m.pretrained = True if pretrained == "default" else pretrained
    for attr, value in (("name", name), ("inventory", str(inventory) if inventory else None),
                        ("data", str(data) if data else None), ("labels", labels),
                        ("limit", limit), ("out", str(out) if out else None),
                        ("executor", executor), ("jobs", jobs), ("ray_address", ray_address)):
        if value is not None:
            setattr(cfg, attr, value)
    if plans:
        cfg.prune = list(plans)
    if budgets:
        cfg.budget = list(budgets)
    if finetune:
        try:
            cfg.finetune = [int(e) for e in finetune.split(",") if e.strip()]
        except ValueError as exc:
            raise click.BadParameter(f"--finetune takes epoch counts like 0,2: {exc}") from exc
    if finetune_data:
        cfg.finetune_data = finetune_data
    if formats:
        cfg.formats = [f.strip() for f in formats.split(",") if f.strip()]
    if precisions:
        cfg.precisions = [p.strip() for p in precisions.split(",") if p.strip()]
    if devices:
        cfg.devices = list(devices)
    for key, value in (("rounds", rounds), ("target_ci", target_ci),
                       ("max_seconds", max_seconds)):
        if value is not None:
            cfg.profile = {**cfg.profile, key: value}
    summary = run_sweep(cfg, progress=lambda m: err_console.print(m))
    console.print(f"sweep {cfg.name}: {len(summary.ran)} unit(s) run, {len(summary.skipped)} "
                  f"already done, {len(summary.failed)} failed -> {summary.out_dir}")
    for rec in summary.failed:
        console.print(styled("  ", ("failed", "red"), f" {rec.unit}: {rec.error}"))
    for kind, path in summary.report.items():
        console.print(f"  report {kind}: {path}")
    if summary.failed:
        raise SystemExit(SWEEP_UNITS_FAILED_EXIT_CODE)
