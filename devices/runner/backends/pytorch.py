"""PyTorch: a random-init timm model (latency does not depend on the weights); pruned PyTorch
models are profiled by the host-side code, which can import edge-vit."""

import json

from ..core import MissingRuntime, UsageError
from . import Backend, version_of

NAME = "pytorch"
MODULE = "torch"
DISTS = ("torch",)
INSTALL_HINT = "pip install torch timm (Jetson: NVIDIA's torch wheel for its JetPack)"
FORMATS = ("pytorch",)
NO_OP_PROFILER = "the PyTorch reference is not broken down per layer (its exported artifacts are)"


def open_model(args):
    import torch

    try:
        import timm
    except ImportError as exc:
        raise MissingRuntime("timm cannot be imported: %s" % exc,
                             INSTALL_HINT) from None
    if not args.timm_model:
        raise UsageError("--format pytorch needs --timm-model NAME (pruned PyTorch models are "
                         "profiled by the host-side code)")
    try:
        kwargs = json.loads(args.timm_kwargs or "{}")
    except ValueError:
        kwargs = None
    if not isinstance(kwargs, dict):
        raise UsageError("--timm-kwargs must be a JSON object, got %r" % args.timm_kwargs)
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    if args.precision not in dtypes:
        raise UsageError("--format pytorch runs fp32, bf16 or fp16, not %s" % args.precision)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        model = timm.create_model(args.timm_model, pretrained=False, **kwargs)
    except Exception as exc:
        raise UsageError("timm cannot build %s(%s): %s" % (args.timm_model, kwargs, exc)) from None
    dtype = dtypes[args.precision]
    model = model.eval().to(dtype)
    embed = getattr(model, "patch_embed", None)  # img_size= overrides pretrained_cfg's size
    size = getattr(embed, "img_size", None)
    chw = [3, int(size[0]), int(size[1])] if size is not None else \
        list(model.pretrained_cfg.get("input_size", (3, 224, 224)))

    def run(x):
        with torch.inference_mode():
            return model(x)

    return Backend("pytorch", version_of(NAME), run,
                   lambda x: torch.from_numpy(x).to(dtype), [None] + chw, "float32",
                   device="cpu", threads=torch.get_num_threads(), precision=args.precision,
                   options={"timm": getattr(timm, "__version__", None),
                            "timm_kwargs": kwargs})



def probe_details(module):
    details = {"cuda": bool(module.cuda.is_available()), "threads": module.get_num_threads()}
    try:
        import timm

        details["timm"] = timm.__version__
    except ImportError:
        details["timm"] = None
    return details
