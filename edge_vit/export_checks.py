"""What every exported artifact is made and checked with: the parity inputs (real images held
out from calibration, else seeded random ones), the int8 calibration set and OpenVINO's
labelled validation set, and the parity check itself (the artifact in its native runtime
against the PyTorch reference)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from exporters.base import ExportedFile, load_failure

from .data.images import list_images, load_images, random_inputs
from .errors import UsageError
from .parity import INT8_PRECISIONS, ParityReport, compare
from .serialization import to_dict

if TYPE_CHECKING:
    from .export import ExportOptions

CALIBRATED = ("int8", "int8-mixed")  # need calibration images (int8-dynamic needs none)


def parity_inputs(opts: ExportOptions, model, cfg, exclude: tuple[Path, ...] = ()
                   ) -> tuple[np.ndarray, str]:
    """Inputs for every artifact's check. Files in ``exclude`` (the int8 calibration images)
    are never used: a quantized model is validated on images it was not calibrated on, and
    when no other image is left the check falls back to seeded random inputs."""
    n = max(opts.parity_inputs, opts.batch)
    n -= n % opts.batch
    folder = opts.parity_images or opts.model.calib_dir
    if folder:
        skip = {p.resolve() for p in exclude}
        paths = [p for p in list_images(folder) if p.resolve() not in skip][:n]
        held_out = f", skipping the {len(skip)} calibration images" if skip else ""
        if paths:
            while len(paths) < n:  # a tiny folder: repeat rather than fail
                paths = (paths * 2)[:n]
            return load_images(paths, cfg).numpy(), \
                f"images:{folder} (first {n}, class-balanced{held_out})"
    seed = opts.model.seed
    x = random_inputs(n, tuple(cfg["input_size"]), seed=seed).numpy()
    return x, f"random normal (seed={seed})"


def calibration(opts: ExportOptions, cfg) -> tuple[np.ndarray | None, dict | None,
                                                     tuple[Path, ...]]:
    """The int8 calibration array (N, 3, H, W), preprocessed with the model's own data config
    from a fixed class-balanced subset of ``--calib``, and its manifest record."""
    if not any(p in CALIBRATED for p in opts.precisions):
        return None, None, ()
    import hashlib

    folder = Path(opts.model.calib_dir)
    paths = list_images(folder, opts.model.calib_size)
    digest = hashlib.sha256()
    for p in paths:
        digest.update(str(p.relative_to(folder)).encode() + b"\0" + p.read_bytes())
    record = {"folder": str(folder), "count": len(paths), "requested": opts.model.calib_size,
              "selection": "class-balanced, sorted (first per class in turn)",
              "preprocessing": "the model's timm data config",
              "files": [str(p.relative_to(folder)) for p in paths],
              "fingerprint": digest.hexdigest()}
    return load_images(paths, cfg).numpy(), record, tuple(paths)


def validation(opts: ExportOptions, cfg, calib_paths: tuple[Path, ...]) -> dict | None:
    """Labelled validation images for NNCF's accuracy-controlled mode, disjoint from the
    calibration images, preprocessed like everything else (eval's decoder and cache)."""
    ov = opts.format_options.get("openvino")
    if ov is None or getattr(ov, "max_drop", None) is None:
        return None
    from .data.datasets import load_dataset
    from .data.preprocess import prepare

    data = load_dataset(Path(ov.val_dir), labels=ov.val_labels, limit=ov.val_size)
    calib = {p.resolve() for p in calib_paths}
    overlap = [im.path for im in data.images if (data.root / im.path).resolve() in calib]
    if overlap:
        raise UsageError(f"{len(overlap)} validation image(s) are also calibration images "
                         f"(e.g. {overlap[0]}).", hint="Give --val-data another folder.")
    prepared = prepare(data, cfg)
    return {"x": prepared.batch(0, len(prepared)), "y": prepared.labels,
            "max_drop": ov.max_drop, "record": to_dict(data.ref(prepared.images))}


def batched(fn, x: np.ndarray, batch: int) -> np.ndarray:
    return np.concatenate([fn(x[i:i + batch]) for i in range(0, len(x), batch)])


def check_artifact(exporter, ef: ExportedFile, x, reference, opts, inputs_desc
           ) -> tuple[ParityReport, dict[str, Any]]:
    try:
        run, info = exporter.load_runner(ef)
        out = batched(run, x, opts.batch)
    except Exception as exc:  # a runtime that cannot even run the artifact fails the check
        report = ParityReport(inputs=inputs_desc, num_inputs=len(x), max_abs_diff=float("nan"),
                              mean_abs_diff=float("nan"), min_cosine=float("nan"),
                              top1_agreement=float("nan"), precision=ef.precision,
                              failure=f"runtime error: {load_failure(exporter.name, ef.path, exc)}")
        return report, {}
    if ef.precision in INT8_PRECISIONS:  # judged by agreement, against the fp32 reference
        precision = "int8"
    elif info.get("inference_precision") in ("fp32", "f32", None):
        precision = ef.precision
    else:
        precision = norm_precision(info["inference_precision"], ef.precision)
    return compare(reference, out.reshape(reference.shape) if out.size == reference.size
                   else out, precision=precision, inputs=inputs_desc), info


def norm_precision(runtime_precision: str, artifact_precision: str) -> str:
    rp = runtime_precision.lower()
    if "bf16" in rp:
        return "bf16"
    if "16" in rp:
        return "fp16"
    return artifact_precision
