#!/usr/bin/env python3
"""edge-vit on-device runner: probe a device and profile one model artifact on it.

A single standard-library file, modelled on torch's ``collect_env.py``: it is copied to a device
(Raspberry Pi, Jetson, any SSH host) beside the artifacts and run with whatever Python and
runtime exist there. It imports nothing from edge-vit; numpy and the runtimes are imported only
inside the functions that use them. It prints exactly ONE JSON object on stdout (whatever the
runtimes print goes to stderr), logs to stderr, and on failure exits non-zero with a JSON error.

    python3 runner.py probe                       # environment + importable runtimes
    python3 runner.py versions                    # runtime versions only (fast, no imports)
    python3 runner.py profile --artifact m.onnx --format onnx [--runtime auto] ...
    python3 runner.py trtexec --onnx m.onnx [--precision fp16] ...  # Jetson: TensorRT + power

``profile`` prints a dict with exactly the field names of ``edge_vit.results.ProfileResult``.
Pruned PyTorch models are profiled by the host-side code (it can import edge-vit); here
``--format pytorch --timm-model NAME`` times a random-init timm model (latency does not depend
on weight values). Python 3.8+ syntax on purpose: device Pythons are old.
"""

import argparse
import collections
import contextlib
import datetime
import glob
import hashlib
import json
import logging
import math
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

RUNNER_VERSION = "1"
SCHEMA_VERSION = "1.1"  # edge_vit.results.PROFILE_SCHEMA_VERSION

log = logging.getLogger("edge-vit-runner")

# Exit codes the host maps back to typed errors.
EXIT_FAILED, EXIT_USAGE, EXIT_MISSING_RUNTIME, EXIT_ARTIFACT, EXIT_LOCK = 1, 2, 3, 4, 5

# runtime name -> (module, distribution names to ask for a version without importing)
RUNTIMES = {
    "onnxruntime": ("onnxruntime", ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino",
                                    "onnxruntime-directml")),
    "openvino": ("openvino", ("openvino",)),
    "litert": ("ai_edge_litert", ("ai-edge-litert", "ai-edge-litert-nightly")),
    "tflite_runtime": ("tflite_runtime", ("tflite-runtime",)),
    "pytorch": ("torch", ("torch",)),
    "tensorrt": ("tensorrt", ("tensorrt", "tensorrt-cu12", "tensorrt-cu11")),
}
INSTALL_HINTS = {
    "onnxruntime": "pip install onnxruntime (Jetson: the onnxruntime-gpu wheel for its JetPack)",
    "openvino": "pip install openvino",
    "litert": "pip install ai-edge-litert",
    "tflite_runtime": "pip install tflite-runtime (legacy, needs numpy<2; prefer ai-edge-litert)",
    "pytorch": "pip install torch timm (Jetson: NVIDIA's torch wheel for its JetPack)",
    "tensorrt": "ships with JetPack (python3-libnvinfer); profile engines with trtexec",
}
# Which runtimes can run a format, in the order --runtime auto tries them.
FORMAT_RUNTIMES = {
    "onnx": ("onnxruntime", "openvino"),
    "openvino": ("openvino",),
    "tflite": ("litert", "tflite_runtime"),
    "pytorch": ("pytorch",),
}
ORT_PROVIDERS = {
    "CPU": ["CPUExecutionProvider"],
    "CUDA": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "TensorRT": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}
OV_PRECISIONS = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}
CPU_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx512_fp16",
             "avx_vnni", "amx_tile", "amx_bf16", "amx_int8", "neon", "asimd", "asimdhp",
             "asimddp", "fphp", "i8mm", "bf16", "sve")
# vcgencmd get_throttled bits; the same bit << 16 means "has occurred since boot".
THROTTLE_BITS = ((0x1, "under-voltage"), (0x2, "arm frequency capped"),
                 (0x4, "currently throttled"), (0x8, "soft temperature limit"))

# Thresholds: a spread above these makes one figure untrustworthy (flagged, never hidden).
NOISY_CV = 0.10
NOISY_CI_HALF_WIDTH = 0.05  # of p50
NOISY_TAIL_RATIO = 3.0  # p99 / p50
FREQ_DROP = 0.85  # cur < 85 % of max during the loop: clocks were pulled down
HOT_C = 80.0  # Raspberry Pi firmware starts soft throttling around here
SAMPLE_EVERY_S = 1.0
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_MAX_DRAWS = 5000000  # resamples * n: keeps a 120 s loop's CI under a few seconds
TOOL_TIMEOUT_S = 5.0
SINGLE_BLOCK_CI = ("bootstrap within one timed block: jitter inside the block only, not the "
                   "variation between runs (edge-vit profile measures in rounds for that)")


class RunnerError(Exception):
    exit_code = EXIT_FAILED
    error_type = "RunFailed"

    def __init__(self, message, hint=None):
        super().__init__(message)
        self.hint = hint


class UsageError(RunnerError):
    exit_code, error_type = EXIT_USAGE, "UsageError"


class MissingRuntime(RunnerError):
    exit_code, error_type = EXIT_MISSING_RUNTIME, "MissingRuntime"


class ArtifactError(RunnerError):
    exit_code, error_type = EXIT_ARTIFACT, "ArtifactError"


class LockTimeout(RunnerError):
    exit_code, error_type = EXIT_LOCK, "LockTimeout"


class Interrupted(BaseException):
    """SIGTERM/SIGINT. Not an Exception, so no best-effort ``except Exception`` swallows it."""

    error_type = "Interrupted"

    def __init__(self, message, exit_code):
        super().__init__(message)
        self.exit_code, self.hint = exit_code, None


# ---------------------------------------------------------------- statistics (exact, tested)

def percentile(sorted_values, q):
    """q-th percentile (0-100) of already sorted data, linear interpolation (numpy's default)."""
    n = len(sorted_values)
    if n == 0:
        raise ValueError("percentile of no data")
    pos = (n - 1) * q / 100.0
    lo = int(math.floor(pos))
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def mean_std(values):
    """Mean and population standard deviation (ddof=0, numpy's default)."""
    m = math.fsum(values) / len(values)
    return m, math.sqrt(math.fsum((v - m) ** 2 for v in values) / len(values))


def bootstrap_ci(values, qs, resamples=BOOTSTRAP_RESAMPLES, seed=0, level=0.95):
    """Percentile-bootstrap intervals [low, high] for each q-th percentile in ``qs``, from
    the same seeded resamples (one sort serves every q; reruns agree)."""
    rng = random.Random(seed)
    stats = [[] for _ in qs]
    for _ in range(resamples):
        sample = sorted(rng.choices(values, k=len(values)))
        for dist, q in zip(stats, qs):  # noqa: B905 (3.8)
            dist.append(percentile(sample, q))
    tail = (1.0 - level) / 2.0 * 100.0
    return [[percentile(d, tail), percentile(d, 100.0 - tail)] for d in map(sorted, stats)]


