"""Training throughput of edge-vit's data path against the usual torchvision one, same model,
same images, same augmentation, interleaved rounds in one run.

edge-vit decodes every image once (the evaluation decoder, cached as uint8) and augments whole
batches as tensors; the baseline is torchvision's ImageFolder + RandomCrop/RandomHorizontalFlip
/ToTensor/Normalize through a DataLoader, decoding each JPEG on every epoch.

    .venv/bin/python benchmarks/train_speed.py [--rounds 3] [--steps 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=8, help="optimizer steps per measurement")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import numpy as np
    import torch
    import torch.nn.functional as F
    from torchvision import datasets
    from torchvision import transforms as T

    from edge_vit import demo
    from edge_vit.data.archive import resolve_data_root
    from edge_vit.data.images import data_config
    from edge_vit.models import create_model
    from edge_vit.training import load_split
    from edge_vit.training.loop import batch_tensor

    torch.set_num_threads(args.threads)
    model = create_model(demo.DEMO_MODEL)
    cfg = data_config(model, (3, 32, 32))
    t0 = time.perf_counter()
    data = load_split(demo.TRAIN_SLICE, cfg)
    decode_s = time.perf_counter() - t0
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    folder = datasets.ImageFolder(str(resolve_data_root(demo.TRAIN_SLICE)), T.Compose([
        T.RandomCrop(32, padding=4, padding_mode="reflect"), T.RandomHorizontalFlip(),
        T.ToTensor(), T.Normalize(cfg["mean"], cfg["std"])]))
    loader = torch.utils.data.DataLoader(folder, batch_size=args.batch, shuffle=True,
                                         num_workers=0, drop_last=True)

    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def edge_vit_path() -> float:
        gen = torch.Generator().manual_seed(0)
        order = torch.randperm(len(data), generator=gen).numpy()
        t = time.perf_counter()
        for s in range(args.steps):
            idx = np.sort(order[s * args.batch:(s + 1) * args.batch])
            step(batch_tensor(data.pixels, idx, data, True, gen),
                 torch.from_numpy(data.labels[idx]))
        return args.steps * args.batch / (time.perf_counter() - t)

    def torchvision_path() -> float:
        it = iter(loader)
        t = time.perf_counter()
        for _ in range(args.steps):
            x, y = next(it)
            step(x, y)
        return args.steps * args.batch / (time.perf_counter() - t)

    model.train()
    edge_vit_path(), torchvision_path()  # warm-up
    ours, theirs = [], []
    for r in range(args.rounds):
        ours.append(edge_vit_path())
        theirs.append(torchvision_path())
        print(f"round {r + 1}: edge-vit {ours[-1]:.0f} img/s, torchvision {theirs[-1]:.0f} "
              f"img/s, ratio {ours[-1] / theirs[-1]:.2f}", flush=True)
    print(f"# {demo.DEMO_MODEL}, batch {args.batch}, {args.threads} threads, {len(data)} images "
          f"(decoded once in {decode_s:.1f} s, cached afterwards)")
    print(f"median: edge-vit {statistics.median(ours):.0f} img/s, torchvision "
          f"{statistics.median(theirs):.0f} img/s, ratio "
          f"{statistics.median([a / b for a, b in zip(ours, theirs, strict=True)]):.2f}x")


if __name__ == "__main__":
    main()
