"""onnxruntime: ONNX files, on the CPU or a CUDA/TensorRT execution provider."""

from ..core import LOAD_HINT, ArtifactError, MissingRuntime, runtime_reason
from . import Backend, dim, version_of

NAME = "onnxruntime"
MODULE = "onnxruntime"
DISTS = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml")
INSTALL_HINT = "pip install onnxruntime (Jetson: the onnxruntime-gpu wheel for its JetPack)"
FORMATS = ("onnx",)
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
    dtype = {"tensor(float)": "float32", "tensor(float16)": "float16"}.get(inp.type, inp.type)
    return Backend(
        "onnxruntime", version_of(NAME), lambda feed: sess.run(None, feed),
        lambda x: {name: x}, [dim(d) for d in inp.shape], dtype, device=args.ort_provider,
        providers=sess.get_providers(), threads=args.threads, notes=notes,
        options={"allow_spinning": spin},
        precision="fp16" if dtype == "float16" else args.precision)



def probe_details(module):
    return {"providers": module.get_available_providers()}
