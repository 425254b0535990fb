"""INT8 export: onnxruntime dynamic + static QDQ, NNCF for OpenVINO, onnx2tf for TFLite.

The int8 variants are made from a tiny ViT (32x32) *trained* on the coloured-squares set
(conftest's ``color_teacher``): its logits are not near-tied like a random-init model's, so the
checks judge quantization, not noise. Calibrated on a class-balanced subset of its training
images and validated on *other* images: each int8 artifact must load and run in its own
runtime, pass the int8 check (cosine and top-1 agreement with the fp32 reference, not a
max-abs-diff bound), be smaller than fp32, carry its calibration and weight range in the
manifest, and give the same predictions on an x86 CPU without VNNI (emulated) as on this one.
"""

import os
import platform
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from edge_vit import manifest as mf
from edge_vit import parity
from edge_vit.commands import main
from edge_vit.errors import UsageError
from edge_vit.export import run_export
from exporters.base import ExportedFile, get_exporter
from tests.conftest import tiny_export_options

CALIB_SIZE = 20
PARITY_INPUTS = 32


_opts = tiny_export_options


@pytest.fixture(scope="module")
def int8_export(tmp_path_factory, color_data, color_teacher):
    out = tmp_path_factory.mktemp("int8")
    return run_export(_opts(out, checkpoint=color_teacher,
                            precisions=("fp32", "int8-dynamic", "int8"),
                            calib_dir=color_data / "train", calib_size=CALIB_SIZE,
                            parity_inputs=PARITY_INPUTS))


INT8_KEYS = [("onnx", "int8-dynamic"), ("onnx", "int8"), ("openvino", "int8")]


def test_every_int8_variant_is_exported_and_passes(int8_export):
    m = int8_export.manifest
    assert [a.key for a in m.artifacts] == [("onnx", "fp32"), *INT8_KEYS[:2],
                                            ("openvino", "fp32"), INT8_KEYS[2]]
    for fmt, precision in INT8_KEYS:
        a = m.artifact(fmt, precision)
        assert a.status == mf.OK, a.error
        p = a.parity
        assert p.precision == "int8" and "max_abs_diff" not in p.thresholds
        assert p.num_inputs == PARITY_INPUTS
        assert p.min_cosine >= parity.THRESHOLDS["int8"]["min_cosine"]
        assert p.top1_agreement >= parity.THRESHOLDS["int8"]["top1_agreement"]
        assert p.top1_drop == pytest.approx(1 - p.top1_agreement)
        fp32 = m.artifact(fmt, "fp32")
        assert a.size_bytes < fp32.size_bytes / 2  # int8 weights
        assert a.runtime["inference_precision"] == precision  # what actually ran
        assert a.quantization and a.quantization["tool"]
        assert a.quantization["weight_bits"] == 7 and "VNNI" in a.quantization["why"]
    assert m.artifact("openvino", "int8").runtime["int8_ops"] > 0
    assert m.artifact("onnx", "fp32").parity.top1_drop is None  # float checks unchanged


def test_manifest_records_calibration_and_held_out_parity_images(int8_export, color_data):
    m = mf.read_manifest(int8_export.manifest_path)  # what is on disk, round-tripped
    for key in (("onnx", "int8"), ("openvino", "int8")):
        cal = m.artifact(*key).calibration
        assert cal["folder"] == str(color_data / "train") and cal["count"] == CALIB_SIZE
        assert len(cal["files"]) == CALIB_SIZE and re.fullmatch(r"[0-9a-f]{64}",
                                                                cal["fingerprint"])
        # class-balanced: two images from each of the 10 classes
        assert len({f.split("/")[0] for f in cal["files"]}) == 10
    assert m.artifact("onnx", "int8-dynamic").calibration is None  # no data used
    assert m.artifact("onnx", "fp32").calibration is None
    inputs = m.artifact("onnx", "int8").parity.inputs
    assert inputs.startswith("images:") and f"skipping the {CALIB_SIZE} calibration" in inputs


