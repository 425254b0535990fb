"""tflite_runtime: the legacy TFLite interpreter package (needs numpy<2); LiteRT's code."""

from .litert import open_interpreter

NAME = "tflite_runtime"
MODULE = "tflite_runtime"
DISTS = ("tflite-runtime",)
INSTALL_HINT = "pip install tflite-runtime (legacy, needs numpy<2; prefer ai-edge-litert)"
FORMATS = ("tflite",)
NO_OP_PROFILER = ("tflite_runtime's Python API has no per-op profiler (TFLite's "
                  "benchmark_model --enable_op_profiling has one; no packaged binary is used "
                  "here): no per-layer breakdown for TFLite")


def open_model(args):
    from tflite_runtime import interpreter

    return open_interpreter(args, NAME, interpreter)