def bootstrap_resamples(n):
    return max(100, min(BOOTSTRAP_RESAMPLES, BOOTSTRAP_MAX_DRAWS // max(n, 1)))


def latency_stats(times_ms, batch=1, total_seconds=None, seed=0):
    """LatencyStats fields for per-iteration times in ms, with the noise verdict."""
    data = sorted(times_ms)
    m, sd = mean_std(data)
    resamples = bootstrap_resamples(len(data))
    p50, p90, p99 = percentile(data, 50), percentile(data, 90), percentile(data, 99)
    p50_ci, p90_ci, p99_ci = bootstrap_ci(data, (50, 90, 99), resamples, seed)
    cv = sd / m if m > 0 else 0.0
    reasons = []
    if cv > NOISY_CV:
        reasons.append("cv %.3f > %.2f" % (cv, NOISY_CV))
    half = (p50_ci[1] - p50_ci[0]) / 2.0
    if p50 > 0 and half > NOISY_CI_HALF_WIDTH * p50:
        reasons.append("p50 CI half-width %.1f%% of p50 > %.0f%%"
                       % (100 * half / p50, 100 * NOISY_CI_HALF_WIDTH))
    if p50 > 0 and p99 > NOISY_TAIL_RATIO * p50:
        reasons.append("p99 %.3g ms > %.0fx p50 %.3g ms" % (p99, NOISY_TAIL_RATIO, p50))
    r = _round
    return {
        "count": len(data), "mean": r(m), "std": r(sd), "min": r(data[0]), "max": r(data[-1]),
        "p50": r(p50), "p90": r(p90), "p95": r(percentile(data, 95)), "p99": r(p99),
        "p50_ci": [r(v) for v in p50_ci],
        "p90_ci": [r(v) for v in p90_ci],
        "p99_ci": [r(v) for v in p99_ci],
        "ci_method": SINGLE_BLOCK_CI, "rounds": None,
        "cv": round(cv, 5), "noisy": bool(reasons),
        "noise_reason": "; ".join(reasons) or None,
        "throughput_ips": round(batch * 1000.0 / m, 3) if m > 0 else None,
        "total_seconds": round(total_seconds, 4) if total_seconds is not None else None,
    }


def _round(v, digits=6):  # ms to the nanosecond: ratios of rounded values stay exact enough
    return round(float(v), digits)


# ---------------------------------------------------------------- small system helpers

def _read(path):
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8", "replace").replace("\0", "").strip()
    except OSError:
        return None


def _read_number(path, scale=1.0):
    text = _read(path)
    try:
        return float(text) * scale if text else None
    except ValueError:
        return None


def _run_tool(argv, timeout=TOOL_TIMEOUT_S):
    """Output of a native tool, or None when it is absent, fails or hangs (best effort)."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout, universal_newlines=True)
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("%s failed: %s", argv[0], exc)
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def _proc_status_kb(key):
    text = _read("/proc/self/status") or ""
    found = re.search(r"^%s:\s*(\d+)\s*kB" % key, text, re.M)
    return int(found.group(1)) if found else None


def rss_mb():
    kb = _proc_status_kb("VmRSS")
    return round(kb / 1024.0, 2) if kb is not None else None


def peak_rss_mb():
    """High-water RSS of this process: VmHWM where /proc has it, else ru_maxrss (kB on Linux,
    bytes on macOS). Not the larger of the two: Linux carries ru_maxrss across fork and exec,
    so a runner started by a parent holding 1.5 GB (the sweep, with torch loaded) reported
    1.5 GB for a 5 MB model; VmHWM belongs to the process's own memory."""
    kb = _proc_status_kb("VmHWM")
    if kb is not None:
        return round(kb / 1024.0, 2)
    try:
        import resource

        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except (ImportError, OSError):
        return None
    return round(maxrss / (1024.0 * 1024.0) if sys.platform == "darwin" else maxrss / 1024.0, 2)


def _cpuinfo():
    fields = {}
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    return fields


def cpu_model(info=None):
    info = _cpuinfo() if info is None else info
    if info.get("model name"):
        return info["model name"]
    lscpu = _run_tool(["lscpu"]) or ""  # ARM cpuinfo has no model name; lscpu decodes the part
    found = re.search(r"^Model name:\s*(.+)$", lscpu, re.M)
    if found and found.group(1).strip() != "-":
        return found.group(1).strip()
    return info.get("Model") or info.get("Hardware") or platform.processor() or None


def cpu_freq_mhz():
    base = "/sys/devices/system/cpu/cpu0/cpufreq/"
    freq = {}
    for key, name in (("cur", "scaling_cur_freq"), ("min", "scaling_min_freq"),
                      ("max", "scaling_max_freq")):
        value = _read_number(base + name, 1e-3)  # kHz -> MHz
        if value is None and key == "max":
            value = _read_number(base + "cpuinfo_max_freq", 1e-3)
        if value is not None:
            freq[key] = round(value, 1)
    if "cur" not in freq:  # VMs have no cpufreq; x86 cpuinfo still says something
        mhz = _cpuinfo().get("cpu MHz")
        if mhz:
            freq["cur"] = round(float(mhz), 1)
    return freq


def temperature_c():
    """Hottest thermal zone (the SoC on boards; VMs usually have none)."""
    temps = [_read_number(p, 1e-3) for p in glob.glob("/sys/class/thermal/thermal_zone*/temp")]
    temps = [t for t in temps if t is not None and -40.0 < t < 150.0]
    return round(max(temps), 1) if temps else None


def _meminfo_mb(key):
    found = re.search(r"^%s:\s*(\d+)\s*kB" % key, _read("/proc/meminfo") or "", re.M)
    return round(int(found.group(1)) / 1024.0, 1) if found else None


def os_name():
    text = _read("/etc/os-release") or ""
    found = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', text, re.M)
    return found.group(1) if found else platform.platform()


def board_model():
    return _read("/proc/device-tree/model")


def is_raspberry_pi():
    return "Raspberry Pi" in (board_model() or "") or shutil.which("vcgencmd") is not None


def is_jetson():
    model = board_model() or ""
    return os.path.exists("/etc/nv_tegra_release") or "Jetson" in model or "NVIDIA" in model


def board_facts():
    """Raspberry Pi / Jetson facts; empty on other machines."""
    facts = {}
    model = board_model()
    if is_raspberry_pi():
        facts.update(kind="raspberry-pi", model=model)
        for key, argv in (("firmware", ["vcgencmd", "version"]),
                          ("arm_clock", ["vcgencmd", "measure_clock", "arm"])):
            facts[key] = _run_tool(argv)
    elif is_jetson():
        facts.update(kind="jetson", model=model)
        release = (_read("/etc/nv_tegra_release") or "").splitlines()
        facts["l4t"] = release[0] if release else None
        facts["nvpmodel"] = _run_tool(["nvpmodel", "-q"])
        facts["jetson_clocks"] = _run_tool(["jetson_clocks", "--show"])  # needs root: may be None
    elif model:
        facts["model"] = model
    return facts


def runtime_versions(only_present=False):
    """Runtime -> version from package metadata (no import, so it is fast), None if absent."""
    import importlib.util

    try:
        from importlib import metadata
    except ImportError:  # Python < 3.8
        metadata = None
    out = {}
    for name, (module, dists) in RUNTIMES.items():
        version = None
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if found:
            version = "unknown"  # e.g. JetPack's tensorrt comes from apt, without dist-info
            for dist in dists if metadata else ():
                try:
                    version = metadata.version(dist)
                    break
                except Exception:
                    continue
        if version or not only_present:
            out[name] = version
    return out


def collect_environment():
    info = _cpuinfo()
    flags = set((info.get("flags") or info.get("Features") or "").split())
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        load = []
    return {
        "hostname": socket.gethostname(), "os": os_name(), "kernel": platform.release(),
        "machine": platform.machine(), "cpu_model": cpu_model(info),
        "cpu_flags": [f for f in CPU_FLAGS if f in flags], "cores_logical": os.cpu_count(),
        "cpu_freq_mhz": cpu_freq_mhz(),
        "governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "temperature_c": temperature_c(), "mem_total_mb": _meminfo_mb("MemTotal"),
        "mem_available_mb": _meminfo_mb("MemAvailable"), "python": platform.python_version(),
        "runtimes": runtime_versions(only_present=True), "board": board_facts(),
        "load_avg": load,
    }


def vcgencmd_throttled():
    out = _run_tool(["vcgencmd", "get_throttled"]) if is_raspberry_pi() else None
    found = re.search(r"throttled=(0x[0-9a-fA-F]+)", out or "")
    return int(found.group(1), 16) if found else None


def throttle_verdict(before, after):
    """(throttled, detail) from two get_throttled values; (None, None) when unreadable."""
    if before is None or after is None:
        return None, None
    now = [name for bit, name in THROTTLE_BITS if after & bit]
    new = [name for bit, name in THROTTLE_BITS if (after & ~before) & (bit << 16)]
    old = [name for bit, name in THROTTLE_BITS if before & (bit << 16)]
    parts = ["get_throttled 0x%x before, 0x%x after" % (before, after)]
    if now:
        parts.append("now: " + ", ".join(now))
    if new:
        parts.append("occurred during the run: " + ", ".join(new))
    if old:  # a sticky bit already set cannot show a repeat
        parts.append("already occurred since boot: " + ", ".join(old))
    return bool(now or new), "; ".join(parts)


class ClockSampler(object):
    """cpufreq and temperature read about once a second during the loop (cheap sysfs reads)."""

    def __init__(self):
        self.min_freq = None
        self.max_temp = None
        self.samples = 0

    def sample(self):
        self.samples += 1
        cur = _read_number("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq", 1e-3)
        if cur is not None:
            self.min_freq = cur if self.min_freq is None else min(self.min_freq, cur)
        temp = temperature_c()
        if temp is not None:
            self.max_temp = temp if self.max_temp is None else max(self.max_temp, temp)


# ---------------------------------------------------------------- runtimes

class Backend(object):
    """A loaded model: ``prepare`` turns an array into the runtime's input once, ``run`` is
    what the loop times. ``shape`` is the model's input shape with unknown dims as None."""

    def __init__(self, runtime, version, run, prepare, shape, dtype, **facts):
        self.runtime, self.version, self.run, self.prepare = runtime, version, run, prepare
        self.shape, self.dtype = shape, dtype
        self.device = facts.get("device")
        self.providers = facts.get("providers") or []
        self.threads = facts.get("threads")
        self.precision = facts.get("precision")
        self.quant = facts.get("quant")  # (scale, zero_point) of an integer input
        self.options = facts.get("options") or {}
        self.notes = facts.get("notes") or []


def import_runtime(name):
    module = RUNTIMES[name][0]
    try:
        return __import__(module)
    except Exception as exc:  # ImportError, or a broken install (ABI, missing .so)
        raise MissingRuntime("%s (module %s) cannot be imported: %s: %s"
                             % (name, module, type(exc).__name__, exc),
                             INSTALL_HINTS[name]) from None


def _dim(d):
    return d if isinstance(d, int) and d > 0 else None


def open_onnxruntime(args):
    import onnxruntime as ort

    wanted = ORT_PROVIDERS[args.ort_provider]
    if wanted[0] not in ort.get_available_providers():
        raise MissingRuntime("onnxruntime %s has no %s (available: %s)"
                             % (ort.__version__, wanted[0], ort.get_available_providers()),
                             INSTALL_HINTS["onnxruntime"])
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
        "onnxruntime", runtime_versions()["onnxruntime"], lambda feed: sess.run(None, feed),
        lambda x: {name: x}, [_dim(d) for d in inp.shape], dtype, device=args.ort_provider,
        providers=sess.get_providers(), threads=args.threads, notes=notes,
        options={"allow_spinning": spin},
        precision="fp16" if dtype == "float16" else args.precision)


def open_openvino(args):
    import openvino

    core_cls = getattr(openvino, "Core", None)
    if core_cls is None:  # releases before 2023.1
        from openvino.runtime import Core as core_cls
    core = core_cls()
    version = runtime_versions()["openvino"]
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
                   precision=OV_PRECISIONS.get(actual, actual), options=options)