def test_int8_artifacts_run_in_their_runtime(int8_export, imagenet_sample):
    from edge_vit.data.images import list_images, load_images

    m, root = int8_export.manifest, int8_export.manifest_path.parent
    x = load_images(list_images(imagenet_sample)[-2:], m.model.data_config).numpy()
    for fmt, precision in INT8_KEYS:
        a = m.artifact(fmt, precision)
        ef = ExportedFile(path=root / a.path, precision=precision, input_layout="NCHW")
        run, info = get_exporter(fmt).load_runner(ef)
        out = np.concatenate([run(x[i:i + 1]) for i in range(len(x))])
        assert out.shape == (2, 10) and np.isfinite(out).all()
        assert info["inference_precision"] == precision


# --- the same file on an x86 CPU without VNNI ------------------------------------------------
# qemu's user-mode emulator runs this Python on an emulated Haswell (AVX2, no AVX-512, no VNNI),
# so onnxruntime and OpenVINO pick the kernels such CPUs get. Slow (~5 s a run), and real.
QEMU = shutil.which("qemu-x86_64-static") or shutil.which("qemu-x86_64")
needs_qemu = pytest.mark.skipif(
    platform.machine() != "x86_64" or QEMU is None,
    reason="x86-64 emulation needs qemu-user-static (apt-get install qemu-user-static)")

_LOGITS = """
import sys, numpy as np
fmt, path, x = sys.argv[1], sys.argv[2], np.load(sys.argv[3])
if fmt == "onnx":
    import onnxruntime as ort
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    run = lambda b: s.run(None, {name: b})[0]
elif fmt == "probe":  # u8 x s8 products whose pair sums overflow int16 (VPMADDUBSW)
    import onnx, onnxruntime as ort
    from onnx import helper, TensorProto as T
    w = np.full((64, 4), 127, np.int8)
    g = helper.make_graph([helper.make_node("MatMulInteger", ["a", "w"], ["y"])], "g",
                          [helper.make_tensor_value_info("a", T.UINT8, [1, 64])],
                          [helper.make_tensor_value_info("y", T.INT32, [1, 4])],
                          [helper.make_tensor("w", T.INT8, w.shape, w.flatten())])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    print(int(s.run(None, {"a": np.full((1, 64), 255, np.uint8)})[0][0, 0]))
    sys.exit(0)
else:
    import openvino as ov
    c = ov.Core().compile_model(path, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    run = lambda b: c(b)[c.outputs[0]]
np.save(sys.argv[4], np.concatenate([run(x[i:i + 1]) for i in range(len(x))]))
"""


def _run(tmp_path, fmt, path, x, cpu=None) -> np.ndarray | str:
    script, xs, out = tmp_path / "logits.py", tmp_path / "x.npy", tmp_path / f"{fmt}-{cpu}.npy"
    script.write_text(_LOGITS)
    np.save(xs, x)
    argv = [sys.executable, str(script), fmt, str(path), str(xs), str(out)]
    if cpu:
        argv = [QEMU, "-cpu", cpu, *argv]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip() if fmt == "probe" else np.load(out)


@needs_qemu
def test_the_emulated_cpu_takes_the_saturating_path(tmp_path):
    # the check below means something only if the emulated CPU really has no VNNI
    assert int(_run(tmp_path, "probe", "-", np.zeros(1), cpu="Haswell")) != 255 * 127 * 64


@needs_qemu
def test_int8_gives_the_same_predictions_without_vnni(int8_export, color_data, tmp_path):
    from edge_vit.data.images import list_images, load_images

    m, root = int8_export.manifest, int8_export.manifest_path.parent
    x = load_images(list_images(color_data / "test")[:24], m.model.data_config).numpy()
    fp32 = _run(tmp_path, "onnx", root / m.artifact("onnx", "fp32").path, x)
    for fmt, precision in INT8_KEYS:
        path = root / m.artifact(fmt, precision).path
        here, avx2 = _run(tmp_path, fmt, path, x), _run(tmp_path, fmt, path, x, cpu="Haswell")
        cos = parity.compare(here, avx2, precision="int8", inputs="same file, two CPUs")
        assert cos.min_cosine > 0.999 and cos.top1_agreement == 1.0, (fmt, precision, cos)
        vs_fp32 = parity.compare(fp32, avx2, precision="int8", inputs="emulated AVX2")
        assert vs_fp32.passed, (fmt, precision, vs_fp32.failure)


