"""Saving and rebuilding pruned models: spec JSON + safetensors, no pickle, typed errors."""

from __future__ import annotations

import json
import pickle
import shutil

import pytest
import torch

from edge_vit.errors import ManifestError
from edge_vit.pruning import (
    SPEC_FILE,
    WEIGHTS_FILE,
    PruneSpec,
    load_pruned,
    parse_plan,
    prune_model,
    save_pruned,
)
from edge_vit.serialization import dumps, from_dict


@pytest.fixture(scope="module")
def pruned_vit(vit, vit_source):
    plan = parse_plan("heads=0.34,mlp=0.5,depth=0.34")
    return prune_model(vit, plan, source=vit_source)[:2]


@pytest.fixture()
def saved(tmp_path, pruned_vit):
    model, spec = pruned_vit
    return save_pruned(model, spec, tmp_path / "pruned")


def _no_pickle(monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("pickle must not be used to load a pruned model")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)


@pytest.mark.parametrize("which", ["vit", "resmlp"])
def test_round_trip_is_bitwise(tmp_path, request, images, monkeypatch, which):
    model, source = request.getfixturevalue(which), request.getfixturevalue(f"{which}_source")
    plan = parse_plan("heads=0.34,mlp=0.5,depth=0.34" if which == "vit" else "mlp=0.3,depth=0.25")
    pruned, spec, _ = prune_model(model, plan, source=source)
    directory = save_pruned(pruned, spec, tmp_path / "out")
    assert sorted(p.name for p in directory.iterdir()) == sorted([SPEC_FILE, WEIGHTS_FILE])
    moved = shutil.move(str(directory), str(tmp_path / "elsewhere"))  # the directory suffices
    _no_pickle(monkeypatch)
    loaded, loaded_spec = load_pruned(moved)
    assert loaded_spec == spec and not loaded.training
    with torch.no_grad():
        assert torch.equal(loaded(images), pruned(images))
    state, again = pruned.state_dict(), loaded.state_dict()
    assert state.keys() == again.keys() and all(torch.equal(state[k], again[k]) for k in state)


def test_spec_json(saved, pruned_vit):
    _, spec = pruned_vit
    data = json.loads((saved / SPEC_FILE).read_text())
    assert data["schema_version"] == 1 and data["arch"] == "deit_tiny_patch16_224"
    assert data["model_kwargs"]["depth"] == 3 and data["plan"]["heads"] == 0.34
    assert len(data["blocks"]) == 2 and data["blocks"][0]["kept_heads"] is not None
    assert from_dict(PruneSpec, json.loads(dumps(spec))) == spec
    assert len(spec.spec_hash()) == 12 and spec.spec_hash() == from_dict(PruneSpec, data).spec_hash()


def test_spec_hash_is_structural(pruned_vit):
    import dataclasses

    _, spec = pruned_vit
    same = dataclasses.replace(spec, plan=None, criterion="taylor", source_weights=None)
    assert same.spec_hash() == spec.spec_hash()
    other_heads = [0, 1] if spec.blocks[0].kept_heads != [0, 1] else [1, 2]
    blocks = [dataclasses.replace(spec.blocks[0], kept_heads=other_heads), *spec.blocks[1:]]
    assert dataclasses.replace(spec, blocks=blocks).spec_hash() != spec.spec_hash()


def test_missing_and_corrupt_spec(tmp_path, saved):
    with pytest.raises(ManifestError, match="not a pruned-model directory"):
        load_pruned(tmp_path / "empty")
    spec_path = saved / SPEC_FILE
    text = spec_path.read_text()
    for bad, needle in [("{not json", "not valid JSON"),
                        ("[1, 2]", "no integer schema_version"),
                        (text.replace('"schema_version": 1', '"schema_version": 99'),
                         "schema_version 99"),
                        (text.replace('"round_to": 8', '"round_to": 0'),
                         "not a valid prune spec"),
                        (text.replace('"arch": "deit_tiny_patch16_224"', '"arch": 5'),
                         "not a valid prune spec")]:
        spec_path.write_text(bad)
        with pytest.raises(ManifestError, match=needle):
            load_pruned(saved)


def test_missing_and_corrupt_weights(saved):
    weights = saved / WEIGHTS_FILE
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(ManifestError, match="not a readable safetensors file"):
        load_pruned(saved)
    weights.write_bytes(b"\x00" * 64)
    with pytest.raises(ManifestError, match="not a readable safetensors file"):
        load_pruned(saved)
    weights.unlink()
    with pytest.raises(ManifestError, match="missing next to its prune_spec.json"):
        load_pruned(saved)


def test_weights_of_another_spec(tmp_path, saved, vit, vit_source):
    other, other_spec, _ = prune_model(vit, parse_plan("mlp=0.5"), source=vit_source)
    other_dir = save_pruned(other, other_spec, tmp_path / "other")
    shutil.copy(other_dir / WEIGHTS_FILE, saved / WEIGHTS_FILE)
    with pytest.raises(ManifestError, match="was saved for spec"):
        load_pruned(saved)


def test_save_refuses_model_that_does_not_match(tmp_path, vit, pruned_vit):
    _, spec = pruned_vit
    with pytest.raises(ManifestError, match="does not match its prune spec"):
        save_pruned(vit, spec, tmp_path / "wrong")
    assert not (tmp_path / "wrong").exists()
