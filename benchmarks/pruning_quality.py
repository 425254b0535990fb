"""Top-1 of the demo model pruned at the same MACs by each importance criterion and allocation.

On the shipped CIFAR-10 demo ViT, at heads 50 % / MLP 50 % (uniform: every block alike;
global: the same counts allocated across blocks by importance, so the same MACs up to the
rounding of MLP widths), no fine-tuning: importance is scored on the *train* slice (its
labels, ``--importance-size`` images), top-1 on the 2,000-image *test* slice only. Each mode
is compared with uniform magnitude on the same images: the paired difference and its standard
error (per-image correct/incorrect), so a difference inside about 2 SE is noise. Torch-Pruning
is compared too when it is installed (``pip install 'edge-vit[bench]'``, a benchmark-only
dependency): its L2 magnitude, Taylor and isomorphic (global) Taylor, removing the same share
of heads (``prune_num_heads``) and MLP channels (fc1 / qkv groups only, so the embedding width
stays), scored on the same labelled images.

Then every pruned model is distilled from the unpruned one for the same ``--epochs`` (2) on the
train slice, with ``edge-vit finetune``'s defaults and loop (lr 5e-4, no warm-up, T 4, alpha
0.7, augmentation, seed 0), and scored again on the test slice: "after" is comparable across
rows because every row gets the very same recipe and images. Paired differences are also
given against Torch-Pruning's isomorphic Taylor, the reference the issue names.

    .venv/bin/python benchmarks/pruning_quality.py [--importance-size 256] [--ratio 0.5] \
        [--epochs 2 | 0 to skip fine-tuning]
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def test_set(model):
    from edge_vit import demo
    from edge_vit.complexity import model_input_size
    from edge_vit.data.datasets import load_dataset
    from edge_vit.data.images import data_config
    from edge_vit.data.preprocess import prepare

    data = load_dataset(demo.TEST_SLICE, labels="folders")
    prepared = prepare(data, data_config(model, model_input_size(model)))
    return prepared.batch(0, len(prepared)), prepared.labels


def correct(model, x, y) -> np.ndarray:
    import torch

    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(x), 200):
            out.append(model(torch.from_numpy(x[i:i + 200])).argmax(1).numpy())
    return np.concatenate(out) == y


def paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(difference of top-1 in points, its standard error) of two modes on the same images."""
    d = a.astype(float) - b.astype(float)
    return 100 * d.mean(), 100 * d.std(ddof=1) / math.sqrt(len(d))


def torch_pruning_rows(base, x, y, size, full_macs, args) -> list:
    """Torch-Pruning's pruners on copies of the same model, at the same head and MLP shares,
    Taylor scored on the same labelled images edge-vit's Taylor uses."""
    import copy

    import torch
    import torch_pruning as tp
    from timm.models.vision_transformer import Attention

    from edge_vit import demo
    from edge_vit.complexity import count_macs
    from edge_vit.model_options import ModelOptions, importance_batches

    batches, _ = importance_batches(base, ModelOptions(
        name=demo.DEMO_MODEL, calib_dir=demo.TRAIN_SLICE, importance_size=args.importance_size))
    rows = []
    for label, make, extra in (
            ("magnitude (L2)", lambda: tp.importance.GroupMagnitudeImportance(p=2), {}),
            ("taylor", tp.importance.GroupTaylorImportance, {}),
            ("isomorphic taylor", tp.importance.GroupTaylorImportance,
             {"global_pruning": True, "isomorphic": True})):
        t0 = time.perf_counter()
        model = copy.deepcopy(base).eval()
        attns = [m for m in model.modules() if isinstance(m, Attention)]
        imp = make()
        ratios = {**{b.mlp.fc1: args.ratio for b in model.blocks},
                  **{b.attn.qkv: args.ratio for b in model.blocks}}
        pruner = tp.pruner.MetaPruner(
            model, torch.randn(1, *size), importance=imp, pruning_ratio=0.0,
            pruning_ratio_dict=ratios, num_heads={m.qkv: m.num_heads for m in attns},
            prune_num_heads=True, prune_head_dims=False, head_pruning_ratio=args.ratio,
            ignored_layers=[model.head], round_to=8, **extra)
        if isinstance(imp, tp.importance.GroupTaylorImportance):
            model.zero_grad()
            for xb, yb in batches:
                torch.nn.functional.cross_entropy(model(xb), yb).backward()
        pruner.step()
        for m in attns:  # timm's Attention reads these in forward
            m.num_heads = pruner.num_heads[m.qkv]
            m.head_dim = m.qkv.out_features // (3 * m.num_heads)
            if hasattr(m, "attn_dim"):
                m.attn_dim = m.num_heads * m.head_dim
        rows.append((f"Torch-Pruning {label}", model, count_macs(model, (1, *size)).macs,
                     time.perf_counter() - t0))
    return rows


