"""run_export end to end on a tiny ViT: manifest contents, failure isolation, real images."""

import json

import pytest

from edge_vit import manifest as mf
from edge_vit import parity
from edge_vit.errors import UnknownModelError, UsageError
from edge_vit.export import run_export
from edge_vit.files import file_sha256
from tests.conftest import tiny_export_options

_opts = tiny_export_options


def test_manifest_records_every_artifact(tmp_path):
    result = run_export(_opts(tmp_path))
    m = mf.read_manifest(result.manifest_path)
    assert [a.key for a in m.artifacts] == [("onnx", "fp32"), ("openvino", "fp32"),
                                            ("openvino", "fp16")]
    root = result.manifest_path.parent
    for a in m.artifacts:
        assert a.status == mf.OK, a.error
        assert a.sha256 == file_sha256(root / a.path)
        assert a.size_bytes > 0 and a.export_seconds > 0
        assert a.parity.passed and a.parity.num_inputs == 4
        assert a.tools and a.runtime["inference_precision"] == "fp32"
    assert m.model.params == 932_554 and m.model.macs > 0
    assert m.model.source.weights.kind == "random"
    assert m.model.input_shape == [1, 3, 32, 32]
    assert m.artifacts[0].opset == 17


def test_parity_on_real_images(tmp_path, imagenet_sample):
    result = run_export(_opts(tmp_path, formats=("onnx",), parity_images=imagenet_sample,
                              parity_inputs=6))
    p = result.manifest.artifact("onnx", "fp32").parity
    assert p.inputs.startswith("images:") and p.num_inputs == 6 and p.passed


def test_failed_validation_keeps_file_and_other_formats(tmp_path, monkeypatch):
    # an impossible fp16 tolerance makes OpenVINO's fp16 IR fail its check for real
    monkeypatch.setitem(parity.THRESHOLDS, "fp16", {"max_abs_diff": 1e-12, "min_cosine": 1.0,
                                                    "top1_agreement": 1.0})
    result = run_export(_opts(tmp_path))
    m = result.manifest
    bad = m.artifact("openvino", "fp16")
    assert bad.status == mf.VALIDATION_FAILED and "max abs diff" in bad.error
    assert (result.manifest_path.parent / bad.path).exists()  # not deleted
    assert m.artifact("onnx", "fp32").status == mf.OK
    assert m.artifact("openvino", "fp32").status == mf.OK
    assert [a.key for a in result.failed] == [("openvino", "fp16")]


def test_reexport_of_one_format_keeps_the_others(tmp_path):
    run_export(_opts(tmp_path))
    result = run_export(_opts(tmp_path, formats=("onnx",)))
    assert len(result.manifest.artifacts) == 3


def test_batch_and_dynamic_batch(tmp_path):
    result = run_export(_opts(tmp_path, batch=2, dynamic_batch=True, model_id="dyn"))
    a = result.manifest.artifact("onnx", "fp32")
    assert a.dynamic_batch and a.input_shape == [2, 3, 32, 32] and a.parity.passed


def test_dynamic_batch_refused_for_fixed_batch_formats(tmp_path):
    with pytest.raises(UsageError, match="tflite"):
        run_export(_opts(tmp_path, formats=("onnx", "tflite"), dynamic_batch=True))


def test_bad_inputs_fail_before_any_work(tmp_path):
    with pytest.raises(UnknownModelError):
        run_export(_opts(tmp_path, model="vit_nonexistent_224"))
    with pytest.raises(UsageError, match="precision"):
        run_export(_opts(tmp_path, precisions=("int4",)))
    with pytest.raises(UsageError, match="Unknown format"):
        run_export(_opts(tmp_path, formats=("onnx", "coreml")))
    assert list(tmp_path.iterdir()) == []


def test_manifest_is_plain_json_with_schema(tmp_path):
    result = run_export(_opts(tmp_path, formats=("onnx",)))
    data = json.loads(result.manifest_path.read_text())
    assert data["schema_version"] == mf.SCHEMA_VERSION
    assert data["artifacts"][0]["path"] == "onnx/" + result.manifest.model.id + ".onnx"


def test_failed_conversion_keeps_the_other_formats(tmp_path):
    # a real onnx2tf run killed by a 1-second budget: TFLite fails, ONNX/OpenVINO survive
    result = run_export(_opts(tmp_path, formats=("onnx", "openvino", "tflite"),
                              tflite_timeout_s=1))
    m = result.manifest
    assert m.artifact("onnx", "fp32").status == mf.OK
    assert m.artifact("openvino", "fp16").status == mf.OK
    for p in ("fp32", "fp16"):
        rec = m.artifact("tflite", p)
        assert rec.status == mf.EXPORT_FAILED and "did not finish within 1 s" in rec.error
    on_disk = mf.read_manifest(result.manifest_path)
    assert {a.status for a in on_disk.artifacts} == {mf.OK, mf.EXPORT_FAILED}


def test_pruned_export_records_spec_and_reduction(tmp_path):
    result = run_export(_opts(tmp_path, prune="heads=0.34,mlp=0.5", formats=("onnx",)))
    m = result.manifest.model
    assert m.prune["blocks"][0]["num_heads"] == 2 and m.prune["blocks"][0]["mlp_hidden"] == 384
    assert m.macs < m.unpruned_macs and m.params < m.unpruned_params
    assert "-pruned-" in m.id
    assert result.manifest.artifact("onnx", "fp32").parity.passed
