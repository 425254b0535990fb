"""LiteRT (ai-edge-litert): TFLite flatbuffers, with or without the XNNPACK delegate. The legacy
``tflite_runtime`` interpreter is the same code under another module (tflite_runtime.py)."""

import platform
import re
import sys

from ..core import LOAD_HINT, ArtifactError, log, runtime_reason
from ..system import _cpuinfo
from . import Backend, version_of

NAME = "litert"
MODULE = "ai_edge_litert"
DISTS = ("ai-edge-litert", "ai-edge-litert-nightly")
INSTALL_HINT = "pip install ai-edge-litert"
FORMATS = ("tflite",)
NO_OP_PROFILER = ("LiteRT's Python API has no per-op profiler (TFLite's benchmark_model "
                  "--enable_op_profiling has one; no packaged binary is used here): "
                  "no per-layer breakdown for TFLite")


def open_model(args):
    from ai_edge_litert import interpreter

    return open_interpreter(args, NAME, interpreter)


def open_interpreter(args, runtime, tfl):
    kwargs = {"model_path": args.artifact, "num_threads": args.threads}
    if args.no_xnnpack:  # the only switch for the default XNNPACK delegate in Python
        kwargs["experimental_op_resolver_type"] = \
            tfl.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    try:
        interp = tfl.Interpreter(**kwargs)
        interp.allocate_tensors()
    except Exception as exc:
        raise ArtifactError("%s cannot load %s: %s" % (runtime, args.artifact, runtime_reason(exc)),
                            hint=LOAD_HINT) from None
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    in_index, out_index = inp["index"], out["index"]

    def run(x):
        interp.set_tensor(in_index, x)
        interp.invoke()
        return interp.get_tensor(out_index)

    try:  # a private API, but the only way to see whether XNNPACK took the graph
        partitions = sum(op["op_name"] == "DELEGATE" for op in interp._get_ops_details())
    except Exception:
        partitions = None
    meta = tflite_metadata(args.artifact).get("reduced_precision_support")
    dtype = inp["dtype"].__name__
    scale, zero = (inp.get("quantization") or (0.0, 0))[:2]
    out_scale, out_zero = (out.get("quantization") or (0.0, 0))[:2]
    if dtype in ("int8", "uint8"):
        precision = "int8"
    elif _tflite_int8_tensors(interp):  # int8 weights (dynamic range) or activations (full)
        precision = args.precision if str(args.precision).startswith("int8") else "int8"
    else:
        precision = tflite_precision(meta, bool(partitions))
    return Backend(runtime, version_of(runtime),
                   run, lambda x: x, [int(d) for d in inp["shape"]], dtype,
                   threads=args.threads, precision=precision,
                   quant=(scale, zero) if scale else None,
                   out_quant=(out_scale, out_zero) if out_scale else None,
                   options={"xnnpack": not args.no_xnnpack, "delegate_partitions": partitions,
                            "reduced_precision_support": meta})



def _tflite_int8_tensors(interp):
    try:
        return any(t["dtype"].__name__ in ("int8", "uint8") for t in interp.get_tensor_details())
    except Exception:
        return False



def cpu_has_native_fp16():
    """ARMv8.2 FP16 arithmetic (every Apple Silicon core; asimdhp/fphp on Linux); x86 has none
    that XNNPACK uses without being forced."""
    if platform.machine().lower() not in ("aarch64", "arm64"):
        return False
    if sys.platform == "darwin":
        return True
    return bool(set(re.findall(r"\w+", _cpuinfo().get("Features", ""))) & {"asimdhp", "fphp"})


def tflite_precision(reduced_precision_support, xnnpack, native_fp16=None):
    """XNNPACK's own rule: fp16 compute only for ``fp16...accfp16`` metadata on a CPU with
    native FP16 arithmetic; otherwise fp16 weights are dequantized to fp32 at load."""
    inference, _, accumulation = str(reduced_precision_support or "").partition("acc")
    native = cpu_has_native_fp16() if native_fp16 is None else native_fp16
    return "fp16" if xnnpack and "fp16" in inference and accumulation == "fp16" and native \
        else "fp32"


def tflite_metadata(path):
    """String metadata of a .tflite flatbuffer, read with struct (tflite_runtime ships no
    schema module): Model.metadata[i] = (name, buffer index) -> Model.buffers[j].data."""
    import struct

    try:
        with open(path, "rb") as fh:
            data = fh.read()

        def u32(p):
            return struct.unpack_from("<I", data, p)[0]

        def field(table, index):  # absolute position of a table field, or 0 when absent
            vtable = table - struct.unpack_from("<i", data, table)[0]
            if 4 + 2 * index >= struct.unpack_from("<H", data, vtable)[0]:
                return 0
            off = struct.unpack_from("<H", data, vtable + 4 + 2 * index)[0]
            return table + off if off else 0

        def vector(table, index):  # (start, length) of a vector field
            pos = field(table, index)
            if not pos:
                return 0, 0
            vec = pos + u32(pos)
            return vec + 4, u32(vec)

        def table_at(start, i):
            elem = start + 4 * i
            return elem + u32(elem)

        model = u32(0)
        buffers, n_buffers = vector(model, 4)
        metas, n_metas = vector(model, 6)
        out = {}
        for i in range(n_metas):
            meta = table_at(metas, i)
            name_start, name_len = vector(meta, 0)
            buf_field = field(meta, 1)
            index = u32(buf_field) if buf_field else 0
            if index < n_buffers:
                raw_start, raw_len = vector(table_at(buffers, index), 0)
                raw = data[raw_start:raw_start + raw_len].split(b"\0", 1)[0]
                name = data[name_start:name_start + name_len].decode("utf-8", "replace")
                out[name] = raw.decode("utf-8", "replace")
        return out
    except (OSError, struct.error, UnicodeDecodeError, IndexError) as exc:
        log.debug("cannot read metadata of %s: %s", path, exc)
        return {}

