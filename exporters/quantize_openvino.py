"""Post-training INT8 quantization of an OpenVINO model with NNCF (imported only here).

``nncf.quantize`` with the transformer preset (``ModelType.TRANSFORMER``: fp32 where int8 hurts
transformers, e.g. LayerNorm and the softmax inputs) on calibration images that were
preprocessed exactly as the model expects. Given labelled validation images and a maximum
drop, ``nncf.quantize_with_accuracy_control`` instead: it quantizes, measures top-1 on the
validation images, and reverts the layers that cost most to fp32 until the drop fits.

By default both with ``OverflowFix.ENABLE``: every layer's weights in 7 bits, so the IR runs the
same on x86 CPUs without VNNI, whose u8s8 kernels saturate with full-range weights (NNCF's own
default fixes only the first layer; under ``qemu-x86_64 -cpu Haswell`` a tiny ViT's IR made that
way agreed on top-1 with fp32 for 91 % of images against 97 % on this VNNI machine). The ONNX
int8 files make the same choice; ``weight_bits=8`` keeps full-range weights for VNNI targets.
"""

from __future__ import annotations

import numpy as np

from edge_vit.errors import ExportError, UsageError

from .quantize_onnx import weight_range


def quantize_int8(model, calib: np.ndarray, *, batch: int, control: dict | None = None,
                  weight_bits: int = 7):
    """Return an int8 copy of the OpenVINO ``model`` and how it was made. ``control``:
    {"x": (N, 3, H, W) float32, "y": (N,) labels, "max_drop": points of top-1} switches on
    NNCF's accuracy-controlled mode."""
    import nncf

    calib = np.asarray(calib, dtype=np.float32)
    if calib.ndim != 4 or len(calib) < batch:
        raise UsageError(f"int8 calibration needs an (N>={batch}, 3, H, W) array; got "
                         f"{calib.shape}.")
    bits = weight_range(weight_bits)
    batches = [np.ascontiguousarray(calib[i:i + batch])
               for i in range(0, len(calib) - batch + 1, batch)]
    if control is not None:
        return _with_accuracy_control(model, batches, control, batch, bits)
    try:
        quantized = nncf.quantize(model, nncf.Dataset(batches),
                                  model_type=nncf.ModelType.TRANSFORMER,
                                  subset_size=len(batches) * batch,
                                  advanced_parameters=_advanced(weight_bits))
    except Exception as exc:
        raise ExportError(f"nncf.quantize failed: {type(exc).__name__}: {exc}") from exc
    how = {"tool": "nncf.quantize", "nncf": nncf.__version__, "model_type": "TRANSFORMER",
           "subset_size": len(batches) * batch, **bits}
    return quantized, how


def _advanced(weight_bits: int):
    import nncf

    fix = nncf.OverflowFix.ENABLE if weight_bits == 7 else nncf.OverflowFix.DISABLE
    return nncf.AdvancedQuantizationParameters(overflow_fix=fix)


def _top1(compiled, items) -> float:
    """NNCF's validation_fn: top-1 (0..1) of a compiled model on (images, labels) batches."""
    out = compiled.outputs[0]
    correct = total = 0
    for x, y in items:
        logits = compiled(x)[out]
        correct += int((np.asarray(logits).argmax(1) == y).sum())
        total += len(y)
    return correct / max(1, total)


def _with_accuracy_control(model, batches: list[np.ndarray], control: dict, batch: int,
                           bits: dict):
    import nncf

    x = np.asarray(control["x"], dtype=np.float32)
    y = np.asarray(control["y"])
    if len(x) < batch or len(x) != len(y):
        raise UsageError(f"Accuracy-controlled int8 needs labelled validation images (got "
                         f"{len(x)} images, {len(y)} labels).")
    val = [(np.ascontiguousarray(x[i:i + batch]), y[i:i + batch])
           for i in range(0, len(x) - batch + 1, batch)]
    max_drop = float(control["max_drop"]) / 100.0  # points of top-1 -> NNCF's 0..1 metric
    try:
        quantized = nncf.quantize_with_accuracy_control(
            model, nncf.Dataset(batches), nncf.Dataset(val, lambda item: item[0]), _top1,
            max_drop=max_drop, drop_type=nncf.DropType.ABSOLUTE,
            model_type=nncf.ModelType.TRANSFORMER, subset_size=len(batches) * batch,
            advanced_quantization_parameters=_advanced(bits["weight_bits"]))
    except Exception as exc:
        raise ExportError(f"nncf.quantize_with_accuracy_control failed: "
                          f"{type(exc).__name__}: {exc}") from exc
    import openvino as ov

    compiled = ov.Core().compile_model(quantized, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    reference = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    int8_top1, fp32_top1 = _top1(compiled, val), _top1(reference, val)
    how = {"tool": "nncf.quantize_with_accuracy_control", "nncf": nncf.__version__,
           "model_type": "TRANSFORMER", "subset_size": len(batches) * batch,
           "max_drop_pts": float(control["max_drop"]), "validation_images": len(val) * batch,
           "validation_top1_fp32": round(100 * fp32_top1, 2),
           "validation_top1_int8": round(100 * int8_top1, 2),
           "int8_ops_left": runtime_int8_ops(compiled),
           "validation_data": control.get("record"), **bits}
    return quantized, how


def runtime_int8_ops(compiled) -> int:
    """How many ops of a compiled model the CPU plugin executes in int8/uint8."""
    try:
        ops = compiled.get_runtime_model().get_ops()
        precisions = [op.get_rt_info()["runtimePrecision"].astype(str) for op in ops
                      if "runtimePrecision" in op.get_rt_info()]
        return sum(p in ("i8", "u8") for p in precisions)
    except Exception:  # informative only
        return 0
