"""The runner's command line: one JSON object on the real stdout, whatever happens."""

import argparse
import json
import logging
import os
import signal
import sys

from . import backends
from .core import EXIT_FAILED, RUNNER_VERSION, Interrupted, RunnerError, UsageError, _now, log
from .layers import cmd_layers
from .measure import cmd_measure
from .predict import cmd_predict
from .probe import cmd_probe, probe_runtime
from .profile import cmd_profile, profile_result
from .trtexec import TEGRASTATS_JETPACK, TRT_PRECISION_FLAGS, TRTEXEC_JETPACK, cmd_trtexec

DESCRIPTION = "edge-vit on-device runner: probe a device and time model artifacts on it."


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
    parser = _Parser(prog="edge_vit_runner", description=DESCRIPTION)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = parser.add_subparsers(dest="command",
                                metavar="{probe,versions,profile,measure,layers,predict,"
                                        "trtexec}")
    sub.required = True
    probe = sub.add_parser("probe", help="environment and importable runtimes")
    probe.add_argument("--timeout", type=float, default=120.0, help="per-runtime import limit")
    sub.add_parser("versions", help="runtime versions (no imports)")
    one = sub.add_parser("probe-runtime", help=argparse.SUPPRESS)
    one.add_argument("name", choices=backends.names())

    p = sub.add_parser("profile", help="time one artifact")
    p.add_argument("--artifact", help="model file (.onnx, .xml, .tflite)")
    p.add_argument("--format", required=True, choices=sorted(backends.format_runtimes()))
    p.add_argument("--runtime", default="auto", choices=["auto"] + sorted(
        set(r for rts in backends.format_runtimes().values() for r in rts)))
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
    p.add_argument("--ort-provider", default="CPU", choices=sorted(backends.load("onnxruntime").ORT_PROVIDERS))
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

    lay = sub.add_parser("layers", help="per-op times of the listed units of a plan, each "
                                        "loaded with its runtime's op profiler on")
    lay.add_argument("--plan", required=True, help="session plan JSON (units and settings)")
    lay.add_argument("--units", required=True,
                     help="INDEX:ITERATIONS,... in order (ITERATIONS 0: --iterations)")
    lay.add_argument("--iterations", type=_at_least(int, 0), default=30,
                     help="profiled runs per unit after its warm-up")
    lay.add_argument("--round", type=int, default=0)
    lay.add_argument("--environment", action="store_true", help="full environment facts")
    lay.add_argument("--pin", help="CPU affinity, e.g. 0,1 or 2-3")
    lay.add_argument("--lock", help="file to flock so that profiles on one device never overlap")
    lay.add_argument("--lock-timeout", type=float, default=600.0)

    pr = sub.add_parser("predict", help="logits of an artifact for preprocessed images "
                                         "(an NCHW float32 .npy), saved as .npy")
    pr.add_argument("--artifact", required=True, help="model file (.onnx, .xml, .tflite)")
    pr.add_argument("--format", required=True, choices=sorted(backends.format_runtimes()))
    pr.add_argument("--runtime", default="auto", choices=["auto"] + sorted(
        set(r for rts in backends.format_runtimes().values() for r in rts)))
    pr.add_argument("--precision", default="fp32", help="the artifact's precision label")
    pr.add_argument("--sha256", help="expected sha256 of the artifact file (checked)")
    pr.add_argument("--input", required=True, help="NCHW float32 images (.npy)")
    pr.add_argument("--output", required=True, help="where to save the logits (.npy)")
    pr.add_argument("--batch", type=_at_least(int, 0), default=32,
                    help="images per call where the model's batch is dynamic")
    pr.add_argument("--input-layout", default="auto", choices=["auto", "NCHW", "NHWC"])
    pr.add_argument("--threads", type=_at_least(int, 0))
    pr.add_argument("--ov-device", default="CPU")
    pr.add_argument("--ov-precision", default="default",
                    choices=["default", "f32", "bf16", "f16"])
    pr.add_argument("--ort-provider", default="CPU",
                    choices=sorted(backends.load("onnxruntime").ORT_PROVIDERS))
    pr.add_argument("--no-xnnpack", action="store_true", help="LiteRT without XNNPACK")

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
    t.add_argument("--layer-profile", help="also time each layer (--dumpProfile, "
                   "--separateProfileRun) and write trtexec's --exportProfile JSON here")
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
        elif args.command == "layers":
            payload = cmd_layers(args, partial)
        elif args.command == "predict":
            payload = cmd_predict(args, partial)
        elif args.command == "trtexec":
            payload = cmd_trtexec(args)
            code = 0 if payload.get("status", "ok") == "ok" else EXIT_FAILED
        elif args.command == "probe":
            payload = cmd_probe(args)
        elif args.command == "probe-runtime":
            payload = probe_runtime(args.name)
        else:
            payload = {"runner_version": RUNNER_VERSION, "runtimes": backends.runtime_versions()}
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