def distil(model, teacher, epochs: int):
    """``model`` after ``edge-vit finetune``'s recipe for ``epochs`` on the train slice, and
    the seconds it took (a copy is trained; the pruned model itself is kept)."""
    import copy
    import tempfile

    from edge_vit import demo
    from edge_vit.complexity import model_input_size
    from edge_vit.data.images import data_config
    from edge_vit.training import TrainConfig
    from edge_vit.training.data import load_split
    from edge_vit.training.loop import train

    student = copy.deepcopy(model)
    data = load_split(demo.TRAIN_SLICE, data_config(student, model_input_size(student)))
    cfg = TrainConfig(epochs=epochs, lr=5e-4, warmup_epochs=0.0, threads=2, seed=0)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        train(student, data, None, cfg, Path(out), teacher=teacher, restart=True,
              progress=lambda m: None)
    return student.eval(), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ratio", type=float, default=0.5, help="share of heads and MLP channels")
    ap.add_argument("--importance-size", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=2, help="distillation epochs (0: none)")
    args = ap.parse_args()
    args.plan = f"heads={args.ratio},mlp={args.ratio}"

    import torch

    from edge_vit import demo
    from edge_vit.complexity import count_macs, model_input_size
    from edge_vit.model_options import ModelOptions, load_source_model

    torch.set_num_threads(2)
    base, *_ = load_source_model(ModelOptions(name=demo.DEMO_MODEL))
    x, y = test_set(base)
    size = model_input_size(base)
    full_macs = count_macs(base, (1, *size)).macs
    rows = [("unpruned", base, full_macs, 0.0)]
    for criterion in ("magnitude", "taylor"):
        for allocate in ("uniform", "global"):
            t0 = time.perf_counter()
            net, _, spec, _ = load_source_model(ModelOptions(
                name=demo.DEMO_MODEL, prune=f"{args.plan},criterion={criterion},"
                f"allocate={allocate}", calib_dir=demo.TRAIN_SLICE,
                importance_size=args.importance_size))
            label = f"edge-vit {criterion} {allocate}"
            if spec.importance_data:
                label += f" ({spec.importance_data['images']} images, labels " \
                         f"{spec.importance_data['labels'].split(':')[0]})"
            rows.append((label, net, count_macs(net, (1, *size)).macs,
                         time.perf_counter() - t0))
    if importlib.util.find_spec("torch_pruning") is None:
        note = "Torch-Pruning: not installed (pip install 'edge-vit[bench]') - not compared"
    else:
        rows += torch_pruning_rows(base, x, y, size, full_macs, args)
        from importlib.metadata import version

        note = f"Torch-Pruning {version('torch-pruning')} (its module says its own __version__)"
    scored = []  # label, MACs, [(correct before, seconds), (after, seconds)]
    for label, model, macs, secs in rows:
        stages = [(correct(model, x, y), secs)]
        if args.epochs and model is not base:
            tuned, tsecs = distil(model, base, args.epochs)
            stages.append((correct(tuned, x, y), tsecs))
        scored.append((label, macs, stages))
        print(f"  done: {label}", file=sys.stderr)
    iso = next((s for s in scored if s[0].endswith("isomorphic taylor")), None)
    print(f"demo model {demo.DEMO_MODEL}, plan {args.plan}; test slice {len(y)} images; "
          f"importance from the train slice; differences paired (per-image) with their SE")
    stage_names = ["before fine-tuning"] + ([f"after {args.epochs}-epoch distillation from "
                                             "the unpruned model"] if args.epochs else [])
    for k, stage in enumerate(stage_names):
        ref = scored[1][2][k][0]  # uniform magnitude
        print(f"\n{stage}")
        print(f"{'mode':<58} {'top-1 %':>8} {'MACs':>7} {'vs mag.':>8} {'SE':>5}"
              + (f" {'vs TP iso':>9} {'SE':>5}" if iso else "") + f" {'s':>6}")
        for label, macs, stages in scored:
            if k >= len(stages):
                continue
            ok, secs = stages[k]
            diff, se = paired(ok, ref)
            line = f"{label:<58} {100 * ok.mean():8.2f} {macs / full_macs:6.1%} {diff:+8.2f} " \
                   f"{se:5.2f}"
            if iso:
                d2, se2 = paired(ok, iso[2][k][0])
                line += f" {d2:+9.2f} {se2:5.2f}"
            print(line + f" {secs:6.1f}")
    print("\nA difference within about 2 SE (some 1.5-2.5 points here) is noise, not a win.")
    print(note)


if __name__ == "__main__":
    main()