def open_tflite(args, runtime):
    if runtime == "litert":
        from ai_edge_litert import interpreter as tfl
    else:
        from tflite_runtime import interpreter as tfl
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
    if dtype in ("int8", "uint8"):
        precision = "int8"
    elif _tflite_int8_tensors(interp):  # int8 weights (dynamic range) or activations (full)
        precision = args.precision if str(args.precision).startswith("int8") else "int8"
    else:
        precision = tflite_precision(meta, bool(partitions))
    return Backend(runtime, runtime_versions()[runtime],
                   run, lambda x: x, [int(d) for d in inp["shape"]], dtype,
                   threads=args.threads, precision=precision,
                   quant=(scale, zero) if scale else None,
                   options={"xnnpack": not args.no_xnnpack, "delegate_partitions": partitions,
                            "reduced_precision_support": meta})


def _tflite_int8_tensors(interp):
    try:
        return any(t["dtype"].__name__ in ("int8", "uint8") for t in interp.get_tensor_details())
    except Exception:
        return False


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


def tflite_precision(reduced_precision_support, xnnpack):
    """XNNPACK's own rule: fp16 compute only for ``fp16...accfp16`` metadata on a CPU with
    native FP16 arithmetic; otherwise fp16 weights are dequantized to fp32 at load."""
    inference, _, accumulation = str(reduced_precision_support or "").partition("acc")
    flags = set(re.findall(r"\w+", _cpuinfo().get("Features", "")))
    native = platform.machine().lower() in ("aarch64", "arm64") and (
        sys.platform == "darwin" or bool(flags & {"asimdhp", "fphp"}))
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


def open_pytorch(args):
    import torch

    try:
        import timm
    except ImportError as exc:
        raise MissingRuntime("timm cannot be imported: %s" % exc,
                             INSTALL_HINTS["pytorch"]) from None
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

    return Backend("pytorch", runtime_versions()["pytorch"], run,
                   lambda x: torch.from_numpy(x).to(dtype), [None] + chw, "float32",
                   device="cpu", threads=torch.get_num_threads(), precision=args.precision,
                   options={"timm": getattr(timm, "__version__", None),
                            "timm_kwargs": kwargs})


def open_backend(args, runtime):
    if runtime == "onnxruntime":
        return open_onnxruntime(args)
    if runtime == "openvino":
        return open_openvino(args)
    if runtime in ("litert", "tflite_runtime"):
        return open_tflite(args, runtime)
    return open_pytorch(args)


def resolve_runtime(fmt, wanted):
    import importlib.util

    allowed = FORMAT_RUNTIMES[fmt]
    if wanted != "auto":
        if wanted not in allowed:
            raise UsageError("runtime %s cannot run %s artifacts (use one of: %s)"
                             % (wanted, fmt, ", ".join(allowed)))
        return wanted
    for name in allowed:
        if importlib.util.find_spec(RUNTIMES[name][0]) is not None:
            return name
    raise MissingRuntime("no runtime for %s artifacts is installed (tried %s)"
                         % (fmt, ", ".join(allowed)), INSTALL_HINTS[allowed[0]])


# ---------------------------------------------------------------- input

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


# ---------------------------------------------------------------- lock

@contextlib.contextmanager
def device_lock(path, timeout_s):
    """Exclusive flock on ``path`` for the whole profile: two runs on one device never
    overlap. Yields the seconds spent waiting. The file names its holder for the error."""
    if not path:
        yield None
        return
    try:
        import fcntl
    except ImportError:
        raise UsageError("--lock needs fcntl (a POSIX system)") from None
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    start = time.monotonic()
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() - start >= timeout_s:
                    raise LockTimeout("lock %s still held after %.0f s (holder: %s)"
                                      % (path, timeout_s, _read(path) or "unknown"),
                                      "wait for the other profile or raise --lock-timeout"
                                      ) from None
                time.sleep(0.05)
        waited = time.monotonic() - start
        os.ftruncate(fd, 0)
        os.write(fd, ("pid %d on %s since %s\n" % (os.getpid(), socket.gethostname(), _now())
                      ).encode())
        yield waited
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# ---------------------------------------------------------------- commands

# lines of a runtime's message that say where in its C++ it failed, not what failed
_WHERE_LINE = re.compile(r"^(Exception from |Check '.*' failed at |\[ ?[A-Z_]+ ?\] ?[A-Za-z_]*:? ?$"
                         r"|[\w/.-]+\.(cpp|cc|h|hpp):\d+)")
LOAD_HINT = ("The file may be truncated or corrupt, or made for another version of the "
             "runtime: copy it again or re-export it (edge-vit export).")


