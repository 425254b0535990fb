"""The embedded demo: a small ViT trained by edge-vit on CIFAR-10, shipped with a slice of
CIFAR-10 so that ``edge-vit sweep`` with no arguments shows a real accuracy-vs-latency curve.

The architecture is a plain timm ``VisionTransformer`` (patch 4 on 32x32 inputs), registered
with timm under :data:`DEMO_MODEL` so every code path (pruning specs, exports, manifests) names
it like any timm model. Its data config (CIFAR-10 mean/std, no resize) is the one it was
trained with, so ``edge-vit eval`` preprocesses the shipped images exactly as training did.
How the files here were made: ``python -m edge_vit.demo.build --help`` and the README.
"""

from __future__ import annotations

from pathlib import Path

DEMO_MODEL = "vit_demo_cifar10"
DEMO_ARGS = {"img_size": 32, "patch_size": 4, "embed_dim": 128, "depth": 6, "num_heads": 4,
             "mlp_ratio": 4.0, "num_classes": 10}
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE / "vit_demo_cifar10.safetensors"
TRAIN_REPORT = HERE / "train_report.json"  # how WEIGHTS were trained, and what they scored
TEST_SLICE = HERE / "cifar10-test-2000.tar.gz"  # class-balanced slice of the CIFAR-10 test set
TRAIN_SLICE = HERE / "cifar10-train-5000.tar.gz"  # of the train set: fine-tuning, calibration

_registered = False


def register() -> None:
    """Make :data:`DEMO_MODEL` known to timm (idempotent; called before timm lookups)."""
    global _registered
    if _registered:
        return
    import timm
    from timm.models import register_model

    if not timm.is_model(DEMO_MODEL):
        register_model(_vit_demo_cifar10)
    _registered = True


def _vit_demo_cifar10(pretrained: bool = False, pretrained_cfg=None,
                      pretrained_cfg_overlay=None, cache_dir=None, **kwargs):
    from timm.models.vision_transformer import VisionTransformer

    if pretrained:  # its weights ship with edge-vit and are loaded by edge_vit.models
        raise RuntimeError(f"No pretrained weights for {DEMO_MODEL} in timm's hub.")
    args = {**DEMO_ARGS, **kwargs}
    model = VisionTransformer(**args)
    size = args["img_size"]
    model.pretrained_cfg = {
        "architecture": DEMO_MODEL, "input_size": (3, size, size), "interpolation": "bicubic",
        "crop_pct": 1.0, "crop_mode": "center", "mean": CIFAR10_MEAN, "std": CIFAR10_STD,
        "num_classes": args["num_classes"], "first_conv": "patch_embed.proj",
        "classifier": "head", **(pretrained_cfg_overlay or {})}
    model.default_cfg = model.pretrained_cfg
    return model


_vit_demo_cifar10.__name__ = DEMO_MODEL  # timm registers a model under its function's name


def has_weights() -> bool:
    return WEIGHTS.is_file()
