"""`edge-vit eval`: accuracy of exported artifacts in their runtimes, against PyTorch."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from ..data.preprocess import UNREADABLE_NOTE
from ..errors import EVAL_FAILED_EXIT_CODE
from .app import console, err_console, styled


@click.command("eval")
@click.argument("artifacts", nargs=-1, type=click.Path(path_type=Path, exists=True))
@click.option("--data", "data_dir", required=True,
              type=click.Path(path_type=Path, exists=True),
              help="Validation images: n01440764/*.JPEG folders, or a flat folder with "
                   "LOC_val_solution.csv or val.txt (with --labels folders: any class "
                   "folders), or a .tar/.tar.gz of one.")
@click.option("--limit", type=int, help="Evaluate a class-balanced subset of N images.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed choosing the --limit subset.")
@click.option("--labels", type=click.Choice(["imagenet", "folders"]), default="imagenet",
              show_default=True, help="imagenet: canonical ImageNet-1k indices; folders: "
                                      "class index = sorted folder order (non-1k models).")
@click.option("--batch", type=int, default=32, show_default=True,
              help="Images per call for PyTorch and dynamic-batch artifacts (fixed-batch "
                   "ones run at their own batch).")
@click.option("--results", "results_dir", type=click.Path(path_type=Path),
              default=Path("results"), show_default=True,
              help="Writes RESULTS/accuracy/<model>/<format>-<precision>-<runtime>.json.")
@click.option("--no-cache", is_flag=True, help="Recompute everything; read and write no cache.")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Cache root (default: $EDGE_VIT_CACHE, else ~/.cache/edge-vit).")
@click.option("--threads", type=int, help="Inference threads (default: the runtime's).")
@click.option("--formats", help="Only these formats (comma-separated).")
@click.option("--ov-precision", type=click.Choice(["default", "f32", "bf16", "f16"]),
              default="default", show_default=True,
              help="OpenVINO inference precision (default: what the plugin picks, recorded).")
@click.option("--device", "device_name",
              help="Also run each artifact on this device of the inventory: this host "
                   "preprocesses the images and sends them as arrays, the device returns the "
                   "logits; shows how many images change their top-1 between the two "
                   "(results: RESULTS/accuracy-on/<device>/).")
@click.option("--inventory", type=click.Path(path_type=Path, dir_okay=False),
              help="Device inventory (TOML) for --device.")
def eval_(artifacts, data_dir, limit, seed, labels, batch, results_dir, no_cache, cache_dir,
          threads, formats, ov_precision, device_name, inventory):
    """Top-1/top-5 of exported ARTIFACTS (default: ./artifacts) on validation images, each
    in the runtime it ships with, and of the PyTorch model they came from."""
    import contextlib

    from ..evaluation import EvalOptions, evaluate_all, load_dataset

    data = load_dataset(data_dir, labels=labels, limit=limit, seed=seed)
    err_console.print(f"data: {len(data.images)} images of {data.num_classes} classes "
                      f"({data.layout}, {data.label_space}) in {data.root}")
    for note in data.notes:
        err_console.print(styled(("note:", "yellow"), f" {note}"))
    options = EvalOptions(batch=batch, threads=threads, ov_precision=ov_precision,
                          use_cache=not no_cache, cache_dir=cache_dir, show_progress=True)
    with contextlib.ExitStack() as stack:
        device = None
        if device_name:
            from devices import get_device_config, open_device

            device = stack.enter_context(open_device(get_device_config(device_name, inventory)))
        results = evaluate_all(artifacts or (Path("artifacts"),), data, options=options,
                               results_dir=results_dir, formats=[
                                   f.strip() for f in formats.split(",")] if formats else None,
                               on_result=_say, device=device)
    print_accuracy(results)
    if device_name:
        print_changes(results, device_name)
    console.print(f"results: {results_dir / 'accuracy'}")
    if any(r.status != "ok" for r in results):
        raise SystemExit(EVAL_FAILED_EXIT_CODE)


def _say(result) -> None:
    a = result.artifact
    what = f"{a.model_id} {a.format}/{a.precision} on {result.runtime}" + (
        f" @ {result.device}" if result.device else "")
    if result.status != "ok":
        err_console.print(styled((f"{what}: failed:", "red"), f" {result.error}"))
    else:
        err_console.print(f"{what}: top-1 {result.top1:.2f}%"
                          f"{' (cached)' if result.cached else ''}")


def _pct(v, digits=2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def print_accuracy(results) -> None:
    t = Table(title="accuracy (top-1/top-5 in %, drop in points vs PyTorch)")
    for col in ("model", "artifact", "runtime", "where", "ran as", "top-1 [95% CI]", "top-5",
                "agreement", "drop", "img/s", "flag"):
        t.add_column(col, no_wrap=col != "model", overflow="fold")
    notes = set()
    for r in results:
        a = r.artifact
        flag = ""
        if r.status != "ok":
            flag = f"{r.status.upper()}: {(r.error or '')[:60]}"
        elif r.flagged:
            flag = "FLAGGED"
        if r.cached:
            flag = (flag + " cached").strip()
        ci = f" [{r.top1_ci[0]:.1f}, {r.top1_ci[1]:.1f}]" if r.top1_ci else ""
        rate = r.total / r.seconds if r.seconds and r.total else None
        t.add_row(a.model_id or "-", f"{a.format}/{a.precision}", r.runtime,
                  r.device or "host", r.inference_precision or "-",
                  (_pct(r.top1) + ci) if r.top1 is not None else "-", _pct(r.top5),
                  "-" if r.agreement_with_reference is None
                  else f"{r.agreement_with_reference:.1%}",
                  "-" if r.drop_vs_reference is None else f"{r.drop_vs_reference:+.2f}",
                  _pct(rate, 1), flag)
        # said again for results served from the cache: the images were not decoded this time
        notes.update(n for n in r.notes if n.startswith("RANDOM") or UNREADABLE_NOTE in n)
        if r.flag_reason:
            notes.add(f"{a.model_id} {a.format}/{a.precision}: {r.flag_reason}")
    console.print(t)
    for n in sorted(notes):
        console.print(styled(("note:", "yellow"), f" {n}"))


def print_changes(results, device_name: str) -> None:
    """Per artifact: the images whose top-1 class differs between the device and this host."""
    t = Table(title=f"top-1 on {device_name} vs this host (same artifact, same images)")
    for col in ("model", "artifact", "ran as", "top-1 there", "top-1 here", "changed",
                "images"):
        t.add_column(col, overflow="fold")
    for r in results:
        if not r.device:
            continue
        a = r.artifact
        changed = "-" if r.changed_vs_host is None else \
            f"{r.changed_vs_host} of {r.total} ({r.changed_vs_host / max(r.total, 1):.1%})"
        t.add_row(a.model_id or "-", f"{a.format}/{a.precision} {r.runtime}",
                  r.inference_precision or "-", _pct(r.top1), _pct(r.host_top1), changed,
                  ", ".join(r.changed_vs_host_images[:10])
                  + (" ..." if len(r.changed_vs_host_images) > 10 else ""))
    console.print(t)
    for r in results:
        if r.device and r.status != "ok":
            console.print(styled(("failed on the device:", "red"), f" {r.error}"))