def runtime_reason(exc):
    """One line from a runtime's (often multi-line C++) error: its most specific line."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    said = [ln for ln in lines if not _WHERE_LINE.match(ln)] or lines or [type(exc).__name__]
    return said[-1][:240]


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_artifact(args):
    if args.format == "pytorch":
        return
    if not args.artifact:
        raise UsageError("--artifact is required for --format %s" % args.format)
    if not os.path.isfile(args.artifact) or not os.access(args.artifact, os.R_OK):
        raise ArtifactError("artifact %s does not exist or is not readable" % args.artifact)
    expected = dict(getattr(args, "companions", None) or {})  # e.g. OpenVINO's .bin weights
    if args.sha256:
        expected[args.artifact] = args.sha256
    for path, want in sorted(expected.items()):
        if not os.path.isfile(path):
            raise ArtifactError("artifact file %s is missing (copy it again, or re-export)"
                                % path)
        actual = sha256_file(path)
        if actual.lower() != want.lower():
            raise ArtifactError("artifact file %s has sha256 %s, expected %s: a truncated or "
                                "broken copy (copy it again, or re-export)"
                                % (path, actual[:12], want[:12]))


def timed_loop(call, args, sampler):
    """Run until both --min-iterations and --min-seconds are met, or --max-seconds passes."""
    import gc

    perf = time.perf_counter
    times = []
    gc_was_on = gc.isenabled()
    gc.disable()  # like timeit: a collection inside one iteration is Python noise, not model
    try:
        start = perf()
        next_sample = start
        while True:
            t0 = perf()
            call()
            t1 = perf()
            times.append((t1 - t0) * 1000.0)
            if t1 >= next_sample:
                sampler.sample()
                next_sample = t1 + SAMPLE_EVERY_S
            elapsed = t1 - start
            if elapsed >= args.max_seconds or (
                    len(times) >= args.min_iterations and elapsed >= args.min_seconds):
                break
        return times, perf() - start
    finally:
        if gc_was_on:
            gc.enable()


def cmd_profile(args, partial):
    """Load, first inference, warm-up, timed loop; fills ``partial`` as it goes so that a
    failure still reports what was known."""
    path = args.artifact or "timm:%s" % args.timm_model
    partial["artifact"] = {"model_id": args.model_id or args.timm_model, "format": args.format,
                           "precision": args.precision, "path": path, "sha256": args.sha256}
    settings = {"runtime": args.runtime, "runtime_version": None, "device": None, "providers": [],
                "threads": args.threads, "batch": args.batch or 1, "warmup": args.warmup,
                "min_iterations": args.min_iterations, "min_seconds": args.min_seconds,
                "input": args.input, "inference_precision": None,
                "options": {"runner_version": RUNNER_VERSION, "max_seconds": args.max_seconds}}
    partial["settings"] = settings
    if args.min_seconds > args.max_seconds:
        raise UsageError("--min-seconds %s exceeds --max-seconds %s"
                         % (args.min_seconds, args.max_seconds))
    if args.pin:
        set_affinity(args.pin)
        settings["options"]["affinity"] = affinity()
    settings["runtime"] = runtime = resolve_runtime(args.format, args.runtime)
    check_artifact(args)
    t0 = time.perf_counter()
    try:  # numpy too: loaded before the RSS baseline so that it does not count as model
        import numpy  # noqa: F401
    except ImportError as exc:
        raise MissingRuntime("numpy cannot be imported: %s" % exc, "pip install numpy") from None
    import_runtime(runtime)
    settings["options"]["import_seconds"] = round(time.perf_counter() - t0, 3)
    notes = partial.setdefault("notes", [])

    with device_lock(args.lock, args.lock_timeout) as waited:
        if waited is not None:
            settings["options"].update(lock=args.lock, lock_wait_seconds=round(waited, 3))
        partial["started"] = _now()
        env = collect_environment()
        partial["environment"] = env
        throttle_before = vcgencmd_throttled()
        baseline = rss_mb()

        t0 = time.perf_counter()
        backend = open_backend(args, runtime)
        load_seconds = time.perf_counter() - t0
        after_load = rss_mb()
        shape = resolve_shape(backend.shape, args)
        layout = guess_layout(shape, args.input_layout)
        x, desc = make_input(shape, layout, args)
        feed = backend.prepare(cast_input(x, backend.dtype, backend.quant))
        settings.update(runtime_version=backend.version, device=backend.device,
                        providers=list(backend.providers), threads=backend.threads,
                        batch=shape[0], input=desc, inference_precision=backend.precision)
        settings["options"].update(backend.options)
        settings["options"].update(input_shape=shape, input_layout=layout)

        def call():
            backend.run(feed)

        try:
            t0 = time.perf_counter()
            call()
            first_ms = (time.perf_counter() - t0) * 1000.0
            for _ in range(args.warmup):
                call()
            sampler = ClockSampler()
            times, total = timed_loop(call, args, sampler)
        except RunnerError:
            raise
        except Exception as exc:
            raise RunnerError("inference failed with %s: %s: %s"
                              % (runtime, type(exc).__name__, exc)) from None
        throttled, detail = throttle_verdict(throttle_before, vcgencmd_throttled())
        partial["finished"] = _now()

    stats = latency_stats(times, shape[0], total, seed=args.seed)
    settings["options"]["bootstrap_resamples"] = bootstrap_resamples(len(times))
    notes.extend(backend.notes + run_notes(args, env, sampler, len(times), backend))
    partial.update(
        status="ok", load_seconds=round(load_seconds, 4), first_inference_ms=_round(first_ms),
        latency=stats,
        memory={"baseline_rss_mb": baseline, "after_load_rss_mb": after_load,
                "peak_rss_mb": peak_rss_mb(),
                "model_added_mb": round(after_load - baseline, 2)
                if baseline is not None and after_load is not None else None,
                "gpu_mb": None},
        throttled=throttled, throttle_detail=detail)
    return profile_result(partial)


def run_notes(args, env, sampler, count, backend):
    notes = []
    fmax = env["cpu_freq_mhz"].get("max")
    if sampler.min_freq is not None and fmax and sampler.min_freq < FREQ_DROP * fmax:
        notes.append("cpu0 clock fell to %.0f MHz during the timed loop (max %.0f MHz): "
                     "thermal/power throttling or a power-saving governor (%s)"
                     % (sampler.min_freq, fmax, env["governor"]))
    if sampler.max_temp is not None and sampler.max_temp >= HOT_C:
        notes.append("temperature reached %.1f C during the timed loop (>= %.0f C)"
                     % (sampler.max_temp, HOT_C))
    if count < args.min_iterations:
        notes.append("stopped at --max-seconds %s after %d of %d iterations"
                     % (args.max_seconds, count, args.min_iterations))
    cores = env["cores_logical"] or 0
    if hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) < cores:
        notes.append("the process may use %d of %d cores (CPU affinity)"
                     % (len(os.sched_getaffinity(0)), cores))
    if backend.threads and cores and backend.threads > cores:
        notes.append("%d threads on %d logical cores" % (backend.threads, cores))
    if env["load_avg"] and cores and env["load_avg"][0] > 0.5 * cores:
        notes.append("system busy before the run: load average %.2f on %d cores"
                     % (env["load_avg"][0], cores))
    return notes


def profile_result(partial):
    """Every ProfileResult field, in its order; what is not known stays None."""
    keys = ("artifact", "settings", "status", "error", "source", "device_name", "device_kind",
            "load_seconds", "first_inference_ms", "latency", "memory", "power", "environment",
            "throttled", "throttle_detail", "started", "finished", "notes", "session",
            "rounds", "schema_version")
    defaults = {"status": "ok", "source": "edge-vit runner", "notes": [], "rounds": [],
                "schema_version": SCHEMA_VERSION}
    return dict((k, partial.get(k, defaults.get(k))) for k in keys)



# ---------------------------------------------------------------- CPU accounting (busy rounds)
#
# Whether a block ran on a quiet machine is decided from /proc/stat deltas (all CPUs) minus
# this process's own CPU time (getrusage: every thread of ours), not from the load average:
# a 1-minute average that also counts our own inference threads.

CLK_TCK = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0


def proc_stat_cpu():
    """(busy, total, steal) CPU-seconds over all CPUs since boot, from /proc/stat; None where
    there is no /proc/stat (macOS)."""
    text = _read("/proc/stat")
    if not text or not text.startswith("cpu "):
        return None
    fields = [int(v) for v in text.splitlines()[0].split()[1:]]
    fields += [0] * (8 - len(fields))
    user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]
    busy = user + nice + system + irq + softirq  # guest time is already inside user
    return busy / CLK_TCK, (busy + idle + iowait + steal) / CLK_TCK, steal / CLK_TCK


def own_cpu_seconds():
    try:
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    except (ImportError, OSError):
        times = os.times()
        return times[0] + times[1]


class CpuWindow(object):
    """Other processes' CPU use, steal and our own CPU use over one timed block."""

    def __init__(self):
        self.t0, self.stat0, self.own0 = time.perf_counter(), proc_stat_cpu(), own_cpu_seconds()

    def close(self):
        wall = time.perf_counter() - self.t0
        own = own_cpu_seconds() - self.own0
        out = {"wall_s": round(wall, 4), "own_cores": round(own / wall, 3) if wall > 0 else None,
               "other_cores": None, "steal_pct": None, "resolution_cores": None}
        stat1 = proc_stat_cpu()
        if self.stat0 is not None and stat1 is not None and wall > 0:
            busy, total, steal = (b - a for a, b in zip(self.stat0, stat1))  # noqa: B905
            out["other_cores"] = round(max(0.0, busy - own) / wall, 3)
            out["steal_pct"] = round(100.0 * steal / total, 2) if total > 0 else 0.0
            # /proc/stat counts whole ticks per CPU: one tick each is the reading's resolution
            out["resolution_cores"] = round((os.cpu_count() or 1) / CLK_TCK / wall, 3)
        return out


