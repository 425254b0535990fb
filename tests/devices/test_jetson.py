"""Jetson / TensorRT profiling, replayed from REAL RECORDED tool output.

No Jetson, no TensorRT and no tegrastats can run here, so these tests put small stub
executables on the device's PATH (or pass their paths) that replay real recordings from
``shared/data/jetson/`` (origins in its SOURCES.md): ``trtexec`` prints a recorded trtexec log
(and writes the argv it was given to a file), ``tegrastats`` prints the lines of a recorded
tegrastats log at the requested interval until it is killed, ``nvpmodel -q`` and
``jetson_clocks --show`` print their recordings. Everything else is real: the runner's
``trtexec`` subcommand, the loopback OpenSSH server, the host-side parsing and the saved
results. What the replay cannot show: that a real trtexec accepts these flags, that real
tegrastats flushes its lines promptly into a pipe, and real timings.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devices import open_device
from devices.config import SshConfig
from devices.jetson import JetsonDevice
from devices.shipping import runner_archive
from devices.tensorrt import timed_loop_window, trtexec_options, trtexec_result
from edge_vit import results as rs
from edge_vit.profiling import (
    ProfileSettings,
    RunPlan,
    collect_artifacts,
    load_results,
    plan_runs,
    profile,
    result_path,
)

REPO = Path(__file__).resolve().parents[2]
RUNNER = runner_archive()
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "jetson"
TRT_FP16 = DATA / "trtexec" / "trt8.5.2_orin-nano_onnx-fp16_summary.txt"  # Orin Nano, --fp16
TRT_FP32 = DATA / "trtexec" / "trt10.9_rtx3070_onnx-build_full.txt"  # full log, FP32 (x86)
TEGRASTATS = DATA / "tegrastats" / "xavier-nx-8gb_vdd-mW_timestamped.txt"  # VDD_IN in mW
NVPMODEL = DATA / "nvpmodel" / "orin-nano-8gb_15W_snap.txt"
JETSON_CLOCKS = DATA / "jetson_clocks" / "orin-nano-8gb_jp6_15W_snap.txt"
# layer profiles quoted in public TensorRT issues (tests/data/trtexec-layers/SOURCES.md)
LAYERS = REPO / "tests" / "data" / "trtexec-layers"
TRT_EXPORT = LAYERS / "trt8.4.3_a100_exportProfile_excerpt.json.txt"
TRT_TABLE = LAYERS / "trt8.6.10_foreignnode_dumpProfile_excerpt.txt"

pytestmark = [
    pytest.mark.usefixtures("isolated_home"),
    pytest.mark.skipif(not DATA.is_dir(), reason=f"recordings not found under {DATA}"),
]

# busy_cores: the tests assert what was decided, not that the CI machine was quiet
FAST = dict(warmup=2, warmup_seconds=0.0, min_iterations=10, block_seconds=0.05, rounds=2,
            max_rounds=2, target_ci=0.0, threads=1, busy_cores=1000.0, max_steal_pct=100.0,
            session_sd=0.0)
STUB_EXTRA = {"tegrastats_interval_ms": 10, "trt_warmup_ms": 50}


def _script(path: Path, body: str) -> Path:
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(0o755)
    return path


def make_stubs(root: Path, trtexec: bool = True, pause: float = 0.4) -> Path:
    """A bin folder of replaying stubs; the trtexec stub appends its argv to root/argv.jsonl."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    if trtexec:
        _script(bin_dir / "trtexec", f"""\
import json, sys, time
args = sys.argv[1:]
with open({str(root / "argv.jsonl")!r}, "a") as fh:
    fh.write(json.dumps(args) + "\\n")
fp16 = "--fp16" in args or any(a.endswith(".fp16.engine") for a in args)  # built or loaded
recording = {str(TRT_FP16)!r} if fp16 else {str(TRT_FP32)!r}
text = open(recording, encoding="utf-8").read()
saved = [a.split("=", 1)[1] for a in args if a.startswith("--saveEngine=")]
if saved:  # round 0 builds the engine; later rounds --loadEngine it
    open(saved[0], "wb").write(b"replayed, not an engine")
if "Starting inference" not in text:
    time.sleep({pause!r})  # the summary-only log: the 'run' happens before it
for line in text.splitlines(True):
    sys.stdout.write(line)
    sys.stdout.flush()
    if "Starting inference" in line:
        time.sleep({pause!r})
export = [a.split("=", 1)[1] for a in args if a.startswith("--exportProfile=")]
if export:  # --dumpProfile --exportProfile: the recorded layer profile
    open(export[0], "w").write(open({str(TRT_EXPORT)!r}).read())
    sys.stdout.write(open({str(TRT_TABLE)!r}).read())
""")
    _script(bin_dir / "tegrastats", f"""\
import sys, time
interval = int(sys.argv[sys.argv.index("--interval") + 1]) / 1000.0
lines = [l.rstrip("\\n") for l in open({str(TEGRASTATS)!r}, encoding="utf-8") if l.strip()]
n = 0
while True:  # like tegrastats: one line per interval until killed
    print(lines[n % len(lines)], flush=True)
    n += 1
    time.sleep(interval)
""")
    _script(bin_dir / "nvpmodel", f"""\
import sys
sys.stdout.write(open({str(NVPMODEL)!r}, encoding="utf-8").read())
""")
    _script(bin_dir / "jetson_clocks", f"""\
import sys
sys.stdout.write(open({str(JETSON_CLOCKS)!r}, encoding="utf-8").read())
""")
    return bin_dir


