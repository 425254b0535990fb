"""The measurement session on the local device with real runtimes: the stopping rule, busy
rounds, a failing artifact among good ones, and result identities. No timing thresholds: the
assertions are on what was decided and recorded, never on how fast anything ran."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from devices import open_device
from devices.inventory import DeviceConfig
from edge_vit import results as rs
from edge_vit.measurement.segment import culprit as _culprit
from edge_vit.measurement.unit import Unit as _Unit
from edge_vit.profiling import ProfileSettings, collect_artifacts, probe
from edge_vit.profiling import profile as _profile

# busy_cores, max_steal_pct: only the busy-machine test below lets a block be dropped for
# other processes (one tick of steal is 25 % of a 0.02 s block on 2 CPUs)
FAST = dict(warmup=2, warmup_seconds=0.0, min_iterations=5, block_seconds=0.02, threads=1,
            busy_cores=1000.0, max_steal_pct=100.0)


@pytest.fixture(scope="module")
def runtimes(tmp_path_factory) -> dict:
    """What the local device has, asked once (a probe imports every runtime: seconds)."""
    with _local(tmp_path_factory.mktemp("probe")) as device:
        return probe(device)["runtimes"]


def profile(device, entries, settings, results_dir, available):
    return _profile(device, entries, settings, results_dir, available=available)


def _local(tmp_path):
    return open_device(DeviceConfig(name="local", kind="local",
                                    workdir=str(tmp_path / "workdir")))


def _onnx(tiny_artifacts):
    return collect_artifacts([tiny_artifacts], formats=["onnx"])


def test_stops_at_the_target_once_it_has_its_rounds(tiny_artifacts, tmp_path, runtimes):
    settings = ProfileSettings(**FAST, rounds=3, max_rounds=20, target_ci=0.9,
                               runtimes=("onnxruntime",))
    with _local(tmp_path) as device:
        (res,) = profile(device, _onnx(tiny_artifacts), settings, tmp_path / "r", runtimes)
    assert res.session.stopped_by == "target" and res.session.rounds_run == 3
    assert res.session.rounds_counted == 3 and res.latency.rounds == 3
    half = (res.latency.p50_ci[1] - res.latency.p50_ci[0]) / 2 / res.latency.p50
    assert half <= 0.9


def test_max_rounds_and_the_time_budget_stop_it(tiny_artifacts, tmp_path, runtimes):
    capped = ProfileSettings(**FAST, rounds=2, max_rounds=3, target_ci=0.0,
                             runtimes=("onnxruntime",))
    budget = ProfileSettings(**FAST, rounds=2, max_rounds=30, target_ci=0.0, max_seconds=0.01,
                             runtimes=("onnxruntime",))
    with _local(tmp_path) as device:
        (a,) = profile(device, _onnx(tiny_artifacts), capped, tmp_path / "a", runtimes)
        (b,) = profile(device, _onnx(tiny_artifacts), budget, tmp_path / "b", runtimes)
    assert a.session.stopped_by == "max rounds" and a.session.rounds_counted == 3
    # the budget never stops a session before two counted rounds (there is an interval)
    assert b.session.stopped_by == "time budget" and b.session.rounds_counted == 2
    assert any("wider than the target" in n for n in a.notes + b.notes)


def test_rounds_are_interleaved_in_a_seeded_shuffled_order(tiny_artifacts, tmp_path, runtimes):
    entries = collect_artifacts([tiny_artifacts], formats=["onnx", "tflite"])
    settings = ProfileSettings(**FAST, rounds=4, max_rounds=4, target_ci=0.0)
    with _local(tmp_path) as device:
        results = profile(device, entries, settings, tmp_path / "r", runtimes)
    session = json.loads(next((tmp_path / "r" / "local" / "sessions").glob(
        "*/session.json")).read_text())
    orders = [tuple(r["order"]) for r in session["rounds"]]
    assert len(orders) == 5 and all(sorted(o) == sorted(orders[0]) for o in orders)
    assert len(set(orders)) > 1  # not the same order every round
    positions = {r.session.id for r in results}
    assert len(positions) == 1 and len(results) == 4
    for r in results:  # each round of each unit ran in its own (fresh) runner process
        pids = [x.process for x in r.rounds]
        assert len(set(pids)) == len(pids)


def test_a_busy_machine_drops_and_repeats_rounds(tiny_artifacts, tmp_path, runtimes):
    """Another process keeps a CPU busy for the whole session: every block is dropped with
    its reason, never averaged in silently, and the result says so."""
    settings = ProfileSettings(**{**FAST, "block_seconds": 0.2, "busy_cores": 0.25}, rounds=2,
                               max_rounds=3, target_ci=0.0, runtimes=("onnxruntime",))
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        with _local(tmp_path) as device:
            (res,) = profile(device, _onnx(tiny_artifacts), settings, tmp_path / "r", runtimes)
    finally:
        hog.kill()
        hog.wait()
    dropped = [r for r in res.rounds if r.status == rs.DROPPED]
    # repeated, but a bounded number of times: twice max_rounds rounds in all
    assert len(dropped) == 6 and all(r.reason.startswith("busy: other processes used")
                                     for r in dropped)
    assert all(r.cpu_other_cores > settings.busy_cores for r in dropped)
    assert res.session.rounds_dropped == 6 and res.session.drop_reasons == {"busy": 6}
    assert res.session.stopped_by.startswith("repeat limit")
    assert res.latency.noisy and "no quiet round" in res.latency.noise_reason
    assert any("no counted round" in n for n in res.notes)


def test_a_broken_artifact_fails_alone(tiny_artifacts, tmp_path, runtimes):
    copy = tmp_path / "artifacts" / "tiny"
    shutil.copytree(tiny_artifacts, copy)
    tflite = sorted((copy / "tflite").glob("*.tflite"))[0]
    tflite.write_bytes(tflite.read_bytes()[:100])  # truncated after export: sha256 differs
    settings = ProfileSettings(**FAST, rounds=2, max_rounds=2, target_ci=0.0)
    with _local(tmp_path) as device:
        results = profile(device, collect_artifacts([copy], formats=["onnx", "tflite"]),
                          settings, tmp_path / "r", runtimes)
    by_status: dict = {}
    for r in results:
        by_status.setdefault(r.status, []).append(r)
    (bad,) = by_status[rs.FAILED]
    assert "sha256" in bad.error and bad.artifact.path.endswith(tflite.name)
    assert len(by_status[rs.OK]) == 3
    assert all(r.session.rounds_counted == 2 for r in by_status[rs.OK])


def test_a_pinned_openvino_precision_keeps_its_own_result(tiny_artifacts, tmp_path, runtimes):
    entries = collect_artifacts([tiny_artifacts], formats=["openvino"])[:1]
    base = dict(FAST, rounds=2, max_rounds=2, target_ci=0.0, runtimes=("openvino",))
    with _local(tmp_path) as device:
        (default,) = profile(device, entries, ProfileSettings(**base), tmp_path / "r", runtimes)
        (pinned,) = profile(device, entries, ProfileSettings(**base, ov_precision="f32"),
                            tmp_path / "r", runtimes)
    names = sorted(p.name for p in (tmp_path / "r" / "local" / "tiny").glob("*.json"))
    assert names == ["openvino-fp32-openvino-f32.json", "openvino-fp32-openvino.json"]
    assert pinned.settings.inference_precision == "fp32"
    assert default.session.id != pinned.session.id
    from edge_vit.artifact_id import ArtifactId
    from edge_vit.reporting import build_report

    for name in names:  # every result file names its identity
        aid = ArtifactId.parse("tiny", name[:-len(".json")])
        assert f"{aid.stem}.json" == name and aid.format == "openvino"
    report = build_report([tiny_artifacts], tmp_path / "r", tmp_path / "none")
    rows = [r for r in report.rows if r.device == "local" and r.format == "openvino"
            and r.precision == "fp32" and r.model_id == "tiny"]
    assert sorted(r.runtime for r in rows) == ["openvino", "openvino-f32"]  # both, apart


def test_pin_sets_the_runner_affinity(tiny_artifacts, tmp_path, runtimes):
    settings = ProfileSettings(**FAST, rounds=2, max_rounds=2, target_ci=0.0, pin="0",
                               runtimes=("onnxruntime",))
    with _local(tmp_path) as device:
        (res,) = profile(device, _onnx(tiny_artifacts), settings, tmp_path / "r", runtimes)
    assert res.settings.options["affinity"] == [0] and res.settings.options["pinned"] == "0"
    bad = ProfileSettings(**{**settings.__dict__, "pin": "9999"})
    with _local(tmp_path) as device:
        (res,) = profile(device, _onnx(tiny_artifacts), bad, tmp_path / "s", runtimes)
    assert res.status == rs.FAILED and "cannot pin" in res.error


@pytest.mark.parametrize("kwargs", [dict(rounds=0), dict(rounds=5, max_rounds=2),
                                    dict(target_ci=1.5), dict(block_seconds=0),
                                    dict(min_iterations=0), dict(session_sd=-0.01),
                                    dict(session_sd=0.7)])
def test_impossible_settings_are_refused(kwargs):
    from edge_vit.errors import UsageError

    with pytest.raises(UsageError, match="Impossible profile settings") as err:
        ProfileSettings(**kwargs)
    assert all(name in err.value.hint for name in kwargs)  # the hint says what is allowed


def test_a_crash_is_pinned_on_the_unit_that_was_running():
    units = [_Unit(i, None, None, None) for i in range(3)]
    marks = ("edge-vit-runner: unit-start 2\nedge-vit-runner: unit-end 2\n"
             "edge-vit-runner: unit-start 0\nSegmentation fault\n")
    assert _culprit(marks, units[:2]) is units[0]
    assert _culprit("Traceback: numpy missing\n", units) is None


def test_a_slow_spell_of_the_whole_process_is_dropped():
    """Three artifacts of one runner process all ~1.6x slower than their own medians in one
    round: the machine was slow, not an artifact; a lone slow artifact is kept."""
    from types import SimpleNamespace

    from edge_vit.measurement.session import MeasurementSession

    session = MeasurementSession.__new__(MeasurementSession)
    session.units = []
    for i, base in enumerate((1.0, 2.0, 0.5)):
        u = _Unit(i, SimpleNamespace(options={}, runtime="onnxruntime"), None, None)
        for r in range(1, 9):
            slow = 1.6 if r == 4 else (1.7 if (r == 6 and i == 0) else 1.0)
            u.records.append(rs.RoundRecord(round=r, p50=base * slow * (1 + 0.01 * (r % 3)),
                                            process=1000 + r))
        session.units.append(u)
    session._mark_spells()
    for u in session.units:
        r4 = next(x for x in u.records if x.round == 4)
        assert r4.status == rs.DROPPED and r4.reason.startswith("slow spell: 3 artifacts of this runner process")
        assert all(x.status == rs.COUNTED for x in u.records if x.round != 4)


def test_a_slow_spell_shorter_than_the_process_is_dropped_where_it_hit():
    """Eight artifacts in one process: three measured back to back ran 1.5x slower (a spell
    of a second or two), the process as a whole did not; three slow ones spread apart (no
    stretch) are kept."""
    from types import SimpleNamespace

    from edge_vit.measurement.session import MeasurementSession

    session = MeasurementSession.__new__(MeasurementSession)
    session.units = []
    for i in range(8):
        u = _Unit(i, SimpleNamespace(options={}, runtime="openvino"), None, None)
        for r in range(1, 9):
            slow = (r == 3 and i in (2, 3, 4)) or (r == 5 and i in (0, 3, 6))
            u.records.append(rs.RoundRecord(round=r, position=i, p50=(1 + i) * (1.5 if slow
                                            else 1 + 0.01 * (r % 3)), process=2000 + r))
        session.units.append(u)
    session._mark_spells()
    dropped = {(x.round, u.index) for u in session.units for x in u.records
               if x.status == rs.DROPPED}
    assert dropped == {(3, 2), (3, 3), (3, 4)}
    reason = session.units[3].records[2].reason
    assert reason.startswith("slow spell: 3 artifacts measured back to back")


def test_the_rest_of_a_mostly_busy_process_is_dropped_too():
    """Four blocks of one process: three dropped as busy, one slipped under the threshold
    (a short block's /proc/stat window is coarse): it is dropped as busy too. A process with
    one busy block of four keeps the other three."""
    from types import SimpleNamespace

    from edge_vit.measurement.session import MeasurementSession

    session = MeasurementSession.__new__(MeasurementSession)
    session.units = []
    for i in range(4):
        u = _Unit(i, SimpleNamespace(options={}, runtime="openvino"), None, None)
        for r in (1, 2):
            busy = (r == 1 and i < 3) or (r == 2 and i == 0)
            u.records.append(rs.RoundRecord(
                round=r, position=i, p50=1.0 + i, process=3000 + r,
                status=rs.DROPPED if busy else rs.COUNTED,
                reason="busy: other processes used 0.90 CPUs" if busy else None))
        session.units.append(u)
    session._mark_spells()
    slipped = session.units[3].records[0]
    assert slipped.status == rs.DROPPED and slipped.reason.startswith("busy: 3 of the 4 blocks")
    assert [u.records[1].status for u in session.units] == [rs.DROPPED] + [rs.COUNTED] * 3


@pytest.mark.parametrize("steal, resolution, dropped", [
    (25.0, 50.0, False),  # one tick of steal in a 0.02 s block on 2 CPUs: a rounding error
    (75.0, 50.0, True),  # three of four ticks: beyond the threshold plus the resolution
    (6.0, None, True),  # a runner that does not say its resolution: the plain threshold
    (4.0, None, False)])
def test_steal_is_judged_at_the_resolution_of_the_block(steal, resolution, dropped):
    from edge_vit.measurement.session import MeasurementSession
    from edge_vit.profiling import ProfileSettings

    session = MeasurementSession.__new__(MeasurementSession)
    session.settings = ProfileSettings(max_steal_pct=5.0)
    rec = rs.RoundRecord(round=1, position=0, p50=1.0, cpu_other_cores=0.0,
                         cpu_steal_pct=steal)
    session._classify(rec, 1, {}, resolution=0.1, steal_resolution=resolution)
    assert (rec.status == rs.DROPPED) is dropped
    if dropped:
        assert rec.reason == f"busy: {steal:.1f} % CPU steal (hypervisor)"
