"""The real deit_tiny_patch16_224 (random init, full 224 size) prunes to the expected widths."""

from __future__ import annotations

import torch

from edge_vit.models import create_model
from edge_vit.pruning import parse_plan, prune_model, validate_plan


def test_deit_tiny_heads_and_mlp():
    torch.manual_seed(0)
    model = create_model("deit_tiny_patch16_224")
    plan = parse_plan("heads=0.34,mlp=0.5")
    assert validate_plan(plan, model) == []
    # default arguments: the architecture is read from the model, no ModelSource needed
    pruned, spec, warnings = prune_model(model, plan)
    assert warnings == ["No ModelSource given: recording deit_tiny_patch16_224 with its "
                        "default arguments."]
    assert (spec.arch, spec.model_kwargs) == ("deit_tiny_patch16_224", {})
    assert len(pruned.blocks) == 12 and spec.dropped_blocks == []
    for block in pruned.blocks:
        assert (block.attn.num_heads, block.attn.head_dim, block.attn.attn_dim) == (2, 64, 128)
        assert block.mlp.fc1.out_features == 384 and block.mlp.fc2.in_features == 384
    # 5.72 M parameters before; each block loses one head (4*64*192 + 64*3 qkv bias) and
    # 384 MLP channels (2*384*192 + 384 fc1 bias)
    before = sum(p.numel() for p in model.parameters())
    after = sum(p.numel() for p in pruned.parameters())
    per_block = (4 * 64 * 192 + 3 * 64) + (2 * 384 * 192 + 384)
    assert before - after == 12 * per_block
    with torch.no_grad():
        assert pruned(torch.randn(1, 3, 224, 224)).shape == (1, 1000)
