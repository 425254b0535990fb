"""Parameter and MAC counts, with attention's matrix products counted.

``torch.utils.flop_counter`` misses CPU SDPA, so MACs are counted here with forward hooks on
the layers that do the arithmetic (Linear, Conv2d) plus the two attention products per block
(q·kᵀ and attn·v: 2·N²·attn_dim per image), which no layer hook sees. Elementwise work (norms,
GELU, softmax, residual adds) is left out, as timm, fvcore and the papers do: deit_tiny is then
1.26 GMACs, the published figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Complexity:
    params: int
    macs: int
    macs_by_kind: dict[str, int] = field(default_factory=dict)
    input_shape: tuple[int, ...] = ()

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model, input_shape=(1, 3, 224, 224)) -> Complexity:
    """MACs for one forward pass of a batch of ``input_shape`` (reported per batch)."""
    import torch
    from torch import nn

    totals: dict[str, int] = {"linear": 0, "conv": 0, "attention": 0}
    hooks = []

    def linear_hook(mod, inp, out):
        totals["linear"] += inp[0].numel() // mod.in_features * mod.in_features * mod.out_features

    def conv_hook(mod, inp, out):
        k = mod.in_channels // mod.groups
        for s in mod.kernel_size:
            k *= s
        totals["conv"] += out.numel() * k

    def attention_hook(mod, inp, out):
        x = inp[0]
        batch, tokens = x.shape[0], x.shape[1]
        attn_dim = getattr(mod, "attn_dim", mod.num_heads * mod.head_dim)
        totals["attention"] += 2 * batch * tokens * tokens * attn_dim

    for mod in model.modules():
        if isinstance(mod, nn.Linear):
            hooks.append(mod.register_forward_hook(linear_hook))
        elif isinstance(mod, nn.Conv2d):
            hooks.append(mod.register_forward_hook(conv_hook))
        elif hasattr(mod, "num_heads") and hasattr(mod, "qkv") and hasattr(mod, "head_dim"):
            hooks.append(mod.register_forward_hook(attention_hook))
    try:
        with torch.inference_mode():
            model(torch.zeros(*input_shape))
    finally:
        for h in hooks:
            h.remove()
    return Complexity(params=count_params(model), macs=sum(totals.values()),
                      macs_by_kind=totals, input_shape=tuple(input_shape))


@dataclass
class Architecture:
    """The shape facts `edge-vit info` shows."""

    family: str
    depth: int
    embed_dim: int
    heads: list[int]
    head_dim: list[int]
    mlp_hidden: list[int]
    num_classes: int
    input_size: tuple[int, ...]
    patch_size: int | None = None


def describe(model) -> Architecture:
    blocks = list(model.blocks)
    heads, head_dims, mlp = [], [], []
    for b in blocks:
        attn = getattr(b, "attn", None)
        heads.append(attn.num_heads if attn is not None else 0)
        head_dims.append(attn.head_dim if attn is not None else 0)
        m = getattr(b, "mlp", None) or getattr(b, "mlp_channels", None)
        mlp.append(m.fc1.out_features)
    pe = getattr(model, "patch_embed", None) or getattr(model, "stem", None)
    patch = getattr(pe, "patch_size", None)
    family = "resmlp" if hasattr(blocks[0], "linear_tokens") else "vit"
    embed = getattr(model, "embed_dim", None) or getattr(model, "num_features", 0)
    return Architecture(family=family, depth=len(blocks), embed_dim=int(embed), heads=heads,
                        head_dim=head_dims, mlp_hidden=mlp, num_classes=model.num_classes,
                        input_size=model_input_size(model),
                        patch_size=int(patch[0]) if patch else None)


def model_input_size(model) -> tuple[int, int, int]:
    """(C, H, W) the model was built for; img_size overrides pretrained_cfg's default."""
    pe = getattr(model, "patch_embed", None) or getattr(model, "stem", None)
    img = getattr(pe, "img_size", None)
    if img is not None:
        return (3, int(img[0]), int(img[1]))
    return tuple(model.pretrained_cfg.get("input_size", (3, 224, 224)))
