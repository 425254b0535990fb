"""A constructed sweep for the report tests, written in the real on-disk layouts.

2 devices (laptop, pi5) × unpruned deit_tiny + 2 pruned variants × onnx/openvino fp32:

* pruned-b openvino/fp32 failed to export (manifest: export_failed);
* pi5: pruned-a onnx/onnxruntime profile failed (timed out); openvino is missing on the pi5,
  so every openvino artifact is ``unsupported`` there;
* laptop also profiled the PyTorch reference of the unpruned model;
* accuracy (in percent with counts, as `edge-vit eval` writes it) for most: pruned-a
  openvino has none, pruned-b onnx's eval failed, and base onnx was also evaluated with the
  openvino runtime, which no device profiled (an accuracy-only row);
* weights are random-init.
"""

from __future__ import annotations

from pathlib import Path

from edge_vit import manifest as mf
from edge_vit import results as rs
from edge_vit.models import ModelSource, WeightsInfo
from edge_vit.serialization import write_json_atomic

ARCH = "deit_tiny_patch16_224"
BASE, PA, PB = "deit_tiny", "deit_tiny-pruned-aaaa", "deit_tiny-pruned-bbbb"
FINGERPRINT = "f" * 64
N_IMAGES = 500

# (model, format, precision, runtime) -> (p50, [lo, hi]) per device
LATENCY = {
    "laptop": {
        (BASE, "onnx", "fp32", "onnxruntime"): (10.0, [9.8, 10.2]),
        (BASE, "openvino", "fp32", "openvino"): (8.0, [7.9, 8.1]),
        (PA, "onnx", "fp32", "onnxruntime"): (7.0, [6.9, 7.1]),
        (PA, "openvino", "fp32", "openvino"): (5.5, [5.4, 5.6]),
        (PB, "onnx", "fp32", "onnxruntime"): (5.0, [4.9, 5.1]),
        (BASE, "pytorch", "fp32", "pytorch"): (15.0, [14.5, 15.5]),
    },
    "pi5": {
        (BASE, "onnx", "fp32", "onnxruntime"): (50.0, [48.0, 52.0]),
        (PB, "onnx", "fp32", "onnxruntime"): (30.0, [29.0, 31.0]),
    },
}
PI5_FAILED = (PA, "onnx", "fp32", "onnxruntime")
PI5_UNSUPPORTED = [(BASE, "openvino", "fp32", "openvino"), (PA, "openvino", "fp32", "openvino")]

# correct top-1 out of N_IMAGES
CORRECT = {
    (BASE, "onnx", "fp32", "onnxruntime"): 360,
    (BASE, "openvino", "fp32", "openvino"): 359,
    (PA, "onnx", "fp32", "onnxruntime"): 350,
    (BASE, "pytorch", "fp32", "pytorch"): 361,
    (BASE, "onnx", "fp32", "openvino"): 360,  # evaluated, never profiled: accuracy-only row
}
EVAL_FAILED = (PB, "onnx", "fp32", "onnxruntime")

MACS = {BASE: 1_258_000_000, PA: 900_000_000, PB: 600_000_000}
PARAMS = {BASE: 5_717_416, PA: 4_200_000, PB: 3_100_000}


def weights(kind: str = "random") -> WeightsInfo:
    return WeightsInfo(kind=kind, source=None if kind == "random" else "timm:in1k",
                       state_sha256="s" * 64,
                       note="random init: accuracy meaningless" if kind == "random" else None)


def prune_dict(heads: int, mlp: int, kind: str = "random") -> dict:
    return {"arch": ARCH, "model_kwargs": {}, "original_depth": 12,
            "blocks": [{"index": i, "kind": "vit", "num_heads": heads, "orig_heads": 3,
                        "mlp_hidden": mlp, "orig_mlp": 768} for i in range(12)],
            "dropped_blocks": [], "criterion": "magnitude",
            "plan": {"heads": round(1 - heads / 3, 2), "mlp": round(1 - mlp / 768, 2),
                     "depth": 0.0},
            "source_weights": {"kind": kind, "state_sha256": "s" * 64}}


def make_manifest(model_id: str, prune: dict | None, failed: tuple[str, ...] = (),
                  kind: str = "random") -> mf.Manifest:
    record = mf.ModelRecord(id=model_id, source=ModelSource(name=ARCH, weights=weights(kind)),
                            input_shape=[1, 3, 224, 224], params=PARAMS[model_id],
                            macs=MACS[model_id], prune=prune,
                            unpruned_params=PARAMS[BASE] if prune else None,
                            unpruned_macs=MACS[BASE] if prune else None)
    m = mf.Manifest(model=record)
    for fmt, suffix in (("onnx", ".onnx"), ("openvino", ".xml")):
        if fmt in failed:
            m.upsert(mf.ArtifactRecord(format=fmt, precision="fp32", status=mf.EXPORT_FAILED,
                                       error=f"{fmt} conversion crashed: unsupported op Foo"))
        else:
            m.upsert(mf.ArtifactRecord(format=fmt, precision="fp32", status=mf.OK,
                                       path=f"{fmt}/{model_id}{suffix}",
                                       size_bytes=PARAMS[model_id] * 4, sha256="a" * 64))
    return m