def run_runner(*args: str, path: str | None = None, timeout: float = 60) -> tuple[int, dict]:
    env = dict(os.environ)
    if path is not None:
        env["PATH"] = path
    proc = subprocess.run([sys.executable, str(RUNNER), *args], capture_output=True, text=True,
                          env=env, timeout=timeout)
    return proc.returncode, json.loads(proc.stdout)


def vdd_in_w(lines: list[str]) -> list[float]:
    """VDD_IN of recorded lines, read with a plain regex (independent of the parser)."""
    return [int(m.group(1)) / 1000.0 for line in lines
            if (m := re.search(r"\bVDD_IN (\d+)mW/", line))]


# ---------------------------------------------------------------- the runner subcommand

def test_runner_trtexec_runs_the_tools_and_returns_their_text(tmp_path):
    bin_dir = make_stubs(tmp_path)
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"onnx bytes")
    engine = tmp_path / "engines" / "m.fp16.engine"
    rc, data = run_runner(
        "trtexec", "--onnx", str(onnx), "--precision", "fp16", "--engine", str(engine),
        "--trtexec", str(bin_dir / "trtexec"), "--tegrastats", str(bin_dir / "tegrastats"),
        "--warmup-ms", "50", "--duration-s", "2", "--iterations", "30",
        "--tegrastats-interval-ms", "10", path=f"{bin_dir}:{os.environ['PATH']}")
    assert rc == 0 and data["status"] == "ok" and data["returncode"] == 0, data.get("error")
    expected = [f"--onnx={onnx}", f"--saveEngine={engine}", "--fp16", "--warmUp=50",
                "--duration=2", "--iterations=30"]
    (logged,) = [json.loads(line) for line in (tmp_path / "argv.jsonl").read_text().splitlines()]
    assert logged == expected and data["trtexec_argv"] == [str(bin_dir / "trtexec"), *expected]
    assert data["trtexec_output"] == TRT_FP16.read_text()
    assert engine.exists() and data["engine"] == str(engine)
    recorded = {line.strip() for line in TEGRASTATS.read_text().splitlines() if line.strip()}
    lines = data["tegrastats_output"].split("\n")
    assert len(lines) >= 10 and set(lines) <= recorded
    assert data["tegrastats_argv"][1:] == ["--interval", "10"]
    times = data["tegrastats_times"]
    assert len(times) == len(lines) and times == sorted(times)
    marks = data["marks"]
    assert marks["trtexec_started"] <= marks["inference_finished"] <= marks["trtexec_finished"]
    assert "inference_started" not in marks  # the summary-only log has no such line
    board = data["environment"]["board"]  # read from nvpmodel/jetson_clocks on PATH
    assert board["nvpmodel"] == NVPMODEL.read_text().strip()
    assert board["jetson_clocks"] == JETSON_CLOCKS.read_text().strip()
    assert data["seconds"] > 0 and data["started"] <= data["finished"]


