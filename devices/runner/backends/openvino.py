"""OpenVINO: its IR (.xml + .bin) and ONNX files, on the CPU or another OpenVINO device."""

from ..core import LOAD_HINT, ArtifactError, MissingRuntime, RunnerError, runtime_reason
from . import Backend, OpProfile, version_of

NAME = "openvino"
MODULE = "openvino"
DISTS = ("openvino",)
INSTALL_HINT = "pip install openvino"
FORMATS = ("onnx", "openvino")
OV_PRECISIONS = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}
OP_PROFILER = True  # PERF_COUNT: the infer request's profiling_info after each run


def open_model(args):
    import openvino

    core_cls = getattr(openvino, "Core", None)
    if core_cls is None:  # releases before 2023.1
        from openvino.runtime import Core as core_cls
    core = core_cls()
    version = version_of(NAME)
    if args.ov_device.split(":")[0] not in ("AUTO", "HETERO", "MULTI") \
            and args.ov_device not in core.available_devices:
        raise MissingRuntime("OpenVINO has no device %s here (available: %s)"
                             % (args.ov_device, core.available_devices),
                             "install the device's OpenVINO plugin and driver")
    config, options = {}, {"ov_precision": args.ov_precision}
    if args.threads and args.ov_device == "CPU":
        config["INFERENCE_NUM_THREADS"] = args.threads
    if args.ov_precision != "default":
        config["INFERENCE_PRECISION_HINT"] = args.ov_precision
    profiled = bool(getattr(args, "op_profile", False))
    if profiled:
        config["PERF_COUNT"] = True
    try:
        model = core.read_model(args.artifact)
    except Exception as exc:
        raise ArtifactError("OpenVINO cannot read %s: %s" % (args.artifact, runtime_reason(exc)),
                            hint=LOAD_HINT) from None
    try:
        compiled = core.compile_model(model, args.ov_device, config)
    except Exception as exc:
        raise RunnerError("OpenVINO cannot compile %s for %s with %s: %s"
                          % (args.artifact, args.ov_device, config, exc)) from None
    request = compiled.create_infer_request()

    def prop(key):
        try:
            return compiled.get_property(key)
        except Exception:  # not every device reports every property
            return None

    # What actually ran: the CPU plugin picks bf16 on AVX512_BF16/AMX unless told f32.
    hint = prop("INFERENCE_PRECISION_HINT")
    actual = hint.to_string() if hasattr(hint, "to_string") else (str(hint) if hint else None)
    for key in ("PERFORMANCE_HINT", "NUM_STREAMS", "INFERENCE_NUM_THREADS"):
        value = prop(key)
        if value is not None:
            options[key.lower()] = value if isinstance(value, (int, float)) else str(value)
    int8_ops = openvino_int8_ops(compiled)
    if int8_ops:  # quantized ops run in int8 whatever the float hint says
        options["int8_ops"] = int8_ops
        actual = "int8"
    port = compiled.inputs[0]
    shape = [d.get_length() if d.is_static else None for d in port.get_partial_shape()]
    dtype = {"f32": "float32", "f16": "float16"}.get(port.get_element_type().to_string(),
                                                     port.get_element_type().to_string())
    tensor_cls = getattr(openvino, "Tensor", None)
    if tensor_cls is None:  # releases before 2023.1
        from openvino.runtime import Tensor as tensor_cls

    def prepare(x):  # the input tensor is set once, as benchmark_app does; each run infers
        request.set_input_tensor(tensor_cls(x))
        return None

    return Backend("openvino", version, lambda _: request.infer(), prepare, shape,
                   dtype, device=args.ov_device, threads=options.get("inference_num_threads"),
                   precision=OV_PRECISIONS.get(actual, actual), options=options,
                   op_profile=OvOps(request, compiled) if profiled else None)


class OvOps(OpProfile):
    """The CPU plugin's performance counters of the last inference, read after each run; the
    runtime model says which original nodes each executed op fused (originalLayersNames)."""

    def __init__(self, request, compiled):
        self.request, self.compiled, self.runs = request, compiled, []

    def sample(self):
        run = []
        for info in self.request.profiling_info:
            if str(info.status).endswith("EXECUTED") and not str(info.status).endswith(
                    "NOT_EXECUTED"):
                run.append({"name": info.node_name, "type": info.node_type,
                            "exec": info.exec_type,
                            "ms": info.real_time.total_seconds() * 1000.0})
        self.runs.append(run)

    def finish(self, runs):
        fused = {}
        try:
            for op in self.compiled.get_runtime_model().get_ops():
                info = op.get_rt_info()
                if "originalLayersNames" in info:
                    names = [n for n in info["originalLayersNames"].astype(str).split(",") if n]
                    if len(names) > 1:
                        fused[op.get_friendly_name()] = names
        except Exception:  # a plugin without a runtime model: the op names alone
            pass
        return {"runs": self.runs[-runs:], "fused": fused}



def openvino_int8_ops(compiled):
    """How many ops the OpenVINO plugin runs in int8/uint8 (an NNCF-quantized IR); 0 when the
    runtime model does not say."""
    try:
        count = 0
        for op in compiled.get_runtime_model().get_ops():
            info = op.get_rt_info()
            if "runtimePrecision" in info:
                count += info["runtimePrecision"].astype(str) in ("i8", "u8")
        return count
    except Exception:
        return 0



def probe_details(module):
    core = module.Core() if hasattr(module, "Core") else \
        __import__("openvino.runtime").runtime.Core()
    devices = {}
    for dev in core.available_devices:
        try:
            devices[dev] = {
                "name": core.get_property(dev, "FULL_DEVICE_NAME"),
                "capabilities": list(core.get_property(dev, "OPTIMIZATION_CAPABILITIES"))}
        except Exception as exc:
            devices[dev] = {"error": str(exc)}
    return {"devices": devices}
