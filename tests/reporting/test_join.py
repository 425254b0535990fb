"""build_report on the constructed sweep: baselines, failures, provenance."""

from __future__ import annotations

import pytest

from edge_vit import results as rs
from edge_vit.errors import UsageError
from edge_vit.reporting import build_report
from edge_vit.reporting import columns as C
from edge_vit.reporting import schema as S
from edge_vit.serialization import write_json_atomic
from tests.reporting.sweep import (
    BASE,
    LATENCY,
    N_IMAGES,
    PA,
    PB,
    make_accuracy,
    make_profile,
    write_sweep,
)


@pytest.fixture
def report(tmp_path):
    d = write_sweep(tmp_path)
    return build_report([d["artifacts"]], d["results"], d["accuracy"])


def row(report, device, model, fmt, runtime, precision="fp32"):
    found = [r for r in report.rows if (r.device, r.model_id, r.format, r.precision,
                                        r.runtime) == (device, model, fmt, precision, runtime)]
    assert len(found) == 1, (device, model, fmt, runtime, found)
    return found[0]


def test_one_row_per_device_model_format_precision_runtime(report):
    keys = [(r.device, r.model_id, r.format, r.precision, r.runtime) for r in report.rows]
    assert len(keys) == len(set(keys))
    assert report.device_names() == ["laptop", "pi5"]
    # laptop: 6 profiled + pruned-b openvino (export failed)
    assert len(report.rows_for("laptop")) == 7
    # pi5: 2 ok + 1 failed + 2 unsupported + pruned-b openvino (export failed)
    assert len(report.rows_for("pi5")) == 6
    # accuracy of base onnx in openvino was measured, but never profiled anywhere
    assert [(r.model_id, r.runtime, r.status) for r in report.rows_for(None)] == [
        (BASE, "openvino", S.NOT_PROFILED)]


def test_speedup_vs_unpruned_baseline_same_device_format_runtime(report):
    r = row(report, "laptop", PA, "onnx", "onnxruntime")
    assert r.baseline_model_id == BASE
    assert r.baseline_p50_ms == 10.0
    assert r.speedup == pytest.approx(10.0 / 7.0)
    assert r.speedup_ci_low == pytest.approx(9.8 / 7.1)
    assert r.speedup_ci_high == pytest.approx(10.2 / 6.9)
    ov = row(report, "laptop", PA, "openvino", "openvino")
    assert ov.speedup == pytest.approx(8.0 / 5.5)  # vs the baseline's OpenVINO, not ONNX
    pi = row(report, "pi5", PB, "onnx", "onnxruntime")
    assert pi.speedup == pytest.approx(50.0 / 30.0)  # vs the pi5's baseline, not the laptop's
    base = row(report, "laptop", BASE, "onnx", "onnxruntime")
    assert base.baseline_model_id == BASE and base.speedup == pytest.approx(1.0)
    assert base.drop_vs_baseline_pts == pytest.approx(0.0)


def test_accuracy_drop_vs_baseline_and_reference(report):
    r = row(report, "laptop", PA, "onnx", "onnxruntime")
    assert r.top1_pct == pytest.approx(70.0)
    assert r.top1_ci_low_pct == pytest.approx(66.0)
    assert r.top1_ci_high_pct == pytest.approx(74.0)
    assert r.baseline_top1_pct == pytest.approx(72.0)
    assert r.drop_vs_baseline_pts == pytest.approx(2.0)
    assert r.reference_top1_pct == pytest.approx(72.2)
    assert r.drop_vs_reference_pts == pytest.approx(2.2)
    # accuracy is per artifact + runtime: the same figure on every device
    assert row(report, "pi5", PA, "onnx", "onnxruntime").top1_pct == pytest.approx(70.0)
    base_ov = row(report, "laptop", BASE, "openvino", "openvino")
    assert base_ov.drop_vs_baseline_pts == pytest.approx(0.0)
    assert base_ov.drop_vs_reference_pts == pytest.approx(72.2 - 71.8)


