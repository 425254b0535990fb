"""TFLiteExporter against real onnx2tf and the real LiteRT interpreter, on a tiny timm ViT.

Each conversion of the tiny model takes ~15-20 s here, so the three conversions are
module-scoped fixtures shared by the tests; the failure cases stop within a few seconds.
"""

from __future__ import annotations

import hashlib
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx2tf")
pytest.importorskip("ai_edge_litert")
torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

from ai_edge_litert.interpreter import Interpreter  # noqa: E402

from edge_vit.errors import ExportError, MissingRuntimeError, UsageError  # noqa: E402
from exporters import onnx2tf_tool, tflite_export  # noqa: E402
from exporters.base import ExportRequest, get_exporter  # noqa: E402
from exporters.tflite_export import TFLiteExporter, TFLiteOptions  # noqa: E402

SHAPE = (1, 3, 32, 32)
NUM_CLASSES = 10


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _export_onnx(model, path: Path, dynamic_batch: bool = False) -> Path:
    axes = {"input": {0: "batch"}, "logits": {0: "batch"}} if dynamic_batch else None
    torch.onnx.export(model, torch.randn(*SHAPE), str(path), opset_version=17, dynamo=False,
                      input_names=["input"], output_names=["logits"], dynamic_axes=axes)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 2-block DeiT-tiny on 32x32 images, its ONNX files (batch 1, dynamic batch) and test
    inputs."""
    torch.manual_seed(0)
    model = timm.create_model("deit_tiny_patch16_224", img_size=32, patch_size=8, depth=2,
                              num_classes=NUM_CLASSES).eval()
    folder = tmp_path_factory.mktemp("onnx")
    with warnings.catch_warnings():  # the TorchScript exporter's tracer warnings
        warnings.simplefilter("ignore")
        onnx1 = _export_onnx(model, folder / "tiny.onnx")
        dynamic = _export_onnx(model, folder / "tiny_dynamic.onnx", dynamic_batch=True)
    x = np.random.default_rng(0).standard_normal((4, *SHAPE[1:])).astype(np.float32)
    with torch.inference_mode():
        ref_torch = model(torch.from_numpy(x)).numpy()
    return {"model": model, "onnx": onnx1, "onnx_dynamic": dynamic, "x": x, "torch": ref_torch,
            "sha256": {p: _sha256(p) for p in (onnx1, dynamic)}}


def _convert(tiny, tmp_path_factory, layout, precisions=("fp32", "fp16"), onnx_key="onnx",
             batch=1):
    out = tmp_path_factory.mktemp(f"tflite_{layout}")
    request = ExportRequest(out_dir=out, stem="tiny", input_shape=(batch, *SHAPE[1:]),
                            precisions=precisions, options=TFLiteOptions(layout=layout))
    files = TFLiteExporter().export(tiny[onnx_key], request)
    return {"files": {f.precision: f for f in files}, "out": out}


@pytest.fixture(scope="module")
def nhwc(tiny, tmp_path_factory):
    return _convert(tiny, tmp_path_factory, "NHWC")


@pytest.fixture(scope="module")
def nchw(tiny, tmp_path_factory):
    return _convert(tiny, tmp_path_factory, "NCHW")


@pytest.fixture(scope="module")
def fp16_batch2(tiny, tmp_path_factory):
    """From a dynamic-batch ONNX, fixed to batch 2 at conversion (onnx2tf's -ois)."""
    return _convert(tiny, tmp_path_factory, "NHWC", precisions=("fp16",),
                    onnx_key="onnx_dynamic", batch=2)


def _onnxruntime(onnx_path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {"input": x[i:i + 1]})[0] for i in range(len(x))])


