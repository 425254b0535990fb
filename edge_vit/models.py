"""Which timm models edge-vit handles, and how they are built and given weights.

Supported families are matched against timm's own registry (``timm.list_models``), so any
``vit_*``, ``deit_*`` or ``resmlp_*`` timm knows works without a list kept here.
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import CheckpointError, UnknownModelError, WeightsUnavailableError
from .files import file_sha256

DEFAULT_MODEL = "deit_tiny_patch16_224"
SUPPORTED_PATTERNS = ("vit_*", "deit_*", "resmlp_*")
# Families whose block layout edge-vit's pruning and MAC counting understand. Hybrid, RoPE,
# distilled (two-token) and windowed variants of these prefixes are excluded explicitly.
_EXCLUDED = ("vit_*_resnet*", "vit_*_r26_*", "vit_*_r50_*", "vit_*rope*", "vit_*_siglip*",
             "vit_*_naflex*", "vit_*_clip_*", "vit_*_dinov3*", "vit_*_aimv2*", "vit_*_pe_*",
             "vit_*_reg*", "vit_*_mmpe*", "vit_*_sam_*", "vit_*_mediumd_*", "vit_*_xp_*",
             "vit_relpos_*", "vit_srelpos_*", "vit_*_dwee*", "vit_*gap*", "vit_*_lamb*",
             "deit3_*", "deit_*_distilled_*", "vit_so*", "vit_*_in21k_*", "vit_little_*",
             "vit_*_miil_*", "vit_*_mediumd*", "vit_*_betwixt*", "vit_wee*", "vit_pwee*")


@dataclass
class WeightsInfo:
    """Where a model's weights came from; random init is flagged so no one trusts accuracy."""

    kind: str  # "pretrained" | "checkpoint" | "random" | "pruned"
    source: str | None = None  # pretrained tag / checkpoint path
    sha256: str | None = None  # of the checkpoint file, when there is one
    state_sha256: str | None = None  # of the loaded tensors, always
    note: str | None = None


@dataclass
class ModelSource:
    """Everything needed to rebuild the unpruned model exactly."""

    name: str
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    weights: WeightsInfo = field(default_factory=lambda: WeightsInfo(kind="random"))


def supported_models(pattern: str = "*") -> list[str]:
    import timm

    from . import demo

    demo.register()

    names: set[str] = set()
    for pat in SUPPORTED_PATTERNS:
        names.update(timm.list_models(pat))
    keep = [n for n in names if not any(fnmatch.fnmatch(n, ex) for ex in _EXCLUDED)]
    return sorted(n for n in keep if fnmatch.fnmatch(n, pattern))


def check_model_name(name: str) -> None:
    """Raise UnknownModelError with close matches unless ``name`` is a supported timm model."""
    base = name.split(".", 1)[0]  # allow timm's "name.tag" form
    known = supported_models()
    if base in known:
        return
    import timm

    close = difflib.get_close_matches(base, known, n=3, cutoff=0.6)
    if timm.is_model(base):
        msg = f"'{base}' is a timm model, but not a ViT/DeiT/ResMLP layout edge-vit can prune."
    else:
        msg = f"Unknown model '{base}'."
    hint = ("Did you mean: " + ", ".join(close) + "?") if close else \
        "Run `edge-vit models` to list supported names."
    raise UnknownModelError(msg, hint=hint)


def create_model(name: str, model_kwargs: dict[str, Any] | None = None):
    """Build the architecture with random weights (no network), in eval mode."""
    import timm

    check_model_name(name)  # registers the demo model with timm too
    try:
        model = timm.create_model(name.split(".", 1)[0], pretrained=False, **(model_kwargs or {}))
    except (TypeError, ValueError, AssertionError, RuntimeError) as exc:
        # timm asserts on impossible shapes (e.g. embed_dim not divisible by num_heads)
        raise UnknownModelError(f"Bad model arguments {model_kwargs or {}} for {name}: "
                                f"{type(exc).__name__}: {exc}") from exc
    return model.eval()


