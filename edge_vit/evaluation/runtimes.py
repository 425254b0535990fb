"""Run an artifact in the runtime it ships with, over preprocessed images, in batches.

ONNX runs in onnxruntime, OpenVINO IR in OpenVINO (at the plugin's default precision unless a
precision is pinned: that is what a deployment gets, and the result records which one ran),
TFLite in LiteRT (its runner turns NCHW into the model's NHWC). Each exporter's own
``load_runner`` does the loading, so evaluation and the export-time parity check run artifacts
the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from exporters.base import (
    ExportedFile,
    available_formats,
    get_exporter,
    load_failure,
    package_version,
    runtime_spec,
)

from .. import manifest as mf
from ..data.preprocess import PreparedImages
from ..errors import UsageError
from ..progress import progress_bar
from .metrics import topk_indices

OV_PRECISIONS = ("default", "f32", "bf16", "f16")  # "default": whatever the plugin picks


def runtime_for(fmt: str) -> str:
    """The format's native runtime (its first): the one eval and the parity check use."""
    if fmt not in available_formats():
        raise UsageError(f"No runtime to evaluate {fmt!r} artifacts; known formats: "
                         f"{', '.join(available_formats())}.")
    return get_exporter(fmt).runtimes[0]


def runtime_version(runtime: str) -> str:
    try:
        return package_version(runtime_spec(runtime).MODULE)
    except UsageError:
        return package_version(runtime)


def precision_mode(fmt: str, ov_precision: str) -> str:
    """The part of the run settings that can change predictions (a cache-key field)."""
    return f"ov:{ov_precision}" if fmt == "openvino" else "native"


def load_runner(root: Path, record: mf.ArtifactRecord, threads: int | None = None,
                ov_precision: str = "default") -> tuple[Callable[[np.ndarray], np.ndarray], dict]:
    """(run: NCHW float32 batch -> logits, info with runtime/version/inference_precision)."""
    if ov_precision not in OV_PRECISIONS:
        raise UsageError(f"OpenVINO precision must be one of {', '.join(OV_PRECISIONS)}.")
    exported = ExportedFile(path=Path(root) / record.path, precision=record.precision,
                            input_layout=record.input_layout or "NCHW",
                            input_name=record.input_name, output_name=record.output_name,
                            dynamic_batch=record.dynamic_batch)
    exporter = get_exporter(record.format)
    try:
        if record.format == "openvino":
            return exporter.load_runner(exported, threads, inference_precision=(
                None if ov_precision == "default" else ov_precision))
        return exporter.load_runner(exported, threads)
    except Exception as exc:
        raise load_failure(runtime_for(record.format), exported.path, exc) from exc


def predict(run: Callable[[np.ndarray], np.ndarray], images: PreparedImages, batch: int,
            fixed_batch: bool, show_progress: bool = False, label: str = ""
            ) -> tuple[np.ndarray, int]:
    """(top-5 class indices (N, min(5, C)) of every image, C = number of logits). A
    fixed-batch model gets exactly ``batch`` images per call: the last batch is padded by
    repeating its last image and the padding's outputs dropped."""
    if batch < 1:
        raise UsageError("batch must be at least 1.")
    n = len(images)
    tops, width = [], 0
    with progress_bar(show_progress, label or "evaluating", n) as advance:
        for start in range(0, n, batch):
            x = images.batch(start, min(start + batch, n))
            real = len(x)
            if fixed_batch and real < batch:
                x = np.concatenate([x, np.repeat(x[-1:], batch - real, axis=0)])
            logits = np.asarray(run(x))
            if logits.ndim != 2 or logits.shape[0] != len(x):
                logits = logits.reshape(len(x), -1)
            width = logits.shape[1]
            tops.append(topk_indices(logits[:real]))
            advance(real)
    return np.concatenate(tops), width
