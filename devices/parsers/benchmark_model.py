"""Parse TensorFlow Lite ``benchmark_model`` output into a :class:`BenchmarkModelResult`.

Recordings: ``shared/data/device-tools/tflite_benchmark_model/`` (origins in
``shared/data/device-tools/SOURCES.md``).

* Each timed phase prints ``Running benchmark for at least N iterations ...`` then
  ``count=15 first=49060 curr=33682 min=32825 max=49060 avg=34825.1 std=3930`` (microseconds):
  the first such line is the warm-up, the second the measured run.
* The summary line changed: 2018-19 binaries (Android arm64, yuenshome #77) print
  ``Average inference timings in us: Warmup: 76605.9, Init: 9933, no stats: 66767.6`` ("no
  stats" is the measured average); later ones ``Inference timings in us: Init: 855, First
  inference: 49060, Warmup (avg): 34825.1, Inference (avg): 33209.4`` (the TF 2.6 x86 capture
  is that one line alone).
* Memory comes as ``Peak memory footprint (MB): init=0 overall=12.8672`` (Android, TF #42507)
  or ``Memory footprint delta from the start of the tool (MB): init=8.97656 overall=18.7227``
  (Pi + XNNPACK, XNNPACK #999); newer builds add ``Overall peak memory footprint (MB) via
  periodic monitoring: X`` (not in the recordings; read when present).
* Parameters: ``Num threads: [4]``, ``#threads used for CPU inference: [4]``, ``Graph: [...]``;
  the delegate from ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`` or
  ``Use xnnpack: [1]``. Newer builds prefix every line with ``INFO: ``; it is stripped.
* Output after ``Profiling Info`` (op profiling tables, which also contain ``count=``) is
  ignored.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from devices.parsers import ParseError, require_text
from edge_vit.results import LatencyStats

TOOL = "benchmark_model"

_NUM = r"(-?[\d.]+(?:e[-+]?\d+)?)"
_STATS = re.compile(
    rf"^count={_NUM} first={_NUM} curr={_NUM} min={_NUM} max={_NUM} avg={_NUM} std={_NUM}"
)
_TIMING = re.compile(
    rf"(Init|First inference|Warmup \(avg\)|Inference \(avg\)|Warmup|no stats): {_NUM}"
)
_MEMORY = re.compile(rf"^(.*?)\s*\(MB\): init={_NUM} overall={_NUM}")
_PREFIX = re.compile(r"^(?:INFO|WARNING|ERROR|VERBOSE): ")


@dataclass
class RunStats:
    """One ``count=... std=...`` line, in microseconds as printed."""

    count: int
    first_us: float
    curr_us: float
    min_us: float
    max_us: float
    avg_us: float
    std_us: float


@dataclass
class BenchmarkModelResult:
    graph: str | None = None
    num_threads: int | None = None
    delegates: list[str] = field(default_factory=list)  # "XNNPACK", "GPU", ...
    model_size_mb: float | None = None
    init_session_ms: float | None = None  # "Initialized session in X ms"
    warmup: RunStats | None = None
    inference: RunStats | None = None
    init_us: float | None = None  # from the timings line
    first_inference_us: float | None = None
    warmup_avg_us: float | None = None
    inference_avg_us: float | None = None
    memory_kind: str | None = None  # "Peak memory footprint", "Memory footprint delta ..."
    memory_init_mb: float | None = None
    memory_overall_mb: float | None = None
    # "via periodic monitoring" when printed, else memory_overall_mb (both variants of the
    # init=/overall= line are the tool's max-RSS growth; memory_kind keeps the label)
    peak_memory_mb: float | None = None

    def latency_stats(self) -> LatencyStats | None:
        """edge-vit's ``LatencyStats`` (ms) from the measured run. benchmark_model prints no
        median or percentiles: those are ``nan``."""
        nan = math.nan
        run = self.inference
        if run is None:
            if self.inference_avg_us is None:
                return None
            mean = self.inference_avg_us / 1000.0
            return LatencyStats(
                count=0,
                mean=mean,
                std=nan,
                min=nan,
                max=nan,
                p50=nan,
                p90=nan,
                p95=nan,
                p99=nan,
                cv=nan,
            )
        mean = run.avg_us / 1000.0
        return LatencyStats(
            count=run.count,
            mean=mean,
            std=run.std_us / 1000.0,
            min=run.min_us / 1000.0,
            max=run.max_us / 1000.0,
            p50=nan,
            p90=nan,
            p95=nan,
            p99=nan,
            cv=run.std_us / run.avg_us if run.avg_us else nan,
        )


def _assign_runs(result: BenchmarkModelResult, runs: list[RunStats]) -> None:
    if len(runs) >= 2:
        result.warmup, result.inference = runs[0], runs[-1]
    elif len(runs) == 1:  # one phase: the timings line says which one
        run = runs[0]
        warm, inf = result.warmup_avg_us, result.inference_avg_us
        if warm is not None and inf is not None and abs(run.avg_us - warm) < abs(run.avg_us - inf):
            result.warmup = run
        else:
            result.inference = run


def parse_benchmark_model(text: str | bytes) -> BenchmarkModelResult:
    text = require_text(TOOL, text)
    result = BenchmarkModelResult()
    runs: list[RunStats] = []
    for raw in text.split("\n"):
        line = _PREFIX.sub("", raw.strip())
        if line.startswith("Profiling Info"):
            break
        if m := _STATS.match(line):
            v = [float(x) for x in m.groups()]
            runs.append(RunStats(int(v[0]), *v[1:]))
        elif "inference timings in us" in line.lower():
            for name, value in _TIMING.findall(line):
                attr = {
                    "Init": "init_us",
                    "First inference": "first_inference_us",
                    "Warmup (avg)": "warmup_avg_us",
                    "Warmup": "warmup_avg_us",
                    "Inference (avg)": "inference_avg_us",
                    "no stats": "inference_avg_us",
                }
                setattr(result, attr[name], float(value))
        elif m := _MEMORY.match(line):
            result.memory_kind = m.group(1)
            result.memory_init_mb, result.memory_overall_mb = float(m.group(2)), float(m.group(3))
        elif m := re.match(rf"Overall peak memory footprint \(MB\).*?: {_NUM}", line):
            result.peak_memory_mb = float(m.group(1))
        elif m := re.match(r"(?:Num threads|#threads used for CPU inference): \[(\d+)\]", line):
            result.num_threads = int(m.group(1))
        elif m := re.match(r"Graph: \[(.*)\]", line):
            result.graph = m.group(1)
        elif m := re.match(rf"The input model file size \(MB\): {_NUM}", line):
            result.model_size_mb = float(m.group(1))
        elif m := re.match(rf"Initialized session in {_NUM} ?ms", line):
            result.init_session_ms = float(m.group(1))
        elif m := re.search(r"Created TensorFlow Lite (?:(\w+) )?delegate for (\w+)", line):
            _add(result.delegates, (m.group(1) or m.group(2)).upper())
        elif m := re.match(r"Use (xnnpack|gpu|nnapi|hexagon|coreml)\s*: \[(1|true)\]", line):
            _add(result.delegates, m.group(1).upper())
    if not runs and result.inference_avg_us is None and result.init_session_ms is None:
        raise ParseError(TOOL, "no 'count=... avg=...' line and no 'Inference timings' line")
    _assign_runs(result, runs)
    if result.peak_memory_mb is None:
        result.peak_memory_mb = result.memory_overall_mb
    return result


def _add(names: list[str], name: str) -> None:
    if name not in names:
        names.append(name)
