"""`edge-vit train` (a model from scratch, e.g. the shipped demo) and `edge-vit finetune`
(recover a pruned model's accuracy by distillation from the unpruned teacher)."""

from __future__ import annotations

from pathlib import Path

import click

from .app import console, err_console, kv_pairs, model_arg_option


def _training_options(epochs: int, lr: float, warmup: float):
    opts = [
        click.option("--data", required=True, help="Image folder (one sub-folder per class, "
                     "or ImageNet val layout) or a .tar/.tar.gz of one."),
        click.option("--split", help="Sub-folder of --data to train on (e.g. train)."),
        click.option("--val-data", help="Validation images (default: --data with --val-split)."),
        click.option("--val-split", help="Sub-folder holding validation images (e.g. test)."),
        click.option("--labels", type=click.Choice(["folders", "imagenet"]), default="folders",
                     show_default=True, help="Class indices: sorted folders, or ImageNet-1k."),
        click.option("--limit", type=click.IntRange(min=1), help="Class-balanced subset of N "
                     "training images."),
        click.option("--val-limit", type=click.IntRange(min=1)),
        click.option("--epochs", type=click.IntRange(min=1), default=epochs, show_default=True),
        click.option("--batch-size", type=click.IntRange(min=1), default=128,
                     show_default=True),
        click.option("--lr", type=float, default=lr, show_default=True,
                     help="Peak AdamW learning rate (cosine schedule)."),
        click.option("--weight-decay", type=float, default=0.05, show_default=True),
        click.option("--warmup-epochs", type=float, default=warmup, show_default=True),
        click.option("--label-smoothing", type=float, default=0.1, show_default=True),
        click.option("--no-augment", is_flag=True, help="No random crop / flip."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--threads", type=click.IntRange(min=1), help="torch CPU threads."),
        click.option("--device", "torch_device", default="cpu", show_default=True,
                     help="torch device to train on (cpu, cuda, cuda:1, ...)."),
        click.option("--restart", is_flag=True, help="Ignore a checkpoint in --out; start over."),
    ]

    def wrap(fn):
        for opt in reversed(opts):
            fn = opt(fn)
        return fn
    return wrap


def _config(kw: dict, **extra):
    from ..training import TrainConfig

    return TrainConfig(epochs=kw["epochs"], batch_size=kw["batch_size"], lr=kw["lr"],
                       min_lr=min(1e-5, kw["lr"]), weight_decay=kw["weight_decay"],
                       warmup_epochs=kw["warmup_epochs"], label_smoothing=kw["label_smoothing"],
                       augment=not kw["no_augment"], seed=kw["seed"], threads=kw["threads"],
                       device=kw["torch_device"],
                       **extra)


def _data(kw: dict):
    from ..training.jobs import DataSpec

    return DataSpec(path=kw["data"], split=kw["split"], labels=kw["labels"], limit=kw["limit"],
                    val_path=kw["val_data"], val_split=kw["val_split"],
                    val_limit=kw["val_limit"])


def _say(message: str) -> None:
    err_console.print(message)


@click.command("train")
@click.argument("model", required=False)
@model_arg_option
@click.option("--out", type=click.Path(path_type=Path), help="Output folder (default: "
              "runs/<model>); holds the checkpoint, so re-running resumes.")
@_training_options(epochs=30, lr=1e-3, warmup=1.0)
def train_cmd(model, model_args, out, **kw):
    """Train MODEL (default: the demo ViT, vit_demo_cifar10) from random init on labelled
    images; checkpoints every epoch and resumes. Writes model.safetensors and
    train_report.json, ready for `edge-vit export MODEL --checkpoint OUT/model.safetensors`."""
    from ..demo import DEMO_MODEL
    from ..training.jobs import train_from_scratch

    model = model or DEMO_MODEL
    out = out or Path("runs") / model
    report = train_from_scratch(model, kv_pairs(model_args), _data(kw), out, _config(kw),
                                restart=kw["restart"], progress=_say, show_bar=True)
    r = report.result
    val = f"{r.val_top1:.2f} % top-1 on {report.val_data.num_images} images" \
        if r.val_top1 is not None else "no validation data"
    console.print(f"{model}: {r.epochs_done} epochs in {r.seconds / 60:.1f} min of training, "
                  f"{val} -> {out / report.weights_file}")


@click.command("finetune")
@click.argument("pruned", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--teacher", help="Unpruned teacher: a checkpoint file, a pruned-model folder or "
              "a timm name (default: the weights PRUNED was cut from, when available).")
@click.option("--teacher-pretrained", is_flag=False, flag_value="default", default=None,
              help="With a timm name: load timm's pretrained weights (optionally a tag).")
@click.option("--temperature", type=float, default=4.0, show_default=True,
              help="Distillation temperature.")
@click.option("--alpha", type=float, default=0.7, show_default=True,
              help="Weight of the teacher's soft targets; 1-alpha goes to the labels.")
@click.option("--out", type=click.Path(path_type=Path), help="Output folder (default: "
              "PRUNED-ft<epochs>).")
@_training_options(epochs=3, lr=5e-4, warmup=0.0)
def finetune_cmd(pruned, teacher, teacher_pretrained, temperature, alpha, out, **kw):
    """Recover PRUNED's accuracy by knowledge distillation from its unpruned teacher. Writes a
    pruned-model folder (same prune spec, new weights) that `edge-vit export` takes."""
    from ..training.jobs import finetune_pruned

    pruned = pruned.resolve()  # "." has no name to derive --out from
    out = out or pruned.with_name(f"{pruned.name}-ft{kw['epochs']}")
    tp = None if teacher_pretrained is None else (
        True if teacher_pretrained == "default" else teacher_pretrained)
    report = finetune_pruned(pruned, _data(kw), out,
                             _config(kw, kd_temperature=temperature, kd_alpha=alpha),
                             teacher=teacher, teacher_pretrained=tp, restart=kw["restart"],
                             progress=_say, show_bar=True)
    r = report.result
    if r.val_top1 is not None:
        before = report.started_from.get("val_top1")
        console.print(f"top-1 {before:.2f} % -> {r.val_top1:.2f} % after {r.epochs_done} "
                      f"epoch(s) (teacher {r.teacher_val_top1:.2f} %) -> {out}")
    else:
        console.print(f"{r.epochs_done} epoch(s) of distillation -> {out}")