def test_runner_trtexec_marks_the_inference_in_a_full_log(tmp_path):
    bin_dir = make_stubs(tmp_path)
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"x")
    rc, data = run_runner("trtexec", "--onnx", str(onnx), "--tegrastats-interval-ms", "10",
                          path=f"{bin_dir}:{os.environ['PATH']}")
    assert rc == 0, data
    assert data["trtexec_argv"][1:3] == [f"--onnx={onnx}",
                                         f"--saveEngine={tmp_path / 'm.fp32.engine'}"]
    assert not any(a in data["trtexec_argv"] for a in ("--fp16", "--int8"))
    marks = data["marks"]
    assert marks["inference_finished"] - marks["inference_started"] >= 0.3  # the stub's pause


def test_runner_trtexec_missing_is_exit_3_with_the_jetpack_hint(tmp_path):
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"x")
    rc, data = run_runner("trtexec", "--onnx", str(onnx), path="/usr/bin:/bin")
    assert rc == 3 and data["status"] == "failed" and data["error_type"] == "MissingRuntime"
    assert "/usr/src/tensorrt/bin/trtexec" in data["hint"]
    rc, data = run_runner("trtexec", "--which", path="/usr/bin:/bin")
    assert rc == 0 and data["trtexec"] is None and "/usr/src/tensorrt/bin" in data["hint"]


def test_runner_trtexec_failure_and_timeout_are_json(tmp_path):
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"x")
    broken = _script(tmp_path / "trtexec-broken", "import sys\nsys.exit(1)\n")
    rc, data = run_runner("trtexec", "--onnx", str(onnx), "--trtexec", str(broken))
    assert rc == 1 and data["status"] == "failed" and data["returncode"] == 1
    assert data["error"].startswith("trtexec exited 1")
    hung = _script(tmp_path / "trtexec-hung", "import time\ntime.sleep(60)\n")
    rc, data = run_runner("trtexec", "--onnx", str(onnx), "--trtexec", str(hung),
                          "--timeout", "0.5")
    assert rc == 1 and data["timed_out"] and "--timeout" in data["error"]
    rc, data = run_runner("trtexec", "--onnx", str(tmp_path / "nope.onnx"),
                          "--trtexec", str(broken))
    assert rc == 4 and data["error_type"] == "ArtifactError"


