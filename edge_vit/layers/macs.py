"""MACs per group, counted on an artifact's ONNX graph with the attribution the op times get
(so a group's share of MACs and its share of the time are shares of the same thing).

Counted: MatMul, Gemm and Conv (the two attention products are MatMuls), as
:mod:`edge_vit.complexity` counts them on the PyTorch model; elementwise work is left out.
A symbolic batch counts as 1 (shares do not depend on it).
"""

from __future__ import annotations

import math
from pathlib import Path

from .names import Scope, scope_of

COUNTED = {"MatMul", "Gemm", "Conv", "FusedMatMul"}


def _shapes(model) -> dict[str, list[int]]:
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    out = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + \
            list(inferred.graph.output):
        dims = vi.type.tensor_type.shape.dim
        out[vi.name] = [d.dim_value if d.dim_value > 0 else 1 for d in dims]
    for init in model.graph.initializer:
        out[init.name] = list(init.dims)
    return out


def node_macs(node, shapes: dict[str, list[int]]) -> int:
    out = shapes.get(node.output[0])
    if not out:
        return 0
    if node.op_type == "Conv":
        w = shapes.get(node.input[1])
        return math.prod(out) * math.prod(w[1:]) if w else 0
    a = shapes.get(node.input[0])
    if not a:
        return 0
    k = a[-1]
    if node.op_type == "Gemm" and any(at.name == "transA" and at.i for at in node.attribute):
        k = a[0]
    return math.prod(out) * k


def macs_by_scope(onnx_path: Path) -> dict[Scope, int]:
    """MACs of each attributed (group, part) of the ONNX model; unattributed under "other"."""
    import onnx

    model = onnx.load(str(onnx_path))
    shapes = _shapes(model)
    out: dict[Scope, int] = {}
    for node in model.graph.node:
        if node.op_type not in COUNTED:
            continue
        scope = scope_of(node.name) or Scope("other", node.op_type)
        out[scope] = out.get(scope, 0) + node_macs(node, shapes)
    return out
