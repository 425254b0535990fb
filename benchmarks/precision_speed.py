"""Batch-1 latency of fp32, fp16 and int8 artifacts per runtime, and each one's speedup over
the fp32 artifact of the same format, measured interleaved in one run.

    .venv/bin/python benchmarks/precision_speed.py --calib ../shared/data/imagenet-sample/val \\
        [--model deit_tiny_patch16_224] [--prune heads=0.34,mlp=0.5] [--formats onnx,openvino]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="deit_tiny_patch16_224")
    ap.add_argument("--prune", default=None)
    ap.add_argument("--formats", default="onnx,openvino,tflite")
    ap.add_argument("--precisions", default="fp32,fp16,int8-dynamic,int8")
    ap.add_argument("--calib", type=Path, required=True, help="calibration image folder")
    ap.add_argument("--calib-size", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    from edge_vit.export import ExportOptions, ModelOptions, run_export
    from exporters.base import ExportedFile, get_exporter

    out = Path(tempfile.mkdtemp(prefix="edge-vit-precision-"))
    result = run_export(ExportOptions(model=ModelOptions(name=args.model, prune=args.prune,
                                                         calib_dir=args.calib,
                                                         calib_size=args.calib_size),
                                      formats=tuple(args.formats.split(",")),
                                      precisions=tuple(args.precisions.split(",")), out_root=out))
    m = result.manifest
    root = result.manifest_path.parent
    print(f"# precision_speed  model={m.model.id}  {m.model.macs / 1e9:.3f} GMACs  "
          f"threads={args.threads}  {args.rounds}x{args.iters} interleaved")
    print(f"# host: {platform.processor() or platform.machine()}, {platform.platform()}")
    runners = []
    for a in m.artifacts:
        if a.path is None:
            print(f"  {a.format}/{a.precision}: {a.status} ({a.error})")
            continue
        ef = ExportedFile(path=root / a.path, precision=a.precision,
                          input_layout=a.input_layout or "NCHW")
        run, info = get_exporter(a.format).load_runner(ef, threads=args.threads)
        label = f"{a.format}/{a.precision} ran {info.get('inference_precision')}"
        if a.status != "ok":
            label += f" [{a.status}]"
        runners.append((a.format, a.precision, label, run))
    x = np.random.default_rng(0).normal(size=m.model.input_shape).astype(np.float32)
    samples = {label: [] for *_, label, _ in runners}
    for *_, run in runners:
        for _ in range(5):
            run(x)
    for _ in range(args.rounds):
        for *_, label, run in runners:
            for _ in range(args.iters):
                t0 = time.perf_counter()
                run(x)
                samples[label].append((time.perf_counter() - t0) * 1e3)
    base = {fmt: statistics.median(samples[label]) for fmt, prec, label, _ in runners
            if prec == "fp32"}
    print(f"  {'artifact':<48} {'p50 ms':>8} {'p90 ms':>8} {'vs fp32':>8}")
    for fmt, _prec, label, _ in runners:
        s = samples[label]
        p50 = statistics.median(s)
        ratio = f"{base[fmt] / p50:7.2f}x" if fmt in base else "      -"
        print(f"  {label:<48} {p50:8.2f} {float(np.percentile(s, 90)):8.2f} {ratio}")


if __name__ == "__main__":
    main()