def test_static_int8_needs_calibration_images(tmp_path):
    with pytest.raises(UsageError, match="--calib"):
        run_export(_opts(tmp_path, precisions=("int8",)))
    assert list(tmp_path.iterdir()) == []  # refused before any work


def test_dynamic_int8_needs_no_images(tmp_path):
    result = run_export(_opts(tmp_path, formats=("onnx",), precisions=("int8-dynamic",)))
    a = result.manifest.artifact("onnx", "int8-dynamic")
    assert a.status == mf.OK and a.calibration is None
    assert a.parity.inputs.startswith("random")


def test_full_range_weights_are_a_choice_and_recorded(tmp_path):
    result = run_export(_opts(tmp_path, formats=("onnx",), precisions=("int8-dynamic",),
                              int8_weight_bits=8))
    q = result.manifest.artifact("onnx", "int8-dynamic").quantization
    assert q["weight_bits"] == 8 and "without VNNI saturates" in q["why"]
    with pytest.raises(UsageError, match="7 or 8"):
        run_export(_opts(tmp_path, precisions=("int8-dynamic",), int8_weight_bits=4))


def test_parity_falls_back_to_random_when_every_image_calibrates(tmp_path, imagenet_sample):
    folder = tmp_path / "four"
    for p in sorted(imagenet_sample.rglob("*.JPEG"))[:4]:
        (folder / p.parent.name).mkdir(parents=True)
        shutil.copy(p, folder / p.parent.name / p.name)
    result = run_export(_opts(tmp_path / "out", formats=("onnx",), precisions=("int8",),
                              calib_dir=folder, calib_size=4))
    a = result.manifest.artifact("onnx", "int8")
    assert a.calibration["count"] == 4 and a.parity.inputs.startswith("random")


def test_int8_thresholds_ignore_abs_diff_but_not_direction():
    ref = np.eye(4, 10, dtype=np.float32) * 5
    shifted = ref * 1.5  # big absolute change, same direction and argmax
    assert parity.compare(ref, shifted, precision="int8", inputs="t").passed
    assert not parity.compare(ref, shifted, precision="fp16", inputs="t").passed
    scrambled = np.roll(ref, 1, axis=1)
    report = parity.compare(ref, scrambled, precision="int8-dynamic", inputs="t")
    assert not report.passed and "cosine" in report.failure and report.top1_drop == 1.0


def test_cli_int8_without_calib_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["export", "--model-arg", "img_size=32", "--precision",
                                       "fp32,int8", "--formats", "onnx", "--out",
                                       str(tmp_path)])
    assert result.exit_code == 2 and "--calib" in result.output


def test_tflite_int8(tmp_path, imagenet_sample):
    # one onnx2tf run makes all three: fp32, dynamic-range int8, full-integer int8
    result = run_export(_opts(tmp_path, formats=("tflite",),
                              precisions=("fp32", "int8-dynamic", "int8"),
                              calib_dir=imagenet_sample, calib_size=CALIB_SIZE,
                              parity_inputs=PARITY_INPUTS))
    m = result.manifest
    fp32 = m.artifact("tflite", "fp32")
    assert fp32.status == mf.OK
    dyn = m.artifact("tflite", "int8-dynamic")
    assert dyn.status == mf.OK, dyn.error
    assert dyn.size_bytes < fp32.size_bytes / 2 and dyn.calibration is None
    full = m.artifact("tflite", "int8")
    assert full.size_bytes < fp32.size_bytes / 2
    assert full.calibration["count"] == CALIB_SIZE
    assert full.quantization["calibration_samples"] == CALIB_SIZE
    assert full.runtime["inference_precision"] == "int8"
    p = full.parity  # it ran: real figures, and the drop reported
    assert np.isfinite(p.min_cosine) and p.top1_drop == pytest.approx(1 - p.top1_agreement)
    # Full-integer TFLite quantizes LayerNorm, Softmax and GELU too; on this random-init tiny
    # ViT that costs far more than the int8 threshold allows (cosine ~0.6, top-1 agreement
    # ~65% on held-out images), and the pipeline says so instead of hiding it.
    if full.status != mf.OK:
        assert full.status == mf.VALIDATION_FAILED
        assert "cosine" in full.error or "top-1" in full.error