def _run_all(exported, x, batch=1, threads=2):
    run, info = TFLiteExporter().load_runner(exported, threads=threads)
    return np.concatenate([run(x[i:i + batch]) for i in range(0, len(x), batch)]), info


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_export_writes_both_precisions_with_the_requested_layout(layout, tiny, request):
    result = request.getfixturevalue(layout.lower())
    files = result["files"]
    assert sorted(files) == ["fp16", "fp32"]
    assert sorted(p.name for p in result["out"].iterdir()) == ["tiny_fp16.tflite",
                                                                "tiny_fp32.tflite"]
    expected_shape = [1, 32, 32, 3] if layout == "NHWC" else [1, 3, 32, 32]
    for precision, ef in files.items():
        assert ef.path == result["out"] / f"tiny_{precision}.tflite"
        assert ef.input_layout == layout
        assert (ef.input_name, ef.output_name) == ("input", "logits")  # the ONNX names
        assert ef.dynamic_batch is False
        interpreter = Interpreter(model_path=str(ef.path))
        assert interpreter.get_input_details()[0]["shape"].tolist() == expected_shape
        assert interpreter.get_output_details()[0]["shape"].tolist() == [1, NUM_CLASSES]
        assert interpreter.get_signature_list()["serving_default"] == {
            "inputs": ["input"], "outputs": ["logits"]}
    # fp16 weights: about half the file
    assert files["fp16"].path.stat().st_size < 0.6 * files["fp32"].path.stat().st_size


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_outputs_match_onnxruntime_and_torch(layout, tiny, request):
    files = request.getfixturevalue(layout.lower())["files"]
    x = tiny["x"]
    ref_ort = _onnxruntime(tiny["onnx"], x)
    assert np.abs(ref_ort - tiny["torch"]).max() < 1e-4  # the reference itself is sound

    out32, info32 = _run_all(files["fp32"], x)
    assert out32.shape == (len(x), NUM_CLASSES) and out32.dtype == np.float32
    assert np.abs(out32 - ref_ort).max() < 1e-4
    assert np.abs(out32 - tiny["torch"]).max() < 1e-4

    out16, info16 = _run_all(files["fp16"], x)
    for ref in (ref_ort, tiny["torch"]):
        assert min(_cosine(out16[i], ref[i]) for i in range(len(x))) > 0.999
        assert np.abs(out16 - ref).max() < 5e-2
    assert np.abs(out16 - out32).max() > 0  # the fp16 file really holds rounded weights

    for info, precision in ((info32, "fp32"), (info16, "fp16")):
        assert info["runtime"] == "litert" and info["version"] not in ("", "missing")
        assert info["delegate"] == "xnnpack" and info["delegate_partitions"] >= 1
        assert info["weights_precision"] == precision
        assert info["input_layout"] == layout
        assert info["threads"] == 2
        # onnx2tf marks fp16 files "fp16accfp32": XNNPACK computes them in fp32
        assert info["inference_precision"] == "fp32"
    assert info32["reduced_precision_support"] is None
    assert info16["reduced_precision_support"] == "fp16accfp32"


def test_fp16_runs_in_fp32_as_reported(nhwc, tiny):
    """XNNPACK and LiteRT's reference kernels agree to fp32 rounding on the fp16 file, so
    nothing ran in half precision."""
    from ai_edge_litert.interpreter import OpResolverType

    path = str(nhwc["files"]["fp16"].path)
    x = np.ascontiguousarray(tiny["x"][:1].transpose(0, 2, 3, 1))
    outs = []
    for resolver in (OpResolverType.AUTO, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES):
        it = Interpreter(model_path=path, experimental_op_resolver_type=resolver)
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        outs.append(it.get_tensor(it.get_output_details()[0]["index"]))
    assert np.abs(outs[0] - outs[1]).max() < 1e-5


def test_source_onnx_is_left_unchanged(nhwc, nchw, fp16_batch2, tiny):
    for path, digest in tiny["sha256"].items():
        assert _sha256(path) == digest, path
    assert sorted(p.name for p in tiny["onnx"].parent.iterdir()) == ["tiny.onnx",
                                                                 "tiny_dynamic.onnx"]


