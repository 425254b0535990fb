"""Parse OpenVINO ``benchmark_app`` output (2021.2 to 2024.0) into a
:class:`BenchmarkAppResult`.

Recordings: ``shared/data/device-tools/openvino_benchmark_app/`` (origins in
``shared/data/device-tools/SOURCES.md``; all x86 or Windows CPU - no ARM run was found).

* The report is in steps ``[Step N/11] ...``; lines carry ``[ INFO ]`` / ``[ WARNING ]``
  prefixes from 2022 on (2021.2's Step 11 has none).
* 2021.2 prints a single ``Latency: 1.25 ms`` - the median (benchmark_app's default
  ``-latency_percentile 50``) - and no Average/Min/Max. From 2022.3 it is a ``Latency:`` block
  with ``Median``, ``Average``, ``Min``, ``Max``; ``-latency_percentile N`` replaces ``Median``
  by ``N percentile``. Only the first block is read (dynamic shapes add one block per group).
* ``Count: N iterations``, ``Duration: X ms``, ``Throughput: X FPS`` in every version;
  ``Execution Devices:['CPU']`` from 2023.1; ``First inference took X ms`` from 2022.
* Step 10 names the API: ``Start inference synchronously`` (2022.3 BERT run) or
  ``asynchronously, 6 inference requests`` (2023.x); older builds add
  ``using 4 streams for CPU``. Step 8 lists ``NUM_STREAMS``, ``INFERENCE_NUM_THREADS`` and
  ``INFERENCE_PRECISION_HINT: <Type: 'float32'>`` (2023.1 full log).
* The 2024.0 Windows capture stops after Step 5: version, device and batch only, ``complete``
  is False and there is no latency.

In async mode several requests run at once: the latency is per request and the FPS is not
1 / latency. Compare latencies with edge-vit's sequential loop only for ``api == "sync"``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from devices.parsers import ParseError, require_text
from edge_vit.results import LatencyStats

TOOL = "benchmark_app"

_PREFIX = re.compile(r"^\[ ?(?:INFO|WARNING|ERROR) ?\]\s?")
_STEP = re.compile(r"^\[Step (\d+)/(\d+)\]\s*(.*)$", re.M)
_NUM = r"([\d.]+)"


@dataclass
class BenchmarkAppResult:
    openvino_build: str | None = None  # "2023.1.0-12185-9e6b00e51cd-releases/2023/1"
    openvino_version: str | None = None  # "2023.1.0"
    device: str | None = None  # the device benchmarked ("CPU")
    execution_devices: list[str] = field(default_factory=list)
    api: str | None = None  # "sync" | "async"
    nireq: int | None = None  # inference requests in flight
    nstreams: int | None = None
    threads: int | None = None  # INFERENCE_NUM_THREADS
    inference_precision: str | None = None  # INFERENCE_PRECISION_HINT ("float32", "bf16", ...)
    performance_hint: str | None = None  # "THROUGHPUT" | "LATENCY"
    batch: int | None = None
    limit: str | None = None  # Step 10's "limits: 15000 ms duration"
    first_inference_ms: float | None = None
    count: int | None = None  # iterations
    duration_ms: float | None = None
    latency_median_ms: float | None = None
    latency_avg_ms: float | None = None
    latency_min_ms: float | None = None
    latency_max_ms: float | None = None
    latency_percentiles: dict[str, float] = field(default_factory=dict)  # "p90" -> ms
    throughput_fps: float | None = None
    last_step: int | None = None
    complete: bool = False  # Step 11 with a Throughput line was printed
    warnings: list[str] = field(default_factory=list)

    def latency_stats(self) -> LatencyStats | None:
        """edge-vit's ``LatencyStats``; what benchmark_app does not print is ``nan``."""
        if self.latency_median_ms is None and self.latency_avg_ms is None:
            return None
        nan = math.nan

        def pick(value: float | None) -> float:
            return nan if value is None else value

        return LatencyStats(
            count=self.count or 0,
            mean=pick(self.latency_avg_ms),
            std=nan,
            min=pick(self.latency_min_ms),
            max=pick(self.latency_max_ms),
            p50=pick(self.latency_median_ms),
            p90=self.latency_percentiles.get("p90", nan),
            p95=self.latency_percentiles.get("p95", nan),
            p99=self.latency_percentiles.get("p99", nan),
            cv=nan,
            throughput_ips=self.throughput_fps,
            total_seconds=None if self.duration_ms is None else self.duration_ms / 1000.0,
        )


