"""INT8 on full-size deit_tiny and a 50 %-pruned deit_tiny, in all three formats, calibrated on
the shared ImageNet sample (slow lane: two onnx2tf conversions, minutes).

The weights are random (no hub here), so what this proves is that every int8 artifact is made,
recorded and runs in its own runtime on held-out real images; whether it keeps the fp32 top-1
is reported (status ok / validation_failed with the measured agreement), not assumed. The
trained demo model is where int8's accuracy cost is measured (README, precision benchmark).
"""

from __future__ import annotations

import numpy as np
import pytest

from edge_vit import manifest as mf
from edge_vit.export import ExportOptions, ModelOptions, run_export
from exporters.base import ExportedFile, get_exporter

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("prune", [None, "heads=0.5,mlp=0.5"], ids=["deit_tiny", "pruned50"])
def test_deit_tiny_int8_in_every_format(tmp_path, imagenet_sample, prune):
    result = run_export(ExportOptions(model=ModelOptions(name="deit_tiny_patch16_224", prune=prune,
                                                         calib_dir=imagenet_sample, calib_size=32),
                                      formats=("onnx", "openvino", "tflite"),
                                      precisions=("fp32", "int8"), parity_inputs=16,
                                      out_root=tmp_path))
    m = result.manifest
    root = result.manifest_path.parent
    if prune:
        assert m.model.macs < 0.6 * m.model.unpruned_macs
    x = np.random.default_rng(0).normal(size=m.model.input_shape).astype(np.float32)
    for fmt in ("onnx", "openvino", "tflite"):
        fp32, int8 = m.artifact(fmt, "fp32"), m.artifact(fmt, "int8")
        assert fp32.status == mf.OK, (fmt, fp32.error)
        assert int8.status in (mf.OK, mf.VALIDATION_FAILED), (fmt, int8.status, int8.error)
        assert int8.size_bytes < 0.5 * fp32.size_bytes  # int8 weights
        assert int8.calibration["count"] == 32
        p = int8.parity
        assert p.precision == "int8" and p.num_inputs == 16  # ran on held-out real images
        # real images, none of them the 32 it was calibrated on
        assert p.inputs.startswith("images:") and "skipping the 32 calibration images" in p.inputs
        # and it loads and runs again from disk in its runtime
        ef = ExportedFile(path=root / int8.path, precision="int8",
                          input_layout=int8.input_layout or "NCHW")
        run, info = get_exporter(fmt).load_runner(ef, threads=2)
        logits = run(x)
        assert logits.shape == (1, 1000) and np.isfinite(logits).all()
