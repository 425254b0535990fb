"""``edge-vit eval --device``: this host preprocesses, the device's runner runs each artifact
over the arrays and returns logits, the host scores them and counts the images whose top-1
changed. Here the device is the loopback OpenSSH server (same CPU: nothing may change); the
emulated aarch64 board runs the same path in tests/arm/."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from edge_vit.commands import main

pytestmark = pytest.mark.usefixtures("isolated_home")


def test_eval_on_a_device_returns_the_hosts_predictions(sshd, tiny_artifacts, color_data,
                                                        tmp_path):
    inv = sshd.write_inventory(tmp_path / "devices.toml", "box", tmp_path / "work", 5.0)
    results = tmp_path / "results"
    res = CliRunner().invoke(main, [
        "eval", str(tiny_artifacts), "--data", str(color_data / "test"), "--labels", "folders",
        "--device", "box", "--inventory", str(inv), "--results", str(results), "--no-cache",
        "--formats", "onnx,tflite", "--ov-precision", "f32"])
    assert res.exit_code == 0, res.output
    there = [json.loads(p.read_text()) for p in (results / "accuracy-on" / "box").rglob("*.json")]
    here = {json.loads(p.read_text())["artifact"]["format"]
            for p in (results / "accuracy").rglob("*.json")}
    assert here == {"pytorch", "onnx", "tflite"}  # the host's results stay where they were
    assert {r["artifact"]["format"] for r in there} == {"onnx", "tflite"}
    for r in there:
        assert r["status"] == "ok", r["error"]
        assert r["device"] == "box" and r["total"] == 100
        assert r["changed_vs_host"] == 0 and r["changed_vs_host_images"] == []
        assert r["top1"] == r["host_top1"]
        assert r["device_run"]["kind"] == "ssh" and r["device_run"]["environment"]["machine"]
        assert r["runtime"] in ("onnxruntime", "litert")
    assert "vs this host" in res.output and "0 of 100 (0.0%)" in res.output


def test_eval_on_an_unreachable_device_says_so(closed_port, tiny_artifacts, color_data,
                                               sshd, tmp_path):
    inv = tmp_path / "devices.toml"
    inv.write_text(f'[devices.gone]\nkind = "ssh"\nhost = "127.0.0.1"\nport = {closed_port}\n'
                   f'known_hosts = "{sshd.known_hosts}"\nconnect_timeout = 2\nretries = 0\n')
    res = CliRunner().invoke(main, [
        "eval", str(tiny_artifacts), "--data", str(color_data / "test"), "--labels", "folders",
        "--device", "gone", "--inventory", str(inv), "--results", str(tmp_path / "r"),
        "--formats", "onnx"])
    assert res.exit_code != 0
    assert "gone" in res.output and "127.0.0.1" in res.output
