"""A failed export attempt never erases a finished artifact (real conversions, real checks)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from edge_vit import manifest as mf
from edge_vit import parity
from edge_vit.commands import main
from edge_vit.errors import UsageError
from edge_vit.export import REJECTED, STAGING, run_export
from edge_vit.files import file_sha256
from edge_vit.profiling import collect_artifacts
from tests.conftest import tiny_export_options

_opts = tiny_export_options


def test_failed_conversion_keeps_the_good_earlier_artifact(tmp_path):
    first = run_export(_opts(tmp_path, formats=("onnx", "tflite"), precisions=("fp32",)))
    root = first.manifest_path.parent
    good = first.manifest.artifact("tflite", "fp32")
    assert good.status == mf.OK
    # the same export again, with onnx2tf killed after 1 s: a real failed conversion
    again = run_export(_opts(tmp_path, formats=("tflite",), precisions=("fp32",),
                             tflite_timeout_s=1))
    assert [(a.key, a.status) for a in again.failed] == [(("tflite", "fp32"),
                                                          mf.EXPORT_FAILED)]
    assert [a.key for a in again.kept] == [("tflite", "fp32")]
    on_disk = mf.read_manifest(again.manifest_path)
    kept = on_disk.artifact("tflite", "fp32")
    assert kept.status == mf.OK and kept.sha256 == good.sha256 and kept.path == good.path
    assert file_sha256(root / kept.path) == good.sha256  # the file itself is untouched
    attempt = kept.failed_attempt
    assert attempt["status"] == mf.EXPORT_FAILED and "within 1 s" in attempt["error"]
    assert attempt["path"] is None and attempt["at"]
    # profile (and eval) still find it
    keys = {e.record.key for e in collect_artifacts([root])}
    assert ("tflite", "fp32") in keys
    assert not (root / STAGING).exists()  # the attempt left nothing half-written


def test_failed_check_of_a_reexport_goes_beside_the_good_file(tmp_path, monkeypatch):
    first = run_export(_opts(tmp_path, formats=("onnx", "openvino")))
    root = first.manifest_path.parent
    good = first.manifest.artifact("openvino", "fp16")
    # an impossible fp16 tolerance: the new IR converts but fails its parity check for real
    monkeypatch.setitem(parity.THRESHOLDS, "fp16", {"max_abs_diff": 1e-12, "min_cosine": 1.0,
                                                    "top1_agreement": 1.0})
    again = run_export(_opts(tmp_path, formats=("onnx", "openvino")))
    kept = mf.read_manifest(again.manifest_path).artifact("openvino", "fp16")
    assert kept.status == mf.OK and kept.path == good.path and kept.sha256 == good.sha256
    for rel, sha in kept.companions.items():  # the .bin weights too
        assert rel.endswith(".bin") and file_sha256(root / rel) == sha
    attempt = kept.failed_attempt
    assert attempt["status"] == mf.VALIDATION_FAILED and "max abs diff" in attempt["error"]
    rejected = root / attempt["path"]
    assert rejected.parent.name == REJECTED and rejected.is_file()
    assert rejected.with_suffix(".bin").is_file()  # the whole artifact, for inspection
    assert [a.key for a in again.failed] == [("openvino", "fp16")]


def test_cli_refuses_an_unsupported_opset_and_keeps_the_export(tmp_path):
    args = ["export", "--model-arg", "img_size=32", "--model-arg", "patch_size=8",
            "--model-arg", "depth=2", "--model-arg", "num_classes=10", "--formats", "onnx",
            "--out", str(tmp_path)]
    assert CliRunner().invoke(main, args).exit_code == 0
    out = CliRunner().invoke(main, [*args, "--opset", "13"])
    assert out.exit_code == UsageError.exit_code and "14..20" in out.output
    m = mf.read_manifest(next(tmp_path.glob(f"*/{mf.MANIFEST_NAME}")))
    assert m.artifact("onnx", "fp32").status == mf.OK  # refused before any work


def test_opset_outside_the_range_fails_before_the_model_is_built(tmp_path):
    for opset in (13, 21):
        with pytest.raises(UsageError, match=r"14\.\.20"):
            run_export(_opts(tmp_path, opset=opset, model="vit_nonexistent_224"))
    assert list(tmp_path.iterdir()) == []


def test_a_chained_source_is_built_in_staging_not_over_the_recorded_one(tmp_path):
    first = run_export(_opts(tmp_path, formats=("onnx",)))
    onnx = first.manifest.artifact("onnx", "fp32")
    root = first.manifest_path.parent
    # OpenVINO alone, from an ONNX of another opset: built quietly, never over the record's
    again = run_export(_opts(tmp_path, formats=("openvino",), opset=14))
    assert again.manifest.artifact("openvino", "fp32").status == mf.OK
    assert file_sha256(root / onnx.path) == onnx.sha256
    assert again.manifest.artifact("onnx", "fp32").opset == 17
