"""The training loop: it learns, it resumes exactly, and it refuses what it cannot do."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest
import torch

from edge_vit.data.archive import resolve_data_root
from edge_vit.data.images import data_config
from edge_vit.errors import UsageError
from edge_vit.models import create_model
from edge_vit.training import TrainConfig, load_split, train
from edge_vit.training.jobs import DataSpec, train_from_scratch
from edge_vit.training.loop import batch_tensor, lr_at
from tests.conftest import TINY_VIT

FAST = dict(batch_size=32, lr=2e-3, warmup_epochs=0.5, threads=1)


def _model(seed=0):
    torch.manual_seed(seed)
    return create_model("deit_tiny_patch16_224", TINY_VIT)


def _splits(color_data, model):
    cfg = data_config(model, (3, 32, 32))
    return (load_split(color_data, cfg, split="train"), load_split(color_data, cfg, split="test"))


def test_a_tiny_vit_learns_the_colour_classes(tmp_path, color_data):
    model = _model()
    tr, va = _splits(color_data, model)
    assert (len(tr), len(va)) == (300, 100) and tr.class_names[0] == "class00"
    result = train(model, tr, va, TrainConfig(epochs=6, **FAST), tmp_path / "run")
    assert result.epochs_done == 6 and len(result.history) == 6
    assert result.history[-1].train_loss < result.history[0].train_loss
    assert result.val_top1 >= 80.0, [h.val_top1 for h in result.history]  # chance is 10 %
    assert result.val_images == 100 and result.seconds > 0


def test_resume_after_interruption_follows_the_same_path(tmp_path, color_data):
    tr, va = _splits(color_data, _model())
    cfg = TrainConfig(epochs=3, **FAST)
    straight = _model()
    train(straight, tr, va, cfg, tmp_path / "straight")

    class Interrupt(KeyboardInterrupt):
        pass

    def stop_after_epoch_1(msg: str):
        if msg.startswith("epoch 1/"):
            raise Interrupt()

    resumed = _model()
    with pytest.raises(Interrupt):
        train(resumed, tr, va, cfg, tmp_path / "resumed", progress=stop_after_epoch_1)
    again = _model(seed=123)  # a fresh process: other random weights, replaced by the checkpoint
    result = train(again, tr, va, cfg, tmp_path / "resumed")
    assert result.resumed_from_epoch == 1 and result.epochs_done == 3
    for (k, a), b in zip(straight.state_dict().items(), again.state_dict().values(),
                         strict=True):
        assert torch.allclose(a, b, atol=1e-6), k
    # a checkpoint from other settings is not silently mixed in
    with pytest.raises(UsageError, match="other training settings"):
        train(_model(), tr, va, TrainConfig(epochs=3, **{**FAST, "lr": 1e-4}),
              tmp_path / "resumed")


def test_resume_refuses_other_data(tmp_path, color_data):
    tr, va = _splits(color_data, _model())
    cfg = TrainConfig(epochs=2, **FAST)
    train(_model(), tr, va, cfg, tmp_path / "run", identity={"model": "a"})
    with pytest.raises(UsageError, match="other data"):  # the test split as training data
        train(_model(), va, None, cfg, tmp_path / "run", identity={"model": "a"})
    with pytest.raises(UsageError, match="another model"):
        train(_model(), tr, va, cfg, tmp_path / "run", identity={"model": "b"})


def test_distillation_term_pulls_towards_the_teacher(tmp_path, color_data):
    """alpha=1: the loss is the KL to the teacher alone; a student that is a copy of its
    teacher starts at zero loss, and one trained against a teacher ends nearer to it."""
    import copy

    tr, _ = _splits(color_data, _model())
    teacher = _model(seed=5)
    train(teacher, tr, None, TrainConfig(epochs=3, **FAST), tmp_path / "teacher")
    twin = copy.deepcopy(teacher)
    res = train(twin, tr, None, TrainConfig(epochs=1, **{**FAST, "lr": 1e-9, "min_lr": 0.0},
                                           kd_alpha=1.0), tmp_path / "twin", teacher=teacher)
    assert res.history[0].train_loss < 1e-3
    student = _model(seed=7)
    res = train(student, tr, None, TrainConfig(epochs=3, **FAST, kd_alpha=1.0),
                tmp_path / "student", teacher=teacher)
    assert res.history[-1].train_loss < res.history[0].train_loss
    x = batch_tensor(tr.pixels, np.arange(64), tr, False, None)
    with torch.no_grad():
        agree = (student.eval()(x).argmax(1) == teacher.eval()(x).argmax(1)).float().mean()
    assert agree >= 0.8


def test_schedule_and_bad_settings():
    cfg = TrainConfig(epochs=10, lr=1e-3, min_lr=1e-5, warmup_epochs=1)
    assert lr_at(cfg, 0, 100, 10) == pytest.approx(1e-4)  # warm-up starts low
    assert lr_at(cfg, 9, 100, 10) == pytest.approx(1e-3)
    assert lr_at(cfg, 99, 100, 10) == pytest.approx(1e-5, rel=0.05)  # cosine floor
    for bad in (dict(kd_alpha=1.5), dict(kd_temperature=0), dict(epochs=0), dict(lr=-1),
                dict(label_smoothing=2.0), dict(weight_decay=-1), dict(device="bogus"),
                dict(device="cuda:7") if not torch.cuda.is_available() else dict(lr=-2)):
        with pytest.raises(UsageError):
            TrainConfig(**bad).check()


def test_batches_are_normalized_like_timms_eval_transform(color_data):
    """Training sees the same tensors ``edge-vit eval`` feeds every runtime."""
    from PIL import Image

    from edge_vit.data.preprocess import build_transforms

    model = _model()
    tr, _ = _splits(color_data, model)
    cfg = data_config(model, (3, 32, 32))
    _, finish = build_transforms(cfg)
    ours = batch_tensor(tr.pixels, np.arange(4), tr, False, None)
    timm_way = torch.stack([finish(Image.fromarray(p)) for p in tr.pixels[:4]])
    assert torch.allclose(ours, timm_way, atol=1e-6)
    gen = torch.Generator().manual_seed(0)
    aug = batch_tensor(tr.pixels, np.arange(4), tr, True, gen)
    assert aug.shape == ours.shape and not torch.equal(aug, ours)


def test_train_command_writes_weights_that_load(tmp_path, color_data):
    from edge_vit.models import build_model

    out = tmp_path / "run"
    report = train_from_scratch(
        "deit_tiny_patch16_224", TINY_VIT,
        DataSpec(path=str(color_data), split="train", val_split="test"), out,
        TrainConfig(epochs=2, **FAST))
    saved = json.loads((out / "train_report.json").read_text())
    assert saved["weights_sha256"] == report.weights_sha256
    assert saved["train_data"]["num_images"] == 300 and saved["val_data"]["num_images"] == 100
    assert len(saved["result"]["history"]) == 2
    model, source = build_model("deit_tiny_patch16_224", model_kwargs=TINY_VIT,
                                checkpoint=out / "model.safetensors")
    assert source.weights.kind == "checkpoint"
    with pytest.raises(UsageError, match="validation images are training images"):
        train_from_scratch("deit_tiny_patch16_224", TINY_VIT,
                           DataSpec(path=str(color_data), split="train", val_split="train"),
                           tmp_path / "x", TrainConfig(epochs=1, **FAST))
    with pytest.raises(UsageError, match="data set with splits"):  # no --split
        train_from_scratch("deit_tiny_patch16_224", TINY_VIT, DataSpec(path=str(color_data)),
                           tmp_path / "z", TrainConfig(epochs=1, **FAST))
    with pytest.raises(UsageError, match="class index 9"):  # 10 folders, a 5-class head
        train_from_scratch("deit_tiny_patch16_224", {**TINY_VIT, "num_classes": 5},
                           DataSpec(path=str(color_data), split="train"), tmp_path / "y",
                           TrainConfig(epochs=1, **FAST))


def test_archives_unpack_once_and_refuse_escapes(tmp_path, color_data):
    archive = tmp_path / "colors.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(color_data / "test", arcname="test")
    root = resolve_data_root(archive)
    assert len(list((root / "test").rglob("*.png"))) == 100
    assert resolve_data_root(archive) == root  # cached by content hash
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        info = tarfile.TarInfo("../../escaped.txt")
        info.size = 0
        tar.addfile(info)
    with pytest.raises(UsageError, match="Cannot unpack"):
        resolve_data_root(evil)
    assert not (tmp_path / "escaped.txt").exists()
    zipped = tmp_path / "colors.zip"
    zipped.write_bytes(b"PK")
    with pytest.raises(UsageError, match="neither a folder"):
        resolve_data_root(zipped)
    corrupt = tmp_path / "corrupt.tar.gz"
    corrupt.write_bytes(archive.read_bytes()[:200])
    with pytest.raises(UsageError, match="Cannot unpack"):
        resolve_data_root(corrupt)


def test_train_cli(tmp_path, color_data):
    from click.testing import CliRunner

    from edge_vit.commands import main

    args = [a for k, v in TINY_VIT.items() for a in ("--model-arg", f"{k}={v}")]
    base = ["train", "deit_tiny_patch16_224", *args, "--data", str(color_data), "--split",
            "train", "--val-split", "test", "--epochs", "1", "--batch-size", "32",
            "--threads", "1", "--out", str(tmp_path / "run")]
    res = CliRunner().invoke(main, base)
    assert res.exit_code == 0, res.output
    assert "1 epochs" in res.output and "top-1 on 100 images" in res.output
    res = CliRunner().invoke(main, [*base, "--lr", "0.5"])  # other settings, same folder
    assert res.exit_code == 2 and "other training settings" in res.output
    res = CliRunner().invoke(main, [*base, "--lr", "0.5", "--restart"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["train", "deit_tiny_patch16_224", *args, "--data",
                                    str(color_data), "--split", "nope", "--out",
                                    str(tmp_path / "x")])
    assert res.exit_code == 2 and "No 'nope' folder" in res.output
