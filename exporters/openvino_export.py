"""ONNX -> OpenVINO IR (fp32 and fp16 weights, int8 through NNCF post-training quantization on
calibration images), run with the OpenVINO CPU plugin."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from edge_vit.errors import ExportError, UsageError

from .base import ExportedFile, Exporter, ExportRequest, Runner, load_failure, package_version


@dataclass
class OpenVinoOptions:
    int8_weight_bits: int = 7  # as OnnxOptions
    # int8 in NNCF's accuracy-controlled mode: labelled validation images (never the
    # calibration ones) and the most top-1 (in points) quantization may cost on them
    val_dir: Path | None = None
    val_labels: str = "imagenet"
    val_size: int = 300
    max_drop: float | None = None

    def validate(self, precisions: tuple[str, ...]) -> None:
        if self.int8_weight_bits not in (7, 8):
            raise UsageError(f"--int8-weight-bits must be 7 or 8, got {self.int8_weight_bits}.")
        if self.max_drop is None:
            return
        if not self.val_dir:
            raise UsageError("--max-drop needs labelled validation images: pass --val-data.")
        if self.max_drop < 0:
            raise UsageError(f"--max-drop is in points of top-1 and cannot be negative "
                             f"({self.max_drop}).")
        if "int8" not in precisions:
            raise UsageError("--max-drop controls OpenVINO int8: add --precision int8 and "
                             "the openvino format.")


class OpenVinoExporter(Exporter):
    name: ClassVar[str] = "openvino"
    suffix: ClassVar[str] = ".xml"
    source_format: ClassVar[str] = "onnx"
    precisions: ClassVar[tuple[str, ...]] = ("fp32", "fp16", "int8")
    companion_suffixes: ClassVar[tuple[str, ...]] = (".bin",)
    requires: ClassVar[tuple[str, ...]] = ("openvino",)
    runtimes: ClassVar[tuple[str, ...]] = ("openvino",)
    install_extra: ClassVar[str] = "openvino"
    supports_dynamic_batch: ClassVar[bool] = True
    options_class: ClassVar[type] = OpenVinoOptions

    def export(self, source: Path, request: ExportRequest) -> list[ExportedFile]:
        import openvino as ov

        try:
            model = ov.convert_model(str(source))
        except Exception as exc:
            raise ExportError(f"openvino.convert_model failed on {source}: {exc}") from exc
        out = []
        for precision in request.precisions:
            path = Path(request.out_dir) / f"{request.stem}_{precision}.xml"
            how = None
            if precision == "int8":
                model, how = self._quantize(source, request)
            try:
                # compress_to_fp16 stores weights in fp16; the CPU plugin still computes in
                # its own inference precision, which the runner records separately.
                ov.save_model(model, str(path), compress_to_fp16=(precision == "fp16"))
                if precision == "int8":  # back to the float model for any later precision
                    model = ov.convert_model(str(source))
            except Exception as exc:
                raise ExportError(f"openvino.save_model failed for {precision}: {exc}") from exc
            out.append(ExportedFile(path=path, precision=precision, input_layout="NCHW",
                                    input_name=model.inputs[0].get_any_name(),
                                    output_name=model.outputs[0].get_any_name(),
                                    dynamic_batch=model.inputs[0].get_partial_shape().is_dynamic,
                                    quantization=how))
        return out

    def _quantize(self, source: Path, request: ExportRequest):
        import openvino as ov

        from .quantize_openvino import quantize_int8

        if request.calib is None:
            raise UsageError("OpenVINO int8 needs calibration images: pass --calib DIR.")
        return quantize_int8(ov.convert_model(str(source)), request.calib,
                             batch=request.input_shape[0], control=request.accuracy_control,
                             weight_bits=request.options_of(self).int8_weight_bits)

    def load_runner(self, exported: ExportedFile, threads: int | None = None,
                    inference_precision: str | None = "f32") -> tuple[Runner, dict]:
        """Parity runs pin f32: this CPU plugin would otherwise pick bf16 on AVX512_BF16/AMX
        hardware and the check would measure the hardware, not the export. ``None`` keeps the
        plugin's default (what a deployment gets unless it pins a precision)."""
        import openvino as ov

        core = ov.Core()
        config = {"INFERENCE_PRECISION_HINT": inference_precision} if inference_precision else {}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        try:
            compiled = core.compile_model(str(exported.path), "CPU", config)
        except Exception as exc:
            raise load_failure("OpenVINO", exported.path, exc) from exc
        request = compiled.create_infer_request()
        actual = precision_name(compiled.get_property("INFERENCE_PRECISION_HINT"))
        from .quantize_openvino import runtime_int8_ops

        int8_ops = runtime_int8_ops(compiled)
        if int8_ops:  # quantized ops run in int8; the hint covers only the float rest
            actual = "int8"

        def run(x: np.ndarray) -> np.ndarray:
            res = request.infer({0: np.ascontiguousarray(x, dtype=np.float32)})
            return np.array(res[compiled.outputs[0]])

        info = {"runtime": "openvino", "version": package_version("openvino"), "device": "CPU",
                "inference_precision": actual, "int8_ops": int8_ops}
        return run, info


def precision_name(ov_type) -> str:
    """OpenVINO element type (f32, bf16, f16) -> edge-vit's names (fp32, bf16, fp16)."""
    text = ov_type.to_string() if hasattr(ov_type, "to_string") else str(ov_type)
    return {"f32": "fp32", "f16": "fp16", "bf16": "bf16"}.get(text, text)
