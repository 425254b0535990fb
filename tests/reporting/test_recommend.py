"""Per-device recommendations: the most accurate row under each budget, the fastest within a
point of the unpruned model, and what the latency and accuracy intervals leave open."""

from __future__ import annotations

import pytest

from edge_vit.errors import UsageError
from edge_vit.reporting import build_report
from edge_vit.reporting import schema as S
from edge_vit.reporting.compare import INTERVALS, Comparison
from edge_vit.reporting.recommend import BUDGET, NEAR_BASELINE, recommend
from tests.reporting.sweep import write_sweep


def row(mid: str, p50: float, top1: float, *, pruned: bool = True, runtime: str = "ort",
        fmt: str = "onnx", precision: str = "fp32", p50_ci: float = 0.01, top1_ci: float = 0.5,
        emulated: str | None = None) -> S.ReportRow:
    return S.ReportRow(device="dev", model_id=mid, name=mid, format=fmt, precision=precision,
                       runtime=runtime, architecture="arch", pruned=pruned, p50_ms=p50,
                       p50_ci_low_ms=p50 * (1 - p50_ci), p50_ci_high_ms=p50 * (1 + p50_ci),
                       top1_pct=top1, top1_ci_low_pct=top1 - top1_ci,
                       top1_ci_high_pct=top1 + top1_ci, eval_images=1000, rounds=5,
                       emulated=emulated)


def by_intervals(a: S.ReportRow, b: S.ReportRow) -> Comparison:
    """The report's unpaired rule: a/b from the two p50 intervals."""
    return Comparison(a.p50_ms / b.p50_ms, a.p50_ci_low_ms / b.p50_ci_high_ms,
                      a.p50_ci_high_ms / b.p50_ci_low_ms, INTERVALS)


def picks(recs):
    return {(r.goal, r.budget): r for r in recs}


def test_budget_picks_the_most_accurate_row_under_it_and_near_baseline_the_fastest():
    rows = [row("base", 10.0, 80.0, pruned=False), row("a", 7.0, 79.5), row("b", 4.8, 75.0),
            row("c", 3.0, 70.0), row("base-pt", 30.0, 80.0, pruned=False, fmt="pytorch")]
    recs = picks(recommend(rows, by_intervals, ["0.5x", "0.75x", "2ms"], 1.0))
    assert recs[(BUDGET, "0.5x")].pick == rows[2].label  # b: 4.8 <= 5.0, beats c on top-1
    assert recs[(BUDGET, "0.5x")].budget_ms == pytest.approx(5.0)
    assert recs[(BUDGET, "0.75x")].pick == rows[1].label  # a: 7.0 <= 7.5
    assert recs[(BUDGET, "2ms")].pick is None
    assert "fastest is c" in recs[(BUDGET, "2ms")].reason
    near = recs[(NEAR_BASELINE, None)]
    assert near.pick == rows[1].label and near.reference == rows[0].label  # not the PyTorch row
    assert "0.70× [" in near.summary  # its latency against the reference, with an interval
    assert near.unresolved == []  # intervals tight on both axes: nothing left open


def test_noise_that_cannot_order_the_pick_is_said():
    rows = [row("base", 10.0, 80.0, pruned=False),
            row("pick", 4.9, 75.0, p50_ci=0.05),  # its interval reaches past 5 ms
            row("twin", 3.0, 74.8),  # as accurate within the noise, faster beyond it
            row("near", 5.1, 77.0, p50_ci=0.05)]  # more accurate, interval under 5 ms
    rec = picks(recommend(rows, by_intervals, ["0.5x"], 1.0))[(BUDGET, "0.5x")]
    assert rec.pick == rows[1].label
    text = " | ".join(rec.unresolved)
    assert "past the budget" in text
    assert "as accurate within the noise" in text and "twin" in text
    assert "also faster beyond the noise" in text
    assert "cannot rule it in or out" in text and "near" in text


def test_near_baseline_says_when_the_eval_set_cannot_confirm_the_margin():
    rows = [row("base", 10.0, 80.0, pruned=False, top1_ci=3.0),
            row("a", 6.0, 79.2, top1_ci=3.0), row("b", 6.05, 79.5, top1_ci=3.0),
            row("c", 3.0, 78.5, top1_ci=3.0)]
    rec = picks(recommend(rows, by_intervals, [], 1.0))[(NEAR_BASELINE, None)]
    assert rec.pick == rows[1].label
    text = " | ".join(rec.unresolved)
    assert "±3.0 pts on 1000 images, wider than the 1-point margin" in text
    assert "not slower beyond the noise" in text and "b (onnx/fp32 on ort)" in text
    assert "short of the margin by less than its top-1 interval" in text and "c (" in text


def test_emulated_devices_get_no_recommendation_unless_asked():
    label = "emulated aarch64 (qemu-user): latency not representative"
    rows = [row("base", 10.0, 80.0, pruned=False, emulated=label), row("a", 4, 79, emulated=label)]
    (rec,) = recommend(rows, by_intervals)
    assert rec.pick is None and label in rec.reason and "--include-emulated" in rec.reason
    asked = recommend(rows, by_intervals, include_emulated=True)
    assert any(r.pick for r in asked)


def test_a_device_without_an_unpruned_row_gets_reasons_not_guesses():
    recs = picks(recommend([row("a", 4.0, 79.0)], by_intervals, ["0.5x", "5ms"]))
    assert recs[(BUDGET, "0.5x")].pick is None and "unpruned" in recs[(BUDGET, "0.5x")].reason
    assert recs[(BUDGET, "5ms")].pick is not None  # milliseconds need no reference
    assert recs[(NEAR_BASELINE, None)].pick is None


def test_report_carries_recommendations_per_device_and_rejects_bad_budgets(tmp_path):
    d = write_sweep(tmp_path)
    report = build_report([d["artifacts"]], d["results"], d["accuracy"], under=["0.8x"],
                          within_pts=2.0)
    assert {r.device for r in report.recommendations} == {"laptop", "pi5"}
    assert report.recommend_under == ["0.8x"] and report.recommend_within_pts == 2.0
    for bad in (["fast"], ["1.5x"], ["-3ms"]):
        with pytest.raises(UsageError):
            build_report([d["artifacts"]], d["results"], d["accuracy"], under=bad)
    with pytest.raises(UsageError):
        build_report([d["artifacts"]], d["results"], d["accuracy"], within_pts=-1)
