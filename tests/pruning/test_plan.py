"""The plan's two text forms and its serialization."""

from __future__ import annotations

import json

import pytest

from edge_vit.errors import PruningPlanError
from edge_vit.pruning import BlockPlan, PruningPlan, load_plan_file, parse_plan, read_plan
from edge_vit.serialization import dumps, from_dict, to_dict

EXAMPLE = {"round_to": 8, "heads": 0.34, "drop_blocks": [10, 11],
           "blocks": {"0": {"heads": 2, "mlp": 384}, "3": {"keep_heads": [0, 2]},
                      "5": {"mlp": 0.5}}}


def test_parse_full_and_subset():
    plan = parse_plan("heads=0.34,mlp=0.5,depth=0.25")
    assert (plan.heads, plan.mlp, plan.depth) == (0.34, 0.5, 0.25)
    assert plan.round_to == 8 and plan.criterion == "magnitude" and not plan.data_driven
    only = parse_plan(" mlp = 0.5 ")
    assert (only.heads, only.mlp, only.depth) == (0.0, 0.5, 0.0)
    extra = parse_plan("heads=0,round_to=16,criterion=taylor")
    assert extra.round_to == 16 and extra.criterion == "taylor" and extra.data_driven


@pytest.mark.parametrize("text, needle", [
    ("", "Empty"),
    ("heads", "expected key=value"),
    ("heads=", "expected key=value"),
    ("width=0.5", "Unknown plan key 'width'"),
    ("heads=abc", "not a number"),
    ("heads=0.2,heads=0.3", "given twice"),
    ("heads=1", "outside [0, 1)"),
    ("mlp=1.5", "outside [0, 1)"),
    ("depth=-0.1", "outside [0, 1)"),
    ("heads=nan", "must be a number"),
    ("round_to=0", "round_to must be an integer >= 1"),
    ("round_to=2.5", "not a number"),
    ("criterion=random", "Unknown criterion 'random'"),
])
def test_parse_errors(text, needle):
    with pytest.raises(PruningPlanError) as err:
        parse_plan(text)
    assert needle in str(err.value)


def _check_example(plan: PruningPlan) -> None:
    assert plan.heads == 0.34 and plan.mlp == 0.0 and plan.drop_blocks == [10, 11]
    assert [b.index for b in plan.blocks] == [0, 3, 5]
    b0, b3, b5 = plan.blocks
    assert (b0.heads, b0.mlp) == (2, 384) and isinstance(b0.heads, int)
    assert b3.keep_heads == [0, 2] and b3.heads is None
    assert b5.mlp == 0.5 and isinstance(b5.mlp, float)


def test_json_plan_file(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(EXAMPLE))
    _check_example(load_plan_file(path))
    _check_example(read_plan(str(path)))


def test_yaml_plan_file(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text("round_to: 8\nheads: 0.34\ndrop_blocks: [10, 11]\nblocks:\n"
                    "  0: {heads: 2, mlp: 384}\n  3: {keep_heads: [0, 2]}\n  5: {mlp: 0.5}\n")
    _check_example(load_plan_file(path))


def test_whole_float_count_and_zero_ratio(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text("blocks:\n  1: {mlp: 384.0, heads: 0}\n")
    block = load_plan_file(path).blocks[0]
    assert block.mlp == 384 and isinstance(block.mlp, int)
    assert block.heads == 0.0 and isinstance(block.heads, float)  # 0 = ratio: keep all


@pytest.mark.parametrize("content, needle", [
    ("[1, 2]", "expected a mapping"),
    ("{heads: [", "Cannot parse plan file"),
    ("{widths: 0.5}", "unknown key(s) ['widths']"),
    ("{blocks: {x: {heads: 1}}}", "block key 'x' is not an integer"),
    ("{blocks: {0: 3}}", "must be a mapping"),
    ("{blocks: {0: {neurons: 3}}}", "unknown key(s) ['neurons']"),
    ("{blocks: {0: {heads: 2, keep_heads: [0, 1]}}}", "both 'heads' and 'keep_heads'"),
    ("{blocks: {0: {mlp: 1.5}}}", "neither a ratio below 1 nor a whole count"),
    ("{blocks: {0: {mlp: -2}}}", "negative"),
    ("{blocks: {0: {keep_mlp: [1, 1]}}}", "lists an index twice"),
    ("{blocks: {0: {keep_heads: [0, 'a']}}}", "list of integer indices"),
    ("{drop_blocks: [-1]}", "negative index"),
    ("{heads: 1.0}", "outside [0, 1)"),
])
def test_plan_file_errors(tmp_path, content, needle):
    path = tmp_path / "plan.yaml"
    path.write_text(content)
    with pytest.raises(PruningPlanError) as err:
        load_plan_file(path)
    assert needle in str(err.value)


def test_bad_json_and_missing_file(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text("{'heads': 0.5}")  # single quotes: YAML would take it, JSON does not
    with pytest.raises(PruningPlanError, match="Cannot parse plan file"):
        load_plan_file(path)
    with pytest.raises(PruningPlanError, match="Plan file not found"):
        load_plan_file(tmp_path / "nope.yaml")


def test_plan_round_trips_through_serialization(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(EXAMPLE))
    plan = load_plan_file(path)
    again = from_dict(PruningPlan, json.loads(dumps(plan)))
    assert again == plan
    _check_example(again)
    # the serialized form (blocks as a list with "index") is itself a valid plan file
    path.write_text(json.dumps(to_dict(plan)))
    assert load_plan_file(path) == plan


def test_duplicate_block_override_rejected():
    with pytest.raises(PruningPlanError, match="repeat an index"):
        PruningPlan(blocks=[BlockPlan(index=1, heads=1), BlockPlan(index=1, mlp=8)])
