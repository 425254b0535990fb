"""What a data-driven criterion scores on when pruning from the CLI or the sweep: the folder's
labels when it has them (the true loss), else the model's own predictions; its own sample
count, separate from int8 calibration's; recorded in the spec."""

from __future__ import annotations

import pytest
import torch

from edge_vit.errors import UsageError
from edge_vit.model_options import ModelOptions, calib_label_space, load_source_model
from tests.conftest import TINY_VIT


def _opts(calib, **kw) -> ModelOptions:
    return ModelOptions(name="deit_tiny_patch16_224", model_kwargs=dict(TINY_VIT),
                        prune="heads=0.34,mlp=0.5,criterion=taylor", calib_dir=calib, **kw)


def test_label_space_is_chosen_from_the_folders_and_the_model(tmp_path, imagenet_sample):
    for name in ("n01440764", "n01443537"):
        (tmp_path / "syn" / name).mkdir(parents=True)
    assert calib_label_space(tmp_path / "syn", 1000) == "imagenet"
    assert calib_label_space(tmp_path / "syn", 10) is None  # synsets, but not an IN-1k head
    assert calib_label_space(tmp_path / "syn", 2) == "folders"  # one folder per class
    assert calib_label_space(imagenet_sample, 10) is None  # 100 folders, 10 classes
    assert calib_label_space(tmp_path / "syn", 1000, "none") is None
    assert calib_label_space(tmp_path / "syn", 10, "folders") == "folders"
    with pytest.raises(UsageError, match="--calib-labels"):
        calib_label_space(tmp_path / "syn", 10, "maybe")


def test_taylor_scores_against_the_folders_labels(color_data):
    from edge_vit.complexity import model_input_size
    from edge_vit.data.datasets import load_dataset
    from edge_vit.data.images import data_config
    from edge_vit.data.preprocess import prepare
    from edge_vit.pruning import parse_plan, prune_model

    opts = _opts(color_data / "train", importance_size=40, calib_size=8)
    net, source, spec, _ = load_source_model(opts)
    rec = spec.importance_data
    assert rec["labels"] == "folders" and rec["images"] == 40 and rec["requested"] == 40
    # the same cut as pruning by hand on those 40 images *with* their labels
    model, _, _, _ = load_source_model(ModelOptions(name="deit_tiny_patch16_224",
                                                    model_kwargs=dict(TINY_VIT)))
    data = load_dataset(color_data / "train", labels="folders", limit=40)
    prepared = prepare(data, data_config(model, model_input_size(model)))
    x = torch.from_numpy(prepared.batch(0, len(prepared)))
    y = torch.from_numpy(prepared.labels.astype("int64"))
    _, by_hand, _ = prune_model(model, parse_plan("heads=0.34,mlp=0.5,criterion=taylor"),
                                calib=list(zip(x.split(8), y.split(8), strict=True)),
                                source=source)
    assert spec.structure() == by_hand.structure()


def test_without_labels_taylor_uses_the_models_predictions(color_data, imagenet_sample):
    _, _, spec, _ = load_source_model(_opts(color_data / "train", importance_size=16,
                                            calib_labels="none"))
    assert spec.importance_data["labels"].startswith("none") and \
        spec.importance_data["images"] == 16
    _, _, spec, _ = load_source_model(_opts(imagenet_sample, importance_size=16))  # auto
    assert spec.importance_data["labels"].startswith("none")