def state_dict_sha256(state: dict) -> str:
    """Hash of the tensors themselves (names, shapes, bytes): identifies weights however stored."""
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().contiguous().cpu()
        h.update(key.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(str(t.dtype).encode())
        h.update(t.view(-1).view(__import__("torch").uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()



_CHECKPOINT_HINT = "Expected a .safetensors file or a .pth/.pt state dict (tensors only)."


def read_checkpoint(path: Path) -> dict:
    """Read a state dict from .safetensors or .pth/.pt, never unpickling arbitrary objects."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            # weights_only=True refuses pickled code: only tensors and plain containers load.
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" not in str(exc).lower():  # not an object, just bytes that are no pickle
            raise CheckpointError(f"Cannot read checkpoint {path}: it is corrupt or not a "
                                  "PyTorch file.", hint=_CHECKPOINT_HINT) from exc
        # weights_only refused a class or function: not torch's advice to set
        # weights_only=False, which would run whatever the file holds
        raise CheckpointError(
            f"Checkpoint {path} holds pickled Python objects, not only tensors; edge-vit never "
            "unpickles them (loading one can run arbitrary code).",
            hint="Where you trust the file, re-save its weights: torch.save(model.state_dict(), "
                 "'weights.pth'), or safetensors.torch.save_file(model.state_dict(), "
                 "'weights.safetensors').",
        ) from exc
    except Exception as exc:  # corrupt file, foreign format
        raise CheckpointError(
            f"Cannot read checkpoint {path}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
            hint=_CHECKPOINT_HINT,
        ) from exc
    # timm / DeiT / lightning conventions for where the weights live
    if isinstance(state, dict):
        for key in ("state_dict_ema", "model_ema", "state_dict", "model"):
            if key in state and isinstance(state[key], dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors.")
    return {k.removeprefix("module.").removeprefix("_orig_mod."): v for k, v in state.items()}


def load_checkpoint_into(model, path: Path) -> WeightsInfo:
    import sys

    state = read_checkpoint(path)
    model_keys = set(model.state_dict())
    if set(state) != model_keys:
        # original ViT/DeiT/ResMLP releases use other key names: timm's own filter maps them
        filter_fn = getattr(sys.modules[type(model).__module__], "checkpoint_filter_fn", None)
        if filter_fn is not None:
            try:
                state = filter_fn(state, model)
            except Exception:  # the filter is best effort; the key check below reports
                pass
    missing = sorted(model_keys - set(state))
    unexpected = sorted(set(state) - model_keys)
    if missing or unexpected:
        raise CheckpointError(
            f"Checkpoint {path} does not fit {type(model).__name__}: "
            f"{len(missing)} missing keys {missing[:4]}, {len(unexpected)} unexpected {unexpected[:4]}",
            hint="Check the model name and its arguments (img_size, num_classes, ...).",
        )
    ref = model.state_dict()
    bad = [k for k in state if tuple(state[k].shape) != tuple(ref[k].shape)]
    if bad:
        k = bad[0]
        raise CheckpointError(
            f"Checkpoint {path} has {len(bad)} tensors of the wrong shape, e.g. {k}: "
            f"{tuple(state[k].shape)} vs model {tuple(ref[k].shape)}"
        )
    model.load_state_dict(state, strict=True)
    return WeightsInfo(kind="checkpoint", source=str(path), sha256=file_sha256(path),
                       state_sha256=state_dict_sha256(model.state_dict()))


def load_pretrained_into(model, name: str, tag: str | None,
                         model_kwargs: dict[str, Any] | None = None) -> WeightsInfo:
    """Pretrained weights through timm's hub loader; a clear error when the hub is unreachable."""
    import timm

    full = f"{name.split('.', 1)[0]}.{tag}" if tag else name
    try:
        # same arguments as the model itself: timm adapts the weights (e.g. resamples the
        # position embedding for another img_size)
        ref = timm.create_model(full, pretrained=True, **(model_kwargs or {}))
    except RuntimeError as exc:
        if "No pretrained weights" in str(exc) or "Invalid pretrained tag" in str(exc):
            raise WeightsUnavailableError(f"timm has no pretrained weights '{full}'.") from exc
        raise _hub_error(full, exc) from exc
    except Exception as exc:  # huggingface_hub / requests / OSError when offline
        raise _hub_error(full, exc) from exc
    model.load_state_dict(ref.state_dict(), strict=True)
    return WeightsInfo(kind="pretrained", source=full,
                       state_sha256=state_dict_sha256(model.state_dict()))


def _hub_error(full: str, exc: BaseException) -> WeightsUnavailableError:
    offline = os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "True")
    return WeightsUnavailableError(
        f"Could not fetch pretrained weights for {full}"
        f"{' (HF_HUB_OFFLINE is set)' if offline else ''}: {type(exc).__name__}",
        hint="Without network access, pass --checkpoint PATH (.pth/.pt/.safetensors) instead.",
    )


def _shipped_weights(name: str, model) -> Path | None:
    """The demo model's packaged weights, when ``model`` has the shape they were trained for."""
    from . import demo

    if name.split(".", 1)[0] != demo.DEMO_MODEL or not demo.has_weights():
        return None
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    from safetensors import safe_open

    with safe_open(str(demo.WEIGHTS), "pt") as fh:
        same = set(fh.keys()) == set(shapes) and all(
            tuple(fh.get_slice(k).get_shape()) == shapes[k] for k in shapes)
    return demo.WEIGHTS if same else None


def build_model(name: str, *, model_kwargs: dict[str, Any] | None = None,
                pretrained: str | bool | None = None, checkpoint: Path | None = None,
                seed: int = 0):
    """Architecture + weights. Returns (model, ModelSource)."""
    import torch

    if pretrained and checkpoint:
        from .errors import UsageError

        raise UsageError("Use either --pretrained or --checkpoint, not both.")
    torch.manual_seed(seed)
    model = create_model(name, model_kwargs)
    if checkpoint:
        weights = load_checkpoint_into(model, checkpoint)
    elif pretrained:
        weights = load_pretrained_into(model, name,
                                       pretrained if isinstance(pretrained, str) else None,
                                       model_kwargs)
    elif (shipped := _shipped_weights(name, model)) is not None:
        weights = load_checkpoint_into(model, shipped)
        weights.note = ("edge-vit's demo weights, trained on CIFAR-10 by edge-vit itself "
                        "(edge_vit/demo/train_report.json says how).")
    else:
        weights = WeightsInfo(
            kind="random", source=f"seed={seed}",
            state_sha256=state_dict_sha256(model.state_dict()),
            note="RANDOM INIT: no pretrained weights or checkpoint were given; any accuracy "
                 "figure for this model is meaningless. Latency figures are still valid.",
        )
    return model, ModelSource(name=name, model_kwargs=dict(model_kwargs or {}), weights=weights)
