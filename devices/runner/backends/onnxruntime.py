"""onnxruntime: ONNX files, on the CPU or a CUDA/TensorRT execution provider."""

import json
import os
import shutil
import tempfile

from ..core import LOAD_HINT, ArtifactError, MissingRuntime, runtime_reason
from . import Backend, OpProfile, dim, version_of

NAME = "onnxruntime"
MODULE = "onnxruntime"
DISTS = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml")
INSTALL_HINT = "pip install onnxruntime (Jetson: the onnxruntime-gpu wheel for its JetPack)"
FORMATS = ("onnx",)
OP_PROFILER = True  # SessionOptions.enable_profiling: a JSON trace with each node's kernel time
ORT_PROVIDERS = {
    "CPU": ["CPUExecutionProvider"],
    "CUDA": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "TensorRT": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


def open_model(args):
    import onnxruntime as ort

    wanted = ORT_PROVIDERS[args.ort_provider]
    if wanted[0] not in ort.get_available_providers():
        raise MissingRuntime("onnxruntime %s has no %s (available: %s)"
                             % (ort.__version__, wanted[0], ort.get_available_providers()),
                             INSTALL_HINT)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if args.threads:
        opts.intra_op_num_threads = args.threads
    spin = bool(getattr(args, "ort_spin", True))
    if not spin:  # idle workers sleep instead of spin-waiting (onnxruntime spins by default)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    trace = None
    if getattr(args, "op_profile", False):
        trace = tempfile.mkdtemp(prefix="edge-vit-ort-")
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(trace, "ort")
    try:
        sess = ort.InferenceSession(args.artifact, opts, providers=wanted)
    except Exception as exc:
        raise ArtifactError("onnxruntime cannot load %s: %s" % (args.artifact, runtime_reason(exc)),
                            hint=LOAD_HINT) from None
    inp = sess.get_inputs()[0]
    name = inp.name
    notes = []
    if sess.get_providers()[0] != wanted[0]:  # ORT falls back quietly when an EP cannot start
        notes.append("onnxruntime fell back from %s to %s" % (wanted[0], sess.get_providers()[0]))
    if trace and sess.get_providers()[0] != "CPUExecutionProvider":
        notes.append("op times on %s are onnxruntime's host-side kernel times (mostly launch "
                     "cost without CUPTI), not GPU execution times" % sess.get_providers()[0])
    dtype = {"tensor(float)": "float32", "tensor(float16)": "float16"}.get(inp.type, inp.type)
    return Backend(
        "onnxruntime", version_of(NAME), lambda feed: sess.run(None, feed),
        lambda x: {name: x}, [dim(d) for d in inp.shape], dtype, device=args.ort_provider,
        providers=sess.get_providers(), threads=args.threads, notes=notes,
        options={"allow_spinning": spin},
        precision="fp16" if dtype == "float16" else args.precision,
        op_profile=OrtOps(sess, trace) if trace else None)


class OrtOps(OpProfile):
    """onnxruntime writes every run's node events to one trace; runs are told apart by the
    ``model_run`` events that enclose them."""

    def __init__(self, sess, folder):
        self.sess, self.folder = sess, folder

    def finish(self, runs):
        try:
            with open(self.sess.end_profiling()) as fh:
                events = json.load(fh)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
        return {"runs": trace_runs(events)[-runs:], "fused": {}}


def trace_runs(events):
    """The node kernel times of each ``model_run`` of an onnxruntime trace, in order."""
    spans = sorted((e["ts"], e["ts"] + e["dur"]) for e in events
                   if e.get("cat") == "Session" and e.get("name") == "model_run")
    runs = [[] for _ in spans]
    nodes = sorted((e for e in events if e.get("cat") == "Node"
                    and e.get("name", "").endswith("_kernel_time")), key=lambda e: e["ts"])
    k = 0
    for e in nodes:
        while k < len(spans) and e["ts"] > spans[k][1]:
            k += 1
        if k == len(spans):
            break
        if e["ts"] >= spans[k][0]:
            args = e.get("args") or {}
            runs[k].append({"name": e["name"][:-len("_kernel_time")],
                            "type": args.get("op_name"), "exec": args.get("provider"),
                            "ms": e["dur"] / 1000.0})
    return [r for r in runs if r]



def probe_details(module):
    return {"providers": module.get_available_providers()}
