"""Plans checked against a model before any work: impossible ones raise, odd ones warn."""

from __future__ import annotations

import pytest

from edge_vit.errors import PruningPlanError
from edge_vit.pruning import (
    BlockPlan,
    PruningPlan,
    describe_blocks,
    parse_plan,
    plan_from_mapping,
    prune_model,
    validate_plan,
)
from edge_vit.pruning.validate import resolve_targets, round_width


def _plan(**data) -> PruningPlan:
    return plan_from_mapping(data)


def test_layout(vit, resmlp):
    info = describe_blocks(vit)
    assert len(info) == 3 and {(b.kind, b.num_heads, b.head_dim, b.mlp_hidden)
                                for b in info} == {("vit", 3, 64, 768)}
    res = describe_blocks(resmlp)
    assert len(res) == 12 and {(b.kind, b.num_heads, b.mlp_hidden)
                                for b in res} == {("resmlp", None, 1536)}


@pytest.mark.parametrize("data, needle", [
    ({"blocks": {"5": {"heads": 1}}}, "names block(s) [5], but the model has 3 blocks (0-2)"),
    ({"drop_blocks": [3]}, "names block(s) [3]"),
    ({"drop_blocks": [0, 1, 2]}, "removes every one of the 3 blocks"),
    ({"blocks": {"1": {"keep_heads": []}}}, "Block 1 keep_heads is empty"),
    ({"blocks": {"0": {"keep_mlp": []}}}, "Block 0 keep_mlp is empty"),
    ({"blocks": {"0": {"heads": 4}}}, "Block 0 keeps 4 heads, but it has only 3"),
    ({"blocks": {"2": {"mlp": 1000}}}, "keeps 1000 MLP channels, but it has only 768"),
    ({"blocks": {"0": {"keep_heads": [0, 3]}}}, "names index 3, but there are only 3 (0-2)"),
    ({"blocks": {"0": {"keep_mlp": [0, 768]}}}, "names index 768"),
    ({"drop_blocks": [1], "blocks": {"1": {"mlp": 0.5}}}, "in drop_blocks and also have"),
    ({"depth": 0.6, "blocks": {"0": {"mlp": 0.5}, "1": {"mlp": 0.5}}},
     "asks for 2 of 3 blocks removed, but only 1 can be"),
])
def test_impossible_vit_plans(vit, data, needle):
    with pytest.raises(PruningPlanError) as err:
        validate_plan(_plan(**data), vit)
    assert needle in str(err.value)


@pytest.mark.parametrize("plan", [
    parse_plan("heads=0.5"),
    _plan(blocks={"2": {"heads": 1}}),
    _plan(blocks={"2": {"keep_heads": [0]}}),
])
def test_heads_on_resmlp_refused(resmlp, plan):
    with pytest.raises(PruningPlanError, match="ResMLP block: it has no attention heads"):
        validate_plan(plan, resmlp)


def test_resmlp_other_units_accepted(resmlp):
    assert validate_plan(parse_plan("heads=0,mlp=0.5,depth=0.25"), resmlp) == []


def test_data_driven_needs_calibration(vit, vit_source):
    with pytest.raises(PruningPlanError, match="criterion=taylor needs calibration images"):
        prune_model(vit, parse_plan("heads=0.34,criterion=taylor"), source=vit_source)


def test_unknown_layout_refused():
    import torch

    class NotAViT(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = torch.nn.Sequential(torch.nn.Linear(4, 4))

    with pytest.raises(PruningPlanError, match="can prune only timm's"):
        validate_plan(parse_plan("mlp=0.5"), NotAViT())
    with pytest.raises(PruningPlanError, match="no 'blocks' nn.Sequential"):
        validate_plan(parse_plan("mlp=0.5"), torch.nn.Linear(2, 2))


def _kept(plan, model):
    targets, warnings = resolve_targets(plan, describe_blocks(model))
    return ({i: t.kept for i, t in targets.heads.items()},
            {i: t.kept for i, t in targets.mlp.items()}, targets, warnings)


def test_ratio_arithmetic(vit):
    heads, mlp, targets, warnings = _kept(parse_plan("heads=0.34,mlp=0.5,depth=0.34"), vit)
    assert heads == {0: 2, 1: 2, 2: 2} and mlp == {0: 384, 1: 384, 2: 384}
    assert targets.depth_extra == 1 and warnings == []
    # round half up: 0.5 of 3 heads removes 2 (Python's round(1.5) would also, round(2.5) not)
    assert _kept(parse_plan("heads=0.5"), vit)[0][0] == 1


def test_round_to(vit):
    # 0.3 of 768 removes 230 -> 538 kept -> nearest multiple of 8 is 536
    assert _kept(parse_plan("mlp=0.3"), vit)[1][0] == 536
    assert _kept(parse_plan("mlp=0.3,round_to=1"), vit)[1][0] == 538
    assert _kept(parse_plan("mlp=0.3,round_to=64"), vit)[1][0] == 512
    # never rounded to 0, never above the original width
    assert _kept(parse_plan("mlp=0.999"), vit)[1][0] == 8
    assert round_width(1, 768, 8) == 8 and round_width(766, 766, 8) == 766
    assert round_width(5, 4, 8) == 4


def test_warnings(vit):
    plan = _plan(heads=0.9, blocks={"0": {"mlp": 300}, "1": {"keep_mlp": list(range(20))}})
    heads, mlp, _, warnings = _kept(plan, vit)
    assert heads == {0: 1, 1: 1, 2: 1}  # at least one head survives a large ratio
    assert mlp == {0: 300, 1: 20, 2: 768}
    text = "\n".join(warnings)
    assert "heads ratio 0.9 would remove all 3 heads; keeping 1" in text
    assert "Block 0: MLP width 300 is not a multiple of round_to=8" in text
    assert "Block 1: MLP width 20 is not a multiple" in text
    assert validate_plan(_plan(blocks={"0": {"mlp": 384}}), vit) == []
    assert validate_plan(PruningPlan(), vit) == ["The plan removes nothing from this model."]


def test_block_override_replaces_uniform_ratio(vit):
    plan = PruningPlan(heads=0.34, mlp=0.5, blocks=[BlockPlan(index=1, heads=0.0, mlp=3)])
    heads, mlp, _, warnings = _kept(plan, vit)
    assert heads == {0: 2, 1: 3, 2: 2} and mlp == {0: 384, 1: 3, 2: 384}
    assert any("Block 1: MLP width 3" in w for w in warnings)


def test_depth_ratio_on_one_block_keeps_one(vit_source, build_model):
    import dataclasses

    source = dataclasses.replace(vit_source, model_kwargs={**vit_source.model_kwargs,
                                                          "depth": 1})
    model = build_model(source)
    _, _, targets, warnings = _kept(parse_plan("depth=0.9"), model)
    assert targets.depth_extra == 0
    assert any("would remove all 1 blocks; keeping 1" in w for w in warnings)


def test_depth_counts_explicit_drops(vit, vit_source):
    plan = _plan(depth=0.67, drop_blocks=[0])  # 0.67 of 3 = 2 blocks in total, 1 explicit
    _, _, targets, _ = _kept(plan, vit)
    assert targets.drop == [0] and targets.depth_extra == 1
    assert targets.depth_candidates == [1, 2]
    _, spec, _ = prune_model(vit, plan, source=vit_source)
    assert len(spec.dropped_blocks) == 2 and 0 in spec.dropped_blocks
    _, _, targets, _ = _kept(_plan(depth=0.34, drop_blocks=[0, 1]), vit)
    assert targets.depth_extra == 0  # explicit drops already exceed what depth asks
