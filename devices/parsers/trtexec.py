"""Parse ``trtexec`` output (TensorRT 8.5 to 10.x) into a :class:`TrtexecResult`.

Recordings: ``shared/data/jetson/trtexec/`` (origins in ``shared/data/jetson/SOURCES.md``).
What they show:

* Every line is ``[MM/DD/YYYY-HH:MM:SS] [I|W|E|V] [TRT] text``; the run is framed by
  ``&&&& RUNNING|PASSED|FAILED TensorRT.trtexec [TensorRT vNNNN] [bNN] # <command line>``.
  Summary-only captures (8.5.2 Orin Nano, 10.0, 10.10 Windows ``trtexec.exe``) start at
  ``=== Performance summary ===``; the 8.5 Orin tail has no ``&&&&`` line at all, so
  ``passed`` is ``None`` there.
* The summary lines are the same from 8.5 to 10.10: ``Throughput: X qps``, then
  ``Latency``, ``Enqueue Time``, ``H2D Latency``, ``GPU Compute Time``, ``D2H Latency`` each as
  ``min = .. ms, max = .., mean = .., median = .., percentile(90%) = .., percentile(95%) = ..,
  percentile(99%) = ..``, then ``Total Host Walltime: X s`` and ``Total GPU Compute Time: X s``.
  Percentiles are read generically (``--percentile`` changes which ones are printed).
* The version code is ``major*1000 + minor*100 + patch`` up to TensorRT 8 (``v8502`` = 8.5.2)
  and ``major*10000 + minor*100 + patch`` from 10 (``v100900`` = 10.9.0, ``v101000`` = 10.10.0,
  ``v100001`` = 10.0.1; SOURCES.md writes that one as "10.0.0.1"). A full log also prints
  ``TensorRT version: 10.9.0``, which wins.
* Only the full 10.9 log has the ``=== Build Options ===`` block (``Precision: FP32``), the
  device (``Selected Device: NVIDIA GeForce RTX 3070``), the build time (``Engine built in
  104.774 sec.``) and the query count (``Timing trace has 29 queries over 3.34555 s``).

trtexec's ``Latency`` is the end-to-end host latency of one query: H2D copy + GPU compute + D2H
copy. ``GPU Compute Time`` is the kernel time alone. Both are kept; ``latency`` (edge-vit's
``LatencyStats``) is built from the end-to-end figures, which is what a user of the engine waits.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from devices.parsers import ParseError, require_text
from edge_vit.results import LatencyStats

TOOL = "trtexec"

_FRAME = re.compile(
    r"^&&&& (RUNNING|PASSED|FAILED) TensorRT\.trtexec \[TensorRT v(\d+)\](?: \[b(\d+)\])?"
    r"(?: # (.*))?$",
    re.M,
)
_TAG = re.compile(r"^(?:\[\d\d/\d\d/\d{4}-\d\d:\d\d:\d\d\] )?\[([IWEVF])\] ?(?:\[TRT\] ?)?")
_STAT = re.compile(r"\b(min|max|mean|median) = ([-\d.eE+]+) ms")
_PCT = re.compile(r"\bpercentile\(([\d.]+)%\) = ([-\d.eE+]+) ms")
# summary line name -> TrtexecResult field
_SUMMARY = {
    "Latency": "host_latency",
    "End-to-End Host Latency": "end_to_end_host_latency",  # TensorRT 8.2-8.4 only
    "Enqueue Time": "enqueue_time",
    "H2D Latency": "h2d_latency",
    "GPU Compute Time": "gpu_compute_time",
    "D2H Latency": "d2h_latency",
}
_PRECISION_FLAGS = ("best", "int8", "fp8", "int4", "fp16", "bf16", "noTF32", "stronglyTyped")


@dataclass
class TimingStats:
    """One summary line, in milliseconds. ``percentiles`` maps ``"p90"`` (etc.) to ms."""

    min: float
    max: float
    mean: float
    median: float
    percentiles: dict[str, float] = field(default_factory=dict)


@dataclass
class TrtexecResult:
    passed: bool | None  # None: neither PASSED nor FAILED printed (fragment, or killed)
    tensorrt_version: str | None = None  # "8.5.2", "10.9.0"
    version_code: int | None = None  # as printed after "TensorRT v"
    build_number: int | None = None  # "[b34]"
    command: str | None = None  # the trtexec command line echoed in the &&&& lines
    precision: str | None = None  # "fp16", "int8+fp16", "best", "fp32" (see _precision)
    device: str | None = None  # "Selected Device:"
    build_seconds: float | None = None  # "Engine built in X sec."
    deserialize_seconds: float | None = None
    queries: int | None = None  # "Timing trace has N queries over X s"
    throughput_qps: float | None = None
    host_latency: TimingStats | None = None  # end to end: H2D + compute + D2H
    end_to_end_host_latency: TimingStats | None = None
    enqueue_time: TimingStats | None = None
    h2d_latency: TimingStats | None = None
    gpu_compute_time: TimingStats | None = None  # kernels only
    d2h_latency: TimingStats | None = None
    total_host_walltime_s: float | None = None
    total_gpu_compute_s: float | None = None
    gpu_compute_cov_percent: float | None = None  # from the "unstable" warning
    enqueue_bound: bool = False  # "Throughput may be bound by Enqueue Time" warning
    latency: LatencyStats | None = None
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def decode_version(code: int) -> str:
    """``8502`` -> ``"8.5.2"`` (TensorRT <= 8), ``100900`` -> ``"10.9.0"`` (TensorRT >= 10)."""
    major_base = 10000 if code >= 100000 else 1000
    major, rest = divmod(code, major_base)
    return f"{major}.{rest // 100}.{rest % 100}"


def _timing(text: str) -> TimingStats | None:
    values = {k: float(v) for k, v in _STAT.findall(text)}
    if len(values) < 4:
        return None
    pct = {f"p{_fmt_q(q)}": float(v) for q, v in _PCT.findall(text)}
    return TimingStats(values["min"], values["max"], values["mean"], values["median"], pct)


def _fmt_q(q: str) -> str:
    return str(int(float(q))) if float(q).is_integer() else q


def _precision(command: str | None, precision_line: str | None) -> str | None:
    flags = []
    if command:
        flags = [f for f in _PRECISION_FLAGS if re.search(rf"(?:^|\s)--{f}(?:\s|=|$)", command)]
    names = [f.lower() for f in flags if f in ("best", "int8", "fp8", "int4", "fp16", "bf16")]
    if names:
        return "+".join(names)
    if precision_line:  # "FP32", "FP32+FP16", "FP32+INT8"
        parts = [p.strip().lower() for p in precision_line.split("+")]
        lower = [p for p in parts if p != "fp32"]
        return "+".join(lower) if lower else "fp32"
    return "fp32" if command else None


def _latency_stats(result: TrtexecResult) -> LatencyStats | None:
    t = result.host_latency
    if t is None:
        return None
    nan = math.nan
    return LatencyStats(
        count=result.queries or 0,
        mean=t.mean,
        std=nan,  # trtexec prints no standard deviation
        min=t.min,
        max=t.max,
        p50=t.median,
        p90=t.percentiles.get("p90", nan),
        p95=t.percentiles.get("p95", nan),
        p99=t.percentiles.get("p99", nan),
        cv=nan,
        throughput_ips=result.throughput_qps,  # queries/s: multiply by the batch if > 1
        total_seconds=result.total_host_walltime_s,
    )


def parse_trtexec(text: str | bytes) -> TrtexecResult:
    """Parse one trtexec run (full log, summary-only, or a tail fragment)."""
    text = require_text(TOOL, text)
    frames = _FRAME.findall(text)
    if not frames and "=== Performance summary ===" not in text:
        raise ParseError(TOOL, "no '&&&& ... TensorRT.trtexec' line and no performance summary")
    states = {f[0] for f in frames}
    result = TrtexecResult(passed=False if "FAILED" in states else ("PASSED" in states or None))
    if frames:
        _, code, build, command = frames[-1]
        result.version_code = int(code)
        result.tensorrt_version = decode_version(int(code))
        result.build_number = int(build) if build else None
        result.command = command.strip() or None
    precision_line = None
    for raw in text.split("\n"):
        m = _TAG.match(raw)
        tag, line = (m.group(1), raw[m.end() :].strip()) if m else (None, raw.strip())
        if tag in ("E", "F") or line.startswith("Error["):
            result.errors.append(line)
        elif tag == "W" and line:
            result.warnings.append(line)
        name, _, rest = line.partition(": ")
        if name in _SUMMARY and " = " in rest:
            setattr(result, _SUMMARY[name], _timing(rest))
        elif name == "Throughput" and rest.endswith("qps"):
            result.throughput_qps = float(rest.split()[0])
        elif name == "Total Host Walltime":
            result.total_host_walltime_s = float(rest.split()[0])
        elif name == "Total GPU Compute Time":
            result.total_gpu_compute_s = float(rest.split()[0])
        elif name == "TensorRT version":
            result.tensorrt_version = rest.strip()
        elif name == "Selected Device":
            result.device = rest.strip()
        elif name == "Precision":
            precision_line = rest.strip()
        elif mm := re.match(r"Engine built in ([\d.]+) sec", line):
            result.build_seconds = float(mm.group(1))
        elif mm := re.match(r"Engine generation completed in ([\d.]+) sec", line):
            result.build_seconds = result.build_seconds or float(mm.group(1))
        elif mm := re.match(r"Engine deserialized in ([\d.]+) sec", line):
            result.deserialize_seconds = float(mm.group(1))
        elif mm := re.match(r"Timing trace has (\d+) queries over", line):
            result.queries = int(mm.group(1))
        elif mm := re.search(r"coefficient of variance = ([\d.]+)%", line):
            result.gpu_compute_cov_percent = float(mm.group(1))
        elif "bound by Enqueue Time" in line:
            result.enqueue_bound = True
    result.precision = _precision(result.command, precision_line)
    result.latency = _latency_stats(result)
    return result
