"""Importance scores: shapes, and units that cannot matter scoring zero under every criterion."""

from __future__ import annotations

import pytest
import torch

from edge_vit.errors import PruningPlanError
from edge_vit.pruning import compute_importance, magnitude_importance, taylor_importance


@pytest.fixture(scope="module")
def dead_unit_vit(vit_source, build_model):
    """Block 1: head 2 and MLP channel 7 write nothing (their output weights are zero)."""
    model = build_model(vit_source)
    with torch.no_grad():
        model.blocks[1].attn.proj.weight[:, 128:] = 0
        model.blocks[1].mlp.fc2.weight[:, 7] = 0
    return model


@pytest.mark.parametrize("criterion", ["magnitude", "taylor", "activation"])
def test_dead_units_score_zero(dead_unit_vit, calib, criterion):
    scores = compute_importance(dead_unit_vit, criterion, calib)
    assert scores.criterion == criterion
    assert sorted(scores.heads) == [0, 1, 2] and sorted(scores.mlp) == [0, 1, 2]
    assert all(s.shape == (3,) for s in scores.heads.values())
    assert all(s.shape == (768,) for s in scores.mlp.values())
    assert scores.blocks.shape == (3,)
    assert scores.heads[1][2] == 0 and scores.mlp[1][7] == 0
    assert (scores.heads[1][:2] > 0).all() and (scores.mlp[1][:7] > 0).all()
    assert all((s >= 0).all() for s in [*scores.heads.values(), *scores.mlp.values()])


def test_resmlp_scores(resmlp, calib):
    for scores in (magnitude_importance(resmlp), taylor_importance(resmlp, calib)):
        assert scores.heads == {}
        assert len(scores.mlp) == 12 and scores.mlp[0].shape == (1536,)
        assert scores.blocks.shape == (12,) and (scores.blocks > 0).all()


def test_taylor_leaves_no_gradients_and_keeps_mode(vit, calib):
    vit.train()
    try:
        taylor_importance(vit, calib)
        assert vit.training
    finally:
        vit.eval()
    assert all(p.grad is None for p in vit.parameters())


def test_calibration_errors(vit):
    with pytest.raises(PruningPlanError, match="needs calibration images; got none"):
        taylor_importance(vit, [])
    with pytest.raises(PruningPlanError, match=r"must be image tensors \(N, 3, H, W\)"):
        taylor_importance(vit, [torch.zeros(3, 32, 32)])
    with pytest.raises(PruningPlanError, match="needs calibration images"):
        compute_importance(vit, "activation", None)
