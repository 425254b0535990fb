"""Pruned models compute what the original computes with the removed units zeroed."""

from __future__ import annotations

import copy

import pytest
import torch

from edge_vit.errors import ManifestError, PruningPlanError
from edge_vit.pruning import (
    apply_spec,
    describe_blocks,
    parse_plan,
    plan_from_mapping,
    prune_model,
    zero_pruned_units,
)

ATOL = 1e-5


def _check_equivalent(model, pruned, spec, images):
    reference = zero_pruned_units(copy.deepcopy(model), spec)
    with torch.no_grad():
        out, ref, orig = pruned(images), reference(images), model(images)
    assert out.shape == orig.shape
    torch.testing.assert_close(out, ref, atol=ATOL, rtol=0)
    # the comparison can fail: pruning did change the function
    assert (out - orig).abs().max() > 1e-3


VIT_PLANS = ["heads=0.34", "mlp=0.5", "depth=0.34", "heads=0.34,mlp=0.5,depth=0.34"]


@pytest.mark.parametrize("criterion", ["magnitude", "taylor", "activation"])
@pytest.mark.parametrize("text", VIT_PLANS)
def test_vit_equivalence(vit, vit_source, images, calib, model_state_guard, text, criterion):
    model = model_state_guard(vit)
    pruned, spec, warnings = prune_model(model, parse_plan(f"{text},criterion={criterion}"),
                                         calib=calib, source=vit_source)
    assert not [w for w in warnings if "removes nothing" in w]
    _check_equivalent(model, pruned, spec, images)


RESMLP_PLANS = ["mlp=0.5", "depth=0.25", "mlp=0.5,depth=0.25"]


@pytest.mark.parametrize("criterion", ["magnitude", "taylor"])
@pytest.mark.parametrize("text", RESMLP_PLANS)
def test_resmlp_equivalence(resmlp, resmlp_source, images, calib, model_state_guard, text,
                            criterion):
    model = model_state_guard(resmlp)
    pruned, spec, _ = prune_model(model, parse_plan(f"{text},criterion={criterion}"),
                                  calib=calib, source=resmlp_source)
    _check_equivalent(model, pruned, spec, images)
    if "depth" in text:
        assert len(pruned.blocks) == 9 and len(spec.dropped_blocks) == 3
    if "mlp" in text:
        assert {b.mlp_channels.fc1.out_features for b in pruned.blocks} == {768}


def test_vit_shapes(vit, vit_source):
    pruned, spec, _ = prune_model(vit, parse_plan("heads=0.34,mlp=0.5"), source=vit_source)
    for block in pruned.blocks:
        attn = block.attn
        assert (attn.num_heads, attn.head_dim, attn.attn_dim) == (2, 64, 128)
        assert tuple(attn.qkv.weight.shape) == (3 * 128, 192)
        assert tuple(attn.qkv.bias.shape) == (3 * 128,)
        assert tuple(attn.proj.weight.shape) == (192, 128)
        assert tuple(block.mlp.fc1.weight.shape) == (384, 192)
        assert tuple(block.mlp.fc2.weight.shape) == (192, 384)
    assert [(b.num_heads, b.orig_heads, b.mlp_hidden, b.orig_mlp) for b in spec.blocks] == \
        [(2, 3, 384, 768)] * 3
    assert [b.index for b in spec.blocks] == [0, 1, 2] and spec.dropped_blocks == []