def min_cpu_freq_mhz():
    """Lowest current clock over the CPUs that report one (cpufreq), None on VMs."""
    values = [_read_number(p, 1e-3) for p in
              glob.glob("/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_cur_freq")]
    values = [v for v in values if v]
    return round(min(values), 1) if values else None


def reset_peak_rss():
    """Reset VmHWM to the current RSS (Linux >= 4.0), so that each unit's peak is its own."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def set_affinity(spec):
    """``--pin 0,2-3``: run on these CPUs only (before any runtime creates its threads)."""
    cpus = set()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                a, b = part.split("-", 1)
                cpus.update(range(int(a), int(b) + 1))
            else:
                cpus.add(int(part))
        except ValueError:
            raise UsageError("--pin takes CPU numbers like 0,1 or 0-3, got %r" % spec) from None
    if not hasattr(os, "sched_setaffinity"):
        raise UsageError("--pin needs os.sched_setaffinity (Linux)")
    try:
        os.sched_setaffinity(0, cpus)
    except (OSError, ValueError) as exc:
        raise UsageError("cannot pin to CPUs %s: %s (this device has %s)"
                         % (sorted(cpus), exc, os.cpu_count())) from None


def affinity():
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


# ---------------------------------------------------------------- measure: one segment of a round
#
# A profile session (edge_vit/measurement/session.py) runs R rounds; each round runs every
# (artifact, runtime) unit once, in a shuffled order, and each *segment* of a round is one
# fresh process of this runner holding the units of one runtime. Per unit: load, first
# inference, warm-up, one timed block (a fixed number of iterations, or by time in the
# calibration round), unload. The host turns the raw times of all rounds into statistics.

UNIT_MARK = "edge-vit-runner: unit-"  # stderr lines the host reads when a segment crashes
UNIT_KEYS = ("artifact", "format", "runtime", "precision", "model_id", "sha256", "companions",
             "ov_device",
             "ov_precision", "ort_provider", "no_xnnpack", "input_shape", "input_layout",
             "batch", "timm_model", "timm_kwargs", "input")
UNIT_DEFAULTS = {"artifact": None, "format": None, "runtime": "auto", "precision": "fp32",
                 "model_id": None, "sha256": None, "companions": None, "ov_device": "CPU",
                 "ov_precision": "default", "ort_provider": "CPU", "no_xnnpack": False,
                 "input_shape": None, "input_layout": "auto", "batch": None,
                 "timm_model": None, "timm_kwargs": None, "input": "random"}
SETTING_DEFAULTS = {"threads": None, "warmup": 10, "warmup_seconds": 0.05,
                    "block_seconds": 0.1, "min_iterations": 10, "seed": 0, "ort_spin": True}


def read_plan(path):
    try:
        with open(path) as fh:
            plan = json.load(fh)
    except (OSError, ValueError) as exc:
        raise UsageError("cannot read the session plan %s: %s" % (path, exc)) from None
    if not isinstance(plan, dict) or not isinstance(plan.get("units"), list):
        raise UsageError("session plan %s has no 'units' list" % path)
    return plan


def parse_unit_list(text, count):
    """``3:120,0:0`` -> [(3, 120), (0, 0)]: unit index and timed iterations (0: by time)."""
    out = []
    for part in text.split(","):
        index, _, iters = part.strip().partition(":")
        try:
            pair = (int(index), int(iters or 0))
        except ValueError:
            raise UsageError("--units takes INDEX:ITERATIONS pairs, got %r" % text) from None
        if not 0 <= pair[0] < count or pair[1] < 0:
            raise UsageError("--units %r: index out of range 0..%d" % (text, count - 1))
        out.append(pair)
    return out


def unit_namespace(unit, settings):
    ns = argparse.Namespace(**dict((k, unit.get(k, UNIT_DEFAULTS[k])) for k in UNIT_KEYS))
    for k, v in SETTING_DEFAULTS.items():
        setattr(ns, k, settings.get(k, v))
    if isinstance(ns.timm_kwargs, dict):
        ns.timm_kwargs = json.dumps(ns.timm_kwargs)
    return ns


def timed_block(call, iterations, args):
    """``iterations`` timed calls, or (0) until block_seconds and min_iterations are met."""
    import gc

    perf = time.perf_counter
    times = []
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        start = perf()
        if iterations:
            for _ in range(iterations):
                t0 = perf()
                call()
                times.append((perf() - t0) * 1000.0)
        else:
            while True:
                t0 = perf()
                call()
                t1 = perf()
                times.append((t1 - t0) * 1000.0)
                if len(times) >= args.min_iterations and t1 - start >= args.block_seconds:
                    break
        return times
    finally:
        if gc_was_on:
            gc.enable()


def measure_unit(index, unit, iterations, settings, verify):
    """One unit's block in this round: a dict the host reads (status, times, facts)."""
    import gc

    args = unit_namespace(unit, settings)
    out = {"index": index, "id": unit.get("id"), "status": "ok", "error": None,
           "error_type": None, "hint": None, "started": _now()}
    sys.stderr.write("%sstart %d\n" % (UNIT_MARK, index))
    sys.stderr.flush()
    backend = None
    try:
        runtime = resolve_runtime(args.format, args.runtime)
        if verify:
            check_artifact(args)
        reset_peak_rss()
        baseline = rss_mb()
        t0 = time.perf_counter()
        backend = open_backend(args, runtime)
        load_seconds = time.perf_counter() - t0
        after_load = rss_mb()
        shape = resolve_shape(backend.shape, args)
        layout = guess_layout(shape, args.input_layout)
        x, desc = make_input(shape, layout, args)
        feed = backend.prepare(cast_input(x, backend.dtype, backend.quant))

        def call():
            backend.run(feed)

        try:
            t0 = time.perf_counter()
            call()
            first_ms = (time.perf_counter() - t0) * 1000.0
            warm, t_end = 0, time.perf_counter() + args.warmup_seconds
            while warm < args.warmup or time.perf_counter() < t_end:
                call()
                warm += 1
            window = CpuWindow()
            times = timed_block(call, iterations, args)
            cpu = window.close()
        except RunnerError:
            raise
        except Exception as exc:
            raise RunnerError("inference failed with %s: %s: %s"
                              % (runtime, type(exc).__name__, exc)) from None
        out.update(
            runtime=runtime, runtime_version=backend.version, device=backend.device,
            providers=list(backend.providers), threads=backend.threads,
            inference_precision=backend.precision, batch=shape[0], input=desc,
            options=dict(backend.options, input_shape=shape, input_layout=layout),
            notes=list(backend.notes), load_seconds=round(load_seconds, 4),
            first_inference_ms=_round(first_ms), warmup_iterations=warm,
            times_ms=[round(t, 5) for t in times], cpu=cpu, cpu_freq_mhz=min_cpu_freq_mhz(),
            temperature_c=temperature_c(),
            memory={"baseline_rss_mb": baseline, "after_load_rss_mb": after_load,
                    "peak_rss_mb": peak_rss_mb(),
                    "model_added_mb": round(after_load - baseline, 2)
                    if baseline is not None and after_load is not None else None})
    except RunnerError as exc:
        out.update(status="failed", error=str(exc)[:4000], error_type=exc.error_type,
                   hint=exc.hint)
    finally:
        backend = None  # unload before the next unit: one model in memory at a time
        gc.collect()
        out["finished"] = _now()
        sys.stderr.write("%send %d\n" % (UNIT_MARK, index))
        sys.stderr.flush()
    return out


