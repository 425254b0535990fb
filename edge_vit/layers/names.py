"""From an op's name to the prunable group it belongs to.

The ONNX export keeps timm's module path in every node name (``/blocks/blocks.3/mlp/fc1/
MatMul``); onnxslim keeps it, OpenVINO keeps it as the friendly name of the op (fused ops
keep one of their nodes' names and list the others in ``originalLayersNames``), and
onnxruntime keeps it except for nodes its optimizer creates (a fused ``Gelu``, layout
``Transpose``/``ReorderOutput``): those are attributed by their neighbours in execution order
(:mod:`edge_vit.layers.attribute`). TensorRT joins the names of the nodes it fuses with
`` + `` and names a Myelin region ``{ForeignNode[first...last]}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BLOCK = re.compile(r"^(?:blocks|layers)\.(\d+)$")
ATTN_PARTS = {"qkv": "attn.qkv", "q": "attn.qkv", "k": "attn.qkv", "v": "attn.qkv",
              "proj": "attn.proj", "q_norm": "attn.products", "k_norm": "attn.products"}
MLP_PARTS = {"fc1": "mlp.fc1", "act": "mlp.act", "fc2": "mlp.fc2", "norm": "mlp.act"}
BLOCK_PARTS = {"norm1": "norms", "norm2": "norms", "ls1": "attn.proj", "ls2": "mlp.fc2"}
# op types that belong with the norm that follows them (OpenVINO splits LayerNorm into MVN + an
# affine Subgraph and names only the second)
NORM_TYPES = {"MVN", "LayerNormalization", "ReduceMean", "SimplifiedLayerNormalization",
              "SkipLayerNormalization"}
ACT_TYPES = {"Gelu", "Erf", "FastGelu", "BiasGelu", "Sigmoid", "Swish", "HardSwish"}
FOREIGN = re.compile(r"\{ForeignNode\[(.*)\]\}")


@dataclass(frozen=True)
class Scope:
    """``group``: embed, blocks.N, norm (the final one), head; ``part`` within it."""

    group: str
    part: str

    @property
    def block(self) -> int | None:
        return int(self.group.split(".")[1]) if self.group.startswith("blocks.") else None

    @property
    def rollup(self) -> str:
        """attention / mlp / norms / residual within a block; the group elsewhere."""
        return self.part.split(".", 1)[0] if self.group.startswith("blocks.") else self.group


def module_path(piece: str) -> list[str]:
    """The module segments of one node name (``/blocks/blocks.0/attn/qkv/MatMul`` ->
    ``[blocks, blocks.0, attn, qkv]``); a prefix a runtime adds (OpenVINO's reorders:
    ``input_f32_abcd_..._/patch_embed/proj/Conv``) is skipped."""
    start = piece.find("/")
    if start < 0:
        return []
    segments = [s for s in piece[start:].split("/") if s]
    return segments[:-1]  # the last is the op itself (MatMul, Add_1, ...)


def scope_of(piece: str) -> Scope | None:
    """The group of one (unfused) node name, or None when its name does not say."""
    segs = module_path(piece)
    for i, seg in enumerate(segs):
        if seg == "patch_embed":
            return Scope("embed", "patch_embed")
        m = BLOCK.match(seg)
        if m:
            group, rest = f"blocks.{m.group(1)}", segs[i + 1:]
            if not rest:
                return Scope(group, "residual")
            if rest[0] == "attn":
                return Scope(group, ATTN_PARTS.get(rest[1], "attn.products")
                             if len(rest) > 1 else "attn.products")
            if rest[0] == "mlp":
                return Scope(group, MLP_PARTS.get(rest[1], "mlp.act") if len(rest) > 1
                             else "mlp.act")
            return Scope(group, BLOCK_PARTS.get(rest[0], "residual"))
        if i == 0 and seg in ("norm", "fc_norm"):
            return Scope("norm", "final norm")
        if i == 0 and seg == "head":
            return Scope("head", "head")
    return None


def pieces(name: str) -> tuple[list[str], bool]:
    """The node names an op's name holds, and whether the runtime fused several into it:
    TensorRT's ``a + b``, a Myelin ``{ForeignNode[first...last]}`` (its two ends), a
    ``Reformatting CopyNode for Input Tensor 0 to X`` (X's)."""
    m = FOREIGN.search(name)
    if m:
        return [p for p in m.group(1).split("...") if p], True
    name = re.sub(r"^Reformatting CopyNode for (?:Input|Output) Tensor \d+ to ", "", name)
    parts = [p.strip() for p in name.split(" + ") if p.strip()]
    return parts, len(parts) > 1 or "Fusion" in name