def test_explicit_plan(vit, vit_source, images):
    plan = plan_from_mapping({"drop_blocks": [1], "blocks": {
        "0": {"keep_heads": [2, 0], "keep_mlp": [5, 1, 700]}, "2": {"heads": 1, "mlp": 0.0}}})
    pruned, spec, warnings = prune_model(vit, plan, source=vit_source)
    assert [b.index for b in spec.blocks] == [0, 2] and spec.dropped_blocks == [1]
    b0, b2 = spec.blocks
    assert b0.kept_heads == [0, 2] and b0.kept_mlp == [1, 5, 700]  # sorted
    assert b2.num_heads == 1 and b2.mlp_hidden == 768
    assert len(pruned.blocks) == 2
    assert [f["module"] for f in pruned.feature_info] == ["blocks.0", "blocks.1"]
    assert any("MLP width 3 is not a multiple" in w for w in warnings)
    # kept head 2 of block 0 is the original head 2, moved to slot 1
    orig_v = vit.blocks[0].attn.qkv.weight[2 * 192 + 128:2 * 192 + 192]
    torch.testing.assert_close(pruned.blocks[0].attn.qkv.weight[2 * 128 + 64:], orig_v)
    _check_equivalent(vit, pruned, spec, images)


def test_highest_importance_is_kept(vit_source, build_model):
    model = build_model(vit_source)
    with torch.no_grad():  # make block 0's head 1 and MLP channels 0-383 contribute nothing
        model.blocks[0].attn.proj.weight[:, 64:128] = 0
        model.blocks[0].mlp.fc2.weight[:, :384] = 0
        model.blocks[1].attn.proj.weight.mul_(5)  # block 1 dominates; block 2 is weakest
        model.blocks[2].attn.proj.weight.mul_(0.01)
        model.blocks[2].mlp.fc2.weight.mul_(0.01)
    _, spec, _ = prune_model(model, parse_plan("heads=0.34,mlp=0.5,depth=0.34"),
                             source=vit_source)
    assert spec.dropped_blocks == [2]
    assert spec.blocks[0].kept_heads == [0, 2]
    assert spec.blocks[0].kept_mlp == list(range(384, 768))


def test_taylor_with_labels(vit, vit_source, calib):
    labelled = [(x, torch.arange(x.shape[0]) % 10) for x in calib]
    _, spec, _ = prune_model(vit, parse_plan("heads=0.34,mlp=0.5,criterion=taylor"),
                             calib=labelled, source=vit_source)
    assert spec.criterion == "taylor" and all(b.num_heads == 2 for b in spec.blocks)


def test_attention_with_gate_and_qk_norm(vit_source, build_model, images):
    from timm.layers import Attention

    model = build_model(vit_source)
    torch.manual_seed(3)
    for block in model.blocks:  # timm's Block cannot ask for these, so swap them in
        block.attn = Attention(192, num_heads=3, qkv_bias=True, qk_norm=True, gated=True,
                               norm_layer=torch.nn.LayerNorm).eval()
    pruned, spec, _ = prune_model(model, parse_plan("heads=0.34"), source=vit_source)
    assert tuple(pruned.blocks[0].attn.gate.weight.shape) == (128, 192)
    _check_equivalent(model, pruned, spec, images)


def test_layer_norm_over_pruned_width(vit_source, build_model, images):
    import dataclasses

    source = dataclasses.replace(vit_source, model_kwargs={
        **vit_source.model_kwargs, "scale_attn_norm": True, "scale_mlp_norm": True})
    model = build_model(source)
    assert describe_blocks(model)[0].attn_norm and describe_blocks(model)[0].mlp_norm
    pruned, spec, warnings = prune_model(model, parse_plan("heads=0.34,mlp=0.5"), source=source)
    assert sum("LayerNorm over the pruned width" in w for w in warnings) == 6
    block = pruned.blocks[0]
    assert tuple(block.attn.norm.weight.shape) == (128,)
    assert tuple(block.mlp.norm.weight.shape) == (384,)
    assert pruned(images).shape == (4, 10)


def test_source_needed_for_non_default_arguments(vit):
    with pytest.raises(PruningPlanError, match="built with non-default arguments") as err:
        prune_model(vit, parse_plan("mlp=0.5"))
    assert "source=ModelSource" in err.value.hint


def test_apply_spec_mismatch(vit, resmlp, vit_source):
    _, spec, _ = prune_model(vit, parse_plan("mlp=0.5"), source=vit_source)
    with pytest.raises(ManifestError, match="model has 12 blocks, spec expects 3"):
        apply_spec(copy.deepcopy(resmlp), spec)
