"""`edge-vit sweep`: the grid end to end, resumption after an interruption, config files."""

from __future__ import annotations

import json
import subprocess
from itertools import pairwise

import pytest
from click.testing import CliRunner

from edge_vit.commands import main
from edge_vit.errors import UsageError
from edge_vit.sweep import ModelEntry, SweepConfig, load_config, run_sweep

TINY_1K = {"img_size": 32, "patch_size": 8, "depth": 2}  # 1000 classes: ImageNet labels work
FAST_PROFILE = {"warmup": 2, "warmup_seconds": 0.0, "min_iterations": 5, "block_seconds": 0.02,
                "rounds": 2, "max_rounds": 2, "target_ci": 0.0, "threads": 1,
                "busy_cores": 1000.0, "max_steal_pct": 100.0}


def _config(tmp_path, **kw) -> SweepConfig:
    base = dict(name="t", models=[ModelEntry(name="deit_tiny_patch16_224", model_kwargs=TINY_1K)],
                prune=["none", "heads=0.34,mlp=0.5"], formats=["onnx", "openvino"],
                devices=["local"], profile=dict(FAST_PROFILE), out=str(tmp_path / "sweep"))
    base.update(kw)
    return SweepConfig(**base)


class _Stop(KeyboardInterrupt):
    pass


def test_interrupted_sweep_resumes_without_redoing_units(tmp_path, imagenet_sample):
    cfg = _config(tmp_path, data=str(imagenet_sample), limit=20,
                  profile={**FAST_PROFILE, "rounds": 3, "max_rounds": 3})
    seen: list[str] = []

    def interrupt_mid_session(msg: str):
        seen.append(msg)
        if "round 1:" in msg:
            raise _Stop()  # Ctrl-C in the middle of the device's profile session

    with pytest.raises(KeyboardInterrupt):
        run_sweep(cfg, progress=interrupt_mid_session)
    first_units = {p.stem for p in (tmp_path / "sweep" / "units").glob("*.json")}
    assert len([u for u in first_units if u.startswith("export-")]) == 2
    assert not [u for u in first_units if u.startswith("profile-")]
    # one session for the device over both exports: every unit of both models in each round
    assert sum(m.startswith("> profile-local-") for m in seen) == 1

    said: list[str] = []
    summary = run_sweep(cfg, progress=said.append)
    assert set(summary.skipped) == first_units  # nothing finished was redone
    assert not set(summary.ran) & first_units
    assert not summary.failed
    # the evaluations ran before the profile (it measures this machine's CPU, so it runs
    # last, alone, while the exports' evaluations keep the cores busy before it)
    assert {u.split("-")[0] for u in first_units} == {"export", "eval"}
    assert {u.split("-")[0] for u in summary.ran} == {"profile"}
    assert any("resuming after 2 finished round(s)" in m for m in said)  # rounds 0 and 1
    assert not any("round 1:" in m for m in said)  # not measured again
    assert set(summary.report) == {"md", "csv", "json", "html"}
    report = json.loads(summary.report["json"].read_text())
    measured = [r for r in report["rows"] if r["p50_ms"] is not None]
    assert len(measured) == 6  # 2 models x (onnx on ort + onnx on ov + IR on ov)
    assert {r["rounds"] for r in measured} == {3} and len({r["session_id"] for r in measured}) == 1
    pruned = [r for r in measured if r["model_id"] != r["baseline_model_id"]]
    assert pruned and all(r["speedup_method"] == "paired rounds" for r in pruned)

    again = run_sweep(cfg)  # a third run has nothing left to do
    assert not again.ran and len(again.skipped) == len(first_units) + len(summary.ran)


def test_failing_unit_keeps_the_others(tmp_path):
    broken = tmp_path / "broken.safetensors"  # found only when the export reads it
    broken.write_bytes(b"not a safetensors file")
    cfg = _config(tmp_path, prune=["none"], formats=["onnx"], models=[
        ModelEntry(name="deit_tiny_patch16_224", model_kwargs=TINY_1K),
        ModelEntry(name="deit_tiny_patch16_224", model_kwargs=TINY_1K, checkpoint=str(broken))])
    summary = run_sweep(cfg)
    assert [r.kind for r in summary.failed] == ["export"]
    assert "broken.safetensors" in summary.failed[0].error
    assert any(u.startswith("profile-local-") for u in summary.ran)
    # a failed unit is retried by the next run, the finished ones are not
    summary2 = run_sweep(cfg)
    assert [u.split("-")[0] for u in summary2.ran] == ["export"]