def environment(device: str) -> rs.Environment:
    return rs.Environment(hostname=device, os="Debian GNU/Linux 12", kernel="6.6",
                          machine="aarch64" if device == "pi5" else "x86_64",
                          cpu_model="Cortex-A76" if device == "pi5" else "Intel i7-1185G7",
                          cores_logical=4 if device == "pi5" else 8,
                          runtimes={"onnxruntime": "1.20.1"})


def make_profile(device: str, key: tuple, p50: float | None = None,
                 ci: list[float] | None = None, status: str = rs.OK,
                 error: str | None = None, throttled: bool | None = False) -> rs.ProfileResult:
    model_id, fmt, precision, runtime = key
    lat = None
    if p50 is not None:
        lat = rs.LatencyStats(count=100, mean=p50, std=p50 * 0.02, min=p50 * 0.9,
                              max=p50 * 1.2, p50=p50, p90=p50 * 1.1, p95=p50 * 1.15,
                              p99=p50 * 1.19, p50_ci=list(ci or []),
                              p90_ci=[p50 * 1.08, p50 * 1.12], throughput_ips=1000.0 / p50)
    return rs.ProfileResult(
        artifact=rs.ArtifactRef(model_id=model_id, format=fmt, precision=precision,
                                path=f"artifacts/{model_id}/{fmt}"),
        settings=rs.RunSettings(runtime=runtime, threads=4,
                                runtime_version={"onnxruntime": "1.20.1", "openvino": "2025.1",
                                                 "tensorrt": "10.3",
                                                 "pytorch": "2.9.1"}[runtime]
                                if status == rs.OK else None,
                                inference_precision="f32" if status == rs.OK else None),
        status=status, error=error, device_name=device,
        device_kind="ssh" if device == "pi5" else "local", latency=lat,
        memory=rs.MemoryStats(peak_rss_mb=120.0) if lat else None,
        power=rs.PowerStats(source="tegrastats", samples=50, mean_w=5.0,
                            energy_per_inference_mj=p50 * 5.0) if lat and device == "pi5"
        else None,
        environment=environment(device), throttled=throttled if lat else None,
        started="2025-01-01T00:00:00+00:00", finished="2025-01-01T00:01:00+00:00")


def make_accuracy(key: tuple, correct: int | None = None, status: str = rs.OK,
                  error: str | None = None, fingerprint: str = FINGERPRINT,
                  weights_kind: str = "random") -> rs.AccuracyResult:
    """Percent, as the schema says and `edge-vit eval` writes."""
    model_id, fmt, precision, runtime = key
    unit = 100.0
    top1 = None if correct is None else unit * correct / N_IMAGES
    ci = [] if top1 is None else [top1 - 0.04 * unit, top1 + 0.04 * unit]
    return rs.AccuracyResult(
        artifact=rs.ArtifactRef(model_id=model_id, format=fmt, precision=precision, path="-"),
        runtime=runtime,
        data=rs.DataRef(root="/data/imagenet/val", layout="synset-folders",
                        fingerprint=fingerprint, num_images=N_IMAGES, num_classes=100),
        status=status, error=error, inference_precision="f32",
        weights={"kind": weights_kind}, top1=top1,
        top5=None if correct is None else unit * min(1.0, (correct + 80) / N_IMAGES),
        correct1=correct or 0, correct5=min(N_IMAGES, (correct or 0) + 80),
        total=N_IMAGES if correct is not None else 0, top1_ci=ci)


def stem(key: tuple) -> str:
    return f"{key[1]}-{key[2]}-{key[3]}.json"


def write_sweep(root: Path, weights_kind: str = "random") -> dict[str, Path]:
    """The constructed sweep under ``root``; returns the artifacts/results/accuracy dirs."""
    artifacts, results = root / "artifacts", root / "results"
    accuracy = results / "accuracy"
    manifests = [make_manifest(BASE, None, kind=weights_kind),
                 make_manifest(PA, prune_dict(2, 384, weights_kind), kind=weights_kind),
                 make_manifest(PB, prune_dict(1, 256, weights_kind), failed=("openvino",),
                               kind=weights_kind)]
    for m in manifests:
        mf.write_manifest(artifacts / m.model.id, m)
    for device, runs in LATENCY.items():
        for key, (p50, ci) in runs.items():
            write_json_atomic(results / device / key[0] / stem(key),
                              make_profile(device, key, p50, ci))
    write_json_atomic(results / "pi5" / PI5_FAILED[0] / stem(PI5_FAILED),
                      make_profile("pi5", PI5_FAILED, status=rs.FAILED,
                                   error="timed out after 240 s"))
    for key in PI5_UNSUPPORTED:
        write_json_atomic(results / "pi5" / key[0] / stem(key), make_profile(
            "pi5", key, status=rs.UNSUPPORTED, error="no runtime for openvino on this device"))
    for key, correct in CORRECT.items():
        write_json_atomic(accuracy / key[0] / stem(key),
                          make_accuracy(key, correct, weights_kind=weights_kind))
    write_json_atomic(accuracy / EVAL_FAILED[0] / stem(EVAL_FAILED), make_accuracy(
        EVAL_FAILED, status=rs.FAILED, error="runtime error: out of memory",
        weights_kind=weights_kind))
    return {"artifacts": artifacts, "results": results, "accuracy": accuracy}
