"""int8 TFLite for ViTs: which ops can take 8 bits, what the shipped scheme keeps in float,
its top-1 and its latency against fp32, on this machine.

For the demo model, its 50 %-pruned variant, and that variant distilled for 2 epochs:

1. ablation — the fp32 TFLite's SavedModel quantized with different ops kept in float
   (``exporters.tflite_selective``), each compared with the fp32 TFLite on 256 held-out test
   images (min / median cosine of the logits, top-1 agreement); onnx2tf's own full-integer and
   16x8 (int16 activations) files beside them;
2. ``edge-vit export --precision fp32,int8,int8-mixed`` with the unchanged parity thresholds
   on 64 held-out images, then top-1 of each passing artifact on the 2,000-image test slice;
3. latency: fp32 vs int8-mixed in the product's interleaved profile session on the local
   device, twice (two sessions: the spread between them is part of the answer).

    .venv/bin/python benchmarks/int8_tflite.py [--sessions 2]     # ~15 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ABLATION = {  # label -> ops kept in float32
    "all int8 (TF converter)": (),
    "float: BATCH_MATMUL": ("BATCH_MATMUL",),
    "float: Softmax + LayerNorm": ("SOFTMAX", "MEAN", "SQUARED_DIFFERENCE", "RSQRT"),
    "float: BATCH_MATMUL + Softmax + LayerNorm (int8-mixed)":
        ("BATCH_MATMUL", "SOFTMAX", "MEAN", "SQUARED_DIFFERENCE", "RSQRT"),
}


def sh(argv: list[str], cwd: Path | None = None) -> None:
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def variants(work: Path) -> dict[str, str]:
    """model label -> what `edge-vit export` takes."""
    from edge_vit import demo

    cli = [sys.executable, "-m", "edge_vit"]
    sh([*cli, "prune", demo.DEMO_MODEL, "--prune", "heads=0.5,mlp=0.5", "--out",
        str(work / "pruned")])
    sh([*cli, "finetune", str(work / "pruned"), "--data", str(demo.TRAIN_SLICE), "--epochs",
        "2", "--out", str(work / "pruned-kd2")])
    return {"demo (unpruned)": demo.DEMO_MODEL, "heads 50% mlp 50%": str(work / "pruned"),
            "heads 50% mlp 50% + KD 2 ep": str(work / "pruned-kd2")}


def arrays(path: Path, limit: int, seed: int, data_config) -> tuple[np.ndarray, np.ndarray]:
    from edge_vit.data.datasets import load_dataset
    from edge_vit.data.preprocess import prepare

    prepared = prepare(load_dataset(path, labels="folders", limit=limit, seed=seed),
                       data_config, None)
    return prepared.batch(0, len(prepared)), prepared.labels


def logits(path: Path, x_nhwc: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    out = []
    for k in range(len(x_nhwc)):
        it.set_tensor(i, x_nhwc[k:k + 1])
        it.invoke()
        out.append(it.get_tensor(o).copy())
    return np.concatenate(out)


def agreement(ref: np.ndarray, q: np.ndarray) -> str:
    cos = (ref * q).sum(1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(q, axis=1)
    return (f"min cos {cos.min():.3f}  median {np.median(cos):.4f}  "
            f"top-1 agreement {np.mean(ref.argmax(1) == q.argmax(1)):.1%}")


def ablation(label: str, onnx: Path, data_config, work: Path) -> None:
    from edge_vit import demo
    from exporters.onnx2tf_tool import onnx2tf_env
    from exporters.tflite_export import write_calibration_data

    calib, _ = arrays(demo.TRAIN_SLICE, 200, 0, data_config)
    test, _ = arrays(demo.TEST_SLICE, 256, 1, data_config)
    calib, test = calib.transpose(0, 2, 3, 1), test.transpose(0, 2, 3, 1)
    w = work / f"ablation-{abs(hash(label))}"
    w.mkdir()
    (w / "model.onnx").write_bytes(onnx.read_bytes())
    write_calibration_data(w)
    np.save(w / "calib.npy", calib)
    subprocess.run([sys.executable, "-m", "onnx2tf", "-i", "model.onnx", "-o", "out", "-rtpo",
                    "Erf", "-v", "error", "-oiqt", "-qt", "per-channel", "-cind", "input",
                    "calib.npy", "0", "1"], cwd=w, env=onnx2tf_env(), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ref = logits(w / "out" / "model_float32.tflite", test)
    print(f"\n{label}: ablation on 256 held-out test images, against the fp32 TFLite")
    for name, file in (("onnx2tf full-integer (-oiqt)", "model_integer_quant.tflite"),
                       ("onnx2tf 16x8 (int16 activations)",
                        "model_integer_quant_with_int16_act.tflite")):
        try:
            print(f"  {name:58s} {agreement(ref, logits(w / 'out' / file, test))}")
        except Exception as exc:  # LiteRT cannot run it: say why
            print(f"  {name:58s} does not run in LiteRT: {str(exc).splitlines()[0][:90]}")
    for name, ops in ABLATION.items():
        out = w / f"q{len(ops)}.tflite"
        subprocess.run([sys.executable, "-m", "exporters.tflite_selective", str(w / "out"),
                        str(w / "calib.npy"), str(out), "--float-ops", ",".join(ops)],
                       env=onnx2tf_env(), check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        print(f"  {name:58s} {agreement(ref, logits(out, test))}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=2)
    ap.add_argument("--skip-ablation", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from devices import open_device
    from devices.inventory import builtin_local
    from edge_vit import demo
    from edge_vit.evaluation import evaluate_all
    from edge_vit.export import ExportOptions, ModelOptions, run_export
    from edge_vit.profiling import ProfileSettings, collect_artifacts, profile

    work = Path(tempfile.mkdtemp(prefix="edge-vit-int8-"))
    print(f"# int8_tflite  host: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, {platform.platform()}")
    roots = {}
    for label, model in variants(work).items():
        res = run_export(ExportOptions(
            model=ModelOptions(name=model, calib_dir=demo.TRAIN_SLICE, calib_size=200),
            formats=("tflite",), precisions=("fp32", "int8", "int8-mixed"),
            out_root=work / "artifacts", parity_inputs=64, parity_images=demo.TEST_SLICE))
        roots[label] = root = res.manifest_path.parent
        m = res.manifest
        if not args.skip_ablation:
            onnx = next((root / a.path for a in m.artifacts if a.format == "onnx" and a.path),
                        None) or _onnx_of(model, work)
            ablation(label, onnx, m.model.data_config, work)
        print(f"\n{label}: export parity (unchanged thresholds, 64 held-out test images)")
        for a in m.artifacts:
            p = a.parity
            if a.format == "tflite" and p is not None:
                print(f"  tflite/{a.precision:11s} {a.status:18s} cosine {p.min_cosine:.4f}  "
                      f"top-1 agreement {p.top1_agreement:.1%}  {a.size_bytes / 1e6:.2f} MB"
                      f"{'  (' + p.failure + ')' if p.failure else ''}")
        for r in evaluate_all([root], demo.TEST_SLICE, labels="folders"):
            print(f"  top-1 on the 2,000-image test slice: {r.artifact.format}/"
                  f"{r.artifact.precision:11s} {r.top1:6.2f} %  [{r.top1_ci[0]:.2f}, "
                  f"{r.top1_ci[1]:.2f}]")
    entries = collect_artifacts(list(roots.values()))
    settings = ProfileSettings(threads=2, rounds=7, max_rounds=15, max_seconds=240)
    print("\nlatency on this machine (LiteRT + XNNPACK, 2 threads, batch 1; one interleaved "
          "session each, every artifact in every round)")
    with open_device(builtin_local()) as dev:
        for s in range(args.sessions):
            results = profile(dev, entries, settings, work / f"results-{s}")
            p50 = {(r.artifact.model_id, r.artifact.precision): r for r in results
                   if r.status == "ok"}
            for (model, prec), r in sorted(p50.items()):
                base = p50.get((model, "fp32"))
                lat = r.latency
                ratio = f"  {base.latency.p50 / lat.p50:.2f}x fp32's speed" if base else ""
                print(f"  session {s + 1}: {model[:34]:34s} {prec:11s} p50 {lat.p50:.3f} ms "
                      f"[{lat.p50_ci[0]:.3f}, {lat.p50_ci[1]:.3f}]{ratio}  "
                      f"(ran {r.settings.inference_precision}, xnnpack partitions "
                      f"{r.settings.options.get('delegate_partitions')})")
    print(json.dumps({"work": str(work)}))


def _onnx_of(model: str, work: Path) -> Path:
    from edge_vit.export import ExportOptions, ModelOptions, run_export

    res = run_export(ExportOptions(model=ModelOptions(name=model), formats=("onnx",),
                                   precisions=("fp32",), out_root=work / "onnx"))
    return res.manifest_path.parent / next(a.path for a in res.manifest.artifacts if a.path)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
