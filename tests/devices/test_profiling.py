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

# busy_cores, max_steal_pct: never drop a block for what else runs on the CI machine or its
# host (test_session tests that)
FAST = ProfileSettings(warmup=2, warmup_seconds=0.0, min_iterations=5, block_seconds=0.02,
                       rounds=2, max_rounds=2, target_ci=0.0, max_seconds=120, threads=1,
                       busy_cores=1000.0, max_steal_pct=100.0)


def _check_ok(res: rs.ProfileResult, rounds: int = 2):
    """``rounds``: the rounds every unit must have counted. A unit may count more: a round
    that another unit lost to a slow spell of the machine is repeated for all (they stay
    interleaved), and a shared CI machine has such spells."""
    assert res.status == rs.OK, res.error
    lat = res.latency
    assert rounds <= lat.rounds <= 2 * rounds and lat.count >= rounds * FAST.min_iterations
    assert lat.min <= lat.p50 <= lat.p90 <= lat.p99 <= lat.max
    assert lat.p50_ci[0] <= lat.p50 <= lat.p50_ci[1] and lat.ci_method.startswith("two-level")
    assert res.environment.cpu_model and res.environment.cores_logical >= 1
    assert res.memory.peak_rss_mb > 0
    assert res.settings.inference_precision in ("fp32", "bf16", "fp16")
    # every round is kept: the warm-up/calibration round, then the counted ones
    assert [r.status for r in res.rounds][0] == rs.WARMUP
    counted = [r for r in res.rounds if r.status == rs.COUNTED]
    assert len(counted) == lat.rounds and all(r.count == len(r.times_ms) for r in counted)
    assert len({r.count for r in counted}) == 1  # the block size is fixed after calibration
    assert res.session.complete and res.session.rounds_counted == lat.rounds


def _check_session(results: list, rounds: int = 2):
    """The session stopped when its last unit reached ``rounds`` counted rounds."""
    for r in results:
        _check_ok(r, rounds)
    assert min(r.latency.rounds for r in results) == rounds


def test_every_artifact_with_every_runtime_locally(tiny_artifacts, tmp_path):
    entries = collect_artifacts([tiny_artifacts])
    with open_device(_local_config(tmp_path)) as device:
        results = profile(device, entries, FAST, tmp_path / "results")
    pairs = {(r.artifact.format, r.artifact.precision, r.settings.runtime) for r in results}
    assert pairs == {("onnx", "fp32", "onnxruntime"), ("onnx", "fp32", "openvino"),
                     ("openvino", "fp32", "openvino"), ("openvino", "fp16", "openvino"),
                     ("tflite", "fp32", "litert"), ("tflite", "fp16", "litert")}
    _check_session(results)
    for r in results:
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
    _check_session(results)
    for r in results:
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
                               "--runtime", "onnxruntime", "--min-iterations", "5",
                               "--block-seconds", "0.02", "--warmup", "2", "--rounds", "2",
                               "--max-rounds", "2", "--busy-cores", "1000",
                               "--results", str(tmp_path / "res")])
    assert res.exit_code == 0, res.output
    assert "onnxruntime" in res.output and "p50" in res.output and "rounds" in res.output
    (saved,) = (tmp_path / "res" / "loop" / "tiny").glob("*.json")
    data = json.loads(saved.read_text())
    assert data["status"] == "ok" and data["session"]["rounds_counted"] == 2
    bad = runner.invoke(main, ["profile", str(tiny_artifacts), "--device", "loop",
                               "--inventory", str(inventory), "--rounds", "5",
                               "--max-rounds", "2"])
    assert bad.exit_code == 2 and "Impossible profile settings" in bad.output


def test_changed_host_key_is_refused(sshd_rekeyed, tiny_artifacts):
    old, new = sshd_rekeyed
    config = old.device_config(trust_on_first_use=True)  # even TOFU never accepts a change
    with pytest.raises(HostKeyError):
        with open_device(config) as device:
            deploy(device, collect_artifacts([tiny_artifacts]))


def test_unreachable_device_fails_within_timeout(closed_port, tiny_artifacts):
    import time

    from devices.config import SshConfig

    config = SshConfig(name="gone", kind="ssh", host="127.0.0.1", port=closed_port,
                          connect_timeout=2.0, retries=0)
    t0 = time.monotonic()
    with pytest.raises(DeviceUnreachableError, match=str(closed_port)):
        with open_device(config) as device:
            deploy(device, collect_artifacts([tiny_artifacts]))
    assert time.monotonic() - t0 < 10