def test_model_facts_from_the_manifest(report):
    r = row(report, "laptop", PA, "onnx", "onnxruntime")
    assert r.pruned and r.architecture == "deit_tiny_patch16_224"
    assert r.params == 4_200_000 and r.macs == 900_000_000
    assert r.macs_ratio == pytest.approx(900 / 1258)
    assert "24/36 heads" in r.prune_summary and "4608/9216 MLP ch" in r.prune_summary
    assert r.artifact_size_bytes == 4_200_000 * 4
    assert r.p90_ms == pytest.approx(7.7) and r.p90_ci_low_ms == pytest.approx(7.0 * 1.08)
    assert r.throughput_ips == pytest.approx(1000 / 7.0)
    assert r.peak_rss_mb == 120.0 and r.inference_precision == "f32"
    assert row(report, "pi5", BASE, "onnx", "onnxruntime").energy_per_inference_mj == 250.0
    assert r.energy_per_inference_mj is None  # not measured on the laptop


def test_failed_rows_stay_with_their_reasons(report):
    for device in ("laptop", "pi5"):
        exp = row(report, device, PB, "openvino", None)
        assert exp.status == S.EXPORT_FAILED
        assert "unsupported op Foo" in exp.reason and exp.reason.startswith("export:")
    failed = row(report, "pi5", PA, "onnx", "onnxruntime")
    assert failed.status == S.PROFILE_FAILED and "timed out after 240 s" in failed.reason
    assert failed.p50_ms is None and failed.speedup is None and failed.pareto is None
    unsup = row(report, "pi5", BASE, "openvino", "openvino")
    assert unsup.status == S.UNSUPPORTED and "no runtime for openvino" in unsup.reason
    ev = row(report, "laptop", PB, "onnx", "onnxruntime")
    assert ev.status == S.EVAL_FAILED and "out of memory" in ev.reason
    assert ev.p50_ms == 5.0 and ev.top1_pct is None and ev.speedup == pytest.approx(2.0)
    no_acc = row(report, "laptop", PA, "openvino", "openvino")  # accuracy never run
    assert no_acc.status == S.OK and no_acc.eval_status is None and no_acc.pareto is None


def test_pareto_marks_per_device(report):
    laptop = {(r.model_id, r.format): r.pareto for r in report.rows_for("laptop")}
    # candidates: rows with status ok, a p50 and a top-1; all within accuracy noise (500
    # images, +-4 points) of each other, so all are kept and tied
    assert laptop == {(BASE, "onnx"): S.TIED, (BASE, "openvino"): S.TIED,
                      (BASE, "pytorch"): S.TIED, (PA, "onnx"): S.TIED,
                      (PA, "openvino"): None, (PB, "onnx"): None, (PB, "openvino"): None}
    pi5 = [r for r in report.rows_for("pi5") if r.pareto]
    assert [(r.model_id, r.pareto) for r in pi5] == [(BASE, S.FRONT)]


def test_emulated_rows_stay_off_the_front_unless_asked(tmp_path):
    import json

    d = write_sweep(tmp_path)
    label = "emulated aarch64 (qemu-user): latency not representative"
    for f in (d["results"] / "pi5").rglob("*.json"):
        data = json.loads(f.read_text())
        if "artifact" in data:
            f.write_text(json.dumps({**data, "emulated": label}))
    rep = build_report([d["artifacts"]], d["results"], d["accuracy"])
    pi5 = rep.rows_for("pi5")
    assert all(r.pareto is None for r in pi5)
    assert all(r.emulated == label for r in pi5 if r.runtime and r.profile_status)
    assert any(w.startswith(f"pi5: {label}") and "kept off" in w for w in rep.warnings)
    assert any(r.pareto for r in rep.rows_for("laptop"))  # the real device is unaffected
    asked = build_report([d["artifacts"]], d["results"], d["accuracy"], include_emulated=True)
    assert [(r.model_id, r.pareto) for r in asked.rows_for("pi5") if r.pareto] == \
        [(BASE, S.FRONT)]


def test_random_weights_warning_and_provenance(report):
    assert report.random_init
    loud = [w for w in report.warnings if w.startswith("RANDOM-INIT")]
    assert len(loud) == 1 and "MEANINGLESS" in loud[0]
    assert all(m in loud[0] for m in (BASE, PA, PB))
    assert {m.model_id: m.baseline_model_id for m in report.models} == {
        BASE: BASE, PA: BASE, PB: BASE}
    assert [d.num_images for d in report.data] == [500]
    assert len(report.data[0].used_by) == 6
    assert report.pareto_rule.startswith("A point is dominated")


