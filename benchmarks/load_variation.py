"""Does a fresh load (or a fresh process) change a model's latency? Decides whether a profile
session may keep compiled models loaded across rounds or must reload them.

For each runtime (the demo ViT's ONNX file in onnxruntime, its IR in OpenVINO, its TFLite file
in LiteRT), three designs, interleaved block by block so the machine's drift hits all alike:

  process: every block in a new runner process (one load each);
  reload:  one process, the model loaded afresh before every block;
  loaded:  one process, one load, every block on the same loaded model;

with --pause seconds between blocks. Prints the spread (sd, percent of the median) of the
block medians of each design, and the ratio of each design's median to "loaded". If fresh
processes or loads add variation of their own, "process"/"reload" are wider than "loaded".

    .venv/bin/python benchmarks/load_variation.py [--artifacts DIR] [--blocks 12]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devices.shipping import runner_archive  # noqa: E402

# One long-lived process that answers "reload" and "block" requests on stdin, using the
# runner's own functions, so "reload" and "loaded" share everything but the load.
WORKER = r"""
import json, sys, time, gc
sys.path.insert(0, sys.argv[1])
from devices.runner import backends, inputs, measure
unit, settings = json.loads(sys.argv[2]), json.loads(sys.argv[3])
args = measure.unit_namespace(unit, settings)
state = {}
def load():
    state.clear(); gc.collect()
    b = backends.open_backend(args, unit["runtime"])
    shape = inputs.resolve_shape(b.shape, args)
    x = inputs.make_input(shape, inputs.guess_layout(shape, args.input_layout), args)[0]
    feed = b.prepare(inputs.cast_input(x, b.dtype, b.quant))
    state.update(b=b, feed=feed)
    for _ in range(50):
        b.run(feed)
load()
for line in sys.stdin:
    if line.strip() == "reload":
        load()
    times = measure.timed_block(lambda: state["b"].run(state["feed"]), 0, args)
    sys.stdout.write(json.dumps(sorted(times)[len(times) // 2]) + "\n"); sys.stdout.flush()
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--artifacts", type=Path, help="an export folder of the demo model")
    ap.add_argument("--blocks", type=int, default=12)
    ap.add_argument("--pause", type=float, default=0.3)
    ap.add_argument("--block-seconds", type=float, default=0.1)
    args = ap.parse_args()
    from edge_vit.manifest import read_manifest

    folder = args.artifacts
    if folder is None:
        from edge_vit.export import ExportOptions, ModelOptions, run_export

        out = Path(tempfile.mkdtemp(prefix="edge-vit-loadvar-"))
        folder = run_export(ExportOptions(model=ModelOptions(name="vit_demo_cifar10"), formats=(
            "onnx", "openvino", "tflite"), out_root=out)).manifest_path.parent
    m = read_manifest(folder)
    files = {a.format: folder / a.path for a in m.artifacts
             if a.status == "ok" and a.precision == "fp32"}
    settings = {"warmup": 10, "warmup_seconds": 0.05, "block_seconds": args.block_seconds,
                "min_iterations": 10}
    print(f"# load_variation  model={m.model.id}  {args.blocks} blocks of "
          f"{args.block_seconds:g} s per design, {args.pause:g} s apart, interleaved")
    for fmt, runtime in (("onnx", "onnxruntime"), ("openvino", "openvino"),
                         ("tflite", "litert")):
        if fmt not in files:
            continue
        unit = {"artifact": str(files[fmt]), "format": fmt, "runtime": runtime}
        plan = Path(tempfile.mkdtemp()) / "plan.json"
        plan.write_text(json.dumps({"units": [unit], "settings": settings}))
        workers = {d: subprocess.Popen([sys.executable, "-c", WORKER, str(ROOT),
                                        json.dumps(unit), json.dumps(settings)],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.DEVNULL, text=True)
                   for d in ("reload", "loaded")}
        meds: dict[str, list[float]] = {"process": [], "reload": [], "loaded": []}
        for _ in range(args.blocks):
            out = subprocess.run([sys.executable, str(runner_archive()), "measure", "--plan", str(plan),
                                  "--units", "0:0"], capture_output=True, text=True).stdout
            times = sorted(json.loads(out)["units"][0]["times_ms"])
            meds["process"].append(times[len(times) // 2])
            time.sleep(args.pause)
            for design, w in workers.items():
                w.stdin.write(("reload" if design == "reload" else "block") + "\n")
                w.stdin.flush()
                meds[design].append(json.loads(w.stdout.readline()))
                time.sleep(args.pause)
        for w in workers.values():
            w.stdin.close()
            w.wait()
        ref = statistics.median(meds["loaded"])
        print(f"{runtime}:")
        for design, values in meds.items():
            med = statistics.median(values)
            print(f"  {design:<8} median {med:.4f} ms  spread {100 * statistics.stdev(values) / med:5.2f} %"
                  f"  vs loaded {med / ref:.3f}")


if __name__ == "__main__":
    main()
