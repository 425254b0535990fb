"""A corrupt or truncated artifact file (OpenVINO's .bin weights among them) gets one line that
names the file and what to do, in profile and in eval; the other artifacts go on."""

from __future__ import annotations

import json
import shutil

import pytest

from devices import open_device
from devices.inventory import DeviceConfig
from edge_vit import manifest as mf
from edge_vit import results as rs
from edge_vit.data.datasets import load_dataset
from edge_vit.evaluation import evaluate_all
from edge_vit.export import ExportOptions, ModelOptions, run_export
from edge_vit.profiling import ProfileSettings, collect_artifacts, profile
from tests.conftest import TINY_VIT

FAST = ProfileSettings(warmup=2, warmup_seconds=0.0, min_iterations=5, block_seconds=0.02,
                       rounds=1, max_rounds=1, target_ci=0.0, max_seconds=120, threads=1,
                       busy_cores=1000.0, max_steal_pct=100.0)


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    out = tmp_path_factory.mktemp("corrupt")
    result = run_export(ExportOptions(model=ModelOptions(name="deit_tiny_patch16_224",
                                                         model_kwargs=dict(TINY_VIT)),
                                      formats=("onnx", "openvino"), out_root=out, model_id="m"))
    return result.manifest_path.parent


def _copy_with_truncated_bin(export, tmp_path, forget_companions=False):
    root = tmp_path / "m"
    shutil.copytree(export, root)
    m = mf.read_manifest(root)
    rec = m.artifact("openvino", "fp32")
    (bin_rel,) = rec.companions  # the manifest records the .bin and its sha256
    weights = root / bin_rel
    weights.write_bytes(weights.read_bytes()[:1000])
    if forget_companions:  # a manifest written before companions were recorded
        data = json.loads((root / mf.MANIFEST_NAME).read_text())
        for a in data["artifacts"]:
            a.pop("companions", None)
        (root / mf.MANIFEST_NAME).write_text(json.dumps(data))
    return root, weights


def _profile(root, tmp_path):
    config = DeviceConfig(name="local", kind="local", workdir=str(tmp_path / "workdir"))
    with open_device(config) as device:
        results = profile(device, collect_artifacts([root]), FAST, tmp_path / "results")
    return {(r.artifact.format, r.artifact.precision, r.settings.runtime): r for r in results}


def test_profile_names_a_truncated_bin_before_sending_it(export, tmp_path):
    root, weights = _copy_with_truncated_bin(export, tmp_path)
    by_key = _profile(root, tmp_path)
    bad = by_key[("openvino", "fp32", "openvino")]
    assert bad.status == rs.FAILED
    assert str(weights) in bad.error and "changed since export" in bad.error
    assert "Re-export" in bad.error and "\n" not in bad.error
    assert by_key[("onnx", "fp32", "onnxruntime")].status == rs.OK  # the others were measured
    assert by_key[("openvino", "fp16", "openvino")].status == rs.OK


def test_runtime_load_failure_is_one_line(export, tmp_path):
    # without the .bin's recorded hash, OpenVINO itself finds it broken: its multi-line C++
    # check message becomes one line naming the file
    root, _ = _copy_with_truncated_bin(export, tmp_path, forget_companions=True)
    bad = _profile(root, tmp_path)[("openvino", "fp32", "openvino")]
    assert bad.status == rs.FAILED and "\n" not in bad.error
    assert "OpenVINO cannot read" in bad.error and "_fp32.xml" in bad.error
    assert "Incorrect weights in bin file" in bad.error and "re-export" in bad.error
    assert "Exception from" not in bad.error and ".cpp:" not in bad.error


@pytest.mark.parametrize("forget", [False, True], ids=["hash-checked", "load-failure"])
def test_eval_names_a_truncated_bin(export, tmp_path, imagenet_sample, forget):
    root, weights = _copy_with_truncated_bin(export, tmp_path, forget_companions=forget)
    data = load_dataset(imagenet_sample, labels="folders", limit=4)
    results = evaluate_all([root], data, results_dir=tmp_path / "res", formats=["openvino"])
    by_key = {(r.artifact.format, r.artifact.precision): r for r in results}
    bad = by_key[("openvino", "fp32")]
    assert bad.status == rs.FAILED and "\n" not in bad.error
    assert (str(weights) in bad.error) if not forget else ("Incorrect weights" in bad.error)
    assert by_key[("openvino", "fp16")].status == rs.OK
