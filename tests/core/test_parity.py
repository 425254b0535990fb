import numpy as np
import pytest

from edge_vit.errors import AtolError, ShapeError, ValidationError
from edge_vit.parity import compare, enforce


def _ref():
    return np.random.default_rng(0).normal(size=(4, 10)).astype(np.float32)


def test_identical_outputs_pass():
    ref = _ref()
    r = compare(ref, ref.copy(), precision="fp32", inputs="t")
    assert r.passed and r.max_abs_diff == 0 and r.min_cosine == pytest.approx(1.0)
    assert r.top1_agreement == 1.0
    enforce(r)


def test_shape_mismatch_is_a_shape_error():
    r = compare(_ref(), _ref()[:, :5], precision="fp32", inputs="t")
    assert not r.passed
    with pytest.raises(ShapeError):
        enforce(r)


def test_fp32_tolerance_is_tight_and_fp16_looser():
    ref = _ref()
    noisy = ref + 1e-2
    assert not compare(ref, noisy, precision="fp32", inputs="t").passed
    assert compare(ref, noisy, precision="fp16", inputs="t").passed
    with pytest.raises(AtolError):
        enforce(compare(ref, noisy, precision="fp32", inputs="t"))


def test_top1_disagreement_fails():
    ref = np.eye(4, dtype=np.float32) * 1e-4
    swapped = ref[:, ::-1].copy()
    r = compare(ref, swapped, precision="fp16", inputs="t")
    assert r.top1_agreement == 0.0 and not r.passed


def test_non_finite_fails():
    ref = _ref()
    bad = ref.copy()
    bad[0, 0] = np.nan
    r = compare(ref, bad, precision="fp16", inputs="t")
    assert not r.passed
    with pytest.raises(ValidationError):
        enforce(r)
