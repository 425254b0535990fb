"""The unpruned model with what a spec removed set to zero: the reference a pruned model
must match to float tolerance. Used by the tests, and handy for checking a spec by hand."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ManifestError
from .layout import attn_of, blocks_of, mlp_of
from .slicing import head_channels
from .spec import PruneSpec


def _zero_cols(linear: nn.Linear, cols: list[int]) -> None:
    if cols:
        linear.weight[:, cols] = 0


def _removed(kept: list[int] | None, total: int) -> list[int]:
    return [] if kept is None else sorted(set(range(total)) - set(kept))


@torch.no_grad()
def zero_pruned_units(model: nn.Module, spec: PruneSpec) -> nn.Module:
    """Zero, in place in the ORIGINAL model, every unit ``spec`` removed; returns ``model``.

    * removed heads: their ``attn.proj`` input columns (the head then adds nothing);
    * removed MLP channels: ``fc1`` rows and bias entries, and ``fc2`` columns;
    * dropped blocks: ViT ``attn.proj`` and ``mlp.fc2`` weight and bias (both residual
      branches output 0, so the block is the identity); ResMLP ``ls1`` and ``ls2``.

    A LayerNorm over a pruned width (``scale_norm``) still sees the zeros, so for such models
    the pruned network is not equal to this one; without it the two agree to float tolerance.
    """
    blocks = blocks_of(model)
    if len(blocks) != spec.original_depth:
        raise ManifestError(f"Spec is for {spec.original_depth} blocks; model has {len(blocks)}.")
    for b in spec.blocks:
        block = blocks[b.index]
        attn, mlp = attn_of(block), mlp_of(block)
        if attn is not None:
            gone = _removed(b.kept_heads, attn.num_heads)
            _zero_cols(attn.proj, head_channels(gone, attn.head_dim))
        if mlp is not None:
            gone = _removed(b.kept_mlp, mlp.fc1.out_features)
            if gone:
                mlp.fc1.weight[gone] = 0
                if mlp.fc1.bias is not None:
                    mlp.fc1.bias[gone] = 0
                _zero_cols(mlp.fc2, gone)
    for i in spec.dropped_blocks:
        block = blocks[i]
        if isinstance(getattr(block, "ls1", None), nn.Parameter):  # ResMLP
            block.ls1.zero_()
            block.ls2.zero_()
            continue
        for linear in (block.attn.proj, block.mlp.fc2):
            linear.weight.zero_()
            if linear.bias is not None:
                linear.bias.zero_()
    return model
