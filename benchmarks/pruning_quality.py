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

    .venv/bin/python benchmarks/pruning_quality.py [--importance-size 256] [--ratio 0.5]
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
        rows.append((f"Torch-Pruning {label}", correct(model, x, y),
                     count_macs(model, (1, *size)).macs, time.perf_counter() - t0))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ratio", type=float, default=0.5, help="share of heads and MLP channels")
    ap.add_argument("--importance-size", type=int, default=256)
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
    rows = [("unpruned", correct(base, x, y), full_macs, 0.0)]
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
            rows.append((label, correct(net, x, y), count_macs(net, (1, *size)).macs,
                         time.perf_counter() - t0))
    if importlib.util.find_spec("torch_pruning") is None:
        note = "Torch-Pruning: not installed (pip install 'edge-vit[bench]') - not compared"
    else:
        rows += torch_pruning_rows(base, x, y, size, full_macs, args)
        from importlib.metadata import version

        note = f"Torch-Pruning {version('torch-pruning')} (its module says its own __version__)"
    ref = rows[1][1]  # uniform magnitude
    print(f"demo model {demo.DEMO_MODEL}, plan {args.plan}, no fine-tuning; test slice "
          f"{len(y)} images; differences paired against uniform magnitude")
    print(f"{'mode':<58} {'top-1 %':>8} {'MACs':>7} {'vs mag.':>8} {'SE':>5} {'s':>6}")
    for label, ok, macs, secs in rows:
        diff, se = paired(ok, ref)
        print(f"{label:<58} {100 * ok.mean():8.2f} {macs / full_macs:6.1%} {diff:+8.2f} "
              f"{se:5.2f} {secs:6.1f}")
    print(note)


if __name__ == "__main__":
    main()
