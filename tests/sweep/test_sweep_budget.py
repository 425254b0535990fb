"""The sweep's budget axis: a budget becomes a plan file on the budget device's latency table
and then runs like any plan; a budget below what the model can reach fails its own unit only."""

from __future__ import annotations

import json

import pytest

from edge_vit.errors import UsageError
from edge_vit.sweep import ModelEntry, SweepConfig, run_sweep

# not test_lut's model: each builds its own table in the session's cache
TINY = {"img_size": 32, "patch_size": 16, "depth": 2, "num_classes": 10}
FAST = {"warmup": 2, "warmup_seconds": 0.0, "min_iterations": 5, "block_seconds": 0.03,
        "rounds": 3, "max_rounds": 3, "target_ci": 0.0, "threads": 1, "busy_cores": 1000.0,
        "max_steal_pct": 100.0}


def _config(tmp_path, **kw) -> SweepConfig:
    base = dict(name="b", models=[ModelEntry(name="deit_tiny_patch16_224", model_kwargs=TINY)],
                prune=["none", "heads=0.5,mlp=0.5"], budget=["0.6x", "0.0001ms"],
                formats=["onnx"], devices=["local"], profile=dict(FAST),
                out=str(tmp_path / "sweep"))
    base.update(kw)
    return SweepConfig(**base)


def test_budget_axis_runs_next_to_the_plans(tmp_path):
    said: list[str] = []
    summary = run_sweep(_config(tmp_path), progress=said.append)
    failed = {r.unit.split("-")[0]: r for r in summary.failed}
    assert list(failed) == ["budget"], [r.error for r in summary.failed]
    assert "smallest latency" in failed["budget"].error  # 0.0001 ms cannot be reached
    units = [json.loads(p.read_text()) for p in (tmp_path / "sweep" / "units").glob("*.json")]
    ok = [u for u in units if u["kind"] == "budget" and u["status"] == "ok"]
    assert len(ok) == 1 and ok[0]["outputs"]["predicted_ms"] <= ok[0]["outputs"]["budget_ms"]
    plan = json.loads((tmp_path / "sweep" / "budget").joinpath(
        ok[0]["outputs"]["plan"].rsplit("/", 1)[-1]).read_text())
    assert plan["budget"]["asked"] == "0.6x" and plan["budget"]["device"] == "local"
    # the budget's export ran after its plan was written, and was profiled with the others
    exports = [u for u in units if u["kind"] == "export"]
    assert len(exports) == 3 and any(ok[0]["unit"] in u["after"] for u in exports)
    report = json.loads(summary.report["json"].read_text())
    rows = [r for r in report["rows"] if r["p50_ms"] is not None]
    assert len({r["model_id"] for r in rows}) == 3
    budget_rows = [r for r in rows if "budget 0.6x = " in (r.get("prune_summary") or "")]
    assert budget_rows, [r.get("prune_summary") for r in rows]
    # on the device and runtime it was allocated for: its budget and the verdict
    judged = [r for r in budget_rows if r["runtime"] == "onnxruntime"]
    assert judged and all(r["budget_ms"] == plan["budget"]["budget_ms"] for r in judged)
    assert all(r["budget_met"] == (r["p50_ms"] <= r["budget_ms"]) for r in judged)
    assert all("of the unpruned p50 beside it" in r["notes"] for r in judged)
    assert all(r["budget_ms"] is None for r in rows if r not in budget_rows)
    # a rerun redoes nothing that finished: the table is reused, the plan unit skipped
    again = run_sweep(_config(tmp_path), progress=said.append)
    assert ok[0]["unit"] in again.skipped
    assert [u.split("-")[0] for u in again.ran] == ["budget"]  # only the failed one, again


def test_bad_budgets_are_found_before_any_work(tmp_path):
    cfg = _config(tmp_path, budget=["fast", "2x"],
                  budget_options={"runtime": "openvino", "colour": 1, "margin": 1.5})
    with pytest.raises(UsageError) as err:
        run_sweep(cfg)
    text = str(err.value)
    assert "budget 'fast'" in text and "budget '2x'" in text
    assert "unknown ['colour']" in text and "openvino, which is not among formats" in text
    assert "margin is a share" in text
    assert not (tmp_path / "sweep").exists()
