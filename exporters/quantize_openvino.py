"""Post-training INT8 quantization of an OpenVINO model with NNCF (imported only here).

``nncf.quantize`` with the transformer preset (``ModelType.TRANSFORMER``: fp32 where int8 hurts
transformers, e.g. LayerNorm and the softmax inputs) on calibration images that were
preprocessed exactly as the model expects.
"""

from __future__ import annotations

import numpy as np

from edge_vit.errors import ExportError, UsageError


def quantize_int8(model, calib: np.ndarray, *, batch: int):
    """Return an int8 copy of the OpenVINO ``model`` and how it was made."""
    import nncf

    calib = np.asarray(calib, dtype=np.float32)
    if calib.ndim != 4 or len(calib) < batch:
        raise UsageError(f"int8 calibration needs an (N>={batch}, 3, H, W) array; got "
                         f"{calib.shape}.")
    batches = [np.ascontiguousarray(calib[i:i + batch])
               for i in range(0, len(calib) - batch + 1, batch)]
    try:
        quantized = nncf.quantize(model, nncf.Dataset(batches),
                                  model_type=nncf.ModelType.TRANSFORMER,
                                  subset_size=len(batches) * batch)
    except Exception as exc:
        raise ExportError(f"nncf.quantize failed: {type(exc).__name__}: {exc}") from exc
    how = {"tool": "nncf.quantize", "nncf": nncf.__version__, "model_type": "TRANSFORMER",
           "subset_size": len(batches) * batch}
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
