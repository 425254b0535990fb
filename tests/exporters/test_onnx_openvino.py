"""Real torch.onnx export, onnxruntime and OpenVINO on a tiny ViT."""

import numpy as np
import onnx
import pytest
import torch

from edge_vit.models import build_model
from exporters.base import ExportRequest, get_exporter, parse_formats
from tests.conftest import TINY_VIT


@pytest.fixture(scope="module")
def tiny():
    model, _ = build_model("deit_tiny_patch16_224", model_kwargs=TINY_VIT)
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = model(x).numpy()
    return model, x.numpy(), ref


@pytest.fixture(scope="module")
def onnx_file(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx")
    req = ExportRequest(out_dir=out, stem="tiny", input_shape=(1, 3, 32, 32))
    return get_exporter("onnx").export(tiny[0], req)[0]


def test_onnx_graph_is_valid_and_static(onnx_file):
    m = onnx.load(str(onnx_file.path))
    onnx.checker.check_model(m)
    dims = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 32, 32]
    assert m.opset_import[0].version == 17
    assert [o.name for o in m.graph.output] == ["logits"]


def test_onnxruntime_matches_torch(tiny, onnx_file):
    _, x, ref = tiny
    run, info = get_exporter("onnx").load_runner(onnx_file)
    out = np.concatenate([run(x[i:i + 1]) for i in range(len(x))])
    assert np.abs(out - ref).max() < 1e-4
    assert info["runtime"] == "onnxruntime"


def test_dynamic_batch_onnx(tiny, tmp_path):
    req = ExportRequest(out_dir=tmp_path, stem="dyn", input_shape=(1, 3, 32, 32),
                        dynamic_batch=True, opset=18)
    ef = get_exporter("onnx").export(tiny[0], req)[0]
    run, _ = get_exporter("onnx").load_runner(ef)
    assert np.abs(run(tiny[1]) - tiny[2]).max() < 1e-4  # batch 3 through a batch-1 export
    assert onnx.load(str(ef.path)).opset_import[0].version == 18


@pytest.mark.parametrize("precision,atol", [("fp32", 1e-4), ("fp16", 5e-2)])
def test_openvino_ir_matches_torch_in_f32(tiny, onnx_file, tmp_path, precision, atol):
    exp = get_exporter("openvino")
    req = ExportRequest(out_dir=tmp_path, stem="tiny", input_shape=(1, 3, 32, 32),
                        precisions=(precision,))
    ef = exp.export(onnx_file.path, req)[0]
    assert ef.path.exists() and ef.path.with_suffix(".bin").exists()
    run, info = exp.load_runner(ef)
    assert info["inference_precision"] == "fp32"  # pinned, not the CPU's bf16 default
    out = run(tiny[1][:1])
    assert np.abs(out - tiny[2][:1]).max() < atol


def test_fp16_ir_is_smaller(onnx_file, tmp_path):
    exp = get_exporter("openvino")
    req = ExportRequest(out_dir=tmp_path, stem="t", input_shape=(1, 3, 32, 32),
                        precisions=("fp32", "fp16"))
    fp32, fp16 = exp.export(onnx_file.path, req)
    size = lambda ef: ef.path.with_suffix(".bin").stat().st_size  # noqa: E731
    assert size(fp16) < 0.6 * size(fp32)


def test_format_parsing_keeps_chain_order():
    assert parse_formats("tflite,onnx") == ["onnx", "tflite"]
    from edge_vit.errors import UsageError

    with pytest.raises(UsageError, match="Unknown format"):
        parse_formats("onnx,coreml")
