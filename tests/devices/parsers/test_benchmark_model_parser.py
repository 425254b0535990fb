"""TFLite benchmark_model parser on shared/data/device-tools/tflite_benchmark_model."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from devices.parsers import ParseError
from devices.parsers.benchmark_model import parse_benchmark_model

TFL = (
    Path(__file__).resolve().parents[4]
    / "shared"
    / "data"
    / "device-tools"
    / "tflite_benchmark_model"
)


def read(name: str) -> str:
    return (TFL / name).read_text(encoding="utf-8")


def test_lists_every_recording():
    assert len(list(TFL.glob("*.txt"))) == 4


def test_rpi_xnnpack_run_with_memory_delta_line():
    r = parse_benchmark_model(read("rpi_xnnpack_int8_xnnpack999.txt"))
    assert (r.graph, r.num_threads, r.delegates) == (
        "yolo_best_recall_int8_static.tflite",
        4,
        ["XNNPACK"],
    )
    assert (r.model_size_mb, r.init_session_ms) == (3.67827, 18.777)
    assert (r.warmup.count, r.warmup.avg_us, r.warmup.first_us) == (9, 57758.2, 64791)
    i = r.inference
    assert (i.count, i.first_us, i.curr_us, i.min_us, i.max_us, i.avg_us, i.std_us) == (
        50,
        58154,
        53809,
        53077,
        60727,
        55043.2,
        1562,
    )
    assert (r.init_us, r.first_inference_us) == (18777, 64791)
    assert (r.warmup_avg_us, r.inference_avg_us) == (57758.2, 55043.2)
    assert r.memory_kind == "Memory footprint delta from the start of the tool"
    assert (r.memory_init_mb, r.memory_overall_mb, r.peak_memory_mb) == (
        8.97656,
        18.7227,
        18.7227,
    )
    s = r.latency_stats()
    assert (s.count, s.mean, s.std, s.min, s.max) == pytest.approx(
        (50, 55.0432, 1.562, 53.077, 60.727)
    )
    assert s.cv == pytest.approx(1562 / 55043.2) and math.isnan(s.p50)


def test_android_peak_memory_footprint_variant():
    r = parse_benchmark_model(read("android_peak-memory_tf42507.txt"))
    assert r.graph == "/data/local/tmp/espcn_harmonic_2x_slim_w_cl.tflite"
    assert r.num_threads == 4 and r.delegates == []
    assert r.memory_kind == "Peak memory footprint"
    assert (r.memory_init_mb, r.memory_overall_mb, r.peak_memory_mb) == (0, 12.8672, 12.8672)
    assert (r.warmup.count, r.inference.count, r.inference.avg_us) == (15, 50, 33209.4)
    assert r.inference_avg_us == 33209.4 and r.first_inference_us == 49060


def test_old_android_format_no_stats_is_the_measured_average():
    r = parse_benchmark_model(read("android-arm64_old-format_yuenshome77.txt"))
    assert r.init_session_ms == 9.933
    assert (r.warmup.count, r.warmup.avg_us, r.warmup.std_us) == (7, 76605.9, 20944)
    assert (r.inference.count, r.inference.avg_us, r.inference.std_us) == (15, 66767.6, 39)
    assert (r.warmup_avg_us, r.init_us, r.inference_avg_us) == (76605.9, 9933, 66767.6)
    assert r.first_inference_us is None and r.peak_memory_mb is None


def test_timings_line_only():
    r = parse_benchmark_model(read("x86_timings-line-only_tf49158.txt"))
    assert (r.init_us, r.first_inference_us) == (769, 533)
    assert (r.warmup_avg_us, r.inference_avg_us) == (14.6845, 15.5197)
    assert r.inference is None and r.warmup is None
    s = r.latency_stats()
    assert s.count == 0 and s.mean == pytest.approx(0.0155197) and math.isnan(s.min)


def test_info_prefix_crlf_and_profiling_tables_are_handled():
    text = read("rpi_xnnpack_int8_xnnpack999.txt")
    prefixed = "\r\n".join("INFO: " + line for line in text.split("\n"))
    prefixed += "\r\nTimings (microseconds): count=50 first=1 curr=1 min=1 max=1 avg=1 std=0\r\n"
    assert parse_benchmark_model(prefixed) == parse_benchmark_model(text)


@pytest.mark.parametrize("text", ["", "count=abc\n", "Inference took 3 ms\n"])
def test_garbage_raises(text):
    with pytest.raises(ParseError):
        parse_benchmark_model(text)
