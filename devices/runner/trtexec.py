"""The TensorRT strategy (Jetsons only): trtexec builds and times an engine while tegrastats
samples board power."""

import collections
import contextlib
import json
import os
import re
import subprocess
import threading
import time

from .core import (
    RUNNER_VERSION,
    ArtifactError,
    MissingRuntime,
    UsageError,
    _now,
    _run_tool,
    device_lock,
    find_tool,
    sha256_file,
)
from .system import collect_environment

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


class _CappedText:
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



def jetson_board_facts(env):
    """nvpmodel / jetson_clocks output for the environment's board facts, also where the
    board is not recognised as a Jetson (a container without /etc/nv_tegra_release)."""
    board = env.setdefault("board", {})
    for key, argv in (("nvpmodel", ["nvpmodel", "-q"]), ("jetson_clocks", ["jetson_clocks",
                                                                            "--show"])):
        if board.get(key) is None:
            text = _run_tool(argv, any_exit=True)
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
    if args.layer_profile:  # per-layer times, in a run of their own (profiling slows it)
        argv += ["--dumpProfile", "--separateProfileRun", "--exportProfile=%s" % args.layer_profile]
        with contextlib.suppress(OSError):
            os.remove(args.layer_profile)  # never read an earlier round's
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
    if args.layer_profile and payload["status"] == "ok":
        payload["layer_profile"] = read_layer_profile(args.layer_profile,
                                                      payload["trtexec_output"])
    return payload


NUMBER = r"([0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)"
EXPORT_ENTRY = re.compile(r'\{\s*"name"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"timeMs"\s*:\s*%s\s*,'
                          r'\s*"averageMs"\s*:\s*%s\s*(?:,\s*"medianMs"\s*:\s*%s\s*)?,'
                          r'\s*"percentage"\s*:\s*%s\s*\}' % ((NUMBER,) * 4))
LOG_PREFIX = re.compile(r"^\[[^\]]*\]\s*\[[A-Z]\]\s?")
NAME_FIRST = re.compile(r"^\s*(.+?)\s+%s\s+%s\s+(?:%s\s+)?%s\s*$" % ((NUMBER,) * 4))
NAME_LAST = re.compile(r"^\s*%s\s+%s\s+(?:%s\s+)?%s\s+(.+?)\s*$" % ((NUMBER,) * 4))


def _layer(name, total, average, median):
    return {"name": name, "type": None, "exec": "tensorrt",
            "ms": float(median if median is not None else average),
            "total_ms": float(total), "average_ms": float(average)}


def parse_export_profile(text):
    """``--exportProfile`` JSON: ``[{"count": N}, {"name", "timeMs", "averageMs", "medianMs"
    (8.4+), "percentage"}, ...]``; a fragment of one (entries only) is read entry by entry."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, list):
        count = next((d.get("count") for d in data if isinstance(d, dict) and "count" in d), None)
        layers = [_layer(d["name"], d.get("timeMs", 0.0), d["averageMs"], d.get("medianMs"))
                  for d in data if isinstance(d, dict) and "name" in d and "averageMs" in d]
        return {"count": count, "layers": layers, "source": "exportProfile"}
    layers = [_layer(json.loads('"%s"' % m.group(1)), m.group(2), m.group(3), m.group(4))
              for m in EXPORT_ENTRY.finditer(text)]
    return {"count": None, "layers": layers, "source": "exportProfile"}


def parse_profile_table(text):
    """The ``=== Profile (N iterations ) ===`` table ``--dumpProfile`` prints: 8.x puts the
    layer name first, 10.x last (its header starts with ``Time(ms)``)."""
    count, layers, name_last, inside = None, [], False, False
    for raw in text.splitlines():
        line = LOG_PREFIX.sub("", raw)
        m = re.search(r"=== Profile \((\d+) iterations \) ===", line)
        if m:
            count, layers, inside = int(m.group(1)), [], True
            continue
        if not inside or not line.strip() or line.strip().strip(".") == "":
            continue
        if "Layer" in line and ("Time" in line or "Avg" in line):
            name_last = line.strip().startswith("Time")
            continue
        m = (NAME_LAST if name_last else NAME_FIRST).match(line)
        if m is None:
            if line.strip().startswith("==="):
                break
            continue
        g = m.groups()
        name, nums = (g[4], g[:4]) if name_last else (g[0], g[1:])
        if name.strip() == "Total":
            continue
        layers.append(_layer(name, nums[0], nums[1], nums[2]))
    return {"count": count, "layers": layers, "source": "dumpProfile"}


def read_layer_profile(path, output):
    """The export file when trtexec wrote one, else the table it printed."""
    try:
        with open(path, encoding="utf-8") as fh:
            found = parse_export_profile(fh.read())
        if found["layers"]:
            return found
    except (OSError, ValueError, TypeError):  # unreadable export: the printed table instead
        pass
    return parse_profile_table(output)


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

