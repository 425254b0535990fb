"""``predict``: run an artifact over preprocessed images (an NCHW float32 .npy the host made)
and save its logits as .npy; the host scores them (``edge-vit eval --device``), so the board
needs no image decoder, no labels and no torch."""

import time

from . import backends
from .core import UsageError, _now, check_artifact
from .inputs import cast_input, guess_layout
from .system import collect_environment


def first_output(out):
    """The first output of a run, whatever the runtime returns (a list, a dict, an array)."""
    if isinstance(out, (list, tuple)):
        return out[0]
    if hasattr(out, "values") and not hasattr(out, "shape"):
        return next(iter(out.values()))
    return out


def dequantize(y, quant):
    import numpy as np

    y = np.asarray(y)
    if quant and y.dtype.kind in "iu":
        scale, zero = quant
        return (y.astype(np.float32) - zero) * scale
    return y.astype(np.float32)


def cmd_predict(args, partial):
    import numpy as np

    check_artifact(args)
    runtime = backends.resolve_runtime(args.format, args.runtime)
    try:
        x = np.load(args.input).astype(np.float32)
    except (OSError, ValueError) as exc:
        raise UsageError("cannot read --input %s: %s" % (args.input, exc)) from None
    if x.ndim != 4:
        raise UsageError("--input %s holds shape %s; predict takes NCHW images"
                         % (args.input, list(x.shape)))
    partial.update(started=_now(), runtime=runtime, images=int(x.shape[0]))
    t0 = time.perf_counter()
    backend = backends.open_backend(args, runtime)
    load_s = time.perf_counter() - t0
    shape = list(backend.shape)
    fixed = shape[0] if shape and shape[0] is not None else None
    batch = fixed or args.batch
    layout = guess_layout([batch] + shape[1:], args.input_layout) or "NCHW"
    n, outs = len(x), []
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        chunk = x[start:start + batch]
        real = len(chunk)
        if fixed and real < fixed:  # pad with the last image; its outputs are dropped
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], fixed - real, axis=0)])
        if layout == "NHWC":
            chunk = chunk.transpose(0, 2, 3, 1)
        feed = backend.prepare(cast_input(np.ascontiguousarray(chunk), backend.dtype,
                                          backend.quant))
        y = dequantize(first_output(backend.run(feed)), getattr(backend, "out_quant", None))
        outs.append(y.reshape(len(chunk), -1)[:real])
    logits = np.concatenate(outs)
    np.save(args.output, logits)
    return {"status": "ok", "runtime": runtime, "runtime_version": backend.version,
            "inference_precision": backend.precision, "images": n, "batch": batch,
            "classes": int(logits.shape[1]), "layout": layout, "output": args.output,
            "load_seconds": round(load_s, 3), "seconds": round(time.perf_counter() - t0, 3),
            "notes": list(backend.notes), "environment": collect_environment(),
            "started": partial["started"], "finished": _now()}