def test_only_the_requested_precision_is_returned_and_batch_is_fixed(fp16_batch2, tiny):
    files = fp16_batch2["files"]
    assert list(files) == ["fp16"]
    assert [p.name for p in fp16_batch2["out"].iterdir()] == ["tiny_fp16.tflite"]
    ef = files["fp16"]
    assert Interpreter(model_path=str(ef.path)).get_input_details()[0]["shape"].tolist() == \
        [2, 32, 32, 3]
    out, _ = _run_all(ef, tiny["x"], batch=2)
    assert min(_cosine(out[i], tiny["torch"][i]) for i in range(len(out))) > 0.999

    run, _ = TFLiteExporter().load_runner(ef)
    with pytest.raises(UsageError, match="fixed batch of 2; got a batch of 1"):
        run(tiny["x"][:1])
    with pytest.raises(UsageError, match="takes NHWC input"):
        run(np.zeros((2, 3, 16, 16), np.float32))


def test_conversion_is_offline():
    """The child's proxies point at a closed local port, for every scheme and host."""
    env = onnx2tf_tool.onnx2tf_env()
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        assert env[var] == onnx2tf_tool.OFFLINE_PROXY
    assert "no_proxy" not in env and "NO_PROXY" not in env
    assert env["TF_CPP_MIN_LOG_LEVEL"] == "3"


def test_without_the_calibration_file_the_download_is_refused(tiny, tmp_path, monkeypatch):
    """The converted fixtures above ran with networking blocked; this shows the block is real:
    with no synthetic calibration file onnx2tf tries GitHub and fails at once."""
    monkeypatch.setattr(tflite_export, "write_calibration_data", lambda folder: None)
    request = ExportRequest(out_dir=tmp_path, stem="tiny", input_shape=SHAPE)
    with pytest.raises(ExportError, match=r"(?s)ProxyError.*127\.0\.0\.1"):
        TFLiteExporter().export(tiny["onnx"], request)
    assert list(tmp_path.iterdir()) == []


def test_calibration_file_is_what_onnx2tf_looks_for(tmp_path):
    path = tflite_export.write_calibration_data(tmp_path)
    assert path.name == "calibration_image_sample_data_20x128x128x3_float32.npy"
    data = np.load(path)
    assert data.shape == (20, 128, 128, 3) and data.dtype == np.float32


def test_corrupt_onnx_raises_export_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07this is not a protobuf\xff\xff\xff" * 10)
    request = ExportRequest(out_dir=tmp_path / "out", stem="bad", input_shape=SHAPE)
    with pytest.raises(ExportError, match="bad.onnx"):
        TFLiteExporter().export(bad, request)


def test_missing_onnx_raises_export_error(tmp_path):
    request = ExportRequest(out_dir=tmp_path, stem="x", input_shape=SHAPE)
    with pytest.raises(ExportError, match="does not exist"):
        TFLiteExporter().export(tmp_path / "nope.onnx", request)


