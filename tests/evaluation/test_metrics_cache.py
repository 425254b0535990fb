"""Wilson intervals, the flag rule, top-k ties, and the result cache."""

import json

import numpy as np
import pytest

from edge_vit.evaluation import ResultCache, cache_root, wilson_interval
from edge_vit.evaluation.cache import key_of
from edge_vit.evaluation.metrics import correct_at, flag_drop, paired_drop_se, topk_indices
from edge_vit.results import AccuracyResult, ArtifactRef, DataRef
from edge_vit.serialization import from_dict, to_dict


@pytest.mark.parametrize("k,n,low,high", [
    (0, 100, 0.0, 3.699),  # published Wilson bounds, in percent
    (50, 100, 40.383, 59.617),
    (81, 100, 72.221, 87.485),  # roots of (0.81-p)^2 = z^2 p(1-p)/n
    (100, 100, 96.301, 100.0),
])
def test_wilson_interval(k, n, low, high):
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=1e-3) and hi == pytest.approx(high, abs=1e-3)
    assert (k > 0 or lo == 0.0) and (k < n or hi == 100.0)


def test_topk_ties_go_to_the_lower_index_like_argmax():
    logits = np.array([[0.0, 2.0, 2.0, 1.0], [5.0, 5.0, 5.0, 5.0]], dtype=np.float32)
    top = topk_indices(logits, k=5)
    assert top.shape == (2, 4)  # only 4 classes
    assert top[:, 0].tolist() == logits.argmax(1).tolist() == [1, 0]
    assert top[0].tolist() == [1, 2, 3, 0]
    assert correct_at(top, np.array([2, 3]), 1).tolist() == [False, False]
    assert correct_at(top, np.array([2, 3]), 2).tolist() == [True, False]


def test_flag_rule_uses_paired_standard_error():
    ref = np.array([True] * 80 + [False] * 20)
    same = ref.copy()
    assert paired_drop_se(ref, same) == 0.0
    assert flag_drop(0.0, 0.0) == (False, None)
    # 4 images only the reference gets right: drop 4 points, se = sqrt(4 - 16/100) = 1.96
    worse = ref.copy()
    worse[:4] = False
    se = paired_drop_se(ref, worse)
    assert se == pytest.approx(1.9596, abs=1e-4)
    flagged, reason = flag_drop(4.0, se)
    assert flagged and "4.00 points below" in reason
    # 3 lost and 3 gained elsewhere is noise: 0 drop
    noisy = ref.copy()
    noisy[:3] = False
    noisy[80:83] = True
    assert flag_drop(0.0, paired_drop_se(ref, noisy))[0] is False
    # at least one point is always needed, however many images
    assert flag_drop(0.9, 0.01)[0] is False and flag_drop(1.1, 0.01)[0] is True


def _result(top1=50.0):
    return AccuracyResult(
        artifact=ArtifactRef(model_id="m", format="onnx", precision="fp32", path="m.onnx"),
        runtime="onnxruntime", data=DataRef(root="/d", layout="synset-folders",
                                            fingerprint="f" * 64, num_images=2, num_classes=2),
        top1=top1, total=2, correct1=1)


def test_result_cache_round_trip_and_keys(tmp_path):
    cache = ResultCache(tmp_path)
    fields = {"kind": "artifact", "sha256": ["a"], "runtime": "onnxruntime"}
    assert cache.get(fields) is None
    path = cache.put(fields, _result(), np.array([3, 4]), np.array([3, 5]))
    assert path.parent == tmp_path / "eval" / "results" and path.suffix == ".json"
    hit = cache.get(fields)
    assert hit.result.cached and hit.result.top1 == 50.0
    assert hit.top1.tolist() == [3, 4] and hit.labels.tolist() == [3, 5]
    assert json.loads(path.read_text())["key"] == fields
    for change in ({"sha256": ["b"]}, {"runtime": "openvino"}, {"precision_mode": "ov:f32"}):
        assert cache.get({**fields, **change}) is None
    assert key_of(fields) == key_of(dict(reversed(list(fields.items()))))


def test_disabled_or_broken_cache_reads_nothing(tmp_path):
    fields = {"k": 1}
    off = ResultCache(tmp_path, enabled=False)
    assert off.put(fields, _result(), np.array([1, 2]), np.array([1, 2])) is None
    assert off.get(fields) is None and not (tmp_path / "eval").exists()
    on = ResultCache(tmp_path)
    on.path(fields).parent.mkdir(parents=True)
    on.path(fields).write_text("{ half a file")
    assert on.get(fields) is None
    on.path(fields).write_text(json.dumps({"result": to_dict(_result()), "top1": [1],
                                           "labels": [1]}))  # 1 prediction for 2 images
    assert on.get(fields) is None


def test_cache_root_order(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGE_VIT_CACHE", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("EDGE_VIT_CACHE")
    assert str(cache_root()).endswith(".cache/edge-vit")


def test_accuracy_result_round_trips_through_the_serializer():
    r = _result()
    assert from_dict(AccuracyResult, json.loads(json.dumps(to_dict(r)))) == r
