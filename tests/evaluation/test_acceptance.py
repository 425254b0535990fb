"""The acceptance run: a 224x224 ImageNet-1k ViT (vit_tiny_patch16_224 cut to 2 blocks so
onnx2tf stays quick) exported to ONNX, OpenVINO and TFLite, each scored in its own runtime on
the 100 real sample images, must predict the same top-1 class as PyTorch on every image."""

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
    evaluate_artifact,
    evaluate_reference,
    load_dataset,
    score_artifact,
    score_reference,
)
from edge_vit.evaluation.evaluate import RANDOM_WEIGHTS_NOTE
from edge_vit.export import ExportOptions, ModelOptions, run_export
from edge_vit.files import file_sha256
from edge_vit.results import AccuracyResult
from edge_vit.serialization import from_dict
from tests.evaluation.layouts import SAMPLE

RUNTIMES = {"onnx": "onnxruntime", "openvino": "openvino", "tflite": "litert"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    if not SAMPLE.is_dir():
        pytest.skip(f"shared ImageNet sample not found at {SAMPLE}")
    result = run_export(ExportOptions(model=ModelOptions(name="vit_tiny_patch16_224",
                                                         model_kwargs={"depth": 2}),
                                      formats=("onnx", "openvino", "tflite"), precisions=("fp32",),
                                      out_root=tmp_path_factory.mktemp("artifacts"),
                                      model_id="vit2"))
    assert not result.failed, [(a.format, a.error) for a in result.failed]
    return result.manifest_path.parent


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def first_run(exported, shared_cache, tmp_path_factory):
    """One cold evaluate_all over every artifact (OpenVINO pinned to f32); later tests read
    its cache, whose per-image predictions are the runtimes' own."""
    results_dir = tmp_path_factory.mktemp("results")
    options = EvalOptions(ov_precision="f32", cache_dir=shared_cache)
    results = evaluate_all([exported], SAMPLE, options=options, results_dir=results_dir)
    return results, results_dir


def test_every_runtime_predicts_what_pytorch_predicts_on_each_image(exported, shared_cache,
                                                                    first_run):
    cold, _ = first_run
    assert [(r.artifact.format, r.runtime) for r in cold] == [
        ("pytorch", "pytorch"), ("onnx", "onnxruntime"), ("openvino", "openvino"),
        ("tflite", "litert")]
    assert all(r.status == "ok" and not r.cached for r in cold), [r.error for r in cold]

    data = load_dataset(SAMPLE)
    options = EvalOptions(ov_precision="f32", cache_dir=shared_cache)
    ref = score_reference(exported, data, options)
    assert ref.ok and ref.result.total == 100 and len(ref.top1) == 100
    assert len(set(ref.top1.tolist())) >= 10  # predictions vary: agreement means something
    manifest = mf.read_manifest(exported)
    for record in manifest.artifacts:
        s = score_artifact(exported, record, data, options, ref)
        r = s.result
        assert r.status == "ok", r.error
        assert r.runtime == RUNTIMES[record.format] and r.runtime_version
        assert r.inference_precision == "fp32"
        assert np.array_equal(s.top1, ref.top1), f"{record.format} differs on some image"
        assert np.array_equal(s.labels, ref.labels)
        assert r.agreement_with_reference == 1.0 and r.drop_vs_reference == 0.0
        assert not r.flagged and r.reference_top1 == ref.result.top1
        assert (r.total, r.correct1, r.correct5) == (ref.result.total, ref.result.correct1,
                                                     ref.result.correct5)
        assert r.top1 == pytest.approx(100 * r.correct1 / r.total)
        assert r.top1_ci[0] <= r.top1 <= r.top1_ci[1]
        assert r.correct1 <= r.correct5 <= r.total == 100
        assert r.artifact.sha256 == record.sha256 and r.artifact.model_id == "vit2"
        assert r.data.num_images == 100 and r.data.fingerprint == data.fingerprint
        assert r.data.layout == "synset-folders" and r.data.label_space == "imagenet-1k"


def test_results_are_written_and_carry_provenance(exported, first_run):
    results, results_dir = first_run
    folder = results_dir / "accuracy" / "vit2"
    assert sorted(p.name for p in folder.iterdir()) == [
        "onnx-fp32-onnxruntime.json", "openvino-fp32-openvino-f32.json",
        "pytorch-fp32-pytorch.json", "tflite-fp32-litert.json"]
    weights = json.loads((exported / "manifest.json").read_text())["model"]["source"]["weights"]
    for r in results:
        stem = f"{r.artifact.format}-{r.artifact.precision}-{r.runtime}"
        path = folder / (stem + ("-f32" if r.runtime == "openvino" else "") + ".json")
        assert from_dict(AccuracyResult, json.loads(path.read_text())) == r
        assert r.weights == weights and r.weights["kind"] == "random"
        assert RANDOM_WEIGHTS_NOTE in r.notes
        assert r.seconds > 0 and r.started and r.finished


def test_rerun_is_cached_with_the_same_numbers(exported, shared_cache, first_run):
    cold, _ = first_run
    again = evaluate_all([exported], SAMPLE, options=EvalOptions(ov_precision="f32",
                                                                 cache_dir=shared_cache))
    assert all(r.cached for r in again)
    for a, b in zip(cold, again, strict=True):
        assert (a.top1, a.top5, a.correct1, a.correct5, a.total, a.top1_ci,
                a.agreement_with_reference, a.inference_precision) == (
            b.top1, b.top5, b.correct1, b.correct5, b.total, b.top1_ci,
            b.agreement_with_reference, b.inference_precision)
    # the public one-artifact API reads the same cache
    data = load_dataset(SAMPLE)
    options = EvalOptions(ov_precision="f32", cache_dir=shared_cache)
    assert evaluate_reference(exported, data, options).cached
    record = mf.read_manifest(exported).artifact("onnx", "fp32")
    one = evaluate_artifact(exported, record, data, options)
    assert one.cached and one.agreement_with_reference == 1.0


def test_openvino_default_precision_is_recorded_and_cached_apart(exported, shared_cache,
                                                                 first_run):
    import openvino as ov

    from exporters.openvino_export import precision_name

    expected = precision_name(ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT"))
    assert expected in ("fp32", "bf16", "fp16")
    data = load_dataset(SAMPLE)
    options = EvalOptions(cache_dir=shared_cache)  # ov_precision="default"
    ref = score_reference(exported, data, options)
    record = mf.read_manifest(exported).artifact("openvino", "fp32")
    r = score_artifact(exported, record, data, options, ref).result
    assert r.status == "ok" and not r.cached  # not the f32 entry
    assert r.inference_precision == expected
    # bf16 may flip near-ties of this random 2-block model, but not many of 100
    assert r.agreement_with_reference >= 0.9


def test_a_corrupt_artifact_fails_alone(exported, shared_cache, first_run, tmp_path):
    copy = tmp_path / "vit2"
    shutil.copytree(exported, copy)
    manifest = mf.read_manifest(copy)
    onnx = manifest.artifact("onnx", "fp32")
    path = copy / onnx.path
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])  # truncated model...
    onnx.sha256 = file_sha256(path)  # ...that the manifest vouches for: the runtime must fail
    tflite = manifest.artifact("tflite", "fp32")
    (copy / tflite.path).write_bytes(b"\0" * 64)  # changed behind the manifest's back
    mf.write_manifest(copy, manifest)

    results = evaluate_all([copy], SAMPLE, options=EvalOptions(ov_precision="f32",
                                                               cache_dir=shared_cache),
                           results_dir=tmp_path / "results")
    by_format = {r.artifact.format: r for r in results}
    assert by_format["onnx"].status == "failed" and "onnxruntime" in by_format["onnx"].error
    assert by_format["tflite"].status == "failed"
    assert "changed since export" in by_format["tflite"].error
    for fmt in ("pytorch", "openvino"):
        assert by_format[fmt].status == "ok" and by_format[fmt].total == 100
    assert by_format["openvino"].agreement_with_reference == 1.0
    saved = json.loads((tmp_path / "results" / "accuracy" / "vit2" /
                        "onnx-fp32-onnxruntime.json").read_text())
    assert saved["status"] == "failed" and saved["error"]


def test_cli_eval_prints_the_table(exported, shared_cache, first_run, tmp_path):
    result = CliRunner().invoke(main, [
        "eval", str(exported), "--data", str(SAMPLE), "--ov-precision", "f32",
        "--cache-dir", str(shared_cache), "--results", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    out = result.output
    for text in ("top-1 [95% CI]", "agreement", "onnxruntime", "litert", "openvino", "pytorch",
                 "100.0%", "RANDOM WEIGHTS", "cached"):
        assert text in out
    assert len(list((tmp_path / "r" / "accuracy" / "vit2").glob("*.json"))) == 4
