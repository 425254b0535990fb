"""edge-vit profile on the local device and over SSH to a real OpenSSH server on loopback."""

from __future__ import annotations

import json
import sys
import threading

import pytest
from click.testing import CliRunner

from devices import open_device
from edge_vit import results as rs
from edge_vit.commands import main
from edge_vit.errors import DeviceError, DeviceUnreachableError, HostKeyError
from edge_vit.profiling import (
    ProfileSettings,
    collect_artifacts,
    deploy,
    load_results,
    plan_runs,
    profile,
)

FAST = ProfileSettings(warmup=2, min_iterations=10, min_seconds=0.05, max_seconds=5, threads=1)


def _check_ok(res: rs.ProfileResult):
    assert res.status == rs.OK, res.error
    lat = res.latency
    assert lat.count >= FAST.min_iterations
    assert lat.min <= lat.p50 <= lat.p90 <= lat.p99 <= lat.max
    assert lat.p50_ci[0] <= lat.p50 <= lat.p50_ci[1]
    assert res.environment.cpu_model and res.environment.cores_logical >= 1
    assert res.memory.peak_rss_mb > 0
    assert res.settings.inference_precision in ("fp32", "bf16", "fp16")


def test_every_artifact_with_every_runtime_locally(tiny_artifacts, tmp_path):
    entries = collect_artifacts([tiny_artifacts])
    with open_device(_local_config(tmp_path)) as device:
        results = profile(device, entries, FAST, tmp_path / "results")
    pairs = {(r.artifact.format, r.artifact.precision, r.settings.runtime) for r in results}
    assert pairs == {("onnx", "fp32", "onnxruntime"), ("onnx", "fp32", "openvino"),
                     ("openvino", "fp32", "openvino"), ("openvino", "fp16", "openvino"),
                     ("tflite", "fp32", "litert"), ("tflite", "fp16", "litert")}
    for r in results:
        _check_ok(r)
        assert r.device_name == "local" and r.artifact.sha256
    saved = load_results(tmp_path / "results")
    assert len(saved) == 6 and {s.schema_version for s in saved} == {rs.PROFILE_SCHEMA_VERSION}


def test_openvino_records_the_precision_it_really_ran(tiny_artifacts, tmp_path):
    entries = collect_artifacts([tiny_artifacts], formats=["openvino"])
    with open_device(_local_config(tmp_path)) as device:
        pinned = profile(device, entries[:1], ProfileSettings(**{**FAST.__dict__,
                                                                 "ov_precision": "f32"}),
                         tmp_path / "a")
    assert pinned[0].settings.inference_precision == "fp32"


def test_plan_reports_artifacts_no_runtime_can_run(tiny_artifacts):
    entries = collect_artifacts([tiny_artifacts])
    plans, notes = plan_runs(entries, {"onnxruntime": "1.0"}, FAST)
    unsupported = [p for p in plans if p.options.get("unsupported")]
    assert {p.entry.record.format for p in unsupported} == {"openvino", "tflite"}
    assert any("no runtime for tflite" in n for n in notes)


def _local_config(tmp_path):
    from devices.inventory import DeviceConfig

    return DeviceConfig(name="local", kind="local", workdir=str(tmp_path / "workdir"))


def test_deploy_and_profile_over_ssh(sshd, tiny_artifacts, tmp_path):
    config = sshd.device_config(name="loopback", python=sys.executable,
                                workdir=str(tmp_path / "remote"))
    entries = collect_artifacts([tiny_artifacts])
    with open_device(config) as device:
        first = deploy(device, entries)
        again = deploy(device, entries)
        assert first.transferred and not again.transferred  # same sha256: nothing re-sent
        results = profile(device, entries, FAST, tmp_path / "results")
    assert {r.artifact.format for r in results} == {"onnx", "openvino", "tflite"}
    for r in results:
        _check_ok(r)
        assert r.device_kind == "ssh" and r.device_name == "loopback"
    assert (tmp_path / "remote" / "artifacts" / "tiny" / "openvino").is_dir()