def test_onnx2tf_failure_carries_its_log(tmp_path):
    """A well-formed ONNX with an op onnx2tf does not know: its error reaches the message."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("FrobnicateXYZ", ["input"], ["logits"], domain="com.example")], "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(SHAPE))],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, list(SHAPE))])
    path = tmp_path / "custom.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                      helper.make_opsetid("com.example", 1)]),
              str(path))
    request = ExportRequest(out_dir=tmp_path / "out", stem="custom", input_shape=SHAPE)
    with pytest.raises(ExportError, match=r"onnx2tf failed \(exit code 1\)") as err:
        TFLiteExporter().export(path, request)
    assert "FrobnicateXYZ" in str(err.value)
    assert "W0000" not in str(err.value)  # TensorFlow's C++ noise is filtered out


def test_timeout_stops_onnx2tf_and_cleans_up(tiny, tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    request = ExportRequest(out_dir=tmp_path / "out", stem="tiny", input_shape=SHAPE,
                            options=TFLiteOptions(timeout_s=1))
    with pytest.raises(ExportError, match="did not finish within 1 s"):
        TFLiteExporter().export(tiny["onnx"], request)
    assert list(scratch.iterdir()) == []  # the scratch folder went with the failure


def test_shape_mismatch_is_caught_before_converting(tiny, tmp_path):
    request = ExportRequest(out_dir=tmp_path, stem="tiny", input_shape=(1, 3, 64, 64))
    with pytest.raises(ExportError, match=r"shape \[1, 3, 32, 32\]"):
        TFLiteExporter().export(tiny["onnx"], request)


@pytest.mark.parametrize("options, precisions, match", [
    (TFLiteOptions(layout="NCWH"), ("fp32",), "tflite-layout"),
    (None, ("int4",), "precisions"),
    (None, ("int8",), "calibration images"),  # full-integer int8 without request.calib
])
def test_bad_requests_raise_usage_error(options, precisions, match, tiny, tmp_path):
    request = ExportRequest(out_dir=tmp_path, stem="tiny", input_shape=SHAPE,
                            precisions=precisions, options=options)
    with pytest.raises(UsageError, match=match):
        TFLiteExporter().export(tiny["onnx"], request)


def test_check_available_names_the_missing_module(monkeypatch):
    exporter = TFLiteExporter()
    exporter.check_available()  # everything is installed here
    monkeypatch.setattr(TFLiteExporter, "requires", ("onnx2tf_not_installed_xyz",))
    with pytest.raises(MissingRuntimeError, match="onnx2tf_not_installed_xyz") as err:
        exporter.check_available()
    assert err.value.hint == "pip install 'edge-vit[tflite]'"


def test_registry_and_class_facts():
    exporter = get_exporter("tflite")
    assert isinstance(exporter, TFLiteExporter)
    assert (exporter.name, exporter.suffix, exporter.source_format) == ("tflite", ".tflite",
                                                                        "onnx")
    assert exporter.precisions == ("fp32", "fp16", "int8-dynamic", "int8", "int8-mixed")
    assert exporter.supports_dynamic_batch is False
    versions = exporter.tool_versions()
    for module in ("onnx2tf", "tensorflow", "ai_edge_litert"):
        assert versions[module] not in ("missing", "unknown", "")


def test_runtime_precision_follows_the_xnnpack_rule(monkeypatch):
    rp = tflite_export.runtime_precision
    monkeypatch.setattr(tflite_export, "cpu_has_native_fp16", lambda: True)
    assert rp({"reduced_precision_support": "fp16accfp16"}, xnnpack=True) == "fp16"
    assert rp({"reduced_precision_support": "fp16accfp16"}, xnnpack=False) == "fp32"
    assert rp({"reduced_precision_support": "fp16accfp32"}, xnnpack=True) == "fp32"
    assert rp({}, xnnpack=True) == "fp32"
    monkeypatch.setattr(tflite_export, "cpu_has_native_fp16", lambda: False)
    assert rp({"reduced_precision_support": "fp16accfp16"}, xnnpack=True) == "fp32"


def test_argv_keeps_nchw_only_when_asked():
    nhwc = onnx2tf_tool.onnx2tf_argv("model.onnx", "out", input_name="input", layout="NHWC")
    nchw = onnx2tf_tool.onnx2tf_argv("model.onnx", "out", input_name="input", layout="NCHW",
                                      shape_override="input:2,3,32,32")
    assert nhwc[1:3] == ["-m", "onnx2tf"] and "-kat" not in nhwc
    assert nhwc[nhwc.index("-rtpo") + 1] == "Erf"
    assert nchw[nchw.index("-kat") + 1] == "input"
    assert nchw[nchw.index("-ois") + 1] == "input:2,3,32,32"
    assert "-coion" not in nhwc + nchw  # it would need flatc and curl a schema from GitHub
