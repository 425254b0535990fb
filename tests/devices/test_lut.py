"""A latency table built on the loopback SSH device from real exports of a tiny ViT and real
onnxruntime sessions, its cache and fingerprint check, held-out prediction, and pruning to a
budget with it."""

from __future__ import annotations

import sys

import pytest

from devices import open_device
from edge_vit.errors import PruningPlanError
from edge_vit.lut.build import TableMismatch, TableRequest, build_table, check_table, read_table
from edge_vit.profiling import ProfileSettings

pytestmark = pytest.mark.usefixtures("isolated_home")

TINY = {"img_size": 32, "patch_size": 8, "depth": 2, "num_classes": 10}
FAST = dict(warmup=2, warmup_seconds=0.0, min_iterations=10, block_seconds=0.05, rounds=3,
            max_rounds=3, target_ci=0.0, threads=1, busy_cores=1000.0, max_steal_pct=100.0,
            session_sd=0.0)


@pytest.fixture(scope="module")
def built(sshd, tmp_path_factory):
    work = tmp_path_factory.mktemp("lut")
    config = sshd.device_config(workdir=str(work / "remote"), python=sys.executable)
    req = TableRequest("deit_tiny_patch16_224", TINY, "onnxruntime", "fp32")
    said: list[str] = []
    with open_device(config) as device:
        table, path = build_table(device, req, ProfileSettings(**FAST), work / "build",
                                  progress=said.append)
        again, path2 = build_table(device, req, ProfileSettings(**FAST), work / "build",
                                   progress=said.append)
        done = check_table(device, table, path, ProfileSettings(**FAST), work / "check", count=3)
    return {"table": table, "path": path, "again": again, "path2": path2, "said": said,
            "validation": done, "config": config}


def test_the_table_holds_every_sampled_variant_measured_in_one_session(built):
    table = built["table"]
    names = [m.variant for m in table.measurements]
    assert names == ["full", "heads=1", "heads=2", "mlp=96", "mlp=192", "mlp=384", "mlp=576",
                     "depth=1"]
    assert all(m.p50_ms > 0 and m.p50_ci and m.sha256 for m in table.measurements)
    assert table.session and table.device_name
    assert table.structure.depth == 2 and table.structure.heads == 3
    fp = table.fingerprint
    assert fp["runtime"] == "onnxruntime" and fp["runtime_version"] and fp["cpu_model"]
    assert "hostname" not in fp
    f = table.fit(method="whole-model")  # check_table may have made "layers" preferred
    # a block of this 16-token model is ~15 % of its time, inside what a loaded CI machine
    # moves between variants: the fit's parts may come out of any sign; their sum may not
    assert f.fixed_ms + f.block_ms > 0 and f.predict(table.structure.full()) > 0
    # the fit is exact on the variants it was built from (as many unknowns as variants)
    for m in table.measurements:
        assert f.predict(m.config) == pytest.approx(m.p50_ms, rel=1e-6)


def test_a_second_build_reuses_the_cached_table(built):
    assert built["path2"] == built["path"] and built["again"].built == built["table"].built
    assert any("reusing" in m for m in built["said"])


def test_held_out_variants_are_measured_in_their_own_session(built):
    done = built["validation"]
    assert [v.method for v in done] == ["whole-model", "layers"]  # both models checked
    for v in done:
        assert v.session and v.session != built["table"].session
        assert [r.variant for r in v.variants] == ["heldout-0", "heldout-1", "heldout-2"]
        assert all(r.predicted_ms > 0 and r.measured_ms > 0 for r in v.variants)
        assert v.p90_abs_error_pct >= v.median_abs_error_pct >= 0
    assert done[0].session == done[1].session  # the same measurements, two predictions
    v = done[0]  # the unpruned model measured again: the device's drift is reported
    assert v.reference_ms > 0 and v.table_reference_ms == built["table"].measurements[0].p50_ms
    assert v.drift_pct == pytest.approx(100 * (v.reference_ms / v.table_reference_ms - 1),
                                        abs=0.01)
    assert v.drift_corrected_median_abs_error_pct >= 0
    saved = read_table(built["path"])
    best = min(done, key=lambda v: (v.drift_corrected_median_abs_error_pct,
                                    v.drift_corrected_p90_abs_error_pct))
    assert saved.preferred == best.method and len(saved.validation) == 2