def _unit_runtime(unit):
    """The unit's runtime, or the RunnerError that says why it has none."""
    if unit.get("format") not in FORMAT_RUNTIMES:
        return UsageError("unknown format %r (known: %s)"
                          % (unit.get("format"), ", ".join(sorted(FORMAT_RUNTIMES))))
    try:
        return resolve_runtime(unit["format"], unit.get("runtime") or "auto")
    except RunnerError as exc:
        return exc


def cmd_measure(args, partial):
    """One segment of a round: the listed units, in the listed order, each in a fresh load."""
    if args.pin:
        set_affinity(args.pin)
    plan = read_plan(args.plan)
    units = plan["units"]
    order = parse_unit_list(args.units, len(units))
    settings = dict(SETTING_DEFAULTS, **(plan.get("settings") or {}))
    chosen = dict((i, _unit_runtime(units[i])) for i, _ in order)
    runtimes = sorted(set(r for r in chosen.values() if not isinstance(r, RunnerError)))
    if "pytorch" in runtimes:  # OpenMP workers sleep instead of spinning between calls
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    partial.update(runner_version=RUNNER_VERSION, round=args.round, pid=os.getpid(),
                   units=[], affinity=affinity(), started=_now())
    t0 = time.perf_counter()
    try:
        import numpy  # noqa: F401
    except ImportError as exc:
        raise MissingRuntime("numpy cannot be imported: %s" % exc, "pip install numpy") from None
    missing = {}
    for name in runtimes:  # imported up front: every unit's memory baseline holds them all
        try:
            import_runtime(name)
        except MissingRuntime as exc:
            missing[name] = exc
    partial["import_seconds"] = round(time.perf_counter() - t0, 3)
    with device_lock(args.lock, args.lock_timeout) as waited:
        if waited is not None:
            partial.update(lock=args.lock, lock_wait_seconds=round(waited, 3))
        partial["environment"] = collect_environment() if args.environment else {
            "load_avg": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg")
            else [], "temperature_c": temperature_c(), "cpu_freq_mhz": cpu_freq_mhz()}
        partial["environment"]["affinity"] = partial["affinity"]
        throttle_before = vcgencmd_throttled()
        for index, iterations in order:
            unit, runtime = units[index], chosen[index]
            exc = runtime if isinstance(runtime, RunnerError) else missing.get(runtime)
            if exc is not None:
                partial["units"].append({"index": index, "id": unit.get("id"),
                                         "status": "failed", "error": str(exc),
                                         "error_type": exc.error_type, "hint": exc.hint})
                continue
            partial["units"].append(measure_unit(index, unit, iterations, settings,
                                                 args.verify))
        throttled, detail = throttle_verdict(throttle_before, vcgencmd_throttled())
        partial.update(throttled=throttled, throttle_detail=detail, finished=_now())
    partial["status"] = "ok"
    return partial


def probe_runtime(name):
    """Import one runtime and list what it can run on (called in a child process)."""
    mod = import_runtime(name)
    details = {}
    if name == "onnxruntime":
        details["providers"] = mod.get_available_providers()
    elif name == "openvino":
        core = mod.Core() if hasattr(mod, "Core") else __import__("openvino.runtime").runtime.Core()
        details["devices"] = {}
        for dev in core.available_devices:
            try:
                details["devices"][dev] = {
                    "name": core.get_property(dev, "FULL_DEVICE_NAME"),
                    "capabilities": list(core.get_property(dev, "OPTIMIZATION_CAPABILITIES"))}
            except Exception as exc:
                details["devices"][dev] = {"error": str(exc)}
    elif name == "pytorch":
        details["cuda"] = bool(mod.cuda.is_available())
        details["threads"] = mod.get_num_threads()
        try:
            import timm

            details["timm"] = timm.__version__
        except ImportError:
            details["timm"] = None
    build = getattr(mod, "__version__", None)
    version = runtime_versions()[name] or build or "unknown"
    if build and build != version:  # e.g. 2.4.1+cu124: the dist version is what hosts compare
        details["build"] = build
    return {"version": version, "details": details}


def cmd_probe(args):
    """Each runtime is imported in its own child process: a runtime that crashes or hangs on
    import (it happens on boards) cannot take the probe down with it."""
    versions = runtime_versions()
    runtimes, details, hints = {}, {}, {}
    for name, version in versions.items():
        if version is None:
            runtimes[name] = None
            hints[name] = INSTALL_HINTS[name]
            continue
        argv = [sys.executable, os.path.abspath(__file__), "probe-runtime", name]
        try:
            done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  timeout=args.timeout, universal_newlines=True)
            child = json.loads(done.stdout or "{}")
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            child = {"error": "probe failed: %s" % exc}
        if "version" in child:
            runtimes[name] = child["version"]
            details[name] = child.get("details", {})
        else:
            runtimes[name] = None
            details[name] = {"error": child.get("error") or "import crashed"}
            hints[name] = INSTALL_HINTS[name]
    env = collect_environment()
    env["runtimes"] = dict((k, v) for k, v in runtimes.items() if v)
    return {"environment": env, "runtimes": runtimes, "runtime_details": details,
            "install_hints": hints, "runner_version": RUNNER_VERSION}


# ---------------------------------------------------------------- trtexec (TensorRT, Jetson)
#
# ``trtexec`` builds a TensorRT engine from the ONNX file on the device and times it; tegrastats
# samples board power meanwhile. The runner only runs the tools and returns their raw text
# (with arrival times of the lines); the host parses it with ``devices.parsers``. Flags are the
# ones TensorRT 8.2 to 10.x share: ``--onnx= --saveEngine= [--fp16|--int8] --warmUp=<ms>
# --duration=<s> --iterations=<n>``. trtexec's default summary already prints the 90/95/99th
# percentiles from 8.4 on (see shared/data/jetson/trtexec/), and ``--percentile`` took a single
# value before that, so it is not passed; ``--avgRuns`` only changes the "Average on N runs"
# trace lines (not the summary) and would multiply the output, so it is left at its default.

TRTEXEC_JETPACK = "/usr/src/tensorrt/bin/trtexec"  # JetPack installs it here, not on PATH
TEGRASTATS_JETPACK = "/usr/bin/tegrastats"
TRT_PRECISION_FLAGS = {"fp32": [], "fp16": ["--fp16"], "int8": ["--int8"]}
TRT_OUTPUT_HEAD = 64 * 1024  # characters kept from the start (build options, device)
TRT_OUTPUT_TAIL = 2 * 1024 * 1024  # and from the end (the performance summary)
TEGRASTATS_MAX_LINES = 50000
TRT_INFERENCE_START = "Starting inference"
TRT_INFERENCE_END = ("Warmup completed", "Timing trace has", "=== Trace details ===",
                     "=== Performance summary ===", "Average on ", "Throughput: ")


class _CappedText(object):
    """The first ``head`` and the last ``tail`` characters of a stream of lines."""

    def __init__(self, head=TRT_OUTPUT_HEAD, tail=TRT_OUTPUT_TAIL):
        self.head_limit, self.tail_limit = head, tail
        self.head, self.head_len = [], 0
        self.tail, self.tail_len = collections.deque(), 0
        self.dropped = 0

    def add(self, line):
        if self.head_len < self.head_limit:
            self.head.append(line)
            self.head_len += len(line)
            return
        self.tail.append(line)
        self.tail_len += len(line)
        while self.tail_len > self.tail_limit and len(self.tail) > 1:
            old = self.tail.popleft()
            self.tail_len -= len(old)
            self.dropped += len(old)

    def text(self):
        middle = (["[edge-vit runner: %d characters of output dropped here]\n" % self.dropped]
                  if self.dropped else [])
        return "".join(self.head + middle + list(self.tail))


class _LineCollector(threading.Thread):
    """Reads a child's stdout line by line, noting when each line arrived (seconds since
    ``t0``, monotonic): tegrastats lines carry no usable clock of their own."""

    def __init__(self, stream, t0, max_lines=TEGRASTATS_MAX_LINES):
        threading.Thread.__init__(self)
        self.daemon = True
        self.stream, self.t0 = stream, t0
        self.lines = collections.deque(maxlen=max_lines)

    def run(self):
        try:
            for line in iter(self.stream.readline, ""):
                if line.strip():
                    self.lines.append((round(time.monotonic() - self.t0, 3), line.rstrip("\n")))
        except (OSError, ValueError):  # the pipe closed under us while stopping
            pass


