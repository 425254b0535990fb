"""Accuracy on a device: the host preprocesses the images, the device's runner runs the
artifact over them and returns the logits, the host scores them.

The images travel as one NCHW float32 .npy (named by its sha256, so a second artifact of the
same model reuses the copy); ``edge_vit_runner predict`` writes the logits as .npy, which is
fetched back. The device needs its runtime and numpy, nothing else (no decoder, no torch, no
labels). Each figure is compared with the same artifact on this host (``changed_vs_host``: the
images whose top-1 class differs between the two machines).
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.preprocess import PreparedImages
from ..errors import DeviceError
from .metrics import topk_indices

EVAL_DIR = "eval"  # under the device's work folder


@dataclass
class DeviceRun:
    """What the device said about its run (kept in the accuracy result)."""

    device: str
    kind: str
    runtime_version: str | None = None
    inference_precision: str | None = None
    environment: dict = field(default_factory=dict)
    seconds: float | None = None
    notes: list[str] = field(default_factory=list)


def image_array(prepared: PreparedImages, chunk: int = 64) -> np.ndarray:
    """Every image as one float32 NCHW array, normalised as the model was trained."""
    n = len(prepared)
    return np.ascontiguousarray(np.concatenate(
        [prepared.batch(s, min(s + chunk, n)) for s in range(0, n, chunk)]), dtype=np.float32)


def predict_on_device(device, entry, prepared: PreparedImages, batch: int,
                      ov_precision: str = "default", threads: int | None = None
                      ) -> tuple[np.ndarray, int, DeviceRun]:
    """(top-5 indices, number of logits, what ran) of ``entry`` run on ``device``."""
    from ..profiling import deploy, parse_runner_output

    x = image_array(prepared)
    digest = hashlib.sha256(x.tobytes() + str(x.shape).encode()).hexdigest()[:16]
    with tempfile.TemporaryDirectory(prefix="edge-vit-eval-") as tmp:
        local = Path(tmp) / f"{digest}.npy"
        np.save(local, x)
        deploy(device, [entry])
        device.push([(local, f"{EVAL_DIR}/{digest}.npy")])
        out_rel = f"{EVAL_DIR}/{digest}-{entry.record.sha256[:12]}-{entry.record.format}.npy"
        argv = [*device.profiler.runner_command("predict"),
                "--artifact", f"{device.workdir}/{entry.remote_path(entry.main)}",
                "--format", entry.record.format, "--precision", entry.record.precision,
                "--input", f"{device.workdir}/{EVAL_DIR}/{digest}.npy",
                "--output", f"{device.workdir}/{out_rel}", "--batch", str(batch),
                "--ov-precision", ov_precision]
        if entry.record.sha256 and entry.record.format != "openvino":
            argv += ["--sha256", entry.record.sha256]
        if threads:
            argv += ["--threads", str(threads)]
        res = device.run(argv)
        try:
            data = parse_runner_output(res.stdout)
        except DeviceError as exc:
            raise DeviceError(f"{device.name}: predict printed no result (exit "
                              f"{res.returncode}): {(res.stderr or '').strip()[-400:]}") from exc
        if data.get("status") != "ok":
            hint = f" (hint: {data['hint']})" if data.get("hint") else ""
            raise DeviceError(f"{device.name}: {data.get('error') or 'predict failed'}{hint}")
        fetched = device.fetch(out_rel, Path(tmp) / "logits.npy")
        logits = np.load(fetched)
    if logits.shape[0] != len(x):
        raise DeviceError(f"{device.name}: {logits.shape[0]} rows of logits for {len(x)} images")
    env = data.get("environment") or {}
    run = DeviceRun(device=device.name, kind=device.kind,
                    runtime_version=data.get("runtime_version"),
                    inference_precision=data.get("inference_precision"),
                    environment={k: env.get(k) for k in ("machine", "cpu_model", "emulation",
                                                         "os", "python") if k in env},
                    seconds=data.get("seconds"), notes=list(data.get("notes") or []))
    return topk_indices(logits), int(logits.shape[1]), run


def changed_top1(device_top1: np.ndarray, host_top1: np.ndarray, names: list[str]
                 ) -> list[str]:
    """The images whose top-1 class differs between the device and this host."""
    return [names[i] if i < len(names) else f"#{i}"
            for i in np.flatnonzero(device_top1 != host_top1)]
