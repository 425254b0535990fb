"""Rebuild the exact PyTorch model a manifest's artifacts were exported from.

* pruned (``model.pruned_model_dir``): the spec + safetensors folder beside the manifest;
* unpruned, random init: the architecture again with the recorded seed (``seed=N``);
* unpruned, checkpoint / pretrained: from the recorded path / timm tag.

The rebuilt weights are hashed and compared with the manifest's ``state_sha256`` (for a
pruned folder: its spec hash and, where recorded, the file's sha256); any mismatch is refused,
since accuracy of other weights says nothing about these artifacts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import manifest as mf
from ..errors import ManifestError
from ..files import file_sha256
from ..models import build_model, state_dict_sha256


@dataclass
class ReferenceSource:
    """What identifies the reference's weights without building it (a cache key)."""

    kind: str  # "timm" | "pruned"
    path: str  # pruned folder, or "timm:<name>"
    identity: dict[str, Any]


def reference_source(manifest_dir: Path, manifest: mf.Manifest) -> ReferenceSource:
    m = manifest.model
    w = m.source.weights
    ident: dict[str, Any] = {"name": m.source.name, "model_kwargs": m.source.model_kwargs,
                             "weights_kind": w.kind, "state_sha256": w.state_sha256,
                             "weights_sha256": w.sha256, "weights_source": w.source}
    folder = _pruned_folder(manifest_dir, manifest)
    if folder is not None:
        weights = folder / "model.safetensors"
        ident["prune_spec"] = m.prune
        ident["pruned_weights_sha256"] = file_sha256(weights) if weights.is_file() else None
        return ReferenceSource(kind="pruned", path=str(folder), identity=ident)
    return ReferenceSource(kind="timm", path=f"timm:{m.source.name}", identity=ident)


def _pruned_folder(manifest_dir: Path, manifest: mf.Manifest) -> Path | None:
    m = manifest.model
    if m.pruned_model_dir:
        return Path(manifest_dir) / m.pruned_model_dir
    if m.source.weights.kind == "pruned" and m.source.weights.source:
        return Path(m.source.weights.source)  # exported from a pruned folder given by path
    return None


def load_reference(manifest_dir: Path, manifest: mf.Manifest):
    """The PyTorch model (eval mode), verified against the manifest; ManifestError if the
    weights cannot be rebuilt exactly."""
    m = manifest.model
    weights = m.source.weights
    folder = _pruned_folder(manifest_dir, manifest)
    if folder is not None:
        return _load_pruned(folder, manifest)
    if weights.kind == "random":
        match = re.fullmatch(r"seed=(-?\d+)", weights.source or "")
        if not match:
            raise ManifestError(f"{m.id}: random-init weights without a recorded seed "
                                f"({weights.source!r}); cannot rebuild them.")
        model, source = build_model(m.source.name, model_kwargs=m.source.model_kwargs,
                                    seed=int(match.group(1)))
    elif weights.kind == "checkpoint":
        path = Path(weights.source or "")
        if not path.is_file():
            raise ManifestError(f"{m.id}: its checkpoint {weights.source} is not here (paths "
                                "are relative to where `edge-vit export` ran).")
        model, source = build_model(m.source.name, model_kwargs=m.source.model_kwargs,
                                    checkpoint=path)
    elif weights.kind == "pretrained":
        tag = (weights.source or "").split(".", 1)[1] if "." in (weights.source or "") else True
        model, source = build_model(m.source.name, model_kwargs=m.source.model_kwargs,
                                    pretrained=tag)
    else:
        raise ManifestError(f"{m.id}: unknown weights kind {weights.kind!r}.")
    got = source.weights.state_sha256
    if weights.state_sha256 and got != weights.state_sha256:
        raise ManifestError(
            f"{m.id}: rebuilt {weights.kind} weights ({weights.source}) hash to {got[:12]}…, "
            f"but the artifacts were exported from {weights.state_sha256[:12]}…; refusing to "
            "score a different model as their reference.")
    return model.eval()


def _load_pruned(folder: Path, manifest: mf.Manifest):
    from ..pruning import load_pruned

    m = manifest.model
    if not folder.is_dir():
        raise ManifestError(f"{m.id}: pruned model folder {folder} is missing.")
    model, spec = load_pruned(folder)
    if m.prune is not None:
        from ..pruning import PruneSpec
        from ..serialization import from_dict

        recorded = from_dict(PruneSpec, m.prune).spec_hash()
        if spec.spec_hash() != recorded:
            raise ManifestError(f"{m.id}: {folder} holds prune spec {spec.spec_hash()}, the "
                                f"manifest records {recorded}; refusing to use it as the "
                                "reference.")
    w = m.source.weights
    if w.kind == "pruned" and w.state_sha256:
        got = state_dict_sha256(model.state_dict())
        if got != w.state_sha256:
            raise ManifestError(f"{m.id}: {folder} weights hash to {got[:12]}…, the manifest "
                                f"records {w.state_sha256[:12]}…; refusing.")
    return model.eval()
