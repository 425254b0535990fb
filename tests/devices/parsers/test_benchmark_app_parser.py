"""OpenVINO benchmark_app parser on shared/data/device-tools/openvino_benchmark_app."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from devices.parsers import ParseError
from devices.parsers.benchmark_app import parse_benchmark_app

OV = (
    Path(__file__).resolve().parents[4]
    / "shared"
    / "data"
    / "device-tools"
    / "openvino_benchmark_app"
)


def read(name: str) -> str:
    return (OV / name).read_text(encoding="utf-8")


def test_lists_every_recording():
    assert len(list(OV.glob("*.txt"))) == 5


def test_2023_1_full_async_run():
    r = parse_benchmark_app(read("ov2023.1_x86-cpu_async_tflite-model_full.txt"))
    assert r.complete is True and r.last_step == 11
    assert r.openvino_version == "2023.1.0"
    assert r.openvino_build == "2023.1.0-12185-9e6b00e51cd-releases/2023/1"
    assert (r.device, r.execution_devices) == ("CPU", ["CPU"])
    assert (r.api, r.nireq, r.nstreams, r.threads) == ("async", 6, 6, 24)
    assert (r.inference_precision, r.performance_hint, r.batch) == ("float32", "THROUGHPUT", 1)
    assert r.limit == "15000 ms duration" and r.first_inference_ms == 7.30
    assert (r.count, r.duration_ms, r.throughput_fps) == (17562, 15010.30, 1170.00)
    assert (r.latency_median_ms, r.latency_avg_ms) == (4.98, 4.99)
    assert (r.latency_min_ms, r.latency_max_ms) == (3.69, 15.16)
    assert len(r.warnings) == 2
    s = r.latency_stats()
    assert (s.count, s.p50, s.mean, s.min, s.max) == (17562, 4.98, 4.99, 3.69, 15.16)
    assert s.throughput_ips == 1170.0 and s.total_seconds == pytest.approx(15.0103)
    assert math.isnan(s.p90) and math.isnan(s.std)  # not printed by benchmark_app


def test_2022_3_sync_steps_10_11():
    r = parse_benchmark_app(read("ov2022.3_x86-cpu_sync_bert_steps10-11.txt"))
    assert (r.api, r.nireq, r.limit) == ("sync", None, "60000 ms duration")
    assert (r.count, r.duration_ms, r.first_inference_ms) == (3076, 60012.39, 30.61)
    assert (r.latency_median_ms, r.latency_avg_ms) == (19.42, 19.42)
    assert (r.latency_min_ms, r.latency_max_ms, r.throughput_fps) == (18.70, 22.31, 51.49)
    assert r.openvino_version is None and r.device is None  # not in this fragment


def test_2023_3_step_11_only():
    r = parse_benchmark_app(read("ov2023.3_x86-cpu_async_mobilenetv2_step11.txt"))
    assert r.complete is True and r.device == "CPU"  # from "Execution Devices:['CPU']"
    assert (r.count, r.latency_median_ms, r.latency_max_ms) == (88488, 1.85, 8.69)
    assert r.throughput_fps == 5898.01 and r.api is None


def test_2021_2_old_summary_has_median_only():
    r = parse_benchmark_app(read("ov2021.2_windows-cpu_old-summary_issue5601.txt"))
    assert (r.count, r.duration_ms, r.throughput_fps) == (181728, 60001.53, 3028.72)
    assert r.latency_median_ms == 1.25 and r.latency_avg_ms is None
    s = r.latency_stats()
    assert s.p50 == 1.25 and math.isnan(s.mean) and s.count == 181728


def test_2024_0_header_only_has_no_results():
    r = parse_benchmark_app(read("ov2024.0_windows-cpu_async_yolov8seg_header_issue1831.txt"))
    assert r.complete is False and r.last_step == 5
    assert (r.openvino_version, r.device, r.batch) == ("2024.0.0", "CPU", 1)
    assert r.throughput_fps is None and r.latency_stats() is None


def test_crlf_and_ansi():
    text = read("ov2023.1_x86-cpu_async_tflite-model_full.txt")
    noisy = "\x1b[1;33m" + text.replace("\n", "\x1b[0m\r\n")
    assert parse_benchmark_app(noisy) == parse_benchmark_app(text)


@pytest.mark.parametrize("text", ["", "Throughput: 8.66 qps\n", "[ INFO ] hello\n"])
def test_garbage_raises(text):
    with pytest.raises(ParseError):
        parse_benchmark_app(text)
