import json

import pytest

from edge_vit import manifest as mf
from edge_vit.errors import ManifestError
from edge_vit.models import ModelSource, WeightsInfo
from edge_vit.parity import compare


def _manifest():
    import numpy as np

    ref = np.array([[1.0, 2.0, 3.0], [0.5, 0.1, 0.0]])
    parity = compare(ref, ref + 1e-6, precision="fp32", inputs="random normal (seed=0)")
    model = mf.ModelRecord(
        id="m", source=ModelSource(name="deit_tiny_patch16_224", model_kwargs={"depth": 2},
                                   weights=WeightsInfo(kind="random", state_sha256="ab")),
        input_shape=[1, 3, 32, 32], params=10, macs=20, prune={"blocks": [{"index": 0}]})
    return mf.Manifest(model=model, artifacts=[
        mf.ArtifactRecord(format="onnx", precision="fp32", status=mf.OK, path="onnx/m.onnx",
                          sha256="00", tools={"onnx": "1"}, parity=parity, export_seconds=1.5),
        mf.ArtifactRecord(format="tflite", precision="fp16", status=mf.EXPORT_FAILED,
                          error="boom")])


def test_write_read_round_trip(tmp_path):
    m = _manifest()
    path = mf.write_manifest(tmp_path, m)
    back = mf.read_manifest(path)
    assert back == m
    assert back.artifacts[0].parity.passed is True
    assert isinstance(back.model.source.weights, WeightsInfo)
    # the file on disk is plain JSON others can read
    assert json.loads(path.read_text())["artifacts"][1]["status"] == "export_failed"


def test_upsert_keeps_other_artifacts():
    m = _manifest()
    m.upsert(mf.ArtifactRecord(format="onnx", precision="fp32", status=mf.VALIDATION_FAILED))
    assert [a.key for a in m.artifacts] == [("tflite", "fp16"), ("onnx", "fp32")]
    assert m.artifact("onnx", "fp32").status == mf.VALIDATION_FAILED


def test_corrupt_and_foreign_manifests(tmp_path):
    with pytest.raises(ManifestError, match="No manifest"):
        mf.read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        mf.read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"schema_version": "9.0"}))
    with pytest.raises(ManifestError, match="schema"):
        mf.read_manifest(tmp_path)


def test_artifact_id_stem_round_trips():
    from edge_vit.artifact_id import ArtifactId

    for aid in (ArtifactId("m", "onnx", "fp32", "onnxruntime"),
                ArtifactId("m", "tflite", "int8-dynamic", "litert"),
                ArtifactId("m", "openvino", "fp16", "openvino", "f32"),
                ArtifactId("m", "onnx", "int8", "tensorrt", "fp16")):
        assert ArtifactId.parse("m", aid.stem) == aid
    with pytest.raises(ValueError):
        ArtifactId.parse("m", "onnx-fp32")


def test_file_sha256_is_remembered_only_while_the_file_is_unchanged(tmp_path, monkeypatch):
    import hashlib
    import os

    from devices.runner import core
    from edge_vit.files import file_sha256

    path = tmp_path / "a.bin"
    path.write_bytes(b"one")
    reads = []
    real = core.sha256_file
    monkeypatch.setattr(core, "sha256_file", lambda p: reads.append(p) or real(p))
    assert file_sha256(path) == file_sha256(path) == hashlib.sha256(b"one").hexdigest()
    assert len(reads) == 1  # checked, then pushed: read once
    path.write_bytes(b"two")  # same size, new mtime
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1000))
    assert file_sha256(path) == hashlib.sha256(b"two").hexdigest() and len(reads) == 2