def test_openvino_accuracy_controlled_int8(tmp_path, color_data, color_teacher):
    """NNCF's accuracy-controlled mode on a trained tiny ViT: calibrated on train images,
    validated on labelled test images, within the allowed drop, and recorded as such."""
    opts = _opts(tmp_path, checkpoint=color_teacher, formats=("onnx", "openvino"),
                 precisions=("fp32", "int8"), calib_dir=color_data / "train", calib_size=16,
                 val_dir=color_data / "test", val_labels="folders", max_drop=1.0)
    result = run_export(opts)
    a = result.manifest.artifact("openvino", "int8")
    assert a.status == mf.OK, a.error
    q = a.quantization
    assert q["tool"] == "nncf.quantize_with_accuracy_control" and q["max_drop_pts"] == 1.0
    assert q["validation_images"] == 100 and q["validation_data"]["num_classes"] == 10
    assert q["validation_top1_fp32"] >= 80.0  # a trained model: the drop means something
    assert q["validation_top1_int8"] >= q["validation_top1_fp32"] - 1.0
    assert result.manifest.artifact("onnx", "int8").quantization["tool"] != q["tool"]


def test_accuracy_control_refuses_what_it_cannot_honour(tmp_path, color_data):
    with pytest.raises(UsageError, match="--val-data"):
        run_export(_opts(tmp_path, precisions=("int8",), calib_dir=color_data / "train",
                         max_drop=1.0))
    with pytest.raises(UsageError, match="openvino"):
        run_export(_opts(tmp_path, formats=("onnx",), precisions=("int8",),
                         calib_dir=color_data / "train", val_dir=color_data / "test",
                         max_drop=1.0))
    with pytest.raises(UsageError, match="also calibration images"):
        run_export(_opts(tmp_path, precisions=("int8",), calib_dir=color_data / "train",
                         val_dir=color_data / "train", val_labels="folders", max_drop=1.0))


def test_tflite_int8_mixed_keeps_attention_in_float_and_passes(tmp_path, color_data,
                                                               color_teacher):
    """Selective int8 TFLite on a trained tiny ViT: int8 weights and activations except the
    attention products, Softmax and LayerNorm (float32), judged by the unchanged int8
    thresholds on held-out images."""
    from ai_edge_litert.interpreter import Interpreter

    from exporters.tflite_selective import FLOAT_OPS

    result = run_export(_opts(tmp_path, checkpoint=color_teacher, formats=("tflite",),
                              precisions=("fp32", "int8-mixed"),
                              calib_dir=color_data / "train", calib_size=CALIB_SIZE,
                              parity_inputs=PARITY_INPUTS))
    m = result.manifest
    fp32, mixed = m.artifact("tflite", "fp32"), m.artifact("tflite", "int8-mixed")
    assert mixed.status == mf.OK, (mixed.error, mixed.parity)
    assert mixed.parity.num_inputs == PARITY_INPUTS and mixed.parity.precision == "int8"
    assert mixed.size_bytes < fp32.size_bytes / 2
    assert mixed.quantization["float_ops"] == list(FLOAT_OPS)
    assert mixed.calibration["count"] == CALIB_SIZE
    assert mixed.runtime["inference_precision"] == "int8-mixed"
    it = Interpreter(model_path=str(result.manifest_path.parent / mixed.path))
    it.allocate_tensors()
    tensors = {t["index"]: t["dtype"].__name__ for t in it.get_tensor_details()}
    ops = it._get_ops_details()
    kinds = {(op["op_name"], tensors[op["inputs"][0]]) for op in ops if len(op["inputs"])}
    assert ("FULLY_CONNECTED", "int8") in kinds  # the weights' matmuls run in int8
    assert ("BATCH_MATMUL", "float32") in kinds and ("SOFTMAX", "float32") in kinds
    assert not any(name == "BATCH_MATMUL" and dtype == "int8" for name, dtype in kinds)