def test_every_bad_cell_of_the_grid_is_found_before_any_work(tmp_path):
    plan = tmp_path / "plan.json"  # well formed, but impossible for a 2-block model
    plan.write_text('{"drop_blocks": [5]}')
    cfg = _config(tmp_path, prune=["none", "heads=1.5", "heads=0.34,mlp=0.5", str(plan)],
                  formats=["onnx", "coreml"], precisions=["fp32", "int8"],
                  devices=["local", "nosuchboard"], data=str(tmp_path / "missing"))
    with pytest.raises(UsageError) as info:
        run_sweep(cfg)
    text = str(info.value)
    for expected in ("'heads=1.5': heads = 1.5 is outside [0, 1)",
                     f"'{plan}' on deit_tiny_patch16_224: Plan drop_blocks names block(s) [5]",
                     "coreml", "device nosuchboard", f"data: {tmp_path / 'missing'} does not"):
        assert expected in text, (expected, text)
    assert "'heads=0.34,mlp=0.5'" not in text  # the good cells are not blamed
    assert not (tmp_path / "sweep").exists()  # nothing was written, nothing ran


def test_config_file_and_cli(tmp_path):
    cfg_file = tmp_path / "grid.toml"
    cfg_file.write_text(
        'name = "fromfile"\nprune = ["none"]\nformats = ["onnx"]\ndevices = ["local"]\n'
        f'out = "{tmp_path / "s"}"\n'
        '[[models]]\nname = "deit_tiny_patch16_224"\n'
        'model_kwargs = {img_size = 32, patch_size = 8, depth = 2}\n'
        '[profile]\nwarmup = 2\nmin_iterations = 5\nblock_seconds = 0.02\nrounds = 2\n'
        'max_rounds = 2\n')
    cfg = load_config(cfg_file)
    assert cfg.name == "fromfile" and cfg.models[0].model_kwargs["depth"] == 2
    result = CliRunner().invoke(main, ["sweep", "--config", str(cfg_file)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s" / "report" / "report.html").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text('formatz = ["onnx"]\n')
    with pytest.raises(UsageError, match="formatz"):
        load_config(bad)
    old = tmp_path / "old.toml"  # a grid written for the single-block profiler
    old.write_text('[profile]\nmin_seconds = 2.0\n')
    with pytest.raises(UsageError, match="min_seconds") as info:
        load_config(old)
    assert "rounds" in info.value.hint
    impossible = tmp_path / "impossible.toml"
    impossible.write_text('[profile]\nrounds = 9\nmax_rounds = 3\n')
    with pytest.raises(UsageError, match="Impossible profile settings"):
        load_config(impossible)


@pytest.mark.e2e
def test_small_grid_local_and_ssh_with_browser_check(tmp_path, sshd, imagenet_sample):
    """The issue's acceptance run: 3 pruning levels x 3 formats on the local device and a
    loopback SSH device, evaluated on real ImageNet images, reported, and the HTML opened in
    a real headless browser."""
    from tests.reporting.test_browser import _argv, _browser, _check_layout, _DomIndex, _measure

    inventory = sshd.write_inventory(tmp_path / "devices.toml", "loop", tmp_path / "remote",
                                     connect_timeout=5.0)
    cfg = _config(tmp_path, prune=["none", "heads=0.34,mlp=0.5", "heads=0.34,mlp=0.75"],
                  formats=["onnx", "openvino", "tflite"], devices=["local", "loop"],
                  inventory=str(inventory), data=str(imagenet_sample))
    summary = run_sweep(cfg)
    assert not summary.failed, [(f.unit, f.error) for f in summary.failed]
    report = json.loads(summary.report["json"].read_text())
    for device in ("local", "loop"):
        rows = [r for r in report["rows"] if r["device"] == device and r["p50_ms"]]
        assert {r["format"] for r in rows} == {"onnx", "openvino", "tflite"}
        assert len({r["model_id"] for r in rows}) == 3
        assert any(r["pareto"] for r in rows)
    shipped = {("onnx", "onnxruntime"), ("openvino", "openvino"), ("tflite", "litert")}
    for r in report["rows"]:
        if r["p50_ms"] and (r["format"], r["runtime"]) in shipped:
            assert r["top1_pct"] is not None, r  # evaluated in the runtime it ships with
    md = summary.report["md"].read_text()
    assert "## Device: local" in md and "## Device: loop" in md
    csv_lines = summary.report["csv"].read_text().strip().splitlines()
    assert len(csv_lines) == len(report["rows"]) + 1

    browser = _browser()
    dom = subprocess.run([*_argv(browser, tmp_path / "profile"), "--dump-dom",
                          summary.report["html"].resolve().as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    index = _DomIndex()
    index.feed(dom)
    for device in ("local", "loop"):
        plots = [p for p in index.svg_plots if p.startswith(f"pareto-{device}-")]
        assert len(plots) == 3  # one per runtime: onnxruntime, openvino, litert
        assert sum(index.circles.get(p, 0) for p in plots) >= 9
        assert any(t[1] == device and t[2] > 0 for t in index.tables)
    # the real report of a real sweep fits 1400 px, labels clear, what to ship on each device
    _check_layout(_measure(summary.report["html"].read_text(), tmp_path), ["local", "loop"])


def test_recovery_finetuning_is_its_own_row(tmp_path, imagenet_sample, color_data):
    """finetune = [0, 1]: each pruned model is reported as pruned and as pruned + distilled,
    trained on other images than the ones it is scored on."""
    import torch
    from safetensors.torch import save_file

    from edge_vit.models import create_model

    torch.manual_seed(0)
    weights = tmp_path / "teacher.safetensors"
    save_file(create_model("deit_tiny_patch16_224", TINY_1K).state_dict(), str(weights))
    cfg = _config(tmp_path, models=[ModelEntry(name="deit_tiny_patch16_224",
                                               model_kwargs=TINY_1K, checkpoint=str(weights))],
                  formats=["onnx"], data=str(imagenet_sample), limit=20, finetune=[0, 1],
                  finetune_data=str(color_data / "train"),
                  finetune_options={"batch_size": 32, "threads": 1, "limit": 100,
                                    "labels": "folders"})
    summary = run_sweep(cfg)
    assert not summary.failed, [(f.unit, f.error) for f in summary.failed]
    kinds = [u.split("-")[0] for u in summary.ran]
    assert kinds.count("finetune") == 1 and kinds.count("export") == 3
    report = json.loads(summary.report["json"].read_text())
    ids = {r["model_id"] for r in report["rows"]}
    distilled = [i for i in ids if i.endswith("-kd1")]
    assert len(distilled) == 1 and distilled[0].removesuffix("-kd1") in ids
    row = next(r for r in report["rows"] if r["model_id"] == distilled[0] and r["top1_pct"]
               is not None)
    assert "KD fine-tuned 1 ep" in row["prune_summary"]
    assert row["baseline_model_id"] == "deit_tiny_patch16_224-args-" + \
        row["baseline_model_id"].split("-args-")[1]  # compared with the unpruned model
    again = run_sweep(cfg)
    assert not again.ran  # the fine-tuned model is not trained twice
    with pytest.raises(UsageError, match="evaluation data"):
        run_sweep(_config(tmp_path, data=str(imagenet_sample), finetune=[2],
                          finetune_data=str(imagenet_sample)))
    with pytest.raises(UsageError, match="calib is the evaluation data"):
        run_sweep(_config(tmp_path, data=str(imagenet_sample), calib=str(imagenet_sample),
                          precisions=["fp32", "int8"]))
    with pytest.raises(UsageError, match="finetune option"):
        run_sweep(_config(tmp_path, finetune=[1], finetune_data=str(color_data),
                          finetune_options={"lr_typo": 1}))


def test_local_executor_overlaps_cpu_units_and_profiles_alone(tmp_path, imagenet_sample):
    from datetime import datetime

    cfg = _config(tmp_path, prune=["none", "heads=0.34,mlp=0.5", "heads=0.5,mlp=0.5"],
                  formats=["onnx"], data=str(imagenet_sample), limit=20, jobs=2)
    summary = run_sweep(cfg)
    assert not summary.failed, [(f.unit, f.error) for f in summary.failed]
    recs = [json.loads(p.read_text()) for p in (tmp_path / "sweep" / "units").glob("*.json")]

    def span(r):
        return tuple(datetime.fromisoformat(r[k]).timestamp() for k in ("started", "finished"))

    work = sorted(span(r) for r in recs if r["kind"] != "profile")
    assert any(a[1] > b[0] for a, b in pairwise(work))  # two units ran at once
    assert len({r["host"] for r in recs}) == 1 and all(r["attempts"] == 1 for r in recs)
    s0, s1 = span(next(r for r in recs if r["kind"] == "profile"))
    assert all(e <= s0 or s >= s1 for s, e in work)  # nothing beside the profile
    assert s0 >= max(e for _, e in work)  # and it ran last: nothing waited for it
