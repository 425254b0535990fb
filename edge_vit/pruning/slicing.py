"""Hand slicing of timm modules, in place: the only code that changes a model's shapes.

Both pruning (kept indices chosen by importance) and loading (kept indices read from a spec)
go through these functions, so a pruned model and its rebuilt copy have the same modules.
Weights are sliced out of the existing tensors rather than re-initialised: new ``nn.Linear``
objects would cost a random init each and would lose the module's class and hooks.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import PruningPlanError


def _index(indices: list[int], device: torch.device) -> torch.Tensor:
    return torch.as_tensor(indices, dtype=torch.long, device=device)


def _param(t: torch.Tensor, like: nn.Parameter) -> nn.Parameter:
    return nn.Parameter(t.contiguous().clone(), requires_grad=like.requires_grad)


def slice_linear_out(linear: nn.Linear, rows: list[int]) -> None:
    """Keep output features ``rows`` (weight rows and bias entries)."""
    idx = _index(rows, linear.weight.device)
    linear.weight = _param(linear.weight.data.index_select(0, idx), linear.weight)
    if linear.bias is not None:
        linear.bias = _param(linear.bias.data.index_select(0, idx), linear.bias)
    linear.out_features = len(rows)


def slice_linear_in(linear: nn.Linear, cols: list[int]) -> None:
    """Keep input features ``cols`` (weight columns; the bias is untouched)."""
    idx = _index(cols, linear.weight.device)
    linear.weight = _param(linear.weight.data.index_select(1, idx), linear.weight)
    linear.in_features = len(cols)


def slice_norm(norm: nn.Module, channels: list[int]) -> None:
    """Slice a LayerNorm-like module over the last dim (timm LayerNorm, RmsNorm)."""
    if isinstance(norm, nn.Identity):
        return
    shape = getattr(norm, "normalized_shape", None)
    if shape is None or len(tuple(shape)) != 1:
        raise PruningPlanError(
            f"Cannot slice a {type(norm).__name__} over a pruned width; only LayerNorm-like "
            "norms over the last dimension are supported.")
    for name in ("weight", "bias"):
        p = getattr(norm, name, None)
        if isinstance(p, nn.Parameter):
            setattr(norm, name, _param(p.data.index_select(0, _index(channels, p.device)), p))
    norm.normalized_shape = (len(channels),)


def head_channels(heads: list[int], head_dim: int) -> list[int]:
    """Channel indices, within one q/k/v (or gate) section, of the given heads."""
    return [h * head_dim + d for h in heads for d in range(head_dim)]


def slice_attention(attn: nn.Module, keep_heads: list[int]) -> None:
    """Keep the given heads of a timm ``Attention``; ``head_dim`` and the scale stay."""
    per_head = head_channels(keep_heads, attn.head_dim)
    old = attn.attn_dim  # qkv rows are laid out [q heads | k heads | v heads]
    slice_linear_out(attn.qkv, [part * old + c for part in range(3) for c in per_head])
    if attn.gate is not None:
        slice_linear_out(attn.gate, per_head)
    slice_norm(attn.norm, per_head)
    slice_linear_in(attn.proj, per_head)
    attn.num_heads = len(keep_heads)
    attn.attn_dim = attn.num_heads * attn.head_dim


def slice_mlp(mlp: nn.Module, keep: list[int]) -> None:
    """Keep hidden channels ``keep`` of a timm ``Mlp`` (fc1 rows + bias, norm, fc2 columns)."""
    slice_linear_out(mlp.fc1, keep)
    slice_norm(mlp.norm, keep)
    slice_linear_in(mlp.fc2, keep)


def keep_blocks(model: nn.Module, keep: list[int]) -> None:
    """Replace ``model.blocks`` by the blocks at ``keep`` (renumbered 0..k-1 in state dicts)."""
    blocks = model.blocks
    model.blocks = nn.Sequential(*[blocks[i] for i in keep])
    info = getattr(model, "feature_info", None)
    # timm lists one feature entry per block ('blocks.i'); keep it in step with the blocks
    if isinstance(info, list) and len(info) == len(blocks):
        model.feature_info = [dict(info[old], module=f"blocks.{new}")
                              for new, old in enumerate(keep)]
