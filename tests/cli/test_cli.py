"""Every command's --help, and behaviour through click's CliRunner (exit codes, messages)."""

import json

import pytest
from click.testing import CliRunner

from edge_vit.commands import main

TINY_ARGS = ["--model-arg", "img_size=32", "--model-arg", "patch_size=8",
             "--model-arg", "depth=2", "--model-arg", "num_classes=10"]


@pytest.fixture
def runner():
    return CliRunner()


@pytest.mark.parametrize("command", ["export", "info", "prune", "models", "doctor"])
def test_help(runner, command):
    result = runner.invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_doctor_lists_runtimes_with_versions(runner):
    result = runner.invoke(main, ["doctor"])
    assert result.exit_code == 0
    for name in ("onnxruntime", "openvino", "onnx2tf", "ai_edge_litert"):
        assert name in result.output
    assert "pip install" in result.output  # tflite_runtime is not installed here


def test_info_default_model_shows_published_figures(runner):
    result = runner.invoke(main, ["info", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["model"] == "deit_tiny_patch16_224"
    assert data["params"] == 5_717_416 and data["macs"] == 1_253_683_200
    assert data["architecture"]["heads"] == [3] * 12


def test_models_filters(runner):
    result = runner.invoke(main, ["models", "resmlp_*"])
    assert result.exit_code == 0 and "resmlp_12_224" in result.output
    assert "deit" not in result.output


def test_unknown_model_is_a_message_not_a_traceback(runner):
    result = runner.invoke(main, ["info", "deit_tiny_patch16_22"])
    assert result.exit_code == 2
    assert "Unknown model" in result.output and "deit_tiny_patch16_224" in result.output
    assert "Traceback" not in result.output


def test_corrupt_checkpoint_exit_code(runner, tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"junk")
    result = runner.invoke(main, ["export", "--checkpoint", str(bad), "--out", str(tmp_path)])
    assert result.exit_code == 3 and "Cannot read checkpoint" in result.output


def test_pretrained_offline_exit_code(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = runner.invoke(main, ["export", "--pretrained", "--formats", "onnx",
                                  "--out", str(tmp_path)])
    assert result.exit_code == 3
    assert "Could not fetch pretrained weights" in result.output and "--checkpoint" in result.output


def test_bad_model_arg(runner):
    result = runner.invoke(main, ["info", "--model-arg", "depth"])
    assert result.exit_code == 2 and "KEY=VALUE" in result.output


def test_export_tiny_onnx_openvino(runner, tmp_path):
    result = runner.invoke(main, ["export", *TINY_ARGS, "--formats", "onnx,openvino",
                                  "--out", str(tmp_path), "--id", "tiny"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "tiny" / "manifest.json").read_text())
    assert {a["status"] for a in manifest["artifacts"]} == {"ok"}
    assert "RANDOM INIT" in result.output


@pytest.mark.parametrize("plan,message", [
    ("heads=1.0", "[0, 1)"),
    ("heads=-0.1", "[0, 1)"),
    ("mlp=abc", "mlp"),
    ("widths=0.5", "widths"),
])
def test_impossible_ratios_fail_before_work(runner, tmp_path, plan, message):
    result = runner.invoke(main, ["export", *TINY_ARGS, "--prune", plan, "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not any(tmp_path.iterdir())  # nothing was written


def test_plan_file_errors(runner, tmp_path):
    every_head = tmp_path / "heads.yaml"
    every_head.write_text("blocks:\n  0: {keep_heads: []}\n")
    result = runner.invoke(main, ["info", *TINY_ARGS, "--prune", str(every_head)])
    assert result.exit_code == 2 and "head" in result.output
    unknown_block = tmp_path / "blk.json"
    unknown_block.write_text(json.dumps({"drop_blocks": [7]}))
    result = runner.invoke(main, ["info", *TINY_ARGS, "--prune", str(unknown_block)])
    assert result.exit_code == 2 and "7" in result.output
    resmlp_heads = runner.invoke(main, ["info", "resmlp_12_224", "--model-arg", "img_size=32",
                                        "--prune", "heads=0.5"])
    assert resmlp_heads.exit_code == 2 and "head" in resmlp_heads.output.lower()


def test_prune_then_export_the_folder(runner, tmp_path):
    out = tmp_path / "variant"
    result = runner.invoke(main, ["prune", *TINY_ARGS, "--prune", "heads=0.34,mlp=0.5",
                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "prune_spec.json").exists() and (out / "model.safetensors").exists()
    info = runner.invoke(main, ["info", str(out), "--json"])
    assert json.loads(info.output)["architecture"]["heads"] == [2, 2]
    result = runner.invoke(main, ["export", str(out), "--formats", "onnx",
                                  "--out", str(tmp_path / "art"), "--id", "v"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "art" / "v" / "manifest.json").read_text())
    assert manifest["model"]["source"]["weights"]["kind"] == "pruned"
    assert manifest["artifacts"][0]["parity"]["passed"]


def test_validation_failure_exits_nonzero(runner, tmp_path, monkeypatch):
    from edge_vit import parity

    monkeypatch.setitem(parity.THRESHOLDS, "fp16", {"max_abs_diff": 1e-12, "min_cosine": 1.0,
                                                    "top1_agreement": 1.0})
    result = runner.invoke(main, ["export", *TINY_ARGS, "--formats", "onnx,openvino",
                                  "--out", str(tmp_path), "--id", "t"])
    assert result.exit_code == 6
    assert "validation_failed" in result.output
    assert (tmp_path / "t" / "openvino" / "t_fp16.xml").exists()


def test_data_driven_pruning_from_an_image_folder(runner, tmp_path, imagenet_sample):
    out = tmp_path / "taylor"
    result = runner.invoke(main, ["prune", *TINY_ARGS, "--prune", "heads=0.34,mlp=0.5",
                                  "--criterion", "taylor", "--calib", str(imagenet_sample),
                                  "--calib-size", "8", "--out", str(out)])
    assert result.exit_code == 0, result.output
    spec = json.loads((out / "prune_spec.json").read_text())
    assert spec["criterion"] == "taylor"


def test_data_driven_pruning_needs_images(runner):
    result = runner.invoke(main, ["prune", *TINY_ARGS, "--prune", "mlp=0.5",
                                  "--criterion", "taylor"])
    assert result.exit_code == 2 and "--calib" in result.output


def test_impossible_model_arguments_are_a_message(runner):
    # timm asserts (embed_dim 192 is not divisible by 5 heads): a message, not a traceback
    result = runner.invoke(main, ["info", "--model-arg", "num_heads=5"])
    assert result.exit_code == 2 and "Bad model arguments" in result.output
    assert "Traceback" not in result.output


def test_hints_are_printed_verbatim_not_as_markup(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no inventory of the user's
    monkeypatch.delenv("EDGE_VIT_DEVICES", raising=False)
    inventory = tmp_path / "devices.toml"
    inventory.write_text('[devices.pi]\nkind = "ssh"\nhost = "10.0.0.9"\n')
    result = runner.invoke(main, ["devices", "check", "jetson1", "--inventory", str(inventory)])
    assert result.exit_code == 2
    assert "[devices.jetson1]" in result.output  # rich would have eaten it as a style tag
    inventory.write_text('[devices.pi]\nkind = "ssh"\nhost = "h"\n[stuff]\nx = 1\n')
    result = runner.invoke(main, ["devices", "list", "--inventory", str(inventory)])
    assert result.exit_code == 2 and "[devices.NAME]" in result.output


def test_ctrl_c_exits_130_and_says_what_is_kept(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_vit", "export", "--model-arg", "img_size=32",
         "--model-arg", "patch_size=8", "--formats", "onnx,openvino", "--out", str(tmp_path)],
        stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stderr:  # interrupt once the work has started
        lines.append(line)
        if "exporting" in line:
            time.sleep(0.2)
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.stderr.read()
    assert proc.wait(timeout=60) == 130, "".join(lines) + rest
    assert "interrupted" in rest and "Traceback" not in rest and "Aborted" not in rest


def test_a_ctrl_c_a_library_swallows_is_still_acted_on():
    """onnxslim imports onnxruntime inside a bare except: a KeyboardInterrupt raised there is
    lost. The CLI's handler remembers the Ctrl-C, and the export/profile/sweep loops check."""
    import os
    import signal

    import pytest

    from edge_vit import interrupts

    before = signal.getsignal(signal.SIGINT)
    try:
        interrupts.install()
        interrupts.check()  # nothing yet
        try:  # a library that swallows it
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # let the handler run
                pass
        except BaseException:  # noqa: BLE001 - the point of the test
            pass
        with pytest.raises(KeyboardInterrupt):
            interrupts.check()
    finally:
        signal.signal(signal.SIGINT, before)
        interrupts._seen.clear()


def test_the_cli_package_alone_registers_every_command():
    """Explicit registration: importing edge_vit.cli (no side-effect imports elsewhere) gives
    the whole command line, the same one the console script and `python -m edge_vit` run."""
    import subprocess
    import sys

    code = ("from edge_vit.cli import main; import sys; "
            "print(','.join(sorted(main.commands))); "
            "print('edge_vit.commands' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[0].split(",") == ["deploy", "devices", "doctor", "eval", "export", "finetune",
                                 "info", "lut", "models", "profile", "prune", "report", "sweep",
                                 "train"]
    assert out[1] == "False"
    from edge_vit import commands

    assert commands.main is main