def test_device_dying_mid_session_keeps_its_rounds_and_resumes(sshd_factory, tiny_artifacts,
                                                                tmp_path):
    server = sshd_factory()
    workdir = str(tmp_path / "remote")
    entries = collect_artifacts([tiny_artifacts], formats=["onnx", "tflite"])
    settings = ProfileSettings(**{**FAST.__dict__, "rounds": 6, "max_rounds": 6})
    said: list[str] = []

    def progress(msg: str):
        said.append(msg)
        if msg.startswith("  round 2:"):  # two rounds persisted: pull the plug
            threading.Thread(target=lambda: (server.kill_sessions(), server.stop())).start()

    with pytest.raises(DeviceError):
        with open_device(server.device_config(name="flaky", python=sys.executable,
                                              workdir=workdir)) as device:
            profile(device, entries, settings, tmp_path / "results", progress=progress)
    saved = load_results(tmp_path / "results")
    assert len(saved) == 4  # onnx in onnxruntime and openvino, two tflite files in litert
    for r in saved:  # what was measured before the device died is kept, marked incomplete
        assert r.status == rs.OK and not r.session.complete
        # both rounds kept; one may have been dropped (a slow spell of a shared CI machine)
        assert r.session.rounds_run >= 2 and 1 <= r.session.rounds_counted < 6
        assert r.session.stopped_by.startswith("device failed")
        assert any("resumes it" in n for n in r.notes)
    # the board is back (a new server): profiling again resumes the session
    again = sshd_factory()
    resumed: list[str] = []
    with open_device(again.device_config(name="flaky", python=sys.executable,
                                         workdir=workdir)) as device:
        results = profile(device, entries, settings, tmp_path / "results",
                          progress=resumed.append)
    assert any("resuming after" in m for m in resumed)
    assert not any(m.startswith("  round 1:") for m in resumed)  # not measured twice
    _check_session(results, rounds=6)
    session = tmp_path / "results" / "flaky" / "sessions" / results[0].session.id
    assert sorted(p.name for p in session.iterdir()) == ["plan.json", "session.json"]


def test_skip_existing_keeps_results_measured_the_same_way(tiny_artifacts, tmp_path):
    entries = collect_artifacts([tiny_artifacts], formats=["onnx"])
    settings = ProfileSettings(**{**FAST.__dict__, "runtimes": ("onnxruntime",)})
    with open_device(_local_config(tmp_path)) as device:
        first = profile(device, entries, settings, tmp_path / "r")
        kept = profile(device, entries, settings, tmp_path / "r", skip_existing=True)
        other = ProfileSettings(**{**settings.__dict__, "min_iterations": 12})
        remeasured = profile(device, entries, other, tmp_path / "r", skip_existing=True)
        again = profile(device, entries, other, tmp_path / "r")  # not kept: measured anew
    assert kept[0].started == first[0].started  # resumed: not measured again
    assert remeasured[0].started != first[0].started  # other settings: measured again
    assert remeasured[0].settings.options["requested"]["min_iterations"] == 12
    assert remeasured[0].settings.min_iterations >= 12  # the calibrated block size
    assert again[0].started != remeasured[0].started and again[0].session.complete


def test_a_session_over_ssh_feeds_the_report_paired_rounds(sshd, tiny_artifacts, tmp_path):
    """End to end over the loopback SSH device: three tiny artifacts (ONNX, OpenVINO IR,
    TFLite) and a pruned ONNX variant of the same architecture, measured in one session of
    rounds; the report takes its intervals and the pruned model's speedup from those rounds."""
    from edge_vit.export import ExportOptions, ModelOptions, run_export
    from edge_vit.reporting import build_report, write_report
    from edge_vit.reporting import columns as C

    kwargs = {"img_size": 32, "patch_size": 8, "depth": 2, "num_classes": 10}
    pruned = run_export(ExportOptions(model=ModelOptions(name="deit_tiny_patch16_224",
                                                         model_kwargs=kwargs,
                                                         prune="heads=0.34,mlp=0.5"),
                                      formats=("onnx",), out_root=tmp_path / "art",
                                      model_id="tiny-cut"))
    entries = [e for e in collect_artifacts([tiny_artifacts]) if e.record.precision == "fp32"]
    entries += collect_artifacts([pruned.manifest_path.parent])
    assert len(entries) == 4
    settings = ProfileSettings(**{**FAST.__dict__, "rounds": 3, "max_rounds": 3})
    config = sshd.device_config(name="loopback", python=sys.executable,
                                workdir=str(tmp_path / "remote"))
    with open_device(config) as device:
        results = profile(device, entries, settings, tmp_path / "results")
    assert len(results) == 6 and len({r.session.id for r in results}) == 1
    _check_session(results, rounds=3)
    report = build_report([tiny_artifacts, pruned.manifest_path.parent], tmp_path / "results",
                          tmp_path / "results" / "accuracy")
    rows = [r for r in report.rows if r.device == "loopback" and r.p50_ms]
    assert len(rows) == 6
    by_key = {(r.artifact.model_id, r.artifact.format, r.artifact.precision, r.settings.runtime):
              r for r in results}
    counted = {k: r.latency.rounds for k, r in by_key.items()}
    for r in rows:
        res = by_key[(r.model_id, r.format, r.precision, r.runtime)]
        assert r.rounds == res.latency.rounds
        assert r.rounds_dropped == res.session.rounds_dropped
        assert r.session_id == results[0].session.id
        assert r.p50_ci_low_ms <= r.p50_ms <= r.p50_ci_high_ms
    cut = next(r for r in rows if r.model_id == "tiny-cut" and r.runtime == "onnxruntime")
    assert cut.baseline_model_id == "tiny" and cut.speedup_method == "paired rounds"
    assert cut.speedup_ci_low <= cut.speedup <= cut.speedup_ci_high
    assert cut.speedup_resolved is not None
    env = report.environment("loopback")
    assert env.sessions == [results[0].session.id] and env.rounds_min == 3
    assert env.rounds_max == max(counted.values())
    line = C.measurement_quality(env)
    span = "3" if env.rounds_max == 3 else f"3–{env.rounds_max}"
    assert f"{span} counted rounds per artifact (stopped by: max rounds" in line
    assert "widest p50 interval ±" in line
    html = write_report(report, tmp_path / "report")["html"].read_text()
    assert "measurement" in html and "paired" in html