def test_environment_per_device(report):
    pi5 = report.environment("pi5")
    assert pi5.cpu_model == "Cortex-A76" and pi5.cores_logical == 4
    assert pi5.runs == 5 and pi5.kind == "ssh"
    assert pi5.runtimes == {"onnxruntime": "1.20.1"}  # the missing openvino has no version
    laptop = report.environment("laptop")
    assert laptop.runtimes["openvino"] == "2025.1" and laptop.throttled_runs == []


def test_throttled_run_is_reported(tmp_path):
    d = write_sweep(tmp_path)
    key = (BASE, "onnx", "fp32", "onnxruntime")
    p50, ci = LATENCY["pi5"][key]
    write_json_atomic(d["results"] / "pi5" / BASE / "onnx-fp32-onnxruntime.json",
                      make_profile("pi5", key, p50, ci, throttled=True))
    rep = build_report([d["artifacts"]], d["results"], d["accuracy"])
    assert len(rep.environment("pi5").throttled_runs) == 1
    assert any("throttled" in w for w in rep.warnings)
    assert "THROTTLED" in row(rep, "pi5", BASE, "onnx", "onnxruntime").notes


def test_trained_weights_give_no_random_warning(tmp_path):
    d = write_sweep(tmp_path, weights_kind="pretrained")
    rep = build_report([d["artifacts"]], d["results"], d["accuracy"])
    assert not rep.random_init
    assert not any(w.startswith("RANDOM-INIT") for w in rep.warnings)


def test_unreadable_files_become_warnings(tmp_path):
    d = write_sweep(tmp_path)
    (d["results"] / "laptop" / BASE / "broken-fp32-x.json").write_text("{not json")
    rep = build_report([d["artifacts"]], d["results"], d["accuracy"])
    assert any("broken-fp32-x.json" in w for w in rep.warnings)
    assert len(rep.rows_for("laptop")) == 7


def test_profiles_without_manifests_still_report(tmp_path):
    d = write_sweep(tmp_path)
    rep = build_report([tmp_path / "elsewhere"], d["results"], d["accuracy"])
    r = row(rep, "laptop", PA, "onnx", "onnxruntime")
    assert r.p50_ms == 7.0 and r.params is None and r.speedup is None
    assert any("no export manifest" in w for w in rep.warnings)


def test_artifacts_without_profiles(tmp_path):
    d = write_sweep(tmp_path)
    rep = build_report([d["artifacts"]], tmp_path / "none", tmp_path / "none-acc")
    assert rep.device_names() == []
    statuses = {(r.model_id, r.format): r.status for r in rep.rows}
    assert statuses[(PB, "openvino")] == S.EXPORT_FAILED
    assert statuses[(PA, "onnx")] == S.NOT_PROFILED


def test_nothing_to_report(tmp_path):
    with pytest.raises(UsageError):
        build_report([tmp_path / "a"], tmp_path / "r", tmp_path / "acc")


def test_low_accuracy_stays_in_percent(tmp_path):
    # regression: one correct image is a tiny percentage, never mistaken for a fraction
    # (1 % of 100 images was once shown as 100 %)
    d = write_sweep(tmp_path)
    key = (PA, "onnx", "fp32", "onnxruntime")
    write_json_atomic(d["accuracy"] / PA / "onnx-fp32-onnxruntime.json", make_accuracy(key, 1))
    rep = build_report([d["artifacts"]], d["results"], d["accuracy"])
    r = row(rep, "laptop", *key[:2], "onnxruntime")
    assert r.top1_pct == pytest.approx(100.0 / N_IMAGES)
    assert r.top1_ci_high_pct == pytest.approx(100.0 / N_IMAGES + 4.0)


