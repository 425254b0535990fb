"""ONNX -> TFLite (fp32 and fp16 weights) through onnx2tf, run with the LiteRT interpreter.

onnx2tf runs in a child process inside a scratch folder, because it

* overwrites its input .onnx in place (with onnxsim's output): it gets a copy;
* downloads MS-COCO calibration images from GitHub when the input looks like an image, unless
  ``calibration_image_sample_data_20x128x128x3_float32.npy`` lies in its working directory: a
  synthetic one is written there, and every proxy variable points at a dead local port so any
  other download fails at once instead of hanging;
* calls the ``onnxsim`` console script through ``PATH``: the interpreter's scripts folder is put
  first, since without onnxsim timm ViTs fail at their first LayerNormalization;
* turns exact GELU's ``Erf`` into ``FlexErf``, which LiteRT cannot run: ``-rtpo Erf`` swaps in
  a polynomial erf (error < 2e-7);
* writes NHWC inputs unless told ``-kat <input>`` (keep the shape absolutely), and a fixed batch.

``-coion`` (copy ONNX names into the .tflite) is not used: it needs ``flatc`` and fetches
TensorFlow's ``schema.fbs`` with curl. The ONNX names survive anyway as the ``serving_default``
signature's keys, which is what ``ExportedFile.input_name`` / ``output_name`` record.

About int8: ``int8-dynamic`` is onnx2tf's dynamic-range file (int8 weights, activations
quantized per op at run time; ``-odrqt``, no data needed). ``int8`` is its full-integer
``*_integer_quant.tflite`` (``-oiqt``: int8 weights and activations in every op, with
QUANTIZE/DEQUANTIZE only at the float32 input and output, so it is a drop-in for the float
runners). Its activation ranges come from ``request.options["calib"]``: the model's own
preprocessed calibration images, written as a ``.npy`` in the TFLite input layout and passed
with ``-cind <input> <file> 0 1`` (mean 0, std 1: onnx2tf computes ``(x - mean) / std`` and the
images are already normalized), so onnx2tf never substitutes its own sample images.

``int8-mixed`` is int8 weights and activations everywhere except the attention products,
Softmax and LayerNorm, which stay float32 (``exporters/tflite_selective.py``: TensorFlow's
selective quantization on the SavedModel onnx2tf writes; float32 I/O). All-int8 loses ViTs
their parity in exactly those ops (onnx2tf's 16x8 file, int16 activations, does not run in
LiteRT: no int16 SQUARED_DIFFERENCE); benchmarks/int8_tflite.py measures both.

About fp16: ``*_float16.tflite`` stores weights in fp16 behind DEQUANTIZE ops, and onnx2tf marks
it ``reduced_precision_support = "fp16accfp32"``. The XNNPACK delegate computes in fp16 only when
that metadata says ``fp16`` inference *and* ``fp16`` accumulation and the CPU has native FP16
arithmetic (ARMv8.2-A FP16); otherwise it folds the DEQUANTIZEs into fp32 weights at load time
and computes in fp32. So onnx2tf's fp16 files run in fp32 on every CPU; only the weights (and the
file) are half-size. :func:`runtime_precision` reads the metadata and says which applies.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from devices.runner.backends import litert as _litert
from edge_vit.errors import ExportError, UsageError

from .base import ExportedFile, Exporter, ExportRequest, Runner, load_failure, package_version
from .onnx2tf_tool import onnx2tf_argv, run_onnx2tf

log = logging.getLogger(__name__)

LAYOUTS = ("NHWC", "NCHW")
DEFAULT_TIMEOUT_S = 1800.0
CALIBRATION_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"
CALIBRATION_SHAPE = (20, 128, 128, 3)
# onnx2tf names its outputs after the input file: <stem>_float32.tflite, <stem>_float16.tflite
ONNX2TF_SUFFIXES = {"fp32": "_float32.tflite", "fp16": "_float16.tflite",
                    "int8-dynamic": "_dynamic_range_quant.tflite",
                    "int8": "_integer_quant.tflite",
                    "int8-mixed": "_int8_mixed.tflite"}  # ours: tflite_selective.py
CALIBRATED = ("int8", "int8-mixed")  # quantized with the calibration images
REPRESENTATIVE_FILE = "representative_data.npy"
_WORK_STEM = "model"


@dataclass
class TFLiteOptions:
    layout: str = "NHWC"  # the TFLite model's input layout (NCHW keeps ONNX's)
    timeout_s: float = DEFAULT_TIMEOUT_S  # onnx2tf is stopped after this long

    def validate(self, precisions: tuple[str, ...]) -> None:
        if str(self.layout).upper() not in LAYOUTS:
            raise UsageError(f"--tflite-layout must be one of {', '.join(LAYOUTS)}, not "
                             f"{self.layout!r}.")
        if not (isinstance(self.timeout_s, (int, float)) and self.timeout_s > 0):
            raise UsageError(f"The TFLite conversion timeout must be a number of seconds > 0, "
                             f"got {self.timeout_s!r}.")


class TFLiteExporter(Exporter):
    name: ClassVar[str] = "tflite"
    suffix: ClassVar[str] = ".tflite"
    source_format: ClassVar[str] = "onnx"
    precisions: ClassVar[tuple[str, ...]] = ("fp32", "fp16", "int8-dynamic", "int8", "int8-mixed")
    requires: ClassVar[tuple[str, ...]] = ("onnx2tf", "tensorflow")
    runtimes: ClassVar[tuple[str, ...]] = ("litert", "tflite_runtime")
    install_extra: ClassVar[str] = "tflite"
    options_class: ClassVar[type] = TFLiteOptions

    def export(self, source: Path, request: ExportRequest) -> list[ExportedFile]:
        source = Path(source)
        options = request.options_of(self)
        options.validate(request.precisions)
        layout = str(options.layout).upper()
        unknown = [p for p in request.precisions if p not in self.precisions]
        if unknown or not request.precisions:
            raise UsageError(f"TFLite precisions are {', '.join(self.precisions)}; "
                             f"got {list(request.precisions)}.")
        if request.dynamic_batch:
            raise UsageError("TFLite models have a fixed batch; export without dynamic batch.")
        if not source.is_file():
            raise ExportError(f"The ONNX file to convert does not exist: {source}")
        timeout = float(options.timeout_s)
        out_dir = Path(request.out_dir)
        calib = request.calib
        calibrated = [p for p in request.precisions if p in CALIBRATED]
        if calibrated and calib is None:
            raise UsageError(f"TFLite {', '.join(calibrated)} needs calibration images (pass "
                             "--calib DIR); int8-dynamic needs none.")

        with tempfile.TemporaryDirectory(prefix="edge-vit-onnx2tf-") as tmp:
            work = Path(tmp)
            onnx_copy = work / f"{_WORK_STEM}.onnx"
            input_name, shape_override = prepare_onnx(source, onnx_copy, request.input_shape)
            write_calibration_data(work)
            representative = None
            if calibrated:
                representative = write_representative_data(work, calib, layout,
                                                           batch=request.input_shape[0])
            argv = onnx2tf_argv(onnx_copy.name, "out", input_name=input_name, layout=layout,
                                shape_override=shape_override,
                                dynamic_range="int8-dynamic" in request.precisions,
                                representative=representative
                                if "int8" in request.precisions else None)
            run_onnx2tf(argv, cwd=work, timeout_s=timeout)
            if "int8-mixed" in request.precisions:
                run_onnx2tf([sys.executable, "-m", "exporters.tflite_selective", "out",
                             representative.name, f"out/{_WORK_STEM}_int8_mixed.tflite",
                             "--batch", str(request.input_shape[0])], cwd=work,
                            timeout_s=timeout, tool="tflite selective quantization")
            files = []
            out_dir.mkdir(parents=True, exist_ok=True)
            for precision in request.precisions:
                produced = work / "out" / f"{_WORK_STEM}{ONNX2TF_SUFFIXES[precision]}"
                if not produced.is_file():
                    raise ExportError(
                        f"onnx2tf exited 0 but wrote no {produced.name} (for {precision}); "
                        f"it wrote: {sorted(p.name for p in (work / 'out').glob('*'))}")
                target = out_dir / f"{request.stem}_{precision}{self.suffix}"
                shutil.move(str(produced), target)
                ef = describe_tflite(target, precision, layout, request.input_shape)
                ef.quantization = _quantization(precision, representative, layout)
                files.append(ef)
        return files

    def load_runner(self, exported: ExportedFile, threads: int | None = None
                    ) -> tuple[Runner, dict]:
        from ai_edge_litert.interpreter import Interpreter

        try:
            interpreter = Interpreter(model_path=str(exported.path), num_threads=threads)
            interpreter.allocate_tensors()
        except Exception as exc:
            raise load_failure("LiteRT", exported.path, exc) from exc
        inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ExportError(f"{exported.path} has {len(inputs)} inputs and {len(outputs)} "
                              "outputs; edge-vit expects one of each.")
        in_index, out_index = inputs[0]["index"], outputs[0]["index"]
        model_shape = tuple(int(d) for d in inputs[0]["shape"])
        nhwc = exported.input_layout == "NHWC"

        def run(x: np.ndarray) -> np.ndarray:
            x = np.asarray(x, dtype=np.float32)
            if x.ndim != 4:
                raise UsageError(f"The TFLite runner takes an NCHW batch; got shape {x.shape}.")
            if nhwc:
                x = x.transpose(0, 2, 3, 1)
            if x.shape != model_shape:
                if x.shape[1:] == model_shape[1:]:
                    raise UsageError(
                        f"{exported.path.name} has a fixed batch of {model_shape[0]}; got a "
                        f"batch of {x.shape[0]}. Run batches of {model_shape[0]} or export "
                        f"with that batch size.")
                raise UsageError(f"{exported.path.name} takes {exported.input_layout} input "
                                 f"{list(model_shape)}; got {list(x.shape)} after layout change.")
            interpreter.set_tensor(in_index, np.ascontiguousarray(x))
            interpreter.invoke()
            return interpreter.get_tensor(out_index)

        try:  # a private API, but the only way to see whether XNNPACK took the graph
            partitions = sum(op["op_name"] == "DELEGATE"
                             for op in interpreter._get_ops_details())
        except Exception:
            partitions = 0
        delegate = "xnnpack" if partitions else "none"
        metadata = read_tflite_metadata(exported.path)
        info = {
            "runtime": "litert",
            "version": package_version("ai_edge_litert"),
            "delegate": delegate,
            "delegate_partitions": partitions,
            "threads": threads,
            "input_layout": exported.input_layout,
            "weights_precision": exported.precision,
            "reduced_precision_support": metadata.get("reduced_precision_support"),
            "inference_precision": exported.precision if exported.precision.startswith("int8")
            else runtime_precision(metadata, xnnpack=bool(partitions)),
        }
        return run, info

    def tool_versions(self) -> dict[str, str]:
        return {**super().tool_versions(), "onnxsim": package_version("onnxsim"),
                "onnxslim": package_version("onnxslim")}


def prepare_onnx(source: Path, target: Path, input_shape: tuple[int, ...]
                 ) -> tuple[str, str | None]:
    """Write a simplified copy of ``source`` to ``target``; return its input name and, when the
    ONNX input has symbolic dimensions, the ``-ois`` value that fixes them to ``input_shape``."""
    import onnx

    try:
        model = onnx.load(str(source))
    except Exception as exc:
        raise ExportError(f"Cannot read {source} as ONNX: {type(exc).__name__}: {exc}") from exc
    inits = {i.name for i in model.graph.initializer}
    graph_inputs = [i for i in model.graph.input if i.name not in inits]
    if len(graph_inputs) != 1:
        raise ExportError(f"{source} has {len(graph_inputs)} inputs; edge-vit converts "
                          "single-input image models.")
    try:
        import onnxslim

        model = onnxslim.slim(model)
    except Exception as exc:  # onnx2tf runs onnxsim itself; slimming first is a safeguard
        log.warning("onnxslim could not simplify %s (%s); converting it as is.", source, exc)
    name = graph_inputs[0].name
    dims = [d.dim_value if d.HasField("dim_value") else None
            for d in graph_inputs[0].type.tensor_type.shape.dim]
    if len(dims) != len(input_shape):
        raise ExportError(f"{source} input '{name}' has rank {len(dims)}; expected shape "
                          f"{list(input_shape)}.")
    fixed = [d for d, want in zip(dims, input_shape, strict=True) if d is not None and d != want]
    if fixed:
        raise ExportError(f"{source} input '{name}' has shape {dims}; the request is for "
                          f"{list(input_shape)}.")
    override = None if all(d is not None for d in dims) else \
        f"{name}:{','.join(str(int(d)) for d in input_shape)}"
    onnx.save(model, str(target))
    return name, override


def write_calibration_data(folder: Path, seed: int = 0) -> Path:
    """The synthetic stand-in for onnx2tf's downloaded sample images (never used to quantize:
    edge-vit asks for no integer quantization; onnx2tf only reads it for its own checks)."""
    path = folder / CALIBRATION_FILE
    data = np.random.default_rng(seed).random(CALIBRATION_SHAPE, dtype=np.float32)
    np.save(path, data)
    return path


def write_representative_data(folder: Path, calib, layout: str, *, batch: int) -> Path:
    """The calibration images for ``-oiqt``, in the TFLite input layout (NHWC unless kept NCHW),
    trimmed to whole batches (onnx2tf feeds them a model batch at a time)."""
    calib = np.asarray(calib, dtype=np.float32)
    if calib.ndim != 4 or len(calib) < batch:
        raise UsageError(f"int8 calibration needs an (N>={batch}, 3, H, W) array; got "
                         f"{calib.shape}.")
    calib = calib[:len(calib) - len(calib) % batch]
    if layout == "NHWC":
        calib = calib.transpose(0, 2, 3, 1)
    path = folder / REPRESENTATIVE_FILE
    np.save(path, np.ascontiguousarray(calib))
    return path


def _quantization(precision: str, representative: Path | None, layout: str) -> dict | None:
    if precision == "int8-dynamic":
        return {"tool": "onnx2tf -odrqt (TFLite dynamic-range)", "weights": "int8",
                "activations": "float32, quantized per op at run time"}
    if precision not in CALIBRATED:
        return None
    calibration = {"calibration_samples": int(np.load(representative, mmap_mode="r").shape[0])
                   if representative else 0, "calibration_layout": layout}
    if precision == "int8":
        return {"tool": "onnx2tf -oiqt (TFLite integer quant, float32 I/O)",
                "weights": "int8 per-channel", "activations": "int8", **calibration}
    from .tflite_selective import FLOAT_OPS

    return {"tool": "TensorFlow Lite selective quantization (QuantizationDebugger "
                    "denylisted_ops) on onnx2tf's SavedModel, float32 I/O",
            "weights": "int8 per-channel", "activations": "int8, except the float ops",
            "float_ops": list(FLOAT_OPS), **calibration}


def describe_tflite(path: Path, precision: str, layout: str, input_shape: tuple[int, ...]
                    ) -> ExportedFile:
    """Check the written model's input against the requested layout; record its names."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_path=str(path))
    except Exception as exc:
        raise ExportError(f"LiteRT cannot load the converted {path}: {exc}") from exc
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    b, c, h, w = input_shape
    expected = (b, h, w, c) if layout == "NHWC" else (b, c, h, w)
    got = tuple(int(d) for d in inputs[0]["shape"])
    if len(inputs) != 1 or got != expected:
        raise ExportError(f"onnx2tf wrote {path.name} with input shape(s) "
                          f"{[list(i['shape']) for i in inputs]}; expected {layout} "
                          f"{list(expected)}.")
    signature = interpreter.get_signature_list().get("serving_default", {})
    in_names, out_names = signature.get("inputs") or [], signature.get("outputs") or []
    input_name = in_names[0] if len(in_names) == 1 else inputs[0]["name"]
    output_name = out_names[0] if len(out_names) == 1 else outputs[0]["name"]
    return ExportedFile(path=path, precision=precision, input_layout=layout,
                        input_name=input_name, output_name=output_name, dynamic_batch=False)


def read_tflite_metadata(path: Path) -> dict[str, str]:
    """The model's string metadata (``reduced_precision_support``, ``min_runtime_version``):
    the device runner's reader (struct only, so it works with any interpreter package)."""
    return _litert.tflite_metadata(str(path))


def runtime_precision(metadata: dict[str, Any], *, xnnpack: bool) -> str:
    """What precision LiteRT computes in, following the XNNPACK delegate's own rule (the
    runner's): fp16 only for ``fp16...accfp16`` metadata on a CPU with native FP16 arithmetic;
    fp32 otherwise (fp16 weights are dequantized to fp32 when the model is loaded)."""
    return _litert.tflite_precision(metadata.get("reduced_precision_support"), xnnpack,
                                    native_fp16=cpu_has_native_fp16())


def cpu_has_native_fp16() -> bool:
    return _litert.cpu_has_native_fp16()
