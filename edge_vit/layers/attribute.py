"""Each profiled op attributed to a :class:`Scope`, and the ops summed per group.

How an op is attributed is kept with it: ``name`` (its own name says), ``fused`` (the runtime
fused several nodes into it and they agree on a group, or the op's own name decides; the
others are listed), ``fused across groups`` (one op spans groups, e.g. a TensorRT Myelin
region: its time cannot be split and is shown as such), ``neighbours`` (a node the runtime's
optimizer made, without a module path: the group of the named ops around it in execution
order), ``none`` ("other").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .names import ACT_TYPES, NORM_TYPES, Scope, pieces, scope_of

OTHER = "other"
MATMUL_TYPES = {"FullyConnected", "MatMul", "Gemm", "FusedMatMul", "MatMulNBits"}
FUSED = "fused"


@dataclass
class AttributedOp:
    name: str
    type: str | None
    ms: float
    group: str
    part: str
    how: str  # name | fused | fused across groups | neighbours | none
    fused_with: list[str] = field(default_factory=list)
    exec: str | None = None


def _own_scope(op: dict, fused: dict[str, list[str]]) -> tuple[Scope | None, str, list[str]]:
    names, was_fused = pieces(op["name"])
    originals = [n for n in fused.get(op["name"], []) if n not in names]
    scopes = [s for s in (scope_of(n) for n in names + originals) if s is not None]
    others = [n for n in names[1:] + originals]
    if len(names) + len(originals) > 1:
        was_fused = True
    if not scopes:
        return None, "none", others
    first = scopes[0]
    if all(s.group == first.group and s.rollup == first.rollup for s in scopes):
        return first, "fused" if was_fused else "name", others
    if all(s.group == first.group for s in scopes):
        # one block's parts fused (fc2 with the residual add, qkv with the products): the
        # op's own name, its first node, decides; the others are listed
        return first, "fused", others
    span = f"{scopes[0].group} ... {scopes[-1].group}"
    return Scope(FUSED, span), "fused across groups", others


def attribute(ops: list[dict], fused: dict[str, list[str]] | None = None
              ) -> list[AttributedOp]:
    """``ops``: the runner's per-op records (name, type, exec, ms) in execution order."""
    fused = fused or {}
    own = [_own_scope(op, fused) for op in ops]
    named = [i for i, (s, _, _) in enumerate(own) if s is not None and s.group != FUSED]
    # an op without a module path takes the group of the op before it (as attributed) and the
    # next named op
    out: list[AttributedOp] = []
    prev: Scope | None = None  # the last op's group (its own, or the one it was given)
    for i, op in enumerate(ops):
        scope, how, others = own[i]
        if scope is None:
            nxt = next((own[j][0] for j in named if j > i), None)
            scope, how = _by_neighbours(op.get("type") or "", prev, nxt)
        if scope.group not in (OTHER, FUSED):
            prev = scope
        out.append(AttributedOp(name=op["name"], type=op.get("type"), ms=float(op["ms"]),
                                group=scope.group, part=scope.part, how=how,
                                fused_with=others, exec=op.get("exec")))
    return out


def _by_neighbours(op_type: str, prev: Scope | None, nxt: Scope | None
                   ) -> tuple[Scope, str]:
    after = nxt.group if nxt is not None else None
    before = prev.group if prev is not None else None
    if op_type in NORM_TYPES:  # a norm the runtime split (OpenVINO's MVN) or fused
        if nxt is not None and nxt.part in ("norms", "final norm"):
            return nxt, "neighbours"
        if nxt is not None and nxt.block is not None:  # the norm feeding the block's next half
            return Scope(nxt.group, "norms"), "neighbours"
        if after in (None, "head"):  # onnxruntime's SkipLayerNormalization: last add + norm
            return Scope("norm", "final norm"), "neighbours"
    if before == "embed" and after == "blocks.0":  # timm's _pos_embed: cls token, positions
        return Scope("embed", "cls+pos"), "neighbours"
    if after is None and op_type in MATMUL_TYPES:
        # the op producing the output, which OpenVINO names after it ("logits"): the head
        return Scope("head", "head"), "neighbours"
    if before in ("norm", "head") and after in (None, "head"):
        # pooling, or the head renamed after the model's output (OpenVINO: "logits")
        return Scope("head", "head"), "neighbours"
    if op_type in ACT_TYPES and prev is not None and nxt is not None and \
            prev.group == nxt.group and prev.rollup == "mlp":
        return Scope(prev.group, "mlp.act"), "neighbours"
    if prev is not None and nxt is not None and prev.group == nxt.group and \
            prev.rollup == nxt.rollup:
        return nxt, "neighbours"  # a layout op between two ops of one group feeds the next
    return Scope(OTHER, op_type or "?"), "none"


def level_key(group: str, part: str, level: str) -> tuple[str, str]:
    """The key of (group, part) at ``level``: part, rollup (attention / mlp / norms /
    residual within a block) or group (a whole block)."""
    if level == "group":
        return group, group
    return group, Scope(group, part).rollup if level == "rollup" else part


def totals(ops: list[AttributedOp], level: str = "part") -> dict[tuple[str, str], float]:
    """ms per (group, part), per (group, rollup) or per group (see :func:`level_key`)."""
    out: dict[tuple[str, str], float] = {}
    for op in ops:
        key = level_key(op.group, op.part, level)
        out[key] = out.get(key, 0.0) + op.ms
    return out
