"""The embedded demo: registered with timm, its shipped weights and data load offline."""

from __future__ import annotations

import json
import tarfile

from click.testing import CliRunner

from edge_vit import demo
from edge_vit.commands import main
from edge_vit.models import build_model, supported_models
from edge_vit.sweep import demo_config


def test_demo_model_is_a_timm_vit_with_its_shipped_weights():
    assert demo.DEMO_MODEL in supported_models("vit_demo*")
    model, source = build_model(demo.DEMO_MODEL)
    assert type(model).__name__ == "VisionTransformer"
    assert source.weights.kind == "checkpoint"
    assert source.weights.source == str(demo.WEIGHTS) and "CIFAR-10" in source.weights.note
    report = json.loads(demo.TRAIN_REPORT.read_text())
    assert source.weights.sha256 == report["shipped"]["weights"]["sha256"]
    # another shape of the same architecture gets random init, loudly, not the demo weights
    _, other = build_model(demo.DEMO_MODEL, model_kwargs={"depth": 2})
    assert other.weights.kind == "random"


def test_shipped_slices_are_class_balanced_and_from_their_own_split():
    report = json.loads(demo.TRAIN_REPORT.read_text())
    names = {}
    for key, path in (("test_slice", demo.TEST_SLICE), ("train_slice", demo.TRAIN_SLICE)):
        with tarfile.open(path) as tar:
            members = [m.name for m in tar.getmembers() if m.isfile()]
        classes = {m.split("/")[0] for m in members}
        assert len(classes) == 10
        per_class = {c: sum(m.startswith(c + "/") for m in members) for c in classes}
        assert set(per_class.values()) == {report["shipped"][key]["per_class"]}
        assert len(members) == report["shipped"][key]["images"]
        names[key] = members
    assert len(names["test_slice"]) == 2000
    assert report["shipped"]["test_slice"]["source"].endswith("test/")
    assert report["shipped"]["train_slice"]["source"].endswith("train/")


def test_default_sweep_is_the_demo_and_never_trains_on_what_it_scores():
    cfg = demo_config()
    assert cfg.models[0].name == demo.DEMO_MODEL and cfg.labels == "folders"
    assert cfg.data == str(demo.TEST_SLICE)
    assert cfg.finetune_data == str(demo.TRAIN_SLICE) and cfg.calib == str(demo.TRAIN_SLICE)
    assert 0 in cfg.finetune and any(e > 0 for e in cfg.finetune)
    assert "none" in cfg.prune and len(cfg.prune) >= 3


def test_models_command_lists_the_demo():
    res = CliRunner().invoke(main, ["models", "vit_demo*"])
    assert res.exit_code == 0 and demo.DEMO_MODEL in res.output