def test_pinned_openvino_precision_joins_matching_accuracy(tmp_path):
    """A run pinned with --ov-precision is its own result file and its own row, next to the
    default run (it never overwrites it), and joins the accuracy pinned the same way."""
    d = write_sweep(tmp_path)
    key = (BASE, "openvino", "fp32", "openvino")
    prof = make_profile("laptop", key, *LATENCY["laptop"][key])
    prof.settings.options["ov_precision"] = "f16"
    prof.settings.inference_precision = "f16"
    write_json_atomic(d["results"] / "laptop" / BASE / "openvino-fp32-openvino-f16.json", prof)
    pinned = make_accuracy(key, 300)
    pinned.inference_precision = "f16"
    write_json_atomic(d["accuracy"] / BASE / "openvino-fp32-openvino-f16.json", pinned)
    rep = build_report([d["artifacts"]], d["results"], d["accuracy"])
    r = row(rep, "laptop", BASE, "openvino", "openvino-f16")
    assert r.ov_precision == "f16" and r.top1_pct == pytest.approx(60.0)
    default = row(rep, "laptop", BASE, "openvino", "openvino")
    assert default.ov_precision == "default" and default.top1_pct == pytest.approx(71.8)
    other = row(rep, "laptop", PA, "openvino", "openvino")  # default mode, no accuracy
    assert other.ov_precision == "default" and other.top1_pct is None
    assert other.speedup == pytest.approx(8.0 / 5.5)  # against the default-mode baseline
    assert row(rep, "laptop", BASE, "onnx", "onnxruntime").ov_precision is None
    # the pi5 never ran openvino: its default-mode accuracy is used there, and the pinned
    # one only where a run was pinned the same way
    assert row(rep, "pi5", BASE, "openvino", "openvino").top1_pct == pytest.approx(71.8)
    assert any("(f16)" in u for dp in rep.data for u in dp.used_by)


def test_pinned_run_without_pinned_accuracy_falls_back_with_a_note(tmp_path):
    d = write_sweep(tmp_path)
    key = (BASE, "openvino", "fp32", "openvino")
    prof = make_profile("laptop", key, *LATENCY["laptop"][key])
    prof.settings.options["ov_precision"] = "bf16"
    write_json_atomic(d["results"] / "laptop" / BASE / "openvino-fp32-openvino-bf16.json", prof)
    rep = build_report([d["artifacts"]], d["results"], d["accuracy"])
    r = row(rep, "laptop", BASE, "openvino", "openvino-bf16")
    assert r.top1_pct == pytest.approx(71.8)
    assert "this run pinned bf16" in r.notes


def test_precision_spellings_compare_equal():
    from edge_vit.reporting.join import same_precision

    assert same_precision("f32") == same_precision("FP32") == same_precision("float32")
    assert same_precision("f16") == same_precision("fp16") != same_precision("bf16")
    assert same_precision("u8") == "u8"


def test_results_of_an_earlier_export_are_left_out(tmp_path):
    d = write_sweep(tmp_path)
    key = (PA, "onnx", "fp32", "onnxruntime")
    stale = make_profile("laptop", key, 1.0, [0.9, 1.1])
    stale.artifact.sha256 = "b" * 64  # the manifest now holds "a"*64: re-exported since
    write_json_atomic(d["results"] / "laptop" / PA / "onnx-fp32-onnxruntime.json", stale)
    rep = build_report([d["artifacts"]], d["results"], d["accuracy"])
    assert any("earlier export" in w for w in rep.warnings)
    assert not [r for r in rep.rows if (r.device, r.model_id, r.format, r.runtime)
                == ("laptop", PA, "onnx", "onnxruntime")]


def test_accuracy_of_the_same_file_joins_other_runtimes(tmp_path):
    d = write_sweep(tmp_path)
    for precision in ("fp32", "fp16"):  # TensorRT engines built from one ONNX file
        res = make_profile("laptop", (BASE, "onnx", "fp32", "tensorrt"), 9.0, [8.9, 9.1])
        res.settings.inference_precision = precision
        write_json_atomic(d["results"] / "laptop" / BASE / f"onnx-fp32-tensorrt-{precision}.json",
                          res)
    rep = build_report([d["artifacts"]], d["results"], d["accuracy"])
    for precision in ("fp32", "fp16"):  # both engines kept, each with the file's accuracy
        r = row(rep, "laptop", BASE, "onnx", f"tensorrt-{precision}")
        assert r.top1_pct is not None and "measured in onnxruntime" in r.notes


def _with_rounds(res, medians: list[float], session: str = "s1"):
    """Give a constructed result the per-round medians of a profile session."""
    res.session = rs.SessionInfo(id=session, units=2, rounds_run=len(medians),
                                 rounds_counted=len(medians), rounds_dropped=0)
    res.rounds = [rs.RoundRecord(round=i + 1, count=10, p50=m) for i, m in enumerate(medians)]
    return res


