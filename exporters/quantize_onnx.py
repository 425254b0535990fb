"""INT8 quantization of an ONNX model with onnxruntime.quantization.

Two variants, both written beside the fp32 file they start from:

* ``int8-dynamic``: weights quantized to int8 ahead of time, activations quantized per batch at
  run time (``quantize_dynamic``; MatMulInteger / DynamicQuantizeLinear). Needs no data.
* ``int8``: static QDQ quantization, int8 weights per output channel and symmetric int8
  activations whose ranges come from calibration images (``quantize_static``, MinMax).
  Asymmetric uint8 activations (onnxruntime's default) were tried and wreck a ViT here
  (cosine ~0 against fp32): S8S8 symmetric keeps cosine > 0.99.

By default weights use 7 of their 8 bits (``reduce_range``) in both variants, so one file is
sound on every x86 CPU. On AVX2, and AVX-512 without VNNI, onnxruntime multiplies uint8
activations by int8 weights with VPMADDUBSW, which sums pairs of products into int16 and
saturates when weights use the full [-128, 127] range (onnxruntime's quantization guide). Under
``qemu-x86_64 -cpu Haswell`` a tiny ViT's static int8 file made with 8-bit weights fell from
cosine 0.997 to 0.895 against fp32 (the AVX2-only CI failure); with 7-bit weights it gives the
same logits as on this VNNI machine. VNNI and ARM kernels have no such limit: ``weight_bits=8``
is for files that only ever run there. The manifest records the choice
(``quantization.weight_bits``).

Both run ``quant_pre_process`` first (shape inference and graph optimization), as onnxruntime
recommends. Only Conv/MatMul/Gemm are quantized (MatMul/Gemm for dynamic: onnxruntime's CPU
provider has no dynamic ConvInteger): LayerNorm, Softmax and GELU stay in fp32, the usual choice
for transformers (quantizing them costs accuracy and buys little on CPU).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from edge_vit.errors import ExportError, UsageError

QUANTIZED_OPS = ["Conv", "MatMul", "Gemm"]
DYNAMIC_OPS = ["MatMul", "Gemm"]
# recorded with every int8 file: why its weights have 7 bits
WEIGHT_BITS = (7, 8)
WHY_BITS = {7: "u8s8 kernels on x86 without VNNI (AVX2, AVX-512 before VNNI) saturate with "
               "8-bit weights; 7-bit weights are exact there and everywhere else",
            8: "asked for (--int8-weight-bits 8): only for VNNI x86 or ARM targets; x86 without "
               "VNNI saturates"}


def weight_range(bits: int) -> dict:
    """The manifest's record of the weight range, checked."""
    if bits not in WEIGHT_BITS:
        raise UsageError(f"int8 weight bits must be 7 or 8, got {bits!r}.")
    return {"weight_bits": bits, "why": WHY_BITS[bits]}


def _preprocess(source: Path, target: Path) -> None:
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(source), str(target), skip_symbolic_shape=False)
    except Exception as exc:
        raise ExportError(f"onnxruntime quant_pre_process failed on {source}: "
                          f"{type(exc).__name__}: {exc}") from exc


def quantize_dynamic_int8(source: Path, target: Path, *, weight_bits: int = 7) -> dict:
    """Write a dynamically quantized copy of ``source``; return how it was quantized."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    bits = weight_range(weight_bits)
    with tempfile.TemporaryDirectory(prefix="edge-vit-ortq-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        _preprocess(source, pre)
        try:
            quantize_dynamic(str(pre), str(target), weight_type=QuantType.QInt8,
                             op_types_to_quantize=DYNAMIC_OPS, reduce_range=weight_bits == 7)
        except Exception as exc:
            raise ExportError(f"onnxruntime quantize_dynamic failed: {type(exc).__name__}: "
                              f"{exc}") from exc
    return {"tool": "onnxruntime.quantization.quantize_dynamic", "weights": "int8",
            "activations": "uint8 (dynamic, per batch)", "ops": DYNAMIC_OPS, **bits}


class _ArrayReader:
    """onnxruntime's CalibrationDataReader over an (N, 3, H, W) array, ``batch`` at a time."""

    def __init__(self, input_name: str, calib: np.ndarray, batch: int):
        self._batches = iter([{input_name: np.ascontiguousarray(calib[i:i + batch],
                                                                dtype=np.float32)}
                              for i in range(0, len(calib) - batch + 1, batch)])

    def get_next(self):
        return next(self._batches, None)


def quantize_static_int8(source: Path, target: Path, calib: np.ndarray, *, input_name: str,
                         batch: int, weight_bits: int = 7) -> dict:
    """Write a static QDQ int8 copy of ``source`` calibrated on ``calib``; return how."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    bits = weight_range(weight_bits)
    calib = np.asarray(calib, dtype=np.float32)
    if calib.ndim != 4 or len(calib) < batch:
        raise UsageError(f"int8 calibration needs an (N>={batch}, 3, H, W) array; got "
                         f"{calib.shape}.")
    with tempfile.TemporaryDirectory(prefix="edge-vit-ortq-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        _preprocess(source, pre)
        try:
            quantize_static(str(pre), str(target), _ArrayReader(input_name, calib, batch),
                            quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                            op_types_to_quantize=QUANTIZED_OPS,
                            calibrate_method=CalibrationMethod.MinMax, reduce_range=weight_bits == 7,
                            extra_options={"ActivationSymmetric": True})
        except Exception as exc:
            raise ExportError(f"onnxruntime quantize_static failed: {type(exc).__name__}: "
                              f"{exc}") from exc
    return {"tool": "onnxruntime.quantization.quantize_static", "format": "QDQ",
            "weights": "int8 per-channel", "activations": "int8 symmetric per-tensor",
            "calibration_method": "MinMax", "ops": QUANTIZED_OPS,
            "calibration_samples": int(len(calib) - len(calib) % batch), **bits}


def graph_precision(path: Path) -> str:
    """What an ONNX file computes in, from its ops: int8 (QDQ), int8-dynamic, or fp32."""
    import onnx

    ops = {n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node}
    if ops & {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul"}:
        return "int8-dynamic"
    if ops & {"QuantizeLinear", "DequantizeLinear", "QLinearMatMul", "QLinearConv"}:
        return "int8"
    return "fp32"
