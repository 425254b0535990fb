"""Export time per format and batch-1 latency of each artifact next to PyTorch eager.

For the default model and a pruned variant, in one run: export every format (timed by the
pipeline), then time every artifact in its runtime and PyTorch eager *interleaved* (round-robin
over runners, several rounds) so machine noise hits all of them alike. Prints p50/p90 and the
ratio of each p50 to PyTorch eager's p50 measured in the same run; absolute times on a shared
VM are not stable, ratios are.

    .venv/bin/python benchmarks/export_speed.py [--model NAME] [--prune PLAN] [--rounds 7]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def _runners(result, threads: int):
    """(label, callable) for PyTorch eager and every artifact that passed its check."""
    import torch

    from edge_vit.model_options import ModelOptions, load_source_model
    from exporters.base import ExportedFile, get_exporter

    m = result.manifest
    root = result.manifest_path.parent
    if m.model.pruned_model_dir:
        model, *_ = load_source_model(ModelOptions(name=str(root / m.model.pruned_model_dir)))
    else:
        model, *_ = load_source_model(ModelOptions(
            name=m.model.source.name, model_kwargs=m.model.source.model_kwargs))
    torch.set_num_threads(threads)
    out = [("pytorch eager fp32", lambda x: model(torch.from_numpy(x)))]
    for a in m.artifacts:
        if a.status != "ok":
            continue
        ef = ExportedFile(path=root / a.path, precision=a.precision,
                          input_layout=a.input_layout or "NCHW")
        exp = get_exporter(a.format)
        run, info = exp.load_runner(ef, threads=threads)
        out.append((f"{a.format} {a.precision} ({info.get('inference_precision')})", run))
        if a.format == "openvino" and a.precision == "fp32":
            # what OpenVINO runs by default on this CPU (bf16 where the CPU has it)
            run_d, info_d = exp.load_runner(ef, threads=threads, inference_precision=None)
            out.append((f"openvino fp32 (CPU default: {info_d['inference_precision']})", run_d))
    return out


def _time_interleaved(runners, x, rounds: int, iters: int, warmup: int = 5):
    import torch

    samples = {label: [] for label, _ in runners}
    with torch.inference_mode():
        for _, fn in runners:
            for _ in range(warmup):
                fn(x)
        for _ in range(rounds):
            for label, fn in runners:
                for _ in range(iters):
                    t0 = time.perf_counter()
                    fn(x)
                    samples[label].append((time.perf_counter() - t0) * 1e3)
    return samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="deit_tiny_patch16_224")
    ap.add_argument("--prune", default="heads=0.34,mlp=0.5")
    ap.add_argument("--formats", default="onnx,openvino,tflite")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="keep artifacts here")
    args = ap.parse_args()

    from edge_vit.export import ExportOptions, ModelOptions, run_export

    out_root = args.out or Path(tempfile.mkdtemp(prefix="edge-vit-bench-"))
    print(f"# export_speed  model={args.model}  pruned variant: {args.prune}")
    print(f"# host: {platform.processor() or platform.machine()}, {platform.platform()}, "
          f"threads={args.threads}, rounds={args.rounds}x{args.iters} interleaved")
    for prune in (None, args.prune):
        t0 = time.perf_counter()
        result = run_export(ExportOptions(model=ModelOptions(name=args.model, prune=prune),
                                          formats=tuple(args.formats.split(",")),
                                          out_root=out_root))
        total = time.perf_counter() - t0
        m = result.manifest.model
        label = f"{m.id}: {m.params / 1e6:.2f} M params, {m.macs / 1e9:.3f} GMACs"
        if m.unpruned_macs:
            label += f" ({m.macs / m.unpruned_macs:.0%} of unpruned MACs)"
        print(f"\n## {label}")
        print(f"export total {total:.1f} s")
        seen = set()
        for a in result.manifest.artifacts:
            if a.format in seen:
                continue
            seen.add(a.format)
            print(f"  export {a.format:<9} {a.export_seconds or float('nan'):7.1f} s  "
                  f"[{a.status}]")
        runners = _runners(result, args.threads)
        x = np.random.default_rng(0).normal(size=m.input_shape).astype(np.float32)
        samples = _time_interleaved(runners, x, args.rounds, args.iters)
        base = statistics.median(samples["pytorch eager fp32"])
        print(f"  {'runtime':<44} {'p50 ms':>8} {'p90 ms':>8} {'vs eager':>9}")
        for label, s in samples.items():
            p50, p90 = statistics.median(s), float(np.percentile(s, 90))
            print(f"  {label:<44} {p50:8.2f} {p90:8.2f} {base / p50:8.2f}x")


if __name__ == "__main__":
    main()
