"""Raspberry Pi profiling, with ``vcgencmd`` replayed from REAL RECORDED output.

No Raspberry Pi can run here, so a stub ``vcgencmd`` on the device's PATH prints real
recordings from ``shared/data/device-tools/vcgencmd/`` (origins in its SOURCES.md): the Pi 3
``throttled=0x50005`` / ``0x50000`` and ``temp=38.6'C`` of raspberrypi/firmware#615 and the
``frequency(45)=1400000000`` of duckietown#358. The runner, the loopback OpenSSH server, the
runtimes and the saved results are real; what cannot be shown here is a real Pi's firmware
changing those values during a run.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from devices import open_device
from devices.config import SshConfig
from devices.rpi import RaspberryPiDevice, preferred_order
from edge_vit import results as rs
from edge_vit.cli.app import console
from edge_vit.cli.devices import print_results
from edge_vit.profiling import ProfileSettings, collect_artifacts, plan_runs, probe, profile

VCGENCMD = Path(__file__).resolve().parents[3] / "shared" / "data" / "device-tools" / "vcgencmd"
THROTTLED_NOW = VCGENCMD / "rpi3_temp-throttled-0x50005_firmware615.txt"
THROTTLED_BEFORE = VCGENCMD / "rpi3_temp-throttled-0x50000_firmware615.txt"
CLOCK = VCGENCMD / "rpi_clock-temp-throttled_duckietown358.txt"

pytestmark = [
    pytest.mark.usefixtures("isolated_home"),
    pytest.mark.skipif(not VCGENCMD.is_dir(), reason=f"recordings not found under {VCGENCMD}"),
]

FAST = dict(warmup=2, warmup_seconds=0.0, min_iterations=5, block_seconds=0.02, rounds=2,
            max_rounds=2, target_ci=0.0, threads=1, busy_cores=1000.0, max_steal_pct=100.0)


def _line(path: Path, prefix: str) -> str:
    """The first recorded line that starts with ``prefix`` (as recorded, trailing space too)."""
    return next(line for line in path.read_text().splitlines() if line.startswith(prefix))


def make_vcgencmd(root: Path, recording: Path) -> Path:
    """A bin folder whose ``vcgencmd`` answers get_throttled / measure_temp from
    ``recording`` and measure_clock from the duckietown recording; anything else (``version``:
    no recording) fails as an unknown command would."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    answers = {"get_throttled": _line(recording, "throttled="),
               "measure_temp": _line(recording, "temp="),
               "measure_clock": _line(CLOCK, "frequency(")}
    path = bin_dir / "vcgencmd"
    path.write_text(f"""#!{sys.executable}
import sys
answers = {answers!r}
if len(sys.argv) < 2 or sys.argv[1] not in answers:
    sys.stderr.write("error=1 error_msg=\\"Command not registered\\"\\n")
    sys.exit(255)
print(answers[sys.argv[1]])
""")
    path.chmod(0o755)
    return bin_dir


def _pi(sshd, tmp_path, bin_dir: Path | None, **config) -> RaspberryPiDevice:
    device = open_device(sshd.device_config(name="pi", kind="rpi", python=sys.executable,
                                            workdir=str(tmp_path / "remote"), **config))
    assert isinstance(device, RaspberryPiDevice)
    path = f"{bin_dir}:{os.environ['PATH']}" if bin_dir else "/usr/local/bin:/usr/bin:/bin"
    device.extra_env = {"PATH": path}
    return device


def test_a_throttled_run_is_marked(sshd, tiny_artifacts, tmp_path):
    bin_dir = make_vcgencmd(tmp_path / "tools", THROTTLED_NOW)
    entries = collect_artifacts([tiny_artifacts], formats=["tflite"])[:1]
    settings = ProfileSettings(**FAST, runtimes=("litert",))
    with _pi(sshd, tmp_path, bin_dir) as device:
        (res,) = profile(device, entries, settings, tmp_path / "results")
    assert res.status == rs.OK and res.device_kind == "rpi"
    # the board throttled in every round: each was dropped and repeated, and with no quiet
    # round left the figures come from throttled rounds, marked as such
    dropped = [r for r in res.rounds if r.status == rs.DROPPED]
    assert len(dropped) == 4 and all(r.reason.startswith("throttled: get_throttled 0x50005")
                                     for r in dropped)  # repeated up to 2x max_rounds
    assert res.session.drop_reasons == {"throttled": 4}
    assert res.throttled is True and res.latency.noisy
    detail = res.throttle_detail
    assert "0x50005 before, 0x50005 after" in detail
    assert re.search(r"now: under-voltage, currently throttled", detail)
    assert "already occurred since boot: under-voltage, currently throttled" in detail
    board = res.environment.board  # the runner took the stub for a Pi's vcgencmd
    assert board["kind"] == "raspberry-pi" and board["arm_clock"] == "frequency(45)=1400000000"
    with console.capture() as captured:
        print_results([res], "pi")
    assert "THROTTLED" in captured.get()


def test_throttling_only_since_boot_is_not_this_run(sshd, tiny_artifacts, tmp_path):
    bin_dir = make_vcgencmd(tmp_path / "tools", THROTTLED_BEFORE)
    entries = collect_artifacts([tiny_artifacts], formats=["onnx"])
    settings = ProfileSettings(**FAST, runtimes=("onnxruntime",))
    with _pi(sshd, tmp_path, bin_dir) as device:
        (res,) = profile(device, entries, settings, tmp_path / "results")
    assert res.status == rs.OK and res.throttled is False
    assert "already occurred since boot: under-voltage, currently throttled" in res.throttle_detail


def test_board_check_decodes_vcgencmd(sshd, tmp_path):
    bin_dir = make_vcgencmd(tmp_path / "tools", THROTTLED_NOW)
    with _pi(sshd, tmp_path, bin_dir) as device:
        check = device.board_check()
        probed = probe(device)
    assert check == {"throttled": "0x50005", "throttled_now": True,
                     "throttled_since_boot": True, "temperature_c": 38.6,
                     "throttle_detail": "0x50005: now: under-voltage, throttled; since boot: "
                                        "under-voltage, throttled"}
    assert probed["environment"]["board"]["check"] == check  # what `devices check` prints


def test_board_check_without_vcgencmd_says_why(sshd, tmp_path):
    with _pi(sshd, tmp_path, None) as device:
        check = device.board_check()
    assert check["throttled"] is None and check["temperature_c"] is None
    assert len(check["errors"]) == 3 and "video" in check["hint"]


def test_preferred_runtimes_run_first(tiny_artifacts):
    entries = collect_artifacts([tiny_artifacts], formats=["onnx", "tflite"])
    available = {"onnxruntime": "1", "litert": "1", "openvino": "1"}
    settings = ProfileSettings(**FAST)
    plans, notes = plan_runs(entries, available, settings)
    default = RaspberryPiDevice(SshConfig(name="pi", kind="rpi", host="127.0.0.1"))
    ordered, _ = default.profiler.refine(plans, notes, settings, available)
    assert [p.runtime for p in ordered] == ["litert", "litert", "onnxruntime", "openvino"]
    mine = RaspberryPiDevice(SshConfig(name="pi", kind="rpi", host="127.0.0.1",
                                          runtimes=["onnxruntime", "tflite"]))
    ordered, _ = mine.profiler.refine(plans, notes, settings, available)
    assert [p.runtime for p in ordered] == ["onnxruntime", "litert", "litert", "openvino"]
    assert preferred_order([]) == ("litert", "tflite_runtime", "onnxruntime")
    assert preferred_order(["tflite", "litert"]) == ("litert", "tflite_runtime")
