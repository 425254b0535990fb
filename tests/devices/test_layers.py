"""Per-layer breakdowns: real onnxruntime and OpenVINO op profiles of a tiny ViT, taken by the
runner's ``layers`` command, attributed to its blocks; MAC shares counted on its ONNX graph;
LiteRT (no op profiler) said plainly while the rest is kept; the CLI and the saved results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from devices import open_device
from devices.config import DeviceConfig
from devices.shipping import runner_archive
from edge_vit import results as rs
from edge_vit.complexity import count_macs
from edge_vit.layers.attribute import attribute
from edge_vit.layers.macs import macs_by_scope
from edge_vit.layers.names import scope_of
from edge_vit.layers.result import LayerProfile
from edge_vit.layers.run import LayerSettings, layers_path, profile_layers
from edge_vit.profiling import ProfileSettings, collect_artifacts, device_plans
from edge_vit.reporting.schema import read_report
from edge_vit.serialization import from_dict

pytestmark = pytest.mark.usefixtures("isolated_home")

RUNNER = runner_archive()
TINY = {"img_size": 32, "patch_size": 8, "depth": 2, "num_classes": 10}
FAST = dict(warmup=2, warmup_seconds=0.0, min_iterations=10, block_seconds=0.05, rounds=2,
            max_rounds=2, target_ci=0.0, threads=1, busy_cores=1000.0, max_steal_pct=100.0,
            session_sd=0.0)
BLOCK_GROUPS = {(f"blocks.{b}", part) for b in (0, 1) for part in ("attn", "mlp")}


def files(tiny_artifacts: Path) -> dict[str, Path]:
    manifest = json.loads((tiny_artifacts / "manifest.json").read_text())
    return {a["format"]: tiny_artifacts / a["path"] for a in manifest["artifacts"]
            if a["status"] == "ok" and a["precision"] == "fp32"}


def run_layers(tmp_path: Path, units: list[dict], iterations: int = 5) -> dict:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"units": units, "settings": {"threads": 1, "warmup": 2}}))
    proc = subprocess.run([sys.executable, str(RUNNER), "layers", "--plan", str(plan), "--units",
                           ",".join(f"{i}:0" for i in range(len(units))),
                           "--iterations", str(iterations)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def runner_units(tiny_artifacts, tmp_path_factory) -> dict[str, dict]:
    """One real ``layers`` run of the tiny ViT: ONNX on onnxruntime and on OpenVINO, the IR on
    OpenVINO, the .tflite on LiteRT (which has no op profiler)."""
    f = files(tiny_artifacts)
    units = [{"id": "ort", "artifact": str(f["onnx"]), "format": "onnx", "runtime": "onnxruntime"},
             {"id": "ov-onnx", "artifact": str(f["onnx"]), "format": "onnx",
              "runtime": "openvino"},
             {"id": "ov-ir", "artifact": str(f["openvino"]), "format": "openvino",
              "runtime": "openvino"},
             {"id": "tflite", "artifact": str(f["tflite"]), "format": "tflite",
              "runtime": "litert"}]
    out = run_layers(tmp_path_factory.mktemp("layers"), units)
    return {u["id"]: u for u in out["units"]}


@pytest.mark.parametrize("unit", ["ort", "ov-onnx", "ov-ir"])
def test_real_op_profiles_are_attributed_to_the_blocks(runner_units, unit):
    u = runner_units[unit]
    assert u["status"] == "ok" and u["runs"] == 5 and u["ops"]
    ops = attribute(u["ops"], u["fused"])
    total = sum(o.ms for o in ops)
    assert total == pytest.approx(sum(o["ms"] for o in u["ops"])) and total > 0
    groups = {(o.group, o.part.split(".")[0] if o.group.startswith("blocks.") else o.group)
              for o in ops}
    # both blocks' attention and MLP, the patch embedding and the head all ran (a norm may be
    # fused into the residual add before it: OpenVINO does so in some compilations)
    assert BLOCK_GROUPS | {("embed", "embed"), ("head", "head")} <= groups, [
        (o.name, o.type, o.group, o.part, o.how) for o in ops[-8:]]
    assert any(p == "norms" for _, p in groups)
    for b in (0, 1):  # every prunable part of each block is timed
        parts = {o.part for o in ops if o.group == f"blocks.{b}"}
        assert {"attn.qkv", "attn.products", "attn.proj", "mlp.fc1", "mlp.fc2"} <= parts
    other = sum(o.ms for o in ops if o.group == "other")
    assert other / total < 0.10, [o.name for o in ops if o.group == "other"]
    assert all(o.how in ("name", "fused", "neighbours", "none") for o in ops)
    # every op the runtime named after a module path went to that module's group
    for o in ops:
        if o.how == "name":
            assert scope_of(o.name).group == o.group


def test_fused_ops_are_said_to_be_fused(runner_units):
    ov = attribute(runner_units["ov-ir"]["ops"], runner_units["ov-ir"]["fused"])
    fused = [o for o in ov if o.how == "fused"]
    assert fused and all(o.fused_with for o in fused)
    # OpenVINO runs the attention products and their softmax as one op: it names the nodes
    products = [o for o in fused if o.part == "attn.products"]
    assert products and any(len(o.fused_with) >= 1 for o in products)
    ort = attribute(runner_units["ort"]["ops"], runner_units["ort"]["fused"])
    # onnxruntime's optimizer makes nodes without a module path (a fused Gelu, layout
    # transposes): placed by their neighbours, and said so
    assert any(o.how == "neighbours" for o in ort)
    assert all(o.group != "other" for o in ort if o.type == "Gelu")


def test_runtime_without_op_profiler_is_said_plainly(runner_units):
    u = runner_units["tflite"]
    assert u["status"] == "unsupported" and not u.get("ops")
    assert "no per-op profiler" in u["error"] and "TFLite" in u["error"]
    assert runner_units["ort"]["status"] == "ok"  # the others in the same process are kept


def test_macs_on_the_onnx_graph_match_the_pytorch_count(tiny_artifacts):
    import timm

    macs = macs_by_scope(files(tiny_artifacts)["onnx"])
    model = timm.create_model("deit_tiny_patch16_224", **TINY)
    assert sum(macs.values()) == count_macs(model, (1, 3, 32, 32)).macs
    assert not [s for s in macs if s.group == "other"]  # every MatMul/Gemm/Conv is placed
    assert {s.part for s in macs if s.group == "blocks.0"} == {
        "attn.qkv", "attn.products", "attn.proj", "mlp.fc1", "mlp.fc2"}


def test_node_names_survive_onnxslim_and_openvino_but_not_onnx2tf(tiny_artifacts):
    import onnx
    import openvino as ov

    f = files(tiny_artifacts)
    graph = onnx.load(str(f["onnx"])).graph  # after onnxslim
    compute = [n.name for n in graph.node if n.op_type in ("MatMul", "Gemm", "Conv")]
    assert compute and all(scope_of(n) is not None for n in compute)
    model = ov.Core().read_model(str(f["openvino"]))
    names = [op.get_friendly_name() for op in model.get_ops()
             if op.get_type_name() in ("MatMul", "Convolution")]
    # all but one: OpenVINO names the op that produces the output after the output ("logits");
    # the attribution places it by its neighbours, after the final norm, in the head
    unnamed = [n for n in names if scope_of(n) is None]
    assert len(names) > 5 and unnamed == [model.outputs[0].get_any_name()]
    # onnx2tf names TFLite tensors after its TF ops: the module paths are gone
    from ai_edge_litert import interpreter

    interp = interpreter.Interpreter(model_path=str(f["tflite"]))
    tensors = [t["name"] for t in interp.get_tensor_details()]
    assert sum(scope_of(t) is not None for t in tensors) < 0.25 * len(tensors)


def test_layer_pass_on_the_local_device_keeps_every_result(tiny_artifacts, tmp_path):
    entries = collect_artifacts([tiny_artifacts])
    settings = ProfileSettings(**FAST)
    said: list[str] = []
    with open_device(DeviceConfig(name="local", kind="local",
                                  workdir=str(tmp_path / "work"))) as device:
        plans, _ = device_plans(device, entries, settings)
        out = profile_layers(device, plans, settings, LayerSettings(rounds=2, iterations=4),
                             tmp_path / "results", progress=said.append)
    by = {(p.artifact.format, p.runtime): p for p in out if p.artifact.precision == "fp32"}
    assert {("onnx", "onnxruntime"), ("onnx", "openvino"), ("openvino", "openvino"),
            ("tflite", "litert")} <= set(by)
    lite = by[("tflite", "litert")]
    assert lite.status == rs.UNSUPPORTED and "no per-op profiler" in lite.error
    assert any("no per-op profiler" in m for m in said)
    for key in (("onnx", "onnxruntime"), ("openvino", "openvino")):
        p = by[key]
        assert p.status == rs.OK, p.error
        assert len(p.rounds) == 2 and all(r.runs == 4 for r in p.rounds)
        assert p.macs_source and p.macs_source.endswith(".onnx")
        assert sum(g.share for g in p.groups) == pytest.approx(1.0, abs=1e-3)
        assert sum(g.macs_share or 0 for g in p.groups) == pytest.approx(1.0, abs=1e-3)
        assert all(g.share_min <= g.share <= g.share_max for g in p.groups + p.summary)
        assert sum(g.share for g in p.summary) == pytest.approx(1.0, abs=1e-3)
        # the final norm may be fused into the last residual add (OpenVINO, some compilations)
        groups = [g.group for g in p.summary]
        assert groups[:3] == ["embed", "blocks.0", "blocks.1"] and groups[-1] == "head"
        assert set(groups) <= {"embed", "blocks.0", "blocks.1", "norm", "head"}
        assert p.other_share < 0.10
        attn = {g.group: g for g in p.groups if g.part == "attn"}
        assert set(attn) == {"blocks.0", "blocks.1"} and all(g.macs_share > 0 for g in
                                                               attn.values())
        assert any("run with the profiler on" in n for n in p.notes)
        saved = layers_path(tmp_path / "results", "local", next(
            pl for pl in plans if (pl.aid.format, pl.runtime) == key
            and pl.aid.precision == "fp32"))
        again = from_dict(LayerProfile, json.loads(saved.read_text()))
        assert (again.artifact.format, again.runtime) == key, saved
        assert again.groups == p.groups and again.artifact.sha256 == p.artifact.sha256


def test_cli_profile_layers_prints_the_breakdown(tiny_artifacts, tmp_path, monkeypatch):
    from edge_vit.cli import main

    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, [
        "profile", str(tiny_artifacts), "--formats", "onnx,tflite", "--runtime",
        "onnxruntime,litert", "--rounds", "2", "--max-rounds", "2", "--target-ci", "0",
        "--busy-cores", "1000", "--block-seconds", "0.05", "--layers", "--layer-rounds", "1",
        "--layer-iterations", "3"])
    assert res.exit_code == 0, res.output
    assert "where the time goes: tiny onnx/fp32 on local: onnxruntime" in res.output
    assert "block 1" in res.output and "patch embedding" in res.output
    assert "litert: UNSUPPORTED" in res.output and "no per-op profiler" in res.output
    saved = sorted(p.name for p in (tmp_path / "results" / "local" / "tiny" / "layers").glob(
        "*.json"))
    assert saved == ["onnx-fp32-onnxruntime.json", "tflite-fp16-litert.json",
                     "tflite-fp32-litert.json"]
    # the report shows each breakdown in its device's section, and reads it back
    res = CliRunner().invoke(main, ["report", str(tiny_artifacts), "--formats", "md,json,html"])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "report" / "report.md").read_text()
    section = md[md.index("## "):]
    assert "### Where the time goes (3 breakdown(s))" in section
    assert "| block 1 |" in md and "UNSUPPORTED" in md and "MACs %" in md
    report = read_report(tmp_path / "report" / "report.json")
    ort = next(p for p in report.layers if p.runtime == "onnxruntime")
    assert ort.status == rs.OK and {g.group for g in ort.groups} >= {"embed", "blocks.0",
                                                                     "blocks.1", "head"}
    assert 'class="layers"' in (tmp_path / "report" / "report.html").read_text()


def test_ops_keep_execution_order_when_a_run_skips_one():
    from devices.runner.layers import summarize

    runs = [[{"name": "a", "ms": 1.0}, {"name": "c", "ms": 3.0}],
            [{"name": "a", "ms": 1.0}, {"name": "b", "ms": 2.0}, {"name": "c", "ms": 3.0}],
            [{"name": "a", "ms": 1.0}, {"name": "b", "ms": 2.0}, {"name": "c", "ms": 5.0}]]
    ops = summarize(runs)
    assert [o["name"] for o in ops] == ["a", "b", "c"]  # b after a, not appended at the end
    assert [o["ms"] for o in ops] == [1.0, 2.0, 3.0]  # medians; b counts 0 ms in run 1
    assert ops[1]["ms_p25"] == 1.0 and ops[2]["ms_p75"] == 4.0


def test_layer_pass_over_ssh_runs_the_deployed_runner(sshd, tiny_artifacts, tmp_path):
    """The same breakdown through a real OpenSSH transport: the artifacts and the runner are
    pushed, the plan travels as a file, the runner's ``layers`` runs on the device."""
    entries = collect_artifacts([tiny_artifacts], formats=["onnx"])
    entries = [e for e in entries if e.record.precision == "fp32"]
    settings = ProfileSettings(**FAST, runtimes=("onnxruntime",))
    config = sshd.device_config(workdir=str(tmp_path / "remote"), python=sys.executable)
    with open_device(config) as device:
        plans, _ = device_plans(device, entries, settings)
        (p,) = profile_layers(device, plans, settings, LayerSettings(rounds=2, iterations=3),
                              tmp_path / "results")
    assert p.status == rs.OK and p.device_kind == "ssh" and len(p.rounds) == 2
    assert (tmp_path / "remote" / "sessions" / "layers-plan.json").is_file()
    groups = [g.group for g in p.summary]
    assert groups[:3] == ["embed", "blocks.0", "blocks.1"] and groups[-1] == "head"
    assert p.environment.get("cpu_model") or p.environment.get("machine")
