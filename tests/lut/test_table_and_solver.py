"""The latency table's fit and the budget solver on synthetic tables whose answers are known."""

from __future__ import annotations

import random

import pytest

from edge_vit.errors import PruningPlanError, UsageError
from edge_vit.lut.build import TableMismatch, check_fingerprint
from edge_vit.lut.fingerprint import device_fingerprint, fingerprint_key
from edge_vit.lut.sampling import held_out, mlp_widths, plan_file, sampling_plan
from edge_vit.lut.solver import allocate_budget
from edge_vit.lut.table import Fitted, LatencyTable, Measurement, Structure

S = Structure(depth=6, heads=4, mlp=64, round_to=8)


def additive(c) -> float:  # a device whose latency is exactly the model's form
    return 1.5 + sum(0.4 + 0.1 * b[0] + 0.01 * b[1] for b in c if b is not None)


def table_of(truth, s: Structure = S) -> LatencyTable:
    fp = device_fingerprint({"cpu_model": "X", "cores_logical": 2, "os": "Linux",
                             "machine": "x86_64", "cpu_flags": ["avx2"]}, "onnxruntime", "1.0")
    return LatencyTable("m", {}, [1, 3, 32, 32], "onnx", "fp32", "onnxruntime", fp,
                        fingerprint_key(fp), s, measurements=[
                            Measurement(n, c, truth(c), truth(c) * 1.1)
                            for n, c in sampling_plan(s)])


def test_sampling_plan_isolates_each_effect():
    names = [n for n, _ in sampling_plan(S)]
    assert names == ["full", "heads=1", "heads=2", "heads=3", "mlp=8", "mlp=16", "mlp=32",
                     "mlp=48", "depth=3"]
    assert mlp_widths(Structure(12, 3, 768)) == [96, 192, 384, 576]
    assert all(m % 8 == 0 for m in mlp_widths(S))


def test_an_additive_device_is_fitted_exactly_and_predicts_held_out_variants():
    table = table_of(additive)
    f = table.fit()
    assert f.fixed_ms == pytest.approx(1.5) and f.block_ms == pytest.approx(0.4 + 0.4 + 0.64)
    assert max(abs(r) for r in f.residuals_ms) < 1e-9
    for _, config in held_out(S, 10, seed=3):  # non-uniform, some blocks dropped
        assert f.predict(config) == pytest.approx(additive(config))
    assert table.fit("p90").predict(S.full()) == pytest.approx(1.1 * additive(S.full()))


def test_the_floor_is_one_block_at_its_cheapest():
    f = table_of(additive).fit()
    assert f.floor_ms() == pytest.approx(1.5 + 0.4 + 0.1 + 0.08)


def test_predict_refuses_configurations_outside_the_model():
    f = table_of(additive).fit()
    with pytest.raises(UsageError, match="outside"):
        f.predict([[5, 64]] + S.full()[1:])
    with pytest.raises(UsageError, match="does not fit"):
        f.predict(S.full()[:3])


def test_a_table_that_cannot_separate_its_effects_is_refused():
    table = table_of(additive)
    table.measurements = [m for m in table.measurements if not m.variant.startswith("depth")]
    with pytest.raises(UsageError, match="cannot be fitted"):
        table.fit()


def test_a_table_from_another_device_is_refused_with_both_fingerprints():
    table = table_of(additive)
    other = dict(table.fingerprint, cpu_model="Y", runtime_version="1.1")
    with pytest.raises(TableMismatch) as err:
        check_fingerprint(table, other, "pi4")
    assert "cpu_model: 'X' != 'Y'" in str(err.value) and "runtime_version" in str(err.value)
    check_fingerprint(table, dict(table.fingerprint), "same")  # the same machine: accepted


def test_plan_files_keep_the_configuration(tmp_path):
    import json

    config = [[2, 32], None, [4, 64], [1, 8], None, [4, 16]]
    plan = json.loads(plan_file(config, S, tmp_path / "p.json").read_text())
    assert plan["drop_blocks"] == [1, 4]
    assert plan["blocks"] == {"0": {"heads": 2, "mlp": 32}, "3": {"heads": 1, "mlp": 8},
                              "5": {"mlp": 16}}
    assert plan_file(S.full(), S, tmp_path / "q.json") is None