def test_cli_deploy_and_profile_over_ssh(sshd, tiny_artifacts, tmp_path):
    inventory = sshd.write_inventory(tmp_path / "devices.toml", "loop", tmp_path / "remote",
                                     connect_timeout=3.0)
    runner = CliRunner()
    dep = runner.invoke(main, ["deploy", str(tiny_artifacts), "--device", "loop",
                               "--inventory", str(inventory)])
    assert dep.exit_code == 0, dep.output
    assert "file(s) sent" in dep.output
    res = runner.invoke(main, ["profile", str(tiny_artifacts), "--device", "loop",
                               "--inventory", str(inventory), "--formats", "onnx",
                               "--runtime", "onnxruntime", "--min-iterations", "10",
                               "--min-seconds", "0.05", "--warmup", "2",
                               "--results", str(tmp_path / "res")])
    assert res.exit_code == 0, res.output
    assert "onnxruntime" in res.output and "p50" in res.output
    (saved,) = (tmp_path / "res" / "loop" / "tiny").glob("*.json")
    assert json.loads(saved.read_text())["status"] == "ok"


def test_changed_host_key_is_refused(sshd_rekeyed, tiny_artifacts):
    old, new = sshd_rekeyed
    config = old.device_config(trust_on_first_use=True)  # even TOFU never accepts a change
    with pytest.raises(HostKeyError):
        with open_device(config) as device:
            deploy(device, collect_artifacts([tiny_artifacts]))


def test_unreachable_device_fails_within_timeout(closed_port, tiny_artifacts):
    import time

    from devices.inventory import DeviceConfig

    config = DeviceConfig(name="gone", kind="ssh", host="127.0.0.1", port=closed_port,
                          connect_timeout=2.0, retries=0)
    t0 = time.monotonic()
    with pytest.raises(DeviceUnreachableError, match=str(closed_port)):
        with open_device(config) as device:
            deploy(device, collect_artifacts([tiny_artifacts]))
    assert time.monotonic() - t0 < 10


def test_device_dying_mid_run_keeps_finished_results(sshd_factory, tiny_artifacts, tmp_path):
    server = sshd_factory()
    config = server.device_config(name="flaky", python=sys.executable,
                                  workdir=str(tmp_path / "remote"))
    entries = collect_artifacts([tiny_artifacts])
    done: list[str] = []

    def progress(msg: str):
        done.append(msg)
        if sum("p50" in m for m in done) == 2:  # two results saved: pull the plug
            threading.Thread(target=lambda: (server.kill_sessions(), server.stop())).start()

    with pytest.raises(DeviceError):
        with open_device(config) as device:
            profile(device, entries, ProfileSettings(**{**FAST.__dict__, "min_seconds": 1.0}),
                    tmp_path / "results", progress=progress)
    saved = load_results(tmp_path / "results")
    ok = [r for r in saved if r.status == rs.OK]
    failed = [r for r in saved if r.status == rs.FAILED]
    assert len(ok) >= 2 and failed and "device failed" in failed[0].error


def test_skip_existing_keeps_results_measured_the_same_way(tiny_artifacts, tmp_path):
    entries = collect_artifacts([tiny_artifacts], formats=["onnx"])
    settings = ProfileSettings(**{**FAST.__dict__, "runtimes": ("onnxruntime",)})
    with open_device(_local_config(tmp_path)) as device:
        first = profile(device, entries, settings, tmp_path / "r")
        kept = profile(device, entries, settings, tmp_path / "r", skip_existing=True)
        other = ProfileSettings(**{**settings.__dict__, "min_iterations": 12})
        remeasured = profile(device, entries, other, tmp_path / "r", skip_existing=True)
    assert kept[0].started == first[0].started  # resumed: not measured again
    assert remeasured[0].started != first[0].started  # other settings: measured again
    assert remeasured[0].settings.min_iterations == 12
