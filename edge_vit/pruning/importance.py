"""How much each head, MLP channel and block matters: higher score = kept first.

Criteria (all scores are >= 0; only their order within one block, or across blocks for
depth, is used):

* ``magnitude`` (data-free). A unit's score bounds how much it can write into the residual
  stream, from the weights it owns:

  - head h: ``||W_v[h]||_F * ||W_proj[:, h]||_F``. The head's output is a convex mix (softmax)
    of its values, projected by its proj columns, so q/k rows only move that mix and are left
    out; a gate (if any) is a sigmoid <= 1 and is left out too.
  - MLP channel c: ``||[W_fc1[c], b_fc1[c]]||_2 * ||W_fc2[:, c]||_2`` (input side times output
    side; GELU is close to identity in magnitude).
  - block: ``||diag(g1) W_proj||_F + ||diag(g2) W_fc2||_F`` with ``g`` the LayerScale gammas
    (1 without LayerScale); for ResMLP ``||ls1||_2 ||W_tokens||_F + ||diag(ls2) W_fc2||_F``.

* ``taylor`` (data-driven): first-order estimate of the loss change when the unit is removed,
  ``|sum(activation * gradient)|`` per image, summed over the calibration images. The loss is
  cross-entropy of the model's logits against the labels if given, else against the model's
  own argmax (so no labels are needed). Head / channel activations are the inputs of
  ``attn.proj`` / ``mlp.fc2``; a block's "activation" is its residual update ``out - in``.

* ``activation`` (data-driven, no gradients): mean ``|activation|`` times the norm of the
  weights that carry it on (proj columns / fc2 column); for a block the mean of
  ``||out - in|| / ||in||``.

Calibration data is an iterable of image tensors ``(N, 3, H, W)`` or of ``(images, labels)``
pairs; reading image folders happens elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import PruningPlanError
from .layout import attn_of, blocks_of, describe_blocks, mlp_of

Calibration = Iterable["torch.Tensor | tuple[torch.Tensor, torch.Tensor]"]


@dataclass
class Importance:
    """Scores keyed by original block index (heads / mlp) and one per block (blocks)."""

    criterion: str
    heads: dict[int, torch.Tensor] = field(default_factory=dict)
    mlp: dict[int, torch.Tensor] = field(default_factory=dict)
    blocks: torch.Tensor | None = None


def _scaled_norm(ls: nn.Module | torch.Tensor, weight: torch.Tensor) -> float:
    """||diag(gamma) W||_F for a LayerScale gamma (ResMLP: a bare Parameter; none: 1)."""
    gamma = ls if isinstance(ls, torch.Tensor) else getattr(ls, "gamma", None)
    w = weight.detach().float()
    return float((w if gamma is None else gamma.detach().float()[:, None] * w).norm())


@torch.no_grad()
def magnitude_importance(model: nn.Module) -> Importance:
    """Data-free scores from weight norms (see the module docstring)."""
    scores = Importance("magnitude")
    block_scores = []
    for i, block in enumerate(blocks_of(model)):
        attn, mlp = attn_of(block), mlp_of(block)
        total = 0.0
        if attn is not None:
            a, hd, h = attn.attn_dim, attn.head_dim, attn.num_heads
            w_v = attn.qkv.weight[2 * a:3 * a].reshape(h, hd, -1)
            w_out = attn.proj.weight.reshape(attn.proj.out_features, h, hd)
            scores.heads[i] = w_v.norm(dim=(1, 2)) * w_out.norm(dim=(0, 2))
            total += _scaled_norm(block.ls1, attn.proj.weight)
        elif hasattr(block, "linear_tokens"):
            total += float(block.ls1.detach().float().norm()
                           * block.linear_tokens.weight.float().norm())
        if mlp is not None:
            w_in = mlp.fc1.weight
            if mlp.fc1.bias is not None:
                w_in = torch.cat([w_in, mlp.fc1.bias[:, None]], dim=1)
            scores.mlp[i] = w_in.norm(dim=1) * mlp.fc2.weight.norm(dim=0)
            total += _scaled_norm(block.ls2, mlp.fc2.weight)
        block_scores.append(total)
    scores.blocks = torch.tensor(block_scores)
    return scores


def _batches(calib: Calibration, device: torch.device
             ) -> Iterable[tuple[torch.Tensor, torch.Tensor | None]]:
    for item in calib:
        images, labels = (item if isinstance(item, (tuple, list)) else (item, None))
        if not isinstance(images, torch.Tensor) or images.ndim != 4:
            raise PruningPlanError("Calibration batches must be image tensors (N, 3, H, W), "
                                   f"got {getattr(images, 'shape', type(images).__name__)}.")
        yield images.to(device), (labels.to(device) if labels is not None else None)


class _Recorder:
    """Forward hooks that keep what each head, channel and block produced in one pass."""

    def __init__(self, model: nn.Module):
        self.heads: dict[int, torch.Tensor] = {}
        self.mlp: dict[int, torch.Tensor] = {}
        self.block_in: dict[int, torch.Tensor] = {}
        self.block_out: dict[int, torch.Tensor] = {}
        self.num_heads: dict[int, int] = {}
        self.handles = []
        for i, block in enumerate(blocks_of(model)):
            attn, mlp = attn_of(block), mlp_of(block)
            if attn is not None:
                self.num_heads[i] = attn.num_heads
                self.handles.append(attn.proj.register_forward_pre_hook(self._keep(self.heads, i)))
            if mlp is not None:
                self.handles.append(mlp.fc2.register_forward_pre_hook(self._keep(self.mlp, i)))
            self.handles.append(block.register_forward_pre_hook(self._keep(self.block_in, i)))
            self.handles.append(block.register_forward_hook(self._keep_out(i)))

    @staticmethod
    def _keep(store: dict, i: int) -> Callable:
        def hook(_module, args):
            store[i] = args[0]
        return hook

    def _keep_out(self, i: int) -> Callable:
        def hook(_module, _args, output):
            self.block_out[i] = output
        return hook

    def head_view(self, i: int, t: torch.Tensor) -> torch.Tensor:
        """(B, N, heads*head_dim) -> (B, N, heads, head_dim)."""
        return t.reshape(*t.shape[:2], self.num_heads[i], -1)

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def _add(store: dict, key: int, value: torch.Tensor) -> None:
    store[key] = store[key] + value if key in store else value


def _run(model: nn.Module, calib: Calibration, criterion: str,
         step: Callable[[_Recorder, torch.Tensor, torch.Tensor | None, Importance, dict], None]
         ) -> Importance:
    depth = len(describe_blocks(model))  # refuses unknown layouts before any forward pass
    scores, block_acc = Importance(criterion), {}
    was_training = model.training
    model.eval()  # no dropout / drop-path noise in the scores
    recorder = _Recorder(model)
    seen = 0
    try:
        device = next(model.parameters()).device
        for images, labels in _batches(calib, device):
            step(recorder, images, labels, scores, block_acc)
            seen += images.shape[0]
    finally:
        recorder.close()
        model.train(was_training)
    if not seen:
        raise PruningPlanError(f"The {criterion} criterion needs calibration images; got none.")
    scores.blocks = torch.stack([block_acc[i] for i in range(depth)]).cpu()
    return scores


def _taylor_step(model: nn.Module):
    def step(rec, images, labels, scores, block_acc):
        with torch.enable_grad():
            # grads flow from the input, so frozen (requires_grad=False) weights still work
            logits = model(images.detach().requires_grad_(True))
            target = labels if labels is not None else logits.argmax(dim=-1)
            loss = nn.functional.cross_entropy(logits, target, reduction="sum")
            keys = ([("h", i) for i in rec.heads] + [("m", i) for i in rec.mlp]
                    + [("b", i) for i in rec.block_out])
            tensors = ([rec.heads[i] for i in rec.heads] + [rec.mlp[i] for i in rec.mlp]
                       + [rec.block_out[i] for i in rec.block_out])
            grads = torch.autograd.grad(loss, tensors, allow_unused=True)
        with torch.no_grad():
            for (kind, i), act, grad in zip(keys, tensors, grads, strict=True):
                if grad is None:
                    grad = torch.zeros_like(act)
                if kind == "h":
                    prod = rec.head_view(i, act * grad).sum(dim=(1, 3))  # (B, heads)
                    _add(scores.heads, i, prod.abs().sum(0))
                elif kind == "m":
                    _add(scores.mlp, i, (act * grad).sum(dim=1).abs().sum(0))
                else:
                    delta = act - rec.block_in[i]
                    _add(block_acc, i, (delta * grad).flatten(1).sum(1).abs().sum(0))
    return step


def _activation_step(model: nn.Module):
    blocks = blocks_of(model)

    @torch.no_grad()
    def step(rec, images, labels, scores, block_acc):
        model(images)
        for i, act in rec.heads.items():
            w = attn_of(blocks[i]).proj.weight
            w_norm = rec.head_view(i, w[None]).norm(dim=(1, 3)).squeeze(0)  # (heads,)
            mean_act = rec.head_view(i, act).norm(dim=-1).mean(dim=1).sum(0)
            _add(scores.heads, i, mean_act * w_norm)
        for i, act in rec.mlp.items():
            w_norm = mlp_of(blocks[i]).fc2.weight.norm(dim=0)
            _add(scores.mlp, i, act.abs().mean(dim=1).sum(0) * w_norm)
        for i, out in rec.block_out.items():
            x = rec.block_in[i]
            ratio = (out - x).flatten(1).norm(dim=1) / x.flatten(1).norm(dim=1).clamp_min(1e-12)
            _add(block_acc, i, ratio.sum(0))
    return step


def taylor_importance(model: nn.Module, calib: Calibration) -> Importance:
    """Data-driven first-order (|activation x gradient|) scores; see the module docstring."""
    return _run(model, calib, "taylor", _taylor_step(model))


def activation_importance(model: nn.Module, calib: Calibration) -> Importance:
    """Data-driven mean-activation scores, no gradients; see the module docstring."""
    return _run(model, calib, "activation", _activation_step(model))


def compute_importance(model: nn.Module, criterion: str,
                       calib: Calibration | None = None) -> Importance:
    if criterion == "magnitude":
        return magnitude_importance(model)
    if calib is None:
        raise PruningPlanError(f"The {criterion} criterion needs calibration images.",
                               hint="Pass calibration data, or use criterion=magnitude.")
    if criterion == "taylor":
        return taylor_importance(model, calib)
    if criterion == "activation":
        return activation_importance(model, calib)
    raise PruningPlanError(f"Unknown pruning criterion {criterion!r}.")