def flat(value: float, n: int) -> list[float]:
    return [value] * n


def fitted(head_ms: float, mlp_ms_per_8: float, block_ms: float, fixed: float = 1.0,
           s: Structure = S) -> Fitted:
    """A table where each head costs head_ms, each 8 channels mlp_ms_per_8, per block."""
    return Fitted(fixed_ms=fixed, block_ms=block_ms,
                  head_delta={h: -head_ms * (s.heads - h) for h in range(1, s.heads + 1)},
                  mlp_delta={m: -mlp_ms_per_8 * (s.mlp - m) / 8 for m in range(8, s.mlp + 1, 8)},
                  structure=s, metric="p50")


def test_when_only_mlp_costs_time_only_mlp_channels_go():
    f = fitted(head_ms=0.0, mlp_ms_per_8=0.1, block_ms=1.0)
    full = f.predict(S.full())
    a = allocate_budget(f, {i: flat(1, 4) for i in range(6)}, {i: flat(1, 64) for i in range(6)},
                        flat(1, 6), full - 1.2)
    assert all(b[0] == 4 for b in a.config)  # no head removed: it saves nothing
    assert not a.drop_blocks and a.predicted_ms <= full - 1.2
    assert sum(64 - b[1] for b in a.config) == 8 * 12  # 12 steps of 0.1 ms


def test_an_unimportant_expensive_block_is_dropped_first():
    f = fitted(head_ms=0.05, mlp_ms_per_8=0.01, block_ms=2.0)
    blocks = [1.0, 1.0, 0.01, 1.0, 1.0, 1.0]
    a = allocate_budget(f, {i: flat(1, 4) for i in range(6)}, {i: flat(1, 64) for i in range(6)},
                        blocks, f.predict(S.full()) - 1.5)
    assert a.drop_blocks == [2] and a.steps == 1
    assert a.plan(8)["drop_blocks"] == [2]


def test_the_least_important_units_go_and_every_block_keeps_one_head():
    # heads are most of a block's time: removing one saves more per importance lost than
    # dropping a block (worth its attention and MLP, 2) until one head is left
    f = fitted(head_ms=0.5, mlp_ms_per_8=0.0, block_ms=2.0)
    rng = random.Random(0)
    heads = {i: [rng.random() for _ in range(4)] for i in range(6)}
    a = allocate_budget(f, heads, {i: flat(1, 64) for i in range(6)}, flat(1, 6),
                        f.fixed_ms + 6 * (2.0 - 3 * 0.5))  # only one head per block left
    assert [b[0] for b in a.config] == [1] * 6
    for i, kept in a.keep_heads.items():
        assert kept == [max(range(4), key=lambda j: heads[i][j])]  # the best one stays
    assert all(len(v) == 64 for v in a.keep_mlp.values())


def test_a_budget_below_the_floor_names_the_smallest_latency():
    f = fitted(head_ms=0.1, mlp_ms_per_8=0.05, block_ms=2.0)
    with pytest.raises(PruningPlanError) as err:
        allocate_budget(f, {i: flat(1, 4) for i in range(6)},
                        {i: flat(1, 64) for i in range(6)}, flat(1, 6), 0.5)
    assert f"{f.floor_ms():.3f} ms" in str(err.value)
    assert f.floor_ms() == pytest.approx(1.0 + 2.0 - 0.3 - 0.35)


def test_what_the_last_step_overshoots_is_given_back():
    # a nearly useless head goes first (0.3 ms), then the weak block 5 (2 ms) overshoots
    # the budget by 0.35 ms: the back-fill returns the head, which fits again
    f = fitted(head_ms=0.3, mlp_ms_per_8=0.0, block_ms=2.0)
    heads = {i: flat(1, 4) for i in range(6)}
    heads[0] = [0.01, 1, 1, 1]
    budget = f.predict(S.full()) - 1.95
    a = allocate_budget(f, heads, {i: flat(1, 64) for i in range(6)},
                        [1, 1, 1, 1, 1, 0.3], budget)
    assert a.drop_blocks == [5] and a.steps == 3
    assert [b[0] for b in a.config if b] == [4] * 5 and a.keep_heads[0] == [0, 1, 2, 3]
    assert a.predicted_ms == pytest.approx(f.predict(S.full()) - 2.0) and a.predicted_ms <= budget
