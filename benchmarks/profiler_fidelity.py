"""Does edge-vit's profiler report the latency the runtimes' own tools report?

In one run, interleaved round by round so machine noise hits both sides alike, compare
edge-vit's p50 (the on-device runner, as `edge-vit profile` uses it) with:
  - OpenVINO: the median latency OpenVINO's own `benchmark_app` reports for the same IR and
    settings (CPU, sync API, 1 stream, same threads, the plugin's default precision);
  - onnxruntime and LiteRT: the median of a plain `time.perf_counter` loop in a fresh process
    with the same threads.
Prints each ratio (median over rounds of edge-vit p50 / reference median, paired by round)
and whether it is within 2 % of 1. Run it on a quiet machine: other load makes both sides
noisy, and the verdict says so rather than hiding it.

    .venv/bin/python benchmarks/profiler_fidelity.py [--artifacts DIR] [--rounds 7] [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The plain loop: what a user writes in a notebook, in its own process like the runner.
PLAIN_LOOP = r"""
import json, sys, time
import numpy as np
fmt, path, threads, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
if fmt == "onnx":
    import onnxruntime as ort
    o = ort.SessionOptions(); o.intra_op_num_threads = threads
    s = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
    i = s.get_inputs()[0]
    x = np.random.default_rng(0).normal(size=i.shape).astype(np.float32)
    run = lambda: s.run(None, {i.name: x})
else:
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=path, num_threads=threads); it.allocate_tensors()
    d = it.get_input_details()[0]
    x = np.random.default_rng(0).normal(size=d["shape"]).astype(np.float32)
    def run():
        it.set_tensor(d["index"], x); it.invoke()
for _ in range(10):
    run()
times, t_end = [], time.perf_counter() + seconds
while time.perf_counter() < t_end or len(times) < 50:
    t0 = time.perf_counter(); run(); times.append((time.perf_counter() - t0) * 1e3)
times.sort()
print(json.dumps({"median": times[len(times) // 2], "count": len(times)}))
"""


def edge_vit_p50(fmt: str, path: Path, threads: int, seconds: float) -> float:
    """The runner's ``measure`` (what a profile session runs): one unit, one block of
    ``seconds``, in a fresh process, like the reference side."""
    plan = Path(tempfile.mkdtemp(prefix="edge-vit-fidelity-plan-")) / "plan.json"
    runtime = {"onnx": "onnxruntime", "openvino": "openvino", "tflite": "litert"}[fmt]
    plan.write_text(json.dumps({"units": [{"artifact": str(path), "format": fmt,
                                           "runtime": runtime, "ov_precision": "default"}],
                                "settings": {"threads": threads, "warmup": 10,
                                             "block_seconds": seconds}}))
    sys.path.insert(0, str(ROOT))
    from devices.shipping import runner_archive

    argv = [sys.executable, str(runner_archive()), "measure", "--plan", str(plan), "--units", "0:0"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    times = sorted(json.loads(out)["units"][0]["times_ms"])
    return statistics.median(times)


def benchmark_app_median(path: Path, threads: int, seconds: float) -> tuple[float, str]:
    from devices.parsers import parse_benchmark_app

    exe = shutil.which("benchmark_app") or str(Path(sys.executable).parent / "benchmark_app")
    argv = [exe, "-m", str(path), "-d", "CPU", "-api", "sync", "-hint", "none",
            "-nstreams", "1", "-nthreads", str(threads), "-t", str(int(seconds))]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    res = parse_benchmark_app(out)
    return res.latency_median_ms, str(res.inference_precision)


def plain_loop_median(fmt: str, path: Path, threads: int, seconds: float) -> float:
    out = subprocess.run([sys.executable, "-c", PLAIN_LOOP, fmt, str(path), str(threads),
                          str(seconds)], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["median"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--artifacts", type=Path, help="an export folder (default: export "
                                                   "deit_tiny_patch16_224 now)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT))
    from edge_vit.manifest import read_manifest

    folder = args.artifacts
    if folder is None:
        from edge_vit.export import ExportOptions, run_export

        out = Path(tempfile.mkdtemp(prefix="edge-vit-fidelity-"))
        folder = run_export(ExportOptions(formats=("onnx", "openvino", "tflite"),
                                          precisions=("fp32",), out_root=out)).manifest_path.parent
    m = read_manifest(folder)
    paths = {a.format: folder / a.path for a in m.artifacts
             if a.precision == "fp32" and a.status == "ok"}
    print(f"# profiler_fidelity (runner measure)  model={m.model.id}  threads={args.threads}  "
          f"{args.rounds} interleaved rounds x {args.seconds:g} s each side")
    print(f"# host: {platform.processor() or platform.machine()}, {platform.platform()}")
    pairs = {"openvino": "benchmark_app", "onnx": "plain loop", "tflite": "plain loop"}
    rows = []
    for fmt, ref_name in pairs.items():
        if fmt not in paths:
            print(f"{fmt}: no fp32 artifact, skipped")
            continue
        ours, theirs, note = [], [], ""
        for _ in range(args.rounds):
            ours.append(edge_vit_p50(fmt, paths[fmt], args.threads, args.seconds))
            if fmt == "openvino":
                ref, prec = benchmark_app_median(paths[fmt], args.threads, args.seconds)
                note = f"(benchmark_app precision: {prec})"
            else:
                ref = plain_loop_median(fmt, paths[fmt], args.threads, args.seconds)
            theirs.append(ref)
        a, b = statistics.median(ours), statistics.median(theirs)
        # paired per-round ratios cancel the slow drift of a shared machine's load
        ratio = statistics.median([x / y for x, y in zip(ours, theirs, strict=True)])
        rows.append((fmt, ref_name, a, b, ratio, note, ours, theirs))
    print(f"{'format':<9} {'reference':<14} {'edge-vit p50':>12} {'reference':>10} "
          f"{'ratio':>7}  verdict   (ratio: median of per-round edge-vit/reference)")
    for fmt, ref_name, a, b, ratio, note, ours, theirs in rows:
        verdict = "within 2%" if abs(ratio - 1) <= 0.02 else "OUTSIDE 2%"
        print(f"{fmt:<9} {ref_name:<14} {a:10.3f}ms {b:8.3f}ms {ratio:7.3f}  {verdict} {note}")
        print(f"          rounds: edge-vit {[round(v, 3) for v in ours]}  "
              f"reference {[round(v, 3) for v in theirs]}")


if __name__ == "__main__":
    main()
