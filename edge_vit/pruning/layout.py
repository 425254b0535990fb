"""Which timm block layouts pruning understands, and where their prunable parts live.

Two layouts are supported, matched by exact class (subclasses may change ``forward``, so
slicing them would not be known to be exact):

* ``vit``: ``timm.models.vision_transformer.Block`` with ``attn`` a ``timm.layers.Attention``
  and ``mlp`` a ``timm.layers.Mlp`` (ViT, DeiT).
* ``resmlp``: ``timm.models.mlp_mixer.ResBlock`` whose ``mlp_channels`` is a ``Mlp`` (ResMLP);
  it has no heads, and its token-mixing ``linear_tokens`` is never pruned (its width is the
  number of patches, which the stem fixes).

An attention or MLP of another class leaves that unit type unprunable in that block
(``num_heads`` / ``mlp_hidden`` is ``None``); the plan check reports it when asked to prune it.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..errors import PruningPlanError


@dataclass(frozen=True)
class BlockInfo:
    """The prunable widths of one block, as the model holds them now."""

    index: int
    kind: str  # "vit" | "resmlp"
    num_heads: int | None  # None: no attention edge-vit can slice
    head_dim: int | None
    mlp_hidden: int | None  # None: no MLP edge-vit can slice
    attn_norm: bool = False  # Attention(scale_norm=True): a LayerNorm over all heads
    mlp_norm: bool = False  # Mlp(norm_layer=...): a LayerNorm over the hidden width


def _classes():
    from timm.layers import Attention, Mlp
    from timm.models.mlp_mixer import ResBlock
    from timm.models.vision_transformer import Block

    return Block, ResBlock, Attention, Mlp


def blocks_of(model: nn.Module) -> nn.Sequential:
    blocks = getattr(model, "blocks", None)
    if not isinstance(blocks, nn.Sequential):
        raise PruningPlanError(
            f"{type(model).__name__} has no 'blocks' nn.Sequential; edge-vit prunes timm "
            "ViT/DeiT/ResMLP models only.")
    return blocks


def attn_of(block: nn.Module) -> nn.Module | None:
    """The block's sliceable Attention, or None."""
    _, _, attention, _ = _classes()
    attn = getattr(block, "attn", None)
    ok = type(attn) is attention and isinstance(attn.qkv, nn.Linear) \
        and isinstance(attn.proj, nn.Linear) \
        and (attn.gate is None or isinstance(attn.gate, nn.Linear))
    return attn if ok else None


def mlp_of(block: nn.Module) -> nn.Module | None:
    """The block's sliceable Mlp (``mlp`` for ViT, ``mlp_channels`` for ResMLP), or None."""
    _, _, _, mlp_cls = _classes()
    mlp = getattr(block, "mlp", None)
    if mlp is None:
        mlp = getattr(block, "mlp_channels", None)
    ok = type(mlp) is mlp_cls and isinstance(mlp.fc1, nn.Linear) and isinstance(mlp.fc2, nn.Linear)
    return mlp if ok else None


def block_kind(block: nn.Module, index: int) -> str:
    vit_block, res_block, _, _ = _classes()
    if type(block) is vit_block:
        return "vit"
    if type(block) is res_block:
        return "resmlp"
    raise PruningPlanError(
        f"Block {index} is a {type(block).__module__}.{type(block).__name__}; edge-vit can prune "
        "only timm's vision_transformer.Block and mlp_mixer.ResBlock layouts.")


def describe_blocks(model: nn.Module) -> list[BlockInfo]:
    """One :class:`BlockInfo` per block of ``model.blocks``, in order."""
    infos = []
    for i, block in enumerate(blocks_of(model)):
        kind = block_kind(block, i)
        attn, mlp = attn_of(block), mlp_of(block)
        infos.append(BlockInfo(
            index=i, kind=kind,
            num_heads=attn.num_heads if attn is not None else None,
            head_dim=attn.head_dim if attn is not None else None,
            mlp_hidden=mlp.fc1.out_features if mlp is not None else None,
            attn_norm=attn is not None and not isinstance(attn.norm, nn.Identity),
            mlp_norm=mlp is not None and not isinstance(mlp.norm, nn.Identity),
        ))
    return infos