def test_paired_rounds_decide_speedup_and_dominance(tmp_path):
    """The machine's speed swings ±15 % from round to round, so the two p50 intervals overlap
    and, unpaired, nothing could be decided; in the same rounds the pruned model is always
    1.25x faster: the speedup is resolved and it dominates the baseline."""
    d = write_sweep(tmp_path)
    machine = [1.0, 1.15, 0.88, 1.1, 0.92, 1.05, 0.95, 1.12]
    for j, (model, scale, correct) in enumerate(((BASE, 10.0, 360), (PA, 8.0, 360))):
        key = (model, "onnx", "fp32", "onnxruntime")
        res = make_profile("laptop", key, scale, [scale * 0.85, scale * 1.2])
        meds = [scale * m * (1 + 0.002 * ((i + j) % 3)) for i, m in enumerate(machine)]
        write_json_atomic(d["results"] / "laptop" / model / "onnx-fp32-onnxruntime.json",
                          _with_rounds(res, meds))
        write_json_atomic(d["accuracy"] / model / "onnx-fp32-onnxruntime.json",
                          make_accuracy(key, correct))
    rep = build_report([d["artifacts"]], d["results"], d["accuracy"])
    base = row(rep, "laptop", BASE, "onnx", "onnxruntime")
    pa = row(rep, "laptop", PA, "onnx", "onnxruntime")
    assert pa.p50_ci_high_ms > base.p50_ci_low_ms  # overlapping intervals ...
    assert pa.speedup_method == "paired rounds" and pa.speedup_resolved  # ... resolved, paired
    assert pa.speedup == pytest.approx(1.25, rel=0.01)
    assert 1.22 < pa.speedup_ci_low < pa.speedup_ci_high < 1.28
    assert base.pareto == "dominated" and base.dominated_by == pa.label
    assert pa.rounds == 8 and pa.session_id == "s1"
    assert "1.25× [" in C.speedup(pa) and "tie" not in C.speedup(pa)


def test_unresolved_paired_rounds_are_a_tie(tmp_path):
    d = write_sweep(tmp_path)
    for model, meds in ((BASE, [10.0, 10.4, 9.7, 10.1]), (PA, [10.1, 10.0, 10.2, 9.8])):
        key = (model, "onnx", "fp32", "onnxruntime")
        res = make_profile("laptop", key, 10.0, [9.9, 10.1])
        write_json_atomic(d["results"] / "laptop" / model / "onnx-fp32-onnxruntime.json",
                          _with_rounds(res, meds))
        write_json_atomic(d["accuracy"] / model / "onnx-fp32-onnxruntime.json",
                          make_accuracy(key, 360))
    rep = build_report([d["artifacts"]], d["results"], d["accuracy"])
    pa = row(rep, "laptop", PA, "onnx", "onnxruntime")
    assert pa.speedup_resolved is False and C.speedup(pa).endswith(" tie")
    base = row(rep, "laptop", BASE, "onnx", "onnxruntime")
    assert {base.pareto, pa.pareto} == {"tied"}  # neither is faster beyond the noise
    env = rep.environment("laptop")
    assert env.sessions == ["s1"] and env.rounds_min == 4
    assert "counted rounds per artifact" in C.measurement_quality(env)


def test_paired_interval_allows_for_half_the_session_spread():
    from edge_vit.reporting.compare import Series, compare

    a = S.ReportRow(device="d", model_id="a", format="onnx", precision="fp32", runtime="x",
                    p50_ms=10.0)
    b = S.ReportRow(device="d", model_id="b", format="onnx", precision="fp32", runtime="x",
                    p50_ms=8.0)
    ma = {k: 10.0 * (1 + 0.003 * (k % 3)) for k in range(1, 9)}
    mb = {k: 8.0 * (1 + 0.003 * ((k + 1) % 3)) for k in range(1, 9)}
    bare = compare(a, b, Series("s", ma, 0.0), Series("s", mb, 0.0))
    allowed = compare(a, b, Series("s", ma, 0.01), Series("s", mb, 0.01))
    assert bare.ratio == allowed.ratio and bare.method == "paired rounds"
    assert allowed.low < bare.low and allowed.high > bare.high
    assert allowed.high / allowed.ratio > 1.0098  # at least 1.96 x 0.5 % above
