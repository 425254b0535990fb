"""`edge-vit finetune`: distil a pruned model from its teacher, resumably, into a folder that
exports like any other pruned model."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from edge_vit.commands import main
from edge_vit.pruning import load_pruned
from edge_vit.training import TrainConfig
from edge_vit.training.jobs import DataSpec, finetune_pruned
from tests.conftest import TINY_VIT

ARGS = [a for k, v in TINY_VIT.items() for a in ("--model-arg", f"{k}={v}")]


@pytest.fixture(scope="module")
def teacher_and_pruned(tmp_path_factory, color_teacher):
    """A tiny ViT trained on the colour classes, and it cut down (heads and MLP)."""
    root = tmp_path_factory.mktemp("ft")
    res = CliRunner().invoke(main, ["prune", "deit_tiny_patch16_224", *ARGS, "--checkpoint",
                                    str(color_teacher), "--prune", "heads=0.67,mlp=0.75",
                                    "--out", str(root / "pruned")])
    assert res.exit_code == 0, res.output
    return color_teacher, root / "pruned"


def test_finetune_cli_distils_into_an_exportable_folder(tmp_path, color_data,
                                                        teacher_and_pruned):
    weights, pruned = teacher_and_pruned
    out = tmp_path / "ft"
    res = CliRunner().invoke(main, [
        "finetune", str(pruned), "--data", str(color_data), "--split", "train", "--val-split",
        "test", "--epochs", "2", "--batch-size", "32", "--lr", "1e-3", "--threads", "1",
        "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "top-1" in res.output and "teacher" in res.output
    report = json.loads((out / "finetune_report.json").read_text())
    # no --teacher: the checkpoint the pruned model was cut from
    assert report["teacher"]["source"] == str(weights)
    assert report["started_from"]["spec_hash"] == load_pruned(pruned)[1].spec_hash()
    assert len(report["result"]["history"]) == 2
    assert report["result"]["teacher_val_top1"] >= 80.0  # the teacher did learn
    model, spec = load_pruned(out)
    assert spec.finetune["epochs"] == 2 and spec.finetune["teacher"]["source"] == str(weights)
    before, _ = load_pruned(pruned)
    changed = [k for k, v in model.state_dict().items()
               if not torch.equal(v, before.state_dict()[k])]
    assert changed  # new weights, same shapes
    # exports like any pruned model, and its manifest says it was fine-tuned
    res = CliRunner().invoke(main, ["export", str(out), "--formats", "onnx", "--precision",
                                    "fp32", "--out", str(tmp_path / "art")])
    assert res.exit_code == 0, res.output
    manifest = json.loads(next((tmp_path / "art").glob("*/manifest.json")).read_text())
    assert manifest["model"]["prune"]["finetune"]["epochs"] == 2
    assert all(a["status"] == "ok" for a in manifest["artifacts"])


def test_finetune_resumes_and_refuses_bad_input(tmp_path, color_data, teacher_and_pruned):
    weights, pruned = teacher_and_pruned
    data = DataSpec(path=str(color_data), split="train")
    cfg = TrainConfig(epochs=2, batch_size=32, lr=1e-3, warmup_epochs=0.0, threads=1)
    first = finetune_pruned(pruned, data, tmp_path / "a", cfg, teacher=str(weights))
    again = finetune_pruned(pruned, data, tmp_path / "a", cfg, teacher=str(weights))
    assert again.result.resumed_from_epoch == 2  # nothing left to train
    assert again.weights_sha256 == first.weights_sha256  # byte-identical file
    runner = CliRunner()
    for argv, text in (
        (["--alpha", "1.5"], "alpha"),
        (["--out", str(pruned)], "must differ"),
        (["--teacher", "no_such_model_xyz"], "Unknown model"),
        (["--data", str(tmp_path / "missing")], "not found"),
    ):
        base = ["finetune", str(pruned), "--data", str(color_data), "--split", "train",
                "--epochs", "1", "--out", str(tmp_path / "b")]
        res = runner.invoke(main, base + argv)
        assert res.exit_code == 2, (argv, res.output)
        assert text in res.output, (argv, res.output)
        assert "Traceback" not in res.output