def find_tool(explicit, name, fallback=None):
    """An executable: ``explicit`` when given (None if it is not one), else ``name`` on PATH,
    else ``fallback``."""
    def runnable(path):
        return bool(path) and os.path.isfile(path) and os.access(path, os.X_OK)

    if explicit:
        return explicit if runnable(explicit) else None
    found = shutil.which(name)
    if found:
        return found
    return fallback if runnable(fallback) else None


def _tool_text(argv, timeout=TOOL_TIMEOUT_S):
    """stdout+stderr of a tool even when it exits non-zero (``nvpmodel -q`` without sudo
    prints the mode, then errors); None when it is absent, hangs or prints nothing."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=timeout,
                              universal_newlines=True)
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("%s failed: %s", argv[0], exc)
        return None
    return done.stdout.strip() or None


def jetson_board_facts(env):
    """nvpmodel / jetson_clocks output for the environment's board facts, also where the
    board is not recognised as a Jetson (a container without /etc/nv_tegra_release)."""
    board = env.setdefault("board", {})
    for key, argv in (("nvpmodel", ["nvpmodel", "-q"]), ("jetson_clocks", ["jetson_clocks",
                                                                            "--show"])):
        if board.get(key) is None:
            text = _tool_text(argv)
            if text is not None:
                board[key] = text
    return env


def _stop(proc, grace=3.0):
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.terminate()
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    except OSError:
        pass


def trtexec_error(output, returncode):
    """A short reason from trtexec's own error lines."""
    errors = [line.strip() for line in output.splitlines()
              if re.search(r"\[[EF]\]|Error\[|&&&& FAILED", line)]
    tail = "; ".join(errors[-4:]) or output.strip()[-400:] or "no output"
    return "trtexec exited %s: %s" % (returncode, tail[:2000])


def cmd_trtexec(args):
    """Build and time a TensorRT engine with trtexec while tegrastats samples power."""
    trtexec = find_tool(args.trtexec, "trtexec", TRTEXEC_JETPACK)
    tegrastats = find_tool(args.tegrastats, "tegrastats", TEGRASTATS_JETPACK)
    hint = ("JetPack ships trtexec at %s (apt package libnvinfer-bin / tensorrt): put it on "
            "PATH or pass --trtexec PATH" % TRTEXEC_JETPACK)
    if args.which:
        return {"trtexec": trtexec, "tegrastats": tegrastats, "runner_version": RUNNER_VERSION,
                "hint": None if trtexec else hint}
    if trtexec is None:
        where = ("--trtexec %s is not an executable file" % args.trtexec if args.trtexec
                 else "trtexec is not on PATH and not at %s" % TRTEXEC_JETPACK)
        raise MissingRuntime(where, hint)
    if not args.onnx:
        raise UsageError("trtexec needs --onnx PATH (or --which)")
    if not os.path.isfile(args.onnx) or not os.access(args.onnx, os.R_OK):
        raise ArtifactError("ONNX file %s does not exist or is not readable" % args.onnx)
    if args.sha256 and sha256_file(args.onnx).lower() != args.sha256.lower():
        raise ArtifactError("ONNX file %s does not have the expected sha256 %s (a broken copy?)"
                            % (args.onnx, args.sha256))
    engine = args.engine or "%s.%s.engine" % (os.path.splitext(args.onnx)[0], args.precision)
    if os.path.dirname(engine):
        os.makedirs(os.path.dirname(engine), exist_ok=True)
    reused = bool(args.reuse_engine and os.path.isfile(engine))
    if reused:  # a later round of a session: time the engine built in round 0
        argv = [trtexec, "--loadEngine=%s" % engine]
    else:
        argv = [trtexec, "--onnx=%s" % args.onnx, "--saveEngine=%s" % engine]
        argv += TRT_PRECISION_FLAGS[args.precision]
    if args.shapes:
        argv.append("--shapes=%s" % args.shapes)
    argv += ["--warmUp=%d" % args.warmup_ms, "--duration=%d" % args.duration_s,
             "--iterations=%d" % args.iterations]
    notes = []
    if tegrastats is None:
        notes.append("tegrastats not found (PATH, %s): no power figures" % TEGRASTATS_JETPACK)
    payload = {"status": "ok", "error": None, "returncode": None, "timed_out": False,
               "precision": args.precision, "engine": engine, "trtexec_path": trtexec,
               "trtexec_argv": argv, "trtexec_output": "", "tegrastats_path": tegrastats,
               "tegrastats_argv": None, "tegrastats_output": "", "tegrastats_times": [],
               "engine_reused": reused,
               "marks": {}, "seconds": None, "environment": None, "started": None,
               "finished": None, "notes": notes, "runner_version": RUNNER_VERSION}
    with device_lock(args.lock, args.lock_timeout) as waited:
        if waited is not None:
            payload.update(lock=args.lock, lock_wait_seconds=round(waited, 3))
        payload["environment"] = jetson_board_facts(collect_environment())
        payload["started"] = _now()
        t0 = time.monotonic()
        run_trtexec(args, argv, tegrastats, t0, payload)
        payload["finished"] = _now()
        payload["seconds"] = round(time.monotonic() - t0, 3)
    return payload


def run_trtexec(args, argv, tegrastats, t0, payload):
    """trtexec in the foreground (same process group: a host-side ``timeout`` kills it too),
    tegrastats in the background; both are stopped whatever happens."""
    stats = collector = proc = None
    marks = payload["marks"]
    output = _CappedText()
    timer = None
    try:
        if tegrastats:
            payload["tegrastats_argv"] = [tegrastats, "--interval", str(args.tegrastats_interval_ms)]
            try:
                stats = subprocess.Popen(payload["tegrastats_argv"], stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                         universal_newlines=True, encoding="utf-8",
                                         errors="replace")
                collector = _LineCollector(stats.stdout, t0)
                collector.start()
            except OSError as exc:
                payload["notes"].append("tegrastats could not start: %s" % exc)
                stats = None
        marks["trtexec_started"] = round(time.monotonic() - t0, 3)
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, universal_newlines=True,
                                    encoding="utf-8", errors="replace")
        except OSError as exc:
            raise MissingRuntime("cannot start %s: %s" % (argv[0], exc)) from None
        expired = []

        def kill():
            expired.append(True)
            with contextlib.suppress(OSError):
                proc.kill()

        timer = threading.Timer(args.timeout, kill)
        timer.daemon = True
        timer.start()
        for line in iter(proc.stdout.readline, ""):
            output.add(line)
            now = round(time.monotonic() - t0, 3)
            if TRT_INFERENCE_START in line and "inference_started" not in marks:
                marks["inference_started"] = now
            elif "inference_finished" not in marks and "inference_started" in marks \
                    and any(m in line for m in TRT_INFERENCE_END):
                marks["inference_finished"] = now
            elif "inference_finished" not in marks and "=== Performance summary ===" in line:
                marks["inference_finished"] = now  # a log without "Starting inference"
        payload["returncode"] = proc.wait()
        marks["trtexec_finished"] = round(time.monotonic() - t0, 3)
        timer.cancel()
        text = output.text()
        payload["trtexec_output"] = text
        if expired:
            payload.update(status="failed", timed_out=True,
                           error="trtexec did not finish within --timeout %g s (killed)"
                           % args.timeout)
        elif payload["returncode"] != 0:
            payload.update(status="failed", error=trtexec_error(text, payload["returncode"]))
    finally:
        if timer is not None:
            timer.cancel()
        _stop(proc, grace=1.0)
        _stop(stats)
        if collector is not None:
            collector.join(timeout=3.0)
            lines = list(collector.lines)
            payload["tegrastats_times"] = [t for t, _ in lines]
            payload["tegrastats_output"] = "\n".join(line for _, line in lines)
        if proc is not None and not payload["trtexec_output"]:
            payload["trtexec_output"] = output.text()  # interrupted: what it printed so far


# ---------------------------------------------------------------- CLI

