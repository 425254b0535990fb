"""The proof that a format and a board are one plugin each: a third-party distribution
(``tests/plugin/toy``, put on ``sys.path`` with its ``*.dist-info/entry_points.txt``, never
pip-installed) registers the ``npvit`` format (a folder artifact) with its own ``numpy_vit``
runtime and the
``toy-board`` device kind, and the CLI drives export -> deploy -> profile -> eval -> report
with them, with no edit to edge-vit's code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge_vit.cli import main
from edge_vit.files import file_sha256
from tests.conftest import TINY_VIT

PLUGIN = Path(__file__).resolve().parent / "toy"
FAST = ["--rounds", "2", "--max-rounds", "2", "--target-ci", "0", "--block-seconds", "0.05",
        "--min-iterations", "5", "--warmup", "2", "--session-sd", "0",
        "--busy-cores", "64"]  # measured whatever else runs: this test is about the plumbing


@pytest.fixture
def plugin(monkeypatch, tmp_path):
    """The plugin importable, and an inventory naming one toy board."""
    monkeypatch.syspath_prepend(str(PLUGIN))
    inventory = tmp_path / "devices.toml"
    inventory.write_text('[devices.toy]\nkind = "toy-board"\nboard_dir = "board"\nnice = 1\n')
    monkeypatch.setenv("EDGE_VIT_DEVICES", str(inventory))
    return tmp_path / "board"


def cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_plugin_registers_through_entry_points_only(plugin):
    from devices.base import available_kinds, device_class
    from devices.inventory import load_inventory
    from exporters.base import available_formats, get_exporter, known_runtimes, runtime_spec

    assert "npvit" in available_formats() and "toy-board" in available_kinds()
    assert get_exporter("npvit").runtimes == ("numpy_vit",) and "numpy_vit" in known_runtimes()
    assert runtime_spec("numpy_vit").FORMATS == ("npvit",)
    config = load_inventory().get("toy")
    assert type(config) is device_class("toy-board").config_class
    assert config.board_dir == plugin and config.nice == 1  # relative to the inventory file
    bad = plugin.parent / "bad.toml"
    bad.write_text('[devices.t]\nkind = "toy-board"\n')
    with pytest.raises(Exception, match="'board_dir' is required"):
        load_inventory(bad)
    bad.write_text('[devices.t]\nkind = "toy-board"\nboard_dir = "b"\nhost = "h"\n')
    with pytest.raises(Exception, match="unknown key 'host' for kind 'toy-board'"):
        load_inventory(bad)


def test_export_deploy_profile_eval_report_with_a_plugin_format_and_board(
        plugin, tmp_path, color_teacher, color_data):
    art, res, out = tmp_path / "artifacts", tmp_path / "results", tmp_path / "report"
    model_args = [f"--model-arg={k}={v}" for k, v in TINY_VIT.items()]
    cli("export", "deit_tiny_patch16_224", *model_args, "--checkpoint", str(color_teacher),
        "--formats", "onnx,npvit", "--precision", "fp32", "--out", str(art), "--id", "toy")
    manifest = json.loads((art / "toy" / "manifest.json").read_text())
    npvit = [a for a in manifest["artifacts"] if a["format"] == "npvit"]
    assert [a["status"] for a in npvit] == ["ok"]  # it passed the parity check against PyTorch
    folder = art / "toy" / npvit[0]["path"]
    assert folder.is_dir() and sorted(p.name for p in folder.iterdir()) == [
        "config.json", "weights.npz"]  # a folder artifact, hashed as one
    assert npvit[0]["sha256"] == file_sha256(folder)
    assert npvit[0]["size_bytes"] == sum(p.stat().st_size for p in folder.iterdir())

    cli("deploy", str(art), "--device", "toy")
    backend = plugin / "edge_vit_backend_numpy_vit.py"  # shipped beside the runner
    assert backend.is_file() and (plugin / "edge_vit_runner.pyz").is_file()
    assert (plugin / "artifacts" / "toy" / npvit[0]["path"] / "weights.npz").is_file()
    probe = subprocess.run([sys.executable, str(plugin / "edge_vit_runner.pyz"), "probe"],
                           capture_output=True, text=True, check=True)
    assert json.loads(probe.stdout)["runtimes"]["numpy_vit"]  # the runner loads it by name

    cli("profile", str(art), "--device", "toy", "--results", str(res), *FAST)
    result = json.loads((res / "toy" / "toy" / "npvit-fp32-numpy_vit.json").read_text())
    assert result["status"] == "ok" and result["device_kind"] == "toy-board"
    assert result["settings"]["runtime"] == "numpy_vit" and result["latency"]["p50"] > 0
    assert result["session"]["id"] and len(result["rounds"]) >= 3  # warm-up + 2 rounds
    assert (res / "toy" / "toy" / "onnx-fp32-onnxruntime.json").is_file()

    cli("eval", str(art), "--data", str(color_data / "test"), "--labels", "folders",
        "--results", str(res), "--no-cache")
    acc = {p.stem: json.loads(p.read_text()) for p in (res / "accuracy" / "toy").glob("*.json")}
    mine, onnx = acc["npvit-fp32-numpy_vit"], acc["onnx-fp32-onnxruntime"]
    assert mine["status"] == "ok" and mine["total"] == 100
    assert mine["top1"] == onnx["top1"] > 50  # percent: the same model, in the toy runtime

    cli("report", str(art), "--results", str(res), "--out", str(out), "--formats", "json,md")
    rows = json.loads((out / "report.json").read_text())["rows"]
    (row,) = [r for r in rows if r["format"] == "npvit" and r["device"] == "toy"]
    assert row["runtime"] == "numpy_vit" and row["p50_ms"] > 0
    assert row["top1_pct"] == pytest.approx(mine["top1"])
    assert "numpy_vit" in (out / "report.md").read_text()

    # a folder artifact is checked as one: any file changed inside it is caught by name
    (folder / "config.json").write_text((folder / "config.json").read_text() + " ")
    bad = CliRunner().invoke(main, ["eval", str(art), "--data", str(color_data / "test"),
                                    "--labels", "folders", "--results", str(res),
                                    "--no-cache", "--formats", "npvit"])
    assert bad.exit_code != 0 and "changed since export" in bad.output
