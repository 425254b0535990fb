"""trtexec's layer profiles (``--dumpProfile`` tables, ``--exportProfile`` JSON) on REAL
excerpts quoted in public TensorRT issues (tests/data/trtexec-layers/SOURCES.md), and how the
attribution treats TensorRT's layer names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from devices.runner.trtexec import parse_export_profile, parse_profile_table, read_layer_profile
from edge_vit.layers.attribute import attribute
from edge_vit.layers.names import pieces, scope_of

DATA = Path(__file__).resolve().parents[2] / "data" / "trtexec-layers"


def read(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def numbers(line: str) -> list[float]:
    """The four numeric columns of a table line, read with a plain split (no parser)."""
    return [float(t) for t in line.split() if re.fullmatch(r"[0-9]+\.[0-9]+", t)][-4:]


@pytest.mark.parametrize("name,count,first_name_first", [
    ("trt8.5_gpt2_dumpProfile_excerpt.txt", 1860, True),
    ("trt8.6.10_foreignnode_dumpProfile_excerpt.txt", 125, True),
    ("trt10_resnet50_dumpProfile_excerpt.txt", 2094, False),
])
def test_profile_tables_of_8x_and_10x(name, count, first_name_first):
    text = read(name)
    got = parse_profile_table(text)
    rows = [line for line in text.splitlines() if len(numbers(line)) == 4]
    assert got["count"] == count and got["source"] == "dumpProfile"
    assert len(got["layers"]) == len(rows)
    for layer, line in zip(got["layers"], rows, strict=True):
        total, average, median, _pct = numbers(line)
        assert (layer["total_ms"], layer["average_ms"], layer["ms"]) == (total, average, median)
        assert layer["name"] in line and not re.search(r"\s[0-9]+\.[0-9]+$", layer["name"])
    if first_name_first:  # 8.x: the name is the first column
        assert got["layers"][0]["name"].startswith(("/transformer/h.7", "Reformatting"))
    else:  # 10.x: the last
        assert got["layers"][2]["name"] == "node_of_gpu_0/pool1_1"


def test_export_profile_entries_and_a_whole_file():
    got = parse_export_profile(read("trt8.4.3_a100_exportProfile_excerpt.json.txt"))
    assert [x["name"] for x in got["layers"]] == ["{ForeignNode[ReduceMean_4492...Mul_4557]}",
                                                  "{ForeignNode[ReduceMean_699...Mul_764]}"]
    assert [x["ms"] for x in got["layers"]] == [37.2818, 37.2818]  # the median
    assert got["layers"][0]["total_ms"] == 3802.94 and got["layers"][0]["average_ms"] == 37.2837
    # the same entries as a whole file (the format trtexec writes: a count first)
    entries = [json.loads(line.lstrip(", ")) for line in read(
        "trt8.4.3_a100_exportProfile_excerpt.json.txt").splitlines()]
    whole = parse_export_profile(json.dumps([{"count": 102}] + entries))
    assert whole["count"] == 102 and whole["layers"] == got["layers"]


def test_the_export_file_wins_and_the_table_is_the_fallback(tmp_path):
    table = read("trt10_resnet50_dumpProfile_excerpt.txt")
    assert read_layer_profile(str(tmp_path / "absent.json"), table)["source"] == "dumpProfile"
    export = tmp_path / "p.json"
    export.write_text(read("trt8.4.3_a100_exportProfile_excerpt.json.txt"))
    assert read_layer_profile(str(export), table)["source"] == "exportProfile"


def test_tensorrt_names_fused_layers_and_myelin_regions():
    assert pieces("{ForeignNode[/blocks/blocks.0/norm1/Mul.../head/Gemm]}") == (
        ["/blocks/blocks.0/norm1/Mul", "/head/Gemm"], True)
    names, fused = pieces("node_of_gpu_0/conv1_1 + node_of_gpu_0/res_conv1_bn_1")
    assert fused and len(names) == 2
    assert pieces("Reformatting CopyNode for Input Tensor 0 to /head/Gemm") == (["/head/Gemm"],
                                                                                False)
    # a Myelin region over several groups cannot be split: said to be fused across them
    ops = attribute([
        {"name": "/patch_embed/proj/Conv", "ms": 0.1},
        {"name": "{ForeignNode[/blocks/blocks.0/norm1/Mul.../blocks/blocks.11/mlp/fc2/"
                 "MatMul]}", "ms": 2.0},
        {"name": "/head/Gemm + /head/Add", "ms": 0.05}])
    assert [(o.group, o.how) for o in ops] == [
        ("embed", "name"), ("fused", "fused across groups"), ("head", "fused")]
    assert ops[1].part == "blocks.0 ... blocks.11"
    # a block's GEMM fused with its residual add stays the GEMM's (its own name decides)
    (op,) = attribute([{"name": "/blocks/blocks.3/mlp/fc2/MatMul + /blocks/blocks.3/Add_1",
                        "ms": 0.2}])
    assert (op.group, op.part, op.how) == ("blocks.3", "mlp.fc2", "fused")
    assert op.fused_with == ["/blocks/blocks.3/Add_1"]


def test_recorded_names_outside_timm_are_other_not_guessed():
    # GPT-2's and ResNet's module paths are not a ViT's: none is placed in a ViT group
    for name in ("trt8.5_gpt2_dumpProfile_excerpt.txt", "trt10_resnet50_dumpProfile_excerpt.txt",
                 "trt8.6.10_foreignnode_dumpProfile_excerpt.txt"):
        layers = parse_profile_table(read(name))["layers"]
        assert all(scope_of(p) is None for x in layers for p in pieces(x["name"])[0])
        assert {o.group for o in attribute(layers)} == {"other"}