class _Parser(argparse.ArgumentParser):
    def error(self, message):  # JSON error and exit 2 instead of argparse's usage text
        raise UsageError("%s: %s" % (self.prog, message))


def _at_least(kind, low, inclusive=False):
    def check(text):
        value = kind(text)
        if value < low or (value == low and not inclusive):
            raise argparse.ArgumentTypeError("must be %s %s, got %s"
                                             % (">=" if inclusive else ">", low, text))
        return value
    return check


def build_parser():
    parser = _Parser(prog="runner.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = parser.add_subparsers(dest="command",
                                metavar="{probe,versions,profile,measure,trtexec}")
    sub.required = True
    probe = sub.add_parser("probe", help="environment and importable runtimes")
    probe.add_argument("--timeout", type=float, default=120.0, help="per-runtime import limit")
    sub.add_parser("versions", help="runtime versions (no imports)")
    one = sub.add_parser("probe-runtime", help=argparse.SUPPRESS)
    one.add_argument("name", choices=sorted(RUNTIMES))

    p = sub.add_parser("profile", help="time one artifact")
    p.add_argument("--artifact", help="model file (.onnx, .xml, .tflite)")
    p.add_argument("--format", required=True, choices=sorted(FORMAT_RUNTIMES))
    p.add_argument("--runtime", default="auto", choices=["auto"] + sorted(RUNTIMES.keys()
                                                                          - {"tensorrt"}))
    p.add_argument("--precision", default="fp32", help="the artifact's precision label")
    p.add_argument("--model-id")
    p.add_argument("--sha256", help="expected sha256 of the artifact file (checked)")
    p.add_argument("--threads", type=_at_least(int, 0))
    p.add_argument("--batch", type=_at_least(int, 0), help="default: the model's, else 1")
    p.add_argument("--input-shape", help="e.g. 1,3,224,224 where the model's is dynamic")
    p.add_argument("--input-layout", default="auto", choices=["auto", "NCHW", "NHWC"])
    p.add_argument("--warmup", type=_at_least(int, 0, inclusive=True), default=10)
    p.add_argument("--min-iterations", type=_at_least(int, 0), default=50)
    p.add_argument("--min-seconds", type=_at_least(float, 0, inclusive=True), default=5.0)
    p.add_argument("--max-seconds", type=_at_least(float, 0), default=120.0)
    p.add_argument("--input", default="random", help="'random' or an NCHW float32 .npy file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ov-device", default="CPU")
    p.add_argument("--ov-precision", default="default", choices=["default", "f32", "bf16", "f16"])
    p.add_argument("--ort-provider", default="CPU", choices=sorted(ORT_PROVIDERS))
    p.add_argument("--no-xnnpack", action="store_true", help="LiteRT without its XNNPACK delegate")
    p.add_argument("--lock", help="file to flock so that profiles on one device never overlap")
    p.add_argument("--lock-timeout", type=float, default=600.0)
    p.add_argument("--pin", help="CPU affinity, e.g. 0,1 or 2-3")
    p.add_argument("--no-ort-spin", dest="ort_spin", action="store_false",
                   help="onnxruntime's idle worker threads sleep instead of spin-waiting")
    p.add_argument("--timm-model", help="--format pytorch: timm model name (random init)")
    p.add_argument("--timm-kwargs", help='--format pytorch: JSON, e.g. {"img_size": 32}')

    m = sub.add_parser("measure", help="one segment of a profile session's round: the "
                                       "listed units of a plan, each loaded, warmed up, "
                                       "timed for one block and unloaded")
    m.add_argument("--plan", required=True, help="session plan JSON (units and settings)")
    m.add_argument("--units", required=True,
                   help="INDEX:ITERATIONS,... in order (ITERATIONS 0: time the block)")
    m.add_argument("--round", type=int, default=0)
    m.add_argument("--verify", action="store_true", help="check each artifact's sha256")
    m.add_argument("--environment", action="store_true", help="full environment facts")
    m.add_argument("--pin", help="CPU affinity, e.g. 0,1 or 2-3")
    m.add_argument("--lock", help="file to flock so that profiles on one device never overlap")
    m.add_argument("--lock-timeout", type=float, default=600.0)

    t = sub.add_parser("trtexec", help="build and time a TensorRT engine with trtexec "
                                       "(tegrastats samples power meanwhile)")
    t.add_argument("--onnx", help="the ONNX model to build the engine from")
    t.add_argument("--precision", default="fp32", choices=sorted(TRT_PRECISION_FLAGS))
    t.add_argument("--engine", help="where to save the engine (default: beside the ONNX)")
    t.add_argument("--sha256", help="expected sha256 of the ONNX file (checked)")
    t.add_argument("--shapes", help="trtexec --shapes for dynamic inputs, e.g. input:1x3x224x224")
    t.add_argument("--trtexec", help="trtexec executable (default: PATH, then %s)"
                   % TRTEXEC_JETPACK)
    t.add_argument("--tegrastats", help="tegrastats executable (default: PATH, then %s)"
                   % TEGRASTATS_JETPACK)
    t.add_argument("--warmup-ms", type=_at_least(int, 0, inclusive=True), default=200)
    t.add_argument("--duration-s", type=_at_least(int, 0), default=3,
                   help="trtexec --duration: time at least this long")
    t.add_argument("--iterations", type=_at_least(int, 0), default=10,
                   help="trtexec --iterations: and at least this many queries")
    t.add_argument("--tegrastats-interval-ms", type=_at_least(int, 0), default=100)
    t.add_argument("--timeout", type=_at_least(float, 0), default=1800.0,
                   help="kill trtexec after this many seconds (engine build included)")
    t.add_argument("--lock", help="file to flock so that profiles on one device never overlap")
    t.add_argument("--lock-timeout", type=float, default=600.0)
    t.add_argument("--reuse-engine", action="store_true",
                   help="load --engine when it exists instead of building it again")
    t.add_argument("--which", action="store_true",
                   help="only say where trtexec and tegrastats are")
    return parser


def _claim_stdout():
    """Point fd 1 (and sys.stdout) at stderr so that runtimes printing from C cannot corrupt
    the JSON; return a file on the real stdout for the one result."""
    sys.stdout.flush()
    real = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return real


def _on_signal(signum, _frame):
    raise Interrupted("interrupted by signal %d" % signum, 128 + signum)


def main(argv=None):
    args, early = None, None
    try:
        args = build_parser().parse_args(argv)  # --help still prints to the real stdout
    except UsageError as exc:
        early = exc
    out = _claim_stdout()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="runner: %(message)s")
    partial = {}
    try:
        if early is not None:
            raise early
        signal.signal(signal.SIGTERM, _on_signal)
        if args.verbose:
            log.setLevel(logging.DEBUG)
        code = 0
        if args.command == "profile":
            payload = cmd_profile(args, partial)
        elif args.command == "measure":
            payload = cmd_measure(args, partial)
        elif args.command == "trtexec":
            payload = cmd_trtexec(args)
            code = 0 if payload.get("status", "ok") == "ok" else EXIT_FAILED
        elif args.command == "probe":
            payload = cmd_probe(args)
        elif args.command == "probe-runtime":
            payload = probe_runtime(args.name)
        else:
            payload = {"runner_version": RUNNER_VERSION, "runtimes": runtime_versions()}
    except (KeyboardInterrupt, Interrupted, Exception) as exc:
        if isinstance(exc, KeyboardInterrupt):
            exc = Interrupted("interrupted", 130)
        elif not isinstance(exc, (RunnerError, Interrupted)):
            log.exception("unexpected failure")
        code = getattr(exc, "exit_code", EXIT_FAILED)
        message = str(exc) or type(exc).__name__
        partial.update(status="failed", error=message[:4000])  # runtimes may echo the file
        if partial.get("started") and not partial.get("finished"):
            partial["finished"] = _now()
        if "artifact" in partial:
            payload = profile_result(partial)
        elif "units" in partial:  # measure: the units that finished are kept
            payload = partial
        else:
            payload = {"status": "failed", "error": partial["error"]}
        payload.update(error_type=getattr(exc, "error_type", type(exc).__name__),
                       exit_code=code, hint=getattr(exc, "hint", None))
        log.error("%s: %s", payload["error_type"], payload["error"])
    out.write(json.dumps(payload, default=str) + "\n")
    out.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
