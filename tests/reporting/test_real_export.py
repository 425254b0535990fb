"""The report on manifests written by a real (tiny) export: the prune spec, weights and
baseline are read from what `edge-vit export` actually writes, not from hand-made dicts."""

from __future__ import annotations

import pytest

from edge_vit.export import ExportOptions, ModelOptions, run_export
from edge_vit.reporting import build_report, write_report
from edge_vit.serialization import write_json_atomic
from tests.conftest import TINY_VIT
from tests.reporting.sweep import make_accuracy, make_profile, stem


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    pytest.importorskip("openvino")
    root = tmp_path_factory.mktemp("real")
    out = {}
    for model_id, prune in (("tiny", None), ("tiny-pruned", "heads=0.5,mlp=0.5")):
        res = run_export(ExportOptions(model=ModelOptions(name="vit_tiny_patch16_224",
                                                          model_kwargs=dict(TINY_VIT), prune=prune),
                                       formats=("onnx", "openvino"), precisions=("fp32",),
                                       out_root=root / "artifacts", model_id=model_id,
                                       parity_inputs=2))
        out[model_id] = res.manifest
    return root, out


def test_report_from_real_manifests(exported):
    root, manifests = exported
    results, accuracy = root / "results", root / "results" / "accuracy"
    latency = {"tiny": 2.0, "tiny-pruned": 1.5}
    correct = {"tiny": 60, "tiny-pruned": 55}
    for model_id, m in manifests.items():
        for a in m.artifacts:
            assert a.status == "ok", a.error
            runtime = "onnxruntime" if a.format == "onnx" else "openvino"
            key = (model_id, a.format, a.precision, runtime)
            p50 = latency[model_id] * (1.0 if a.format == "onnx" else 0.8)
            write_json_atomic(results / "host" / model_id / stem(key),
                              make_profile("host", key, p50, [p50 * 0.98, p50 * 1.02]))
            write_json_atomic(accuracy / model_id / stem(key),
                              make_accuracy(key, correct[model_id]))
    report = build_report([root / "artifacts"], results, accuracy)
    pruned = [r for r in report.rows if r.model_id == "tiny-pruned"]
    assert len(pruned) == 2 and all(r.status == "ok" for r in pruned)
    for r in pruned:
        assert r.architecture == "vit_tiny_patch16_224"
        assert r.baseline_model_id == "tiny"
        assert r.speedup == pytest.approx(2.0 / 1.5)
        assert r.drop_vs_baseline_pts == pytest.approx(100 * (60 - 55) / 500)
        assert "plan heads=0.5,mlp=0.5" in r.prune_summary and "2/2 blocks" in r.prune_summary
        assert r.params < manifests["tiny"].model.params
        assert r.macs_ratio == pytest.approx(
            manifests["tiny-pruned"].model.macs / manifests["tiny"].model.macs)
        assert r.artifact_size_bytes and r.artifact_path.startswith(str(root / "artifacts"))
    assert report.random_init  # timm random init, no --pretrained
    assert {m.model_id: m.baseline_model_id for m in report.models} == {
        "tiny": "tiny", "tiny-pruned": "tiny"}
    written = write_report(report, root / "report")
    assert "tiny-pruned" in written["html"].read_text()