def _step10(result: BenchmarkAppResult, line: str) -> None:
    if "synchronously" in line:
        result.api = "async" if "asynchronously" in line else "sync"
    if m := re.search(r"(\d+) inference requests?", line):
        result.nireq = int(m.group(1))
    if m := re.search(r"using (\d+) streams? for (\w+)", line):
        result.nstreams, result.device = int(m.group(1)), result.device or m.group(2)
    if m := re.search(r"limits: ([^)]*)", line):
        result.limit = m.group(1).strip()


def _config(result: BenchmarkAppResult, key: str, value: str) -> None:
    if key == "NUM_STREAMS" and value.isdigit():
        result.nstreams = int(value)
    elif key == "OPTIMAL_NUMBER_OF_INFER_REQUESTS" and value.isdigit() and result.nireq is None:
        result.nireq = int(value)
    elif key == "INFERENCE_NUM_THREADS" and value.isdigit():
        result.threads = int(value)
    elif key == "INFERENCE_PRECISION_HINT":
        m = re.search(r"'(\w+)'", value)
        result.inference_precision = m.group(1) if m else value
    elif key == "PERFORMANCE_HINT":
        result.performance_hint = value.rpartition(".")[2]


def parse_benchmark_app(text: str | bytes) -> BenchmarkAppResult:
    text = require_text(TOOL, text)
    steps = [int(n) for n, _, _ in _STEP.findall(text)]
    if not steps and not re.search(r"Throughput:\s*[\d.]+ FPS", text):
        raise ParseError(TOOL, "no '[Step N/11]' line and no 'Throughput: X FPS' line")
    result = BenchmarkAppResult(last_step=max(steps) if steps else None)
    raws = text.split("\n")
    lines = [_PREFIX.sub("", raw).strip() for raw in raws]
    in_latency = False  # inside the first "Latency:" block
    for i, line in enumerate(lines):
        if raws[i].lstrip().startswith("[ WARNING ]"):
            result.warnings.append(line)
        if line.startswith("[Step 10/"):
            _step10(result, line)
        elif m := re.match(r"Build \.+ (\S+)", line):
            result.openvino_build = result.openvino_build or m.group(1)
            result.openvino_version = result.openvino_build.split("-")[0]
        elif line == "Device info:" and i + 1 < len(lines) and re.fullmatch(r"\w+", lines[i + 1]):
            result.device = lines[i + 1]
        elif m := re.match(r"(\w+): (.+)$", line):
            _config(result, m.group(1), m.group(2).strip())
        if m := re.search(r"Device\((\w+)\) performance hint", line):
            result.device = result.device or m.group(1)
        if m := re.match(r"Execution Devices:\s*\[(.*)\]", line):
            result.execution_devices = re.findall(r"'([^']+)'", m.group(1))
        elif m := re.match(r"Model batch size: (\d+)", line):
            result.batch = int(m.group(1))
        elif m := re.match(rf"First inference took {_NUM} ms", line):
            result.first_inference_ms = float(m.group(1))
        elif m := re.match(r"Count:\s*(\d+)", line):
            result.count = int(m.group(1))
        elif m := re.match(rf"Duration:\s*{_NUM} ms", line):
            result.duration_ms = float(m.group(1))
        elif m := re.match(rf"Latency:\s*{_NUM} ms", line):
            result.latency_median_ms = float(m.group(1))  # 2021.x: the median
        elif line == "Latency:":
            in_latency = result.latency_avg_ms is None and result.latency_median_ms is None
        elif in_latency and (m := re.match(rf"(Median|Average|Min|Max):\s*{_NUM} ms", line)):
            name = {"Median": "median", "Average": "avg"}.get(m.group(1), m.group(1).lower())
            setattr(result, f"latency_{name}_ms", float(m.group(2)))
        elif in_latency and (m := re.match(rf"([\d.]+)(?:th)? percentile:\s*{_NUM} ms", line)):
            q = float(m.group(1))
            key = f"p{int(q)}" if q.is_integer() else f"p{q}"
            result.latency_percentiles[key] = float(m.group(2))
        elif m := re.match(rf"Throughput:\s*{_NUM} FPS", line):
            result.throughput_fps = float(m.group(1))
            in_latency = False
        elif line.startswith("Latency for each"):
            in_latency = False
    if result.device is None and len(result.execution_devices) == 1:
        result.device = result.execution_devices[0]
    result.complete = result.throughput_fps is not None and (
        result.last_step is None or result.last_step == 11
    )
    return result