def test_runner_trtexec_sigterm_stops_trtexec_and_tegrastats(tmp_path):
    """A host-side timeout sends SIGTERM: the runner still prints JSON, and neither tool is
    left running on the device (an orphaned tegrastats would sample forever)."""
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"x")
    pids = {name: tmp_path / f"{name}.pid" for name in ("trtexec", "tegrastats")}
    for name, pid in pids.items():
        _script(tmp_path / name, f"import os, time\nopen({str(pid)!r}, 'w').write("
                                 f"str(os.getpid()))\nwhile True:\n    time.sleep(0.05)\n")
    proc = subprocess.Popen([sys.executable, str(RUNNER), "trtexec", "--onnx", str(onnx),
                             "--trtexec", str(tmp_path / "trtexec"),
                             "--tegrastats", str(tmp_path / "tegrastats")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 30
    while not all(p.exists() and p.read_text() for p in pids.values()):
        assert time.monotonic() < deadline, "the tools never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    data = json.loads(out)
    assert proc.returncode == 128 + signal.SIGTERM and data["error_type"] == "Interrupted"
    for pid_file in pids.values():
        pid = int(pid_file.read_text())
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


# ---------------------------------------------------------------- host-side parsing

def test_power_comes_from_the_samples_inside_the_timed_loop(tiny_artifacts):
    """Hand-set arrival times: the window is the Total Host Walltime before the summary."""
    lines = [line.strip() for line in TEGRASTATS.read_text().splitlines() if line.strip()]
    times = [round(0.1 * i, 3) for i in range(len(lines))]
    data = {"status": "ok", "trtexec_output": TRT_FP16.read_text(),
            "tegrastats_output": "\n".join(lines), "tegrastats_times": times,
            "tegrastats_path": "/usr/bin/tegrastats",
            "marks": {"trtexec_started": 0.0, "inference_finished": 3.65,
                      "trtexec_finished": 3.7},
            "environment": None, "notes": []}
    plan = _onnx_plan(tiny_artifacts, "fp16")
    opts = trtexec_options(ProfileSettings(**FAST))
    res = trtexec_result(data, plan, "orin", "jetson", opts)
    assert res.status == rs.OK and res.source == "trtexec"
    walltime, queries = 3.0348, round(97.8649 * 3.0348)  # from the recording's summary
    start, end, _ = timed_loop_window(data, walltime, opts["warmup_ms"])
    assert (start, end) == (pytest.approx(3.65 - walltime), 3.65)
    inside = [line for t, line in zip(times, lines, strict=True) if start <= t <= end]
    assert len(inside) == 30
    watts = vdd_in_w(inside)
    assert res.power.samples == 30 and res.power.source == "tegrastats (VDD_IN)"
    assert res.power.mean_w == pytest.approx(sum(watts) / len(watts))
    assert res.power.peak_w == pytest.approx(max(watts))
    assert res.latency.count == queries == 297
    assert res.power.energy_per_inference_mj == pytest.approx(
        sum(watts) / len(watts) * walltime / queries * 1000.0)
    assert any(n.startswith("power: 30 tegrastats (VDD_IN) samples") for n in res.notes)


def test_trtexec_result_figures_and_notes(tiny_artifacts):
    plan = _onnx_plan(tiny_artifacts, "fp32")
    data = {"status": "ok", "trtexec_output": TRT_FP32.read_text(), "tegrastats_output": "",
            "marks": {}, "environment": None, "notes": [], "trtexec_argv": ["trtexec"]}
    res = trtexec_result(data, plan, "orin", "jetson", trtexec_options(ProfileSettings(**FAST)))
    lat = res.latency
    assert (lat.p50, lat.p90, lat.p95, lat.p99) == (112.567, 114.427, 115.415, 115.703)
    assert lat.count == 29 and lat.throughput_ips == 8.66824 and not lat.noisy
    s = res.settings
    assert s.runtime == "tensorrt" and s.inference_precision == "fp32"
    assert s.runtime_version == "10.9.0" and s.device == "NVIDIA GeForce RTX 3070"
    assert s.options["engine_build_seconds"] == 104.774 and res.load_seconds == 0.21022
    assert s.options["gpu_compute_ms"]["median"] == 111.208
    assert res.power is None
    assert any("H2D copy + GPU compute + D2H copy" in n for n in res.notes)


def test_trtexec_failure_output_becomes_a_failed_result(tiny_artifacts):
    plan = _onnx_plan(tiny_artifacts, "fp16")
    data = {"status": "failed", "error": "trtexec exited 1: [E] Error[4]: bad shape",
            "trtexec_output": "", "marks": {}, "environment": None, "notes": []}
    res = trtexec_result(data, plan, "orin", "jetson", trtexec_options(ProfileSettings(**FAST)))
    assert res.status == rs.FAILED and "Error[4]" in res.error and res.latency is None


# ---------------------------------------------------------------- planning

def _onnx_plan(tiny_artifacts, precision: str) -> RunPlan:
    (entry,) = collect_artifacts([tiny_artifacts], formats=["onnx"])
    return RunPlan(entry=entry, runtime="tensorrt",
                   options={"native": True, "run_precision": precision})


def _offline_jetson(trtexec: str | None) -> JetsonDevice:
    device = JetsonDevice(SshConfig(name="orin", kind="jetson", host="127.0.0.1"))
    device.profiler.locate_tools = lambda settings=None: {"trtexec": trtexec, "tegrastats": None,
                                                 "hint": "JetPack ships it"}
    return device


@pytest.mark.parametrize("extra, precisions", [({}, ["fp32", "fp16"]),
                                               ({"trt_int8": True}, ["fp32", "fp16", "int8"])])
def test_tensorrt_runs_are_planned_first_for_each_onnx_artifact(tiny_artifacts, tmp_path,
                                                                extra, precisions):
    entries = collect_artifacts([tiny_artifacts])
    settings = ProfileSettings(**FAST, extra=extra)
    plans, notes = plan_runs(entries, {"onnxruntime": "1", "openvino": "1"}, settings)
    plans, notes = _offline_jetson("/usr/src/tensorrt/bin/trtexec").profiler.refine(
        plans, notes, settings, {})
    trt = [p for p in plans if p.runtime == "tensorrt"]
    assert plans[:len(trt)] == trt and [p.options["run_precision"] for p in trt] == precisions
    assert {p.entry.record.format for p in trt} == {"onnx"}
    names = [result_path(tmp_path, "orin", p).name for p in trt]
    assert names == [f"onnx-fp32-tensorrt-{p}.json" for p in precisions]
    assert "tensorrt-fp16" in trt[1].label


def test_runtimes_filter_decides_whether_tensorrt_runs(tiny_artifacts):
    entries = collect_artifacts([tiny_artifacts], formats=["onnx"])
    device = _offline_jetson("/x/trtexec")
    only_trt = ProfileSettings(**FAST, runtimes=("tensorrt",))
    plans, notes = plan_runs(entries, {"onnxruntime": "1"}, only_trt)
    assert plans[0].options.get("filtered") and not notes  # filtered out by the user: a gap
    plans, notes = device.profiler.refine(plans, notes, only_trt, {"onnxruntime": "1"})
    assert [p.runtime for p in plans] == ["tensorrt", "tensorrt"] and notes == []
    no_trt = ProfileSettings(**FAST, runtimes=("onnxruntime",))
    plans, notes = plan_runs(entries, {"onnxruntime": "1"}, no_trt)
    assert device.profiler.refine(plans, notes, no_trt, {})[0] == plans


# ---------------------------------------------------------------- over SSH, end to end

def _jetson(sshd, tmp_path, bin_dir: Path):
    config = sshd.device_config(name="orin", kind="jetson", python=sys.executable,
                                workdir=str(tmp_path / "remote"))
    device = open_device(config)
    assert isinstance(device, JetsonDevice)
    device.extra_env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return device


def test_profile_on_a_jetson_over_ssh_saves_trtexec_results(sshd, tiny_artifacts, tmp_path):
    bin_dir = make_stubs(tmp_path / "tools")
    entries = collect_artifacts([tiny_artifacts], formats=["onnx"])
    settings = ProfileSettings(**FAST, runtimes=("tensorrt",), extra=dict(STUB_EXTRA))
    said: list[str] = []
    with _jetson(sshd, tmp_path, bin_dir) as device:
        results = profile(device, entries, settings, tmp_path / "results", progress=said.append)
    assert [(r.settings.runtime, r.settings.inference_precision) for r in results] == [
        ("tensorrt", "fp32"), ("tensorrt", "fp16")]
    folder = tmp_path / "results" / "orin" / "tiny"
    assert sorted(p.name for p in folder.glob("*.json")) == ["onnx-fp32-tensorrt-fp16.json",
                                                             "onnx-fp32-tensorrt-fp32.json"]
    saved = {r.settings.inference_precision: r for r in load_results(tmp_path / "results")}
    fp32, fp16 = saved["fp32"], saved["fp16"]
    for r in (fp32, fp16):
        assert r.status == rs.OK and r.source == "trtexec" and r.device_kind == "jetson"
        assert r.artifact.format == "onnx" and r.artifact.precision == "fp32"
    # the exact figures of the recordings, replayed in each round: one trtexec run per
    # round (round 0 builds the engine and is not counted), summarised over the rounds
    for r, p50, count in ((fp16, 10.7972, 297), (fp32, 112.567, 29)):
        assert [x.status for x in r.rounds] == [rs.WARMUP, rs.COUNTED, rs.COUNTED]
        assert [x.count for x in r.rounds] == [count] * 3
        assert r.latency.p50 == pytest.approx(p50) and r.latency.rounds == 2
        assert r.latency.p50_ci == [pytest.approx(p50)] * 2  # identical replays: no spread
        assert r.latency.count == 2 * count and r.session.stopped_by == "max rounds"
        assert r.latency.ci_method.startswith("geometric mean of per-round")
    assert fp16.latency.p99 == pytest.approx(10.9744)
    assert fp16.latency.throughput_ips == 97.8649 and fp16.settings.runtime_version == "8.5.2"
    assert any("built on the device" in n for n in fp32.notes)  # from round 0 (full log)
    # power from the replayed tegrastats lines inside each run's window
    watts = vdd_in_w(TEGRASTATS.read_text().splitlines())
    for r, walltime in ((fp16, 3.0348), (fp32, 3.34555)):
        p = r.power
        assert p.source == "tegrastats (VDD_IN)" and p.samples > 0
        assert min(watts) <= p.mean_w <= p.peak_w <= max(watts)
        assert p.energy_per_inference_mj == pytest.approx(  # of the last round's run
            p.mean_w * walltime / r.rounds[-1].count * 1000.0)
        assert set(p.rails) == {"VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"}
    # board facts from the replayed nvpmodel / jetson_clocks
    board = fp16.environment.board
    assert board["power_mode"] == "15W" and board["power_mode_id"] == 0
    assert board["clocks_pinned"] is False and "GPU" in board["clocks_not_pinned"]
    assert any("clocks were not pinned" in n for n in fp16.notes)
    # what the device's trtexec was asked to do
    calls = [json.loads(x) for x in (tmp_path / "tools" / "argv.jsonl").read_text().splitlines()]
    remote_onnx = f"{tmp_path / 'remote'}/artifacts/tiny/{entries[0].record.path}"
    engine = (f"{tmp_path / 'remote'}/engines/tiny/{Path(entries[0].record.path).stem}"
              f".fp16.engine")
    fp16_calls = [c for c in calls if any("fp16" in a for a in c)]
    assert len(calls) == 6 and fp16_calls[0] == [  # round 0: build it ...
        f"--onnx={remote_onnx}", f"--saveEngine={engine}", "--fp16", "--warmUp=50",
        "--duration=1", "--iterations=10"]
    assert fp16_calls[1:] == [[f"--loadEngine={engine}", "--warmUp=50", "--duration=1",
                               "--iterations=10"]] * 2  # ... then load it every round
    fp32_build = [c for c in calls if any(a.startswith("--saveEngine") for a in c)
                  and c not in fp16_calls]
    assert len(fp32_build) == 1 and "--int8" not in fp32_build[0]
    assert any("on tensorrt-fp16" in m for m in said)
    assert not any("no runtime" in m for m in said)


def test_profile_without_trtexec_falls_back_to_onnxruntime(sshd, tiny_artifacts, tmp_path):
    bin_dir = make_stubs(tmp_path / "tools", trtexec=False)
    entries = collect_artifacts([tiny_artifacts], formats=["onnx"])
    settings = ProfileSettings(**FAST, runtimes=("tensorrt",), extra=dict(STUB_EXTRA))
    said: list[str] = []
    with _jetson(sshd, tmp_path, bin_dir) as device:
        results = profile(device, entries, settings, tmp_path / "results", progress=said.append)
        check = device.board_check()
    (res,) = results
    assert res.status == rs.OK and res.settings.runtime == "onnxruntime"
    assert res.source == "edge-vit runner"
    assert any("trtexec was not found on orin" in n and "instead of TensorRT" in n
               for n in res.notes)
    assert any(m.startswith("note: trtexec was not found") for m in said)
    saved = [p.name for p in (tmp_path / "results" / "orin" / "tiny").glob("*.json")]
    assert saved == ["onnx-fp32-onnxruntime.json"]
    assert check["trtexec"] is None and check["power_mode"] == "15W"


def test_layer_profile_on_a_jetson_comes_from_trtexec(sshd, tiny_artifacts, tmp_path):
    from edge_vit.layers.run import LayerSettings, profile_layers
    from edge_vit.profiling import device_plans

    bin_dir = make_stubs(tmp_path / "tools")
    entries = collect_artifacts([tiny_artifacts], formats=["onnx"])
    settings = ProfileSettings(**FAST, runtimes=("tensorrt",), extra=dict(STUB_EXTRA))
    with _jetson(sshd, tmp_path, bin_dir) as device:
        plans, _ = device_plans(device, entries, settings)
        out = profile_layers(device, plans, settings, LayerSettings(rounds=2, iterations=5),
                             tmp_path / "results")
    assert [(p.runtime, p.inference_precision) for p in out] == [("tensorrt", "fp32"),
                                                                  ("tensorrt", "fp16")]
    calls = [json.loads(x) for x in (tmp_path / "tools" / "argv.jsonl").read_text().splitlines()]
    profiled = [c for c in calls if "--dumpProfile" in c]
    assert len(profiled) == 4 and all("--separateProfileRun" in c for c in profiled)
    assert all(any(a.startswith("--exportProfile=") and a.endswith(".layers.json") for a in c)
               for c in profiled)
    for p in out:
        assert p.status == rs.OK and p.source == "trtexec" and len(p.rounds) == 2
        # the recording's two Myelin regions, read from the export file (not the table)
        assert [o.name for o in p.ops] == ["{ForeignNode[ReduceMean_4492...Mul_4557]}",
                                           "{ForeignNode[ReduceMean_699...Mul_764]}"]
        assert [o.ms for o in p.ops] == [37.2818, 37.2818]
        # their node names are not a ViT's: all "other", said with its share, not guessed
        assert p.other_share == pytest.approx(1.0) and p.other_ops == sorted(
            o.name for o in p.ops)
        assert p.macs_source and any("profiled iterations" in n for n in p.notes)
