"""The emulated aarch64 board, end to end: built once (cached by its recipe under
``~/.cache/edge-vit/boards``), started with its own sshd under qemu-user on 127.0.0.1, and used
through the CLI as a user would: ``devices check``, ``deploy``, ``profile`` and ``eval --device``
of the demo model's ONNX, TFLite and OpenVINO artifacts, the Pi's throttling readout (a stand-in
vcgencmd), the "emulated" label in results and report, and rows kept off the Pareto front.

Emulation runs ARM code 300-700x slower than a real core: the timing settings are short and the
latencies mean nothing (which is what the label says). Without root, qemu-user-static or
debootstrap these tests skip with the reason; in CI (CI=true) they fail instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge_vit import demo
from edge_vit.commands import main

pytestmark = pytest.mark.arm

NAME = "arm64-emu"
FORMATS = ("onnx", "tflite", "openvino")
RUNTIME = {"onnx": "onnxruntime", "tflite": "litert", "openvino": "openvino"}
SHORT_PROFILE = ["--rounds", "2", "--max-rounds", "2", "--target-ci", "0", "--warmup", "2",
                 "--min-iterations", "3", "--block-seconds", "0.05", "--busy-cores", "2",
                 "--max-seconds", "900", "--session-sd", "0"]


def _unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"the emulated ARM board cannot run in CI: {reason}")
    pytest.skip(f"emulated ARM board: {reason}")


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    from devices.emulated import BoardBuildError, missing_tools, start_board

    problems = missing_tools()
    if problems:
        _unavailable("; ".join(problems))
    try:
        b = start_board(state=tmp_path_factory.mktemp("board"), say=print)
    except BoardBuildError as exc:
        _unavailable(str(exc))
    yield b
    b.stop()


@pytest.fixture(scope="module")
def inventory(board, tmp_path_factory) -> Path:
    return board.write_inventory(tmp_path_factory.mktemp("inv") / "devices.toml", NAME)


@pytest.fixture(scope="module")
def demo_export(tmp_path_factory) -> Path:
    from edge_vit.export import ExportOptions, ModelOptions, run_export

    out = tmp_path_factory.mktemp("demo-artifacts")
    # fp32 in every format, and the int8 TFLite ARM boards ship (int8-mixed), calibrated on
    # the train slice and parity-checked on 64 held-out test images, thresholds unchanged
    result = run_export(ExportOptions(
        model=ModelOptions(name=demo.DEMO_MODEL, calib_dir=demo.TRAIN_SLICE, calib_size=200),
        out_root=out, formats=FORMATS, precisions=("fp32", "int8-mixed"), parity_inputs=64,
        parity_images=demo.TEST_SLICE))
    assert not result.failed, [(a.key, a.error) for a in result.failed]
    mixed = result.manifest.artifact("tflite", "int8-mixed")
    assert mixed.parity.num_inputs == 64 and mixed.parity.passed
    return result.manifest_path.parent


@pytest.fixture(scope="module")
def profiled(board, inventory, demo_export, tmp_path_factory) -> Path:
    """``edge-vit deploy`` then ``edge-vit profile`` of the three artifacts on the board."""
    results = tmp_path_factory.mktemp("results")
    runner = CliRunner()
    res = runner.invoke(main, ["deploy", str(demo_export), "--device", NAME,
                               "--inventory", str(inventory)])
    assert res.exit_code == 0, res.output
    assert "file(s) sent" in res.output
    res = runner.invoke(main, ["profile", str(demo_export), "--device", NAME, "--inventory",
                               str(inventory), "--results", str(results), *SHORT_PROFILE])
    assert res.exit_code == 0, res.output
    return results


def test_devices_check_sees_aarch64_and_its_runtimes(board, inventory):
    res = CliRunner().invoke(main, ["devices", "check", NAME, "--inventory", str(inventory)])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "aarch64" in out and "emulated aarch64 (qemu-user): latency not representative" in out
    for runtime, version in (("onnxruntime", "1.23.0"), ("litert", "2.1.0"),
                             ("openvino", "2026.4.1")):
        assert re.search(rf"{runtime}\W+{re.escape(version)}", out), out


def test_the_pi_throttling_readout_works_there(board, inventory):
    from devices import get_device_config, open_device

    with open_device(get_device_config(NAME, inventory)) as dev:
        assert dev.kind == "rpi"
        calm = dev.board_check()
        board.set_throttled("0x50005")
        try:
            hot = dev.board_check()
        finally:
            board.set_throttled("0x0")
    assert calm["throttled"] == "0x0" and calm["throttled_now"] is False, calm
    assert calm["temperature_c"] == pytest.approx(45.0)
    assert hot["throttled"] == "0x50005" and hot["throttled_now"] is True, hot
    assert "under-voltage" in hot["throttle_detail"], hot


def test_profile_runs_every_format_and_labels_it_emulated(profiled):
    files = sorted((profiled / NAME / demo.DEMO_MODEL).glob("*.json"))
    runs = {}
    for f in files:
        data = json.loads(f.read_text())
        if "artifact" in data:
            runs[(data["artifact"]["format"], data["settings"]["runtime"])] = data
    # every format in its own runtime, and OpenVINO also reads the ONNX file
    assert set(runs) == {*RUNTIME.items(), ("onnx", "openvino")}, [f.name for f in files]
    mixed = json.loads((profiled / NAME / demo.DEMO_MODEL /
                        "tflite-int8-mixed-litert.json").read_text())
    assert mixed["status"] == "ok" and mixed["emulated"], mixed.get("error")
    for key, data in runs.items():
        assert data["status"] == "ok", (key, data.get("error"))
        assert data["emulated"] == "emulated aarch64 (qemu-user): latency not representative"
        assert data["emulated"] in data["notes"]
        env = data["environment"]
        assert env["machine"] == "aarch64" and env["emulation"] == "qemu-user"
        assert env["cpu_flags"] == []  # the host's x86 flags are not the board's
        assert data["throttled"] is False  # the stand-in vcgencmd was read around each round
        # two counted, or more where a round another artifact lost was repeated for all
        assert data["latency"]["p50"] > 0 and 2 <= data["session"]["rounds_counted"] <= 4


def test_eval_on_the_board_matches_x86_and_the_report_keeps_it_off_the_front(
        board, inventory, demo_export, profiled, tmp_path):
    from edge_vit.reporting import build_report

    res = CliRunner().invoke(main, [
        "eval", str(demo_export), "--data", str(demo.TEST_SLICE), "--labels", "folders",
        "--limit", "100", "--device", NAME, "--inventory", str(inventory), "--results",
        str(profiled), "--ov-precision", "f32", "--no-cache"])
    assert res.exit_code == 0, res.output
    print(res.output)
    there = {}
    for f in (profiled / "accuracy-on" / NAME / demo.DEMO_MODEL).glob("*.json"):
        data = json.loads(f.read_text())
        there[data["artifact"]["format"], data["artifact"]["precision"]] = data
    assert set(there) == {(f, "fp32") for f in FORMATS} | {("tflite", "int8-mixed")}
    mixed = there.pop(("tflite", "int8-mixed"))
    # the int8 file's parity on the board: its top-1 agrees with PyTorch's (on the host) as
    # often as the export's int8 threshold asks
    assert mixed["status"] == "ok" and mixed["inference_precision"] == "int8-mixed"
    assert mixed["agreement_with_reference"] >= 0.75, mixed
    assert mixed["changed_vs_host"] is not None
    for (fmt, _), r in there.items():
        assert r["status"] == "ok", (fmt, r["error"])
        assert r["total"] == 100 and r["device"] == NAME
        assert r["device_run"]["environment"]["machine"] == "aarch64"
        assert r["inference_precision"] == "fp32", (fmt, r["inference_precision"])
        # fp32 on ARM kernels vs fp32 on x86: at most 1 % of the images may change top-1
        assert r["changed_vs_host"] <= 1, (fmt, r["changed_vs_host_images"])
        assert len(r["changed_vs_host_images"]) == r["changed_vs_host"]
        assert abs(r["top1"] - r["host_top1"]) <= 1.0
        assert any("emulated aarch64" in n for n in r["notes"])
    assert "vs this host" in res.output and "changed" in res.output

    # the host's accuracy joins the board's latency; the rows say emulated, none is on the front
    rep = build_report([demo_export], profiled, profiled / "accuracy")
    rows = [r for r in rep.rows if r.device == NAME]
    assert len(rows) == 5 and all(r.emulated for r in rows)
    assert all(r.pareto is None for r in rows)
    # candidates: a latency and an accuracy (OpenVINO's was pinned to f32 here, its profile
    # was not, so those rows have no accuracy)
    assert sum(r.top1_pct is not None and r.p50_ms is not None for r in rows) >= 2
    assert any(NAME in w and "kept off the Pareto front" in w for w in rep.warnings)
    asked = build_report([demo_export], profiled, profiled / "accuracy", include_emulated=True)
    assert any(r.pareto for r in asked.rows if r.device == NAME)


def test_a_missing_emulator_is_a_clear_reason(monkeypatch):
    from devices.emulated import build

    monkeypatch.setattr(build, "qemu_binary", lambda: None)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    problems = build.missing_tools()
    assert any("qemu-aarch64-static not found: apt-get install qemu-user-static" in p
               for p in problems)
    assert any("debootstrap not found" in p for p in problems)


def test_a_failed_build_step_names_itself_and_keeps_its_log(tmp_path):
    from devices.emulated.build import BoardBuildError, _Steps

    steps = _Steps(tmp_path / "build.log", lambda m: None)
    steps.run("first", ["sh", "-c", "echo fine"])
    with pytest.raises(BoardBuildError) as caught:
        steps.run("debootstrap (first stage)",
                  ["sh", "-c", "echo 'E: Failed getting release file' >&2; exit 1"])
    message = str(caught.value)
    assert "step 'debootstrap (first stage)' failed: exit 1" in message
    assert "Failed getting release file" in message and str(tmp_path / "build.log") in message
    log = (tmp_path / "build.log").read_text()
    assert "fine" in log and "Failed getting release file" in log
    assert caught.value.step == "debootstrap (first stage)"


def test_the_emulate_command_reuses_the_cached_build(board):
    res = CliRunner().invoke(main, ["devices", "emulate", "--build-only"])
    assert res.exit_code == 0, res.output
    assert str(board.rootfs) in "".join(res.output.split())
