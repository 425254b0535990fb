"""Global allocation (allocate=global): the plan's ratios over the whole model, decided across
blocks by importance; the same count as uniform; never a block without heads; widths rounded."""

from __future__ import annotations

import pytest
import torch

from edge_vit.errors import PruningPlanError
from edge_vit.models import ModelSource, create_model
from edge_vit.pruning import parse_plan, plan_spec, prune_model

KW = {"img_size": 32, "patch_size": 8, "depth": 4, "num_classes": 10, "embed_dim": 96,
      "num_heads": 6, "mlp_ratio": 4.0}


@pytest.fixture
def vit():
    torch.manual_seed(0)
    model = create_model("vit_tiny_patch16_224", KW).eval()
    with torch.no_grad():  # unequal blocks: in block 1 five of six heads matter little, in
        # block 2 three quarters of the MLP channels (head_dim 16, MLP 384)
        model.blocks[1].attn.proj.weight[:, :80] *= 0.01
        model.blocks[2].mlp.fc2.weight[:, :288] *= 0.01
    return model


def _spec(vit, text):
    return plan_spec(vit, parse_plan(text), source=ModelSource("vit_tiny_patch16_224", KW))[0]


def test_global_keeps_the_uniform_count_but_moves_it_between_blocks(vit):
    uniform, glob = _spec(vit, "heads=0.5,mlp=0.5"), _spec(vit, "global=0.5")
    assert glob.plan.allocate == "global" and glob.plan.heads == glob.plan.mlp == 0.5
    heads_u = [b.num_heads for b in uniform.blocks]
    heads_g = [b.num_heads for b in glob.blocks]
    assert heads_u == [3, 3, 3, 3] and sum(heads_g) == 12 and heads_g != heads_u
    assert heads_g[1] == 1  # the block with one useful head keeps just that one
    mlp_g = [b.mlp_hidden for b in glob.blocks]
    assert all(w % 8 == 0 and 8 <= w <= 384 for w in mlp_g)
    assert abs(sum(mlp_g) - 4 * 192) <= 4 * 4  # the uniform total, up to per-block rounding
    assert mlp_g[2] == 96  # and the one with a quarter of useful channels keeps those


def test_global_never_empties_a_block_and_refuses_what_it_cannot_do(vit):
    spec = _spec(vit, "heads=0.8,allocate=global")
    assert all(b.num_heads >= 1 for b in spec.blocks) and sum(b.num_heads for b in spec.blocks) == 5
    with pytest.raises(PruningPlanError, match="fewer than one head in each of the 4 blocks"):
        _spec(vit, "heads=0.9,allocate=global")
    with pytest.raises(PruningPlanError, match="do not also give heads"):
        parse_plan("global=0.5,heads=0.3")
    with pytest.raises(PruningPlanError, match="Unknown allocate"):
        parse_plan("heads=0.5,allocate=everywhere")


def test_global_pruned_model_runs_and_overrides_stay(vit):
    from edge_vit.pruning.plan import plan_from_mapping

    plan = plan_from_mapping({"global": 0.5, "blocks": {"0": {"heads": 4}}})
    pruned, spec, _ = prune_model(vit, plan, source=ModelSource("vit_tiny_patch16_224", KW))
    assert spec.blocks[0].num_heads == 4  # an override takes no part in the allocation
    assert pruned(torch.randn(2, 3, 32, 32)).shape == (2, 10)
