"""PyTorch -> ONNX, simplified with onnxslim, run with onnxruntime; optionally quantized to
int8 (dynamic, or static QDQ on calibration images) with onnxruntime.quantization."""

from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from edge_vit.errors import ExportError, UsageError

from .base import ExportedFile, Exporter, ExportRequest, Runner, load_failure, package_version

log = logging.getLogger(__name__)

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
# 17 is the newest opset every runtime edge-vit targets (OpenVINO, onnx2tf, TensorRT 8.5+)
# handles for ViTs (LayerNormalization is native from 17).
DEFAULT_OPSET = 17
# 14: the first opset timm's attention (aten::scaled_dot_product_attention) exports to; 20: the
# newest torch's TorchScript exporter writes. Checked before any model is built.
OPSETS = range(14, 21)


@dataclass
class OnnxOptions:
    # int8 weights: 7 bits run the same on every x86 CPU; 8 saturate on x86 without VNNI
    int8_weight_bits: int = 7

    def validate(self, precisions: tuple[str, ...]) -> None:
        if self.int8_weight_bits not in (7, 8):
            raise UsageError(f"--int8-weight-bits must be 7 or 8, got {self.int8_weight_bits}.")


class OnnxExporter(Exporter):
    name: ClassVar[str] = "onnx"
    suffix: ClassVar[str] = ".onnx"
    source_format: ClassVar[str] = "pytorch"
    precisions: ClassVar[tuple[str, ...]] = ("fp32", "int8-dynamic", "int8")
    requires: ClassVar[tuple[str, ...]] = ("onnx", "onnxslim")
    runtimes: ClassVar[tuple[str, ...]] = ("onnxruntime", "openvino")
    install_extra: ClassVar[str] = "all"
    supports_dynamic_batch: ClassVar[bool] = True
    options_class: ClassVar[type] = OnnxOptions

    def export(self, source, request: ExportRequest) -> list[ExportedFile]:
        import onnx
        import torch

        path = Path(request.out_dir) / f"{request.stem}.onnx"
        path.parent.mkdir(parents=True, exist_ok=True)
        dummy = torch.zeros(request.input_shape)
        dynamic_axes = ({INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
                        if request.dynamic_batch else None)
        with warnings.catch_warnings():
            # the TorchScript exporter is deprecated but 8x faster than dynamo and exact here
            warnings.simplefilter("ignore")
            try:
                torch.onnx.export(
                    source.eval(), (dummy,), str(path), opset_version=request.opset,
                    input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                    dynamic_axes=dynamic_axes, do_constant_folding=True, dynamo=False,
                )
            except Exception as exc:
                raise ExportError(f"torch.onnx.export failed: {type(exc).__name__}: {exc}") from exc
        try:
            # onnxslim imports onnxruntime inside a bare ``except:``; a Ctrl-C landing in that
            # first (slow) import would be swallowed and the export go on: import it here
            with contextlib.suppress(ImportError):
                import onnxruntime  # noqa: F401
            import onnxslim

            slim = onnxslim.slim(str(path))
            onnx.save(slim, str(path))
            onnx.checker.check_model(str(path))
        except Exception as exc:
            raise ExportError(f"ONNX simplification/check failed: {exc}") from exc
        files = [ExportedFile(path=path, precision="fp32", input_layout="NCHW",
                              input_name=INPUT_NAME, output_name=OUTPUT_NAME,
                              dynamic_batch=request.dynamic_batch)]
        for precision in request.precisions:
            if precision in ("int8-dynamic", "int8"):
                files.append(self._quantize(path, precision, request))
        return files

    def _quantize(self, fp32: Path, precision: str, request: ExportRequest) -> ExportedFile:
        from .quantize_onnx import quantize_dynamic_int8, quantize_static_int8

        target = fp32.with_name(f"{request.stem}_{precision}.onnx")
        bits = request.options_of(self).int8_weight_bits
        if precision == "int8-dynamic":
            how = quantize_dynamic_int8(fp32, target, weight_bits=bits)
        else:
            calib = request.calib
            if calib is None:
                raise UsageError("ONNX static int8 needs calibration images (pass --calib DIR); "
                                 "int8-dynamic needs none.")
            how = quantize_static_int8(fp32, target, calib, input_name=INPUT_NAME,
                                       batch=request.input_shape[0], weight_bits=bits)
        return ExportedFile(path=target, precision=precision, input_layout="NCHW",
                            input_name=INPUT_NAME, output_name=OUTPUT_NAME,
                            dynamic_batch=request.dynamic_batch, quantization=how)

    def load_runner(self, exported: ExportedFile, threads: int | None = None
                    ) -> tuple[Runner, dict]:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        try:
            sess = ort.InferenceSession(str(exported.path), opts,
                                        providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise load_failure("onnxruntime", exported.path, exc) from exc
        name = sess.get_inputs()[0].name

        def run(x: np.ndarray) -> np.ndarray:
            return sess.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0]

        from .quantize_onnx import graph_precision

        info = {"runtime": "onnxruntime", "version": package_version("onnxruntime"),
                "provider": "CPUExecutionProvider",
                "inference_precision": graph_precision(exported.path)}
        return run, info

    def tool_versions(self) -> dict[str, str]:
        import torch

        return {"torch": torch.__version__, **super().tool_versions()}