def test_the_layered_model_comes_from_the_unpruned_models_breakdown(built):
    lm = built["table"].layer_model
    assert lm and lm["depth"] == 2 and lm["attn_ms"] > 0 and lm["mlp_ms"] > 0
    f = built["table"].fit(method="layers")
    full = built["table"].measurements[0]
    assert f.predict(full.config) == pytest.approx(full.p50_ms)  # anchored on its p50


def test_a_table_of_another_device_is_refused(built, tmp_path):
    import json

    data = json.loads(built["path"].read_text())
    data["fingerprint"]["cpu_model"] = "ARM Cortex-A72"
    built["path"].write_text(json.dumps(data))
    try:
        with open_device(built["config"]) as device, pytest.raises(TableMismatch) as err:
            build_table(device, TableRequest("deit_tiny_patch16_224", TINY), ProfileSettings(
                **FAST), tmp_path / "x")
        assert "cpu_model: 'ARM Cortex-A72' != " in str(err.value)
    finally:
        data["fingerprint"]["cpu_model"] = built["table"].fingerprint["cpu_model"]
        built["path"].write_text(json.dumps(data))


def test_budget_plan_meets_the_predicted_budget(built, tmp_path):
    from edge_vit.lut.budget import budget_plan
    from edge_vit.model_options import ModelOptions, load_source_model

    table = built["table"]
    full = table.predict(table.structure.full())
    opts = ModelOptions(name="deit_tiny_patch16_224", model_kwargs=TINY)
    alloc, plan = budget_plan(opts, table, 0.7 * full, "p50", tmp_path / "plan.json")
    assert alloc.predicted_ms <= 0.7 * full < full
    net, _, spec, _ = load_source_model(ModelOptions(name="deit_tiny_patch16_224",
                                                     model_kwargs=TINY, prune=str(plan)))
    kept = [b for b in alloc.config if b is not None]
    assert len(net.blocks) == len(kept)
    for block, (h, m) in zip(net.blocks, kept, strict=True):
        assert block.attn.num_heads == h and block.mlp.fc1.out_features == m
    with pytest.raises(PruningPlanError, match="smallest latency"):
        budget_plan(opts, table, 0.01 * full, "p50", tmp_path / "p2.json")


def test_cli_prune_to_a_budget_reports_predicted_and_measured(built, tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner
    from safetensors.torch import save_file

    from edge_vit import demo
    from edge_vit.cli import main
    from edge_vit.models import build_model

    monkeypatch.chdir(tmp_path)
    table = built["table"]  # same machine, same fingerprint: the cached table is reused
    weights = tmp_path / "tiny.safetensors"  # trained weights stand-in: the teacher of --finetune
    save_file(build_model("deit_tiny_patch16_224", model_kwargs=TINY)[0].state_dict(),
              str(weights))
    budget = round(0.7 * table.predict(table.structure.full()), 3)
    res = CliRunner().invoke(main, [
        "prune", "deit_tiny_patch16_224", *[f"--model-arg={k}={v}" for k, v in TINY.items()],
        "--checkpoint", str(weights), "--budget-ms", str(budget), "--work", str(tmp_path / "w"), "--out",
        str(tmp_path / "pruned"), "--finetune", "1", "--finetune-data", str(demo.TRAIN_SLICE),
        "--finetune-limit", "40"])
    assert "reusing" in res.output and "predicted" in res.output, res.output
    verdict = "MET" if res.exit_code == 0 else "MISSED"
    assert res.exit_code in (0, 1) and f"budget {budget:g} ms {verdict}" in res.output, \
        res.output[-3000:]
    assert "the unpruned model: " in res.output and "just before allocating" in res.output
    assert "scaled by" in res.output
    spec = json.loads((tmp_path / "pruned" / "prune_spec.json").read_text())
    assert spec["plan"]["budget"]["budget_ms"] == budget
    assert spec["plan"]["budget"]["predicted_ms"] <= budget
    assert spec["plan"]["budget"]["asked"] == str(budget)
    # --finetune: the distilled folder is the one exported and measured, same architecture
    tuned = json.loads((tmp_path / "pruned-kd1" / "prune_spec.json").read_text())
    assert tuned["finetune"]["epochs"] == 1 and tuned["plan"] == spec["plan"]
    assert "distilled for 1 epoch(s)" in res.output
    made = json.loads((tmp_path / "w" / "artifacts" / "budget-pruned" / "manifest.json")
                      .read_text())
    assert str(tmp_path / "pruned-kd1") in json.dumps(made["model"])
