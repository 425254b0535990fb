"""Real end-to-end exports of full-size models in all three formats (slow: minutes each).

These are the issue's acceptance runs: the default `edge-vit export`, and pruned deit_tiny,
resmlp_12_224 and vit_small_patch16_224 through ONNX, OpenVINO and TFLite, all parity-checked.
"""

import json

import pytest
from click.testing import CliRunner

from edge_vit.commands import main

pytestmark = pytest.mark.e2e


def _export(tmp_path, args):
    result = CliRunner().invoke(main, ["export", *args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (manifest_path,) = tmp_path.glob("*/manifest.json")
    return json.loads(manifest_path.read_text()), result.output


def _assert_all_formats_ok(manifest, formats=("onnx", "openvino", "tflite")):
    got = {(a["format"], a["precision"]): a for a in manifest["artifacts"]}
    expected = {("onnx", "fp32"), ("openvino", "fp32"), ("openvino", "fp16"),
                ("tflite", "fp32"), ("tflite", "fp16")}
    assert {k for k in expected if k[0] in formats} <= set(got)
    for a in got.values():
        assert a["status"] == "ok", a
        assert a["parity"]["passed"] and a["parity"]["top1_agreement"] >= 0.75
        if a["precision"] == "fp32":
            assert a["parity"]["max_abs_diff"] < 1e-3


def test_default_export_no_arguments(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["export"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "artifacts" / "deit_tiny_patch16_224" /
                           "manifest.json").read_text())
    _assert_all_formats_ok(manifest)
    assert manifest["model"]["params"] == 5_717_416
    assert manifest["model"]["source"]["weights"]["kind"] == "random"


@pytest.mark.parametrize("model,prune", [
    ("deit_tiny_patch16_224", "heads=0.34,mlp=0.5"),
    ("resmlp_12_224", "mlp=0.5"),
    ("vit_small_patch16_224", "heads=0.34,mlp=0.5"),
])
def test_pruned_export_all_formats(tmp_path, model, prune):
    manifest, output = _export(tmp_path, [model, "--prune", prune])
    _assert_all_formats_ok(manifest)
    m = manifest["model"]
    assert m["prune"] is not None and m["pruned_model_dir"] == "pytorch"
    assert m["macs"] < 0.75 * m["unpruned_macs"] and m["params"] < m["unpruned_params"]
    assert "GMACs" in output and "M params" in output
