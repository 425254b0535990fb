"""INT8 quantization of an ONNX model with onnxruntime.quantization.

Two variants, both written beside the fp32 file they start from:

* ``int8-dynamic``: weights quantized to int8 ahead of time, activations quantized per batch at
  run time (``quantize_dynamic``; MatMulInteger / DynamicQuantizeLinear). Needs no data.
* ``int8``: static QDQ quantization, int8 weights per output channel and symmetric int8
  activations whose ranges come from calibration images (``quantize_static``, MinMax).
  Asymmetric uint8 activations (onnxruntime's default) were tried and wreck a ViT here
  (cosine ~0 against fp32): S8S8 symmetric keeps cosine > 0.99.

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


def _preprocess(source: Path, target: Path) -> None:
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(source), str(target), skip_symbolic_shape=False)
    except Exception as exc:
        raise ExportError(f"onnxruntime quant_pre_process failed on {source}: "
                          f"{type(exc).__name__}: {exc}") from exc


def quantize_dynamic_int8(source: Path, target: Path) -> dict:
    """Write a dynamically quantized copy of ``source``; return how it was quantized."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="edge-vit-ortq-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        _preprocess(source, pre)
        try:
            quantize_dynamic(str(pre), str(target), weight_type=QuantType.QInt8,
                             op_types_to_quantize=DYNAMIC_OPS)
        except Exception as exc:
            raise ExportError(f"onnxruntime quantize_dynamic failed: {type(exc).__name__}: "
                              f"{exc}") from exc
    return {"tool": "onnxruntime.quantization.quantize_dynamic", "weights": "int8",
            "activations": "uint8 (dynamic, per batch)", "ops": DYNAMIC_OPS}


class _ArrayReader:
    """onnxruntime's CalibrationDataReader over an (N, 3, H, W) array, ``batch`` at a time."""

    def __init__(self, input_name: str, calib: np.ndarray, batch: int):
        self._batches = iter([{input_name: np.ascontiguousarray(calib[i:i + batch],
                                                                dtype=np.float32)}
                              for i in range(0, len(calib) - batch + 1, batch)])

    def get_next(self):
        return next(self._batches, None)


def quantize_static_int8(source: Path, target: Path, calib: np.ndarray, *, input_name: str,
                         batch: int) -> dict:
    """Write a static QDQ int8 copy of ``source`` calibrated on ``calib``; return how."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

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
                            calibrate_method=CalibrationMethod.MinMax,
                            extra_options={"ActivationSymmetric": True})
        except Exception as exc:
            raise ExportError(f"onnxruntime quantize_static failed: {type(exc).__name__}: "
                              f"{exc}") from exc
    return {"tool": "onnxruntime.quantization.quantize_static", "format": "QDQ",
            "weights": "int8 per-channel", "activations": "int8 symmetric per-tensor",
            "calibration_method": "MinMax", "ops": QUANTIZED_OPS,
            "calibration_samples": int(len(calib) - len(calib) % batch)}


def graph_precision(path: Path) -> str:
    """What an ONNX file computes in, from its ops: int8 (QDQ), int8-dynamic, or fp32."""
    import onnx

    ops = {n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node}
    if ops & {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul"}:
        return "int8-dynamic"
    if ops & {"QuantizeLinear", "DequantizeLinear", "QLinearMatMul", "QLinearConv"}:
        return "int8"
    return "fp32"
