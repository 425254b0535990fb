"""A pruned model on disk: architecture name + JSON shape spec + safetensors weights.

Like ``timm/models/_prune.py``, a pruned network is rebuilt, never unpickled: build the timm
architecture, cut it to the spec's shapes with the same slicing code pruning used (the random
weights it slices do not matter), then load the saved tensors strictly.

Directory layout written by :func:`save_pruned`::

    prune_spec.json      PruneSpec (schema_version, arch, model_kwargs, kept blocks/heads/channels)
    model.safetensors    state dict of the pruned model; metadata {"spec_hash": ...}
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import EdgeVitError, ManifestError, UnknownModelError
from ..models import WeightsInfo
from ..serialization import from_dict, write_json_atomic
from .layout import attn_of, block_kind, blocks_of, mlp_of
from .plan import PruningPlan
from .slicing import keep_blocks, slice_attention, slice_mlp

SCHEMA_VERSION = 1
SPEC_FILE = "prune_spec.json"
WEIGHTS_FILE = "model.safetensors"


@dataclass
class BlockSpec:
    """One kept block: its original index and the units it keeps (indices are original ones)."""

    index: int
    kind: str  # "vit" | "resmlp"
    num_heads: int | None = None  # after pruning; None: no sliceable attention
    orig_heads: int | None = None
    kept_heads: list[int] | None = None
    mlp_hidden: int | None = None  # after pruning
    orig_mlp: int | None = None
    kept_mlp: list[int] | None = None


@dataclass
class PruneSpec:
    """Everything needed to rebuild a pruned model's shapes from its timm architecture."""

    arch: str
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    original_depth: int = 0
    blocks: list[BlockSpec] = field(default_factory=list)
    dropped_blocks: list[int] = field(default_factory=list)
    plan: PruningPlan | None = None
    criterion: str = "magnitude"
    source_weights: WeightsInfo | None = None  # provenance of the unpruned weights
    finetune: dict[str, Any] | None = None  # set by `edge-vit finetune`: teacher, epochs, top-1
    # the images a data-driven criterion scored on: folder, count, labels used, fingerprint
    importance_data: dict[str, Any] | None = None
    schema_version: int = SCHEMA_VERSION

    @property
    def budget(self) -> dict[str, Any] | None:
        """The latency budget this model was pruned to (its plan's record), if any."""
        return self.plan.budget if self.plan is not None else None

    def structure(self) -> dict[str, Any]:
        """The part that decides the pruned model: arch, kwargs and kept units."""
        return {
            "arch": self.arch, "model_kwargs": self.model_kwargs,
            "original_depth": self.original_depth, "dropped_blocks": self.dropped_blocks,
            "blocks": [[b.index, b.kept_heads, b.kept_mlp] for b in self.blocks],
        }

    def spec_hash(self) -> str:
        """12 hex digits of sha256 over :meth:`structure` (not the plan, criterion or weights'
        provenance): equal hashes mean the same architecture cut at the same units."""
        text = json.dumps(self.structure(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def summary(self) -> str:
        heads = sum(b.num_heads or 0 for b in self.blocks)
        mlp = sum(b.mlp_hidden or 0 for b in self.blocks)
        return (f"{self.arch}: {len(self.blocks)}/{self.original_depth} blocks, "
                f"{heads} heads, {mlp} MLP channels in total")


def _fit(cond: bool, message: str) -> None:
    if not cond:
        raise ManifestError(f"Prune spec does not fit the model: {message}")


def apply_spec(model: nn.Module, spec: PruneSpec) -> nn.Module:
    """Cut ``model`` (the unpruned architecture) to ``spec``'s shapes, in place; returns it."""
    blocks = blocks_of(model)
    depth = len(blocks)
    _fit(depth == spec.original_depth, f"model has {depth} blocks, spec expects "
                                       f"{spec.original_depth}.")
    kept = [b.index for b in spec.blocks]
    _fit(sorted(kept) == kept and not set(kept) & set(spec.dropped_blocks)
         and sorted([*kept, *spec.dropped_blocks]) == list(range(depth)),
         f"kept blocks {kept} and dropped {spec.dropped_blocks} do not partition 0-{depth - 1}.")
    for b in spec.blocks:
        block = blocks[b.index]
        try:
            kind = block_kind(block, b.index)
        except EdgeVitError as exc:
            raise ManifestError(str(exc)) from exc
        _fit(kind == b.kind, f"block {b.index} is a {kind} block, spec says {b.kind}.")
        if b.kept_heads is not None:
            attn = attn_of(block)
            _fit(attn is not None, f"block {b.index} has no attention to keep heads of.")
            _fit(attn.num_heads == b.orig_heads, f"block {b.index} has {attn.num_heads} heads, "
                                                 f"spec says {b.orig_heads}.")
            _fit(_valid(b.kept_heads, attn.num_heads), f"block {b.index} kept_heads "
                                                       f"{b.kept_heads} are not valid.")
            if len(b.kept_heads) < attn.num_heads:
                slice_attention(attn, b.kept_heads)
        if b.kept_mlp is not None:
            mlp = mlp_of(block)
            _fit(mlp is not None, f"block {b.index} has no MLP to keep channels of.")
            width = mlp.fc1.out_features
            _fit(width == b.orig_mlp, f"block {b.index} MLP is {width} wide, spec says "
                                      f"{b.orig_mlp}.")
            _fit(_valid(b.kept_mlp, width), f"block {b.index} kept_mlp indices are not valid.")
            if len(b.kept_mlp) < width:
                slice_mlp(mlp, b.kept_mlp)
    if spec.dropped_blocks:
        keep_blocks(model, kept)
    return model


def _valid(indices: list[int], total: int) -> bool:
    return bool(indices) and indices == sorted(set(indices)) and 0 <= indices[0] \
        and indices[-1] < total


def _shapes(state: dict) -> dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in state.items()}


def _rebuild(spec: PruneSpec, device: str = "cpu") -> nn.Module:
    import torch

    from ..models import create_model

    try:
        with torch.device(device):  # "meta": shapes only, no memory and no random init
            model = create_model(spec.arch, spec.model_kwargs)
    except UnknownModelError as exc:
        raise ManifestError(f"Prune spec names a model that cannot be built: {exc}",
                            hint=exc.hint) from exc
    return apply_spec(model, spec)


def save_pruned(model: nn.Module, spec: PruneSpec, directory: str | Path) -> Path:
    """Write ``prune_spec.json`` and ``model.safetensors`` into ``directory``; returns it.

    Refuses (ManifestError) when ``model`` is not what ``spec`` rebuilds, so every saved
    directory is known to load."""
    from safetensors.torch import save_file

    directory = Path(directory)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    expected = _shapes(_rebuild(spec, device="meta").state_dict())
    if expected != _shapes(state):
        diff = sorted(set(expected.items()) ^ set(_shapes(state).items()))[:4]
        raise ManifestError(f"The model does not match its prune spec ({spec.arch}); "
                            f"differing tensors include {diff}.")
    directory.mkdir(parents=True, exist_ok=True)
    from ..files import atomic_path

    with atomic_path(directory / WEIGHTS_FILE) as tmp:
        # one metadata key only: safetensors writes its metadata map in a random order, and
        # two keys would make byte-identical weights hash differently from one save to the next
        save_file(state, str(tmp), metadata={"spec_hash": spec.spec_hash()})
    write_json_atomic(directory / SPEC_FILE, spec)  # written last: its presence means complete
    return directory


def read_spec(directory: str | Path) -> PruneSpec:
    """Read and check ``prune_spec.json``; ManifestError if missing, corrupt or too new."""
    path = Path(directory) / SPEC_FILE
    if not path.is_file():
        raise ManifestError(f"{directory} is not a pruned-model directory: {SPEC_FILE} is "
                            "missing.", hint="Point at a directory written by save_pruned.")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("schema_version"), int):
        raise ManifestError(f"{path} has no integer schema_version; not a prune spec.")
    if data["schema_version"] > SCHEMA_VERSION:
        raise ManifestError(f"{path} has schema_version {data['schema_version']}; this "
                            f"edge-vit reads up to {SCHEMA_VERSION}.", hint="Upgrade edge-vit.")
    try:
        spec = from_dict(PruneSpec, data)
        if not isinstance(spec.arch, str) or not all(isinstance(b, BlockSpec)
                                                      for b in spec.blocks):
            raise TypeError("arch or blocks have the wrong type")
    except (EdgeVitError, TypeError, ValueError, AttributeError, KeyError) as exc:
        raise ManifestError(f"{path} is not a valid prune spec: {exc}") from exc
    return spec


def load_pruned(directory: str | Path) -> tuple[nn.Module, PruneSpec]:
    """Rebuild a model saved by :func:`save_pruned` (eval mode). No pickle is involved."""
    from safetensors import SafetensorError, safe_open

    spec = read_spec(directory)
    weights = Path(directory) / WEIGHTS_FILE
    if not weights.is_file():
        raise ManifestError(f"{weights} is missing next to its {SPEC_FILE}.")
    try:
        with safe_open(str(weights), framework="pt") as fh:
            meta = fh.metadata() or {}
            state = {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ManifestError(f"{weights} is not a readable safetensors file: {exc}") from exc
    if meta.get("spec_hash") != spec.spec_hash():
        raise ManifestError(f"{weights} was saved for spec {meta.get('spec_hash')}, but "
                            f"{SPEC_FILE} describes {spec.spec_hash()}.")
    model = _rebuild(spec)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ManifestError(f"{weights} does not fit the rebuilt {spec.arch}: "
                            f"{str(exc).splitlines()[0][:300]}") from exc
    return model.eval(), spec
