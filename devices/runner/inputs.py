"""The input a timed model gets: its concrete shape, layout and a seeded (or given) array; and
loading a model with its input ready, as ``profile`` and ``measure`` both time it."""

import math
import time

from . import backends
from .core import UsageError
from .system import peak_rss_mb, rss_mb


class Loaded(object):
    """A model loaded for timing: its backend, the prepared input (``call()`` runs it once),
    the input's shape, layout and description, the load time and the RSS around the load."""

    def __init__(self, args, runtime):
        self.baseline_rss = rss_mb()
        t0 = time.perf_counter()
        self.backend = backend = backends.open_backend(args, runtime)
        self.load_seconds = time.perf_counter() - t0
        self.after_load_rss = rss_mb()
        self.shape = resolve_shape(backend.shape, args)
        self.layout = guess_layout(self.shape, args.input_layout)
        x, self.input = make_input(self.shape, self.layout, args)
        self.feed = backend.prepare(cast_input(x, backend.dtype, backend.quant))

    def call(self):
        self.backend.run(self.feed)

    def memory(self):
        """The result's memory fields (RSS in MB before and after the load, the peak)."""
        base, after = self.baseline_rss, self.after_load_rss
        return {"baseline_rss_mb": base, "after_load_rss_mb": after,
                "peak_rss_mb": peak_rss_mb(),
                "model_added_mb": round(after - base, 2)
                if base is not None and after is not None else None}


def guess_layout(shape, override="auto"):
    if override != "auto" or len(shape) != 4:
        return override if override != "auto" else None
    channels_first = shape[1] in (1, 3, 4)
    channels_last = shape[3] in (1, 3, 4)
    return "NHWC" if channels_last and not channels_first else "NCHW"


def resolve_shape(model_shape, args):
    """Concrete input shape: the model's, with the batch from --batch where it is dynamic."""
    if args.input_shape:
        shape = [int(v) for v in args.input_shape.split(",")]
        if len(shape) != len(model_shape) or any(
                m is not None and m != s for m, s in zip(model_shape, shape)):  # noqa: B905 (3.8)
            raise UsageError("--input-shape %s does not fit the model's input %s"
                             % (shape, model_shape))
        return shape
    shape = list(model_shape)
    if shape and shape[0] is None:
        shape[0] = args.batch or 1
    elif args.batch and shape and args.batch != shape[0]:
        raise UsageError("the model has a fixed batch of %s; --batch %s cannot run (export it "
                         "with that batch)" % (shape[0], args.batch))
    if None in shape:
        raise UsageError("the model's input %s has dynamic dimensions: pass --input-shape"
                         % model_shape)
    return shape


def make_input(shape, layout, args):
    """Seeded random normal, or a .npy file (NCHW); transposed for NHWC models."""
    import numpy as np

    nchw = [shape[0], shape[3], shape[1], shape[2]] if layout == "NHWC" else list(shape)
    if args.input == "random":
        x = np.random.default_rng(args.seed).standard_normal(nchw).astype(np.float32)
        desc = "random normal (seed=%d)" % args.seed
    else:
        try:
            x = np.load(args.input).astype(np.float32)
        except (OSError, ValueError) as exc:
            raise UsageError("cannot read --input %s: %s" % (args.input, exc)) from None
        if x.ndim == len(nchw) - 1:
            x = x[None]
        if x.shape[0] < nchw[0]:  # too few images for the batch: repeat them
            x = np.concatenate([x] * int(math.ceil(nchw[0] / float(x.shape[0]))))
        x = x[:nchw[0]]
        if list(x.shape) != nchw:
            raise UsageError("--input %s holds shape %s; the model takes NCHW %s"
                             % (args.input, list(x.shape), nchw))
        desc = "npy:%s" % args.input
    if layout == "NHWC":
        x = x.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), desc


def cast_input(x, dtype, quant):
    import numpy as np

    if dtype in ("float32", "float16"):
        return x.astype(dtype)
    if dtype in ("int8", "uint8") and quant:
        info = np.iinfo(dtype)
        q = np.round(x / quant[0] + quant[1])
        return np.clip(q, info.min, info.max).astype(dtype)
    raise UsageError("input type %s is not supported by the runner" % dtype)

