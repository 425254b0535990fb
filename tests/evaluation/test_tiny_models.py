"""Tiny 10-class 32x32 models on a 10-folder slice of the real sample: the PyTorch reference
rebuilt (pruned, random seed, refused when it differs), fixed and dynamic batches, label-space
mismatches, and the `eval` command's errors."""

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from edge_vit import manifest as mf
from edge_vit.commands import main
from edge_vit.evaluation import (
    EvalOptions,
    evaluate_all,
    load_dataset,
    score_artifact,
    score_reference,
)
from edge_vit.export import run_export
from tests.conftest import TINY_VIT, export_options
from tests.evaluation.layouts import SAMPLE, copy_synset_folders

pytestmark = pytest.mark.skipif(not SAMPLE.is_dir(), reason="shared ImageNet sample missing")


@pytest.fixture(scope="module")
def ten_classes(tmp_path_factory):
    synsets = [d.name for d in sorted(SAMPLE.iterdir())][:10]
    return copy_synset_folders(SAMPLE, tmp_path_factory.mktemp("data") / "val", synsets)


def _export(root, **kw):
    opts = dict(model="deit_tiny_patch16_224", model_kwargs=dict(TINY_VIT),
                formats=("onnx", "openvino"), precisions=("fp32",), out_root=root)
    opts.update(kw)
    result = run_export(export_options(**opts))
    assert not result.failed
    return result.manifest_path.parent


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return _export(tmp_path_factory.mktemp("a"), model_id="tiny")


def _opts(tmp_path, **kw):
    return EvalOptions(cache_dir=tmp_path / "c", ov_precision="f32", **kw)


def test_pruned_model_reference_and_folder_labels(tmp_path, ten_classes):
    root = _export(tmp_path / "a", prune="heads=0.34,mlp=0.5", model_id="pruned")
    assert mf.read_manifest(root).model.pruned_model_dir == "pytorch"
    data = load_dataset(ten_classes, labels="folders")
    results = evaluate_all([root], data, options=_opts(tmp_path))
    ref = results[0]
    assert ref.artifact.format == "pytorch" and ref.status == "ok", ref.error
    assert ref.artifact.path == str(root / "pytorch")
    assert ref.data.label_space == "folders" and ref.total == 10
    for r in results[1:]:
        assert r.status == "ok" and r.agreement_with_reference == 1.0


def test_fixed_batch_pads_the_last_batch_and_dynamic_takes_any(tmp_path, ten_classes):
    data = load_dataset(ten_classes, labels="folders")
    fixed = _export(tmp_path / "a", batch=4, formats=("onnx",), model_id="fixed")
    dynamic = _export(tmp_path / "a", batch=2, dynamic_batch=True, formats=("onnx",),
                      model_id="dyn")
    options = _opts(tmp_path, batch=3)
    ref = score_reference(fixed, data, options)
    for root in (fixed, dynamic):
        record = mf.read_manifest(root).artifact("onnx", "fp32")
        s = score_artifact(root, record, data, options, ref)
        assert s.result.status == "ok", s.result.error
        assert len(s.top1) == 10 and np.array_equal(s.top1, ref.top1)  # 10 = 4 + 4 + 2 padded


def test_imagenet_labels_on_a_10_class_model_fail_clearly(tmp_path, tiny, ten_classes):
    results = evaluate_all([tiny], ten_classes, options=_opts(tmp_path))
    assert {r.status for r in results} == {"failed"}
    assert "has 10 classes; ImageNet-1k labels need 1000" in results[0].error


def test_reference_with_other_weights_is_refused(tmp_path, tiny, ten_classes):
    copy = tmp_path / "tiny"
    shutil.copytree(tiny, copy)
    data = json.loads((copy / "manifest.json").read_text())
    data["model"]["source"]["weights"]["source"] = "seed=1"  # not the seed it was made with
    (copy / "manifest.json").write_text(json.dumps(data))
    results = evaluate_all([copy], load_dataset(ten_classes, labels="folders"),
                           options=_opts(tmp_path))
    ref, *artifacts = results
    assert ref.status == "failed" and "refusing" in ref.error
    for r in artifacts:  # still scored, just without a comparison
        assert r.status == "ok" and r.agreement_with_reference is None
        assert any(n.startswith("no PyTorch reference") for n in r.notes)


def test_cli_eval_help_and_errors(tmp_path, tiny, ten_classes):
    runner = CliRunner()
    help_text = runner.invoke(main, ["eval", "--help"])
    assert help_text.exit_code == 0 and "--labels" in help_text.output
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = runner.invoke(main, ["eval", str(tiny), "--data", str(empty)])
    assert bad.exit_code == 2 and "No images" in bad.output
    mismatch = runner.invoke(main, ["eval", str(tiny), "--data", str(ten_classes),
                                    "--results", str(tmp_path / "r"), "--no-cache"])
    assert mismatch.exit_code == 1 and "ImageNet-1k labels need 1000" in mismatch.output
    ok = runner.invoke(main, ["eval", str(tiny), "--data", str(ten_classes), "--labels",
                              "folders", "--limit", "5", "--results", str(tmp_path / "r"),
                              "--no-cache", "--ov-precision", "f32", "--threads", "1"])
    assert ok.exit_code == 0, ok.output
    assert "100.0%" in ok.output and "5 images of 5 classes" in ok.output
    saved = json.loads((tmp_path / "r" / "accuracy" / "tiny" /
                        "onnx-fp32-onnxruntime.json").read_text())
    assert saved["data"]["limit"] == 5 and saved["total"] == 5 and not saved["cached"]
    assert not (tmp_path / "edge-vit-cache" / "eval").exists()  # --no-cache wrote nothing
