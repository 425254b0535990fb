"""trtexec parser on the recorded runs in shared/data/jetson/trtexec (see its SOURCES.md)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from devices.parsers import ParseError
from devices.parsers.trtexec import decode_version, parse_trtexec

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"
TRT = DATA / "jetson" / "trtexec"
FILES = sorted(TRT.glob("*.txt"))


def read(name: str) -> str:
    return (TRT / name).read_text(encoding="utf-8")


def test_data_folder_is_the_shared_one():
    assert DATA.is_dir() and DATA.name == "data" and DATA.parent.name == "shared"
    assert len(FILES) == 5


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_recording_has_a_summary_whose_latency_is_h2d_plus_compute_plus_d2h(path):
    r = parse_trtexec(path.read_text(encoding="utf-8"))
    assert r.host_latency is not None and r.gpu_compute_time is not None
    parts = r.h2d_latency.mean + r.gpu_compute_time.mean + r.d2h_latency.mean
    assert r.host_latency.mean == pytest.approx(parts, abs=0.01)  # end to end, not kernels only
    assert r.latency.p50 == r.host_latency.median
    assert set(r.host_latency.percentiles) == {"p90", "p95", "p99"}
    assert r.errors == []


def test_trt852_orin_nano_fp16_summary():
    r = parse_trtexec(read("trt8.5.2_orin-nano_onnx-fp16_summary.txt"))
    assert r.passed is True
    assert (r.tensorrt_version, r.version_code) == ("8.5.2", 8502)
    assert r.precision == "fp16"
    assert r.command == "trtexec --onnx=./yolox_s_leaky.onnx --saveEngine=./fp16.trt --fp16"
    assert r.throughput_qps == 97.8649
    h = r.host_latency
    assert (h.min, h.max, h.mean, h.median) == (10.642, 10.9861, 10.7971, 10.7972)
    assert h.percentiles == {"p90": 10.9329, "p95": 10.949, "p99": 10.9744}
    assert r.gpu_compute_time.median == 10.1851
    assert r.enqueue_time.percentiles["p99"] == 2.15002
    assert (r.total_host_walltime_s, r.total_gpu_compute_s) == (3.0348, 3.02418)
    assert r.gpu_compute_cov_percent is None  # 8.5 printed no stability warning here
    lat = r.latency
    assert lat.count == 0  # summary-only capture: no query count printed
    assert (lat.mean, lat.p50, lat.p90, lat.p95, lat.p99) == (
        10.7971,
        10.7972,
        10.9329,
        10.949,
        10.9744,
    )
    assert math.isnan(lat.std)  # trtexec prints no standard deviation
    assert lat.throughput_ips == 97.8649 and lat.total_seconds == 3.0348


def test_trt109_full_log_has_build_device_and_query_count():
    r = parse_trtexec(read("trt10.9_rtx3070_onnx-build_full.txt"))
    assert r.passed is True
    assert r.tensorrt_version == "10.9.0" and r.version_code == 100900 and r.build_number == 34
    assert r.device == "NVIDIA GeForce RTX 3070"
    assert r.precision == "fp32"  # "Precision: FP32" and no flag on the command line
    assert r.build_seconds == 104.774 and r.deserialize_seconds == 0.21022
    assert r.queries == 29 and r.latency.count == 29
    assert r.latency.p50 == 112.567 and r.latency.p99 == 115.703
    assert r.gpu_compute_time.mean == 111.557
    assert r.gpu_compute_cov_percent == 1.08662
    assert any("optShapes is being broadcasted" in w for w in r.warnings)


def test_trt100_version_code_and_fp16_flag():
    r = parse_trtexec(read("trt10.0.0_x86_onnx-fp16-plugins_summary.txt"))
    # v100001 = 10*10000 + 0*100 + 1 (SOURCES.md reads it as "10.0.0.1")
    assert (r.version_code, r.tensorrt_version) == (100001, "10.0.1")
    assert r.precision == "fp16"
    assert r.latency.p50 == 1.38422 and r.latency.mean == 1.73074
    assert r.gpu_compute_cov_percent == 43.467


def test_trt1010_windows_summary():
    r = parse_trtexec(read("trt10.10_windows_onnx_summary.txt"))
    assert (r.tensorrt_version, r.build_number) == ("10.10.0", 31)
    assert r.command.startswith("trtexec.exe --onnx=D:/Self/")
    assert r.precision == "fp32"
    assert r.latency.p50 == 8.22565 and r.throughput_qps == 120.031
    assert r.d2h_latency.max == 0.850952


def test_trt85_tail_fragment_without_frame_line():
    r = parse_trtexec(read("trt8.5_orin_3d-det_tail.txt"))
    assert r.passed is None and r.tensorrt_version is None and r.precision is None
    assert r.enqueue_bound is True
    assert r.latency.p50 == 42.4526 and r.latency.max == 48.812
    assert r.enqueue_time.mean == 40.5248
    assert r.gpu_compute_cov_percent == 5.58526


def test_windows_line_endings_and_ansi_colours_parse_the_same():
    text = read("trt10.9_rtx3070_onnx-build_full.txt")
    noisy = "\r\n".join(f"\x1b[32m{line}\x1b[0m" for line in text.split("\n"))
    # repr, because LatencyStats holds nan, which never compares equal
    assert repr(parse_trtexec(noisy)) == repr(parse_trtexec(text))
    assert repr(parse_trtexec(text.encode("utf-8"))) == repr(parse_trtexec(text))


def test_build_failure_is_reported_with_its_error_lines():
    # Constructed from the 10.9 log's own header; no failed run was recorded.
    head = read("trt10.9_rtx3070_onnx-build_full.txt").split("\n")[:3]
    text = "\n".join(
        head
        + [
            "[04/08/2025-23:14:02] [E] [TRT] ModelImporter.cpp:949: ERROR: unsupported op",
            "[04/08/2025-23:14:02] [E] Failed to parse onnx file",
            "[04/08/2025-23:14:02] [E] Engine set up failed",
            "&&&& FAILED TensorRT.trtexec [TensorRT v100900] [b34] # trtexec --onnx=x.onnx --int8 --fp16",
        ]
    )
    r = parse_trtexec(text)
    assert r.passed is False
    assert r.errors == [
        "ModelImporter.cpp:949: ERROR: unsupported op",
        "Failed to parse onnx file",
        "Engine set up failed",
    ]
    assert r.latency is None and r.host_latency is None
    assert r.precision == "int8+fp16"
    assert r.command == "trtexec --onnx=x.onnx --int8 --fp16"


@pytest.mark.parametrize(
    "code,version",
    [(8001, "8.0.1"), (8502, "8.5.2"), (7103, "7.1.3"), (100900, "10.9.0"), (101000, "10.10.0")],
)
def test_decode_version(code, version):
    assert decode_version(code) == version


@pytest.mark.parametrize("text", ["", "   \n", "hello world\n", "Latency: 3 ms\n"])
def test_garbage_raises_parse_error(text):
    with pytest.raises(ParseError) as err:
        parse_trtexec(text)
    assert isinstance(err.value, ValueError) and err.value.tool == "trtexec"
