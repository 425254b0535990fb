"""Small timm models shared by the pruning tests (built once; tests must not modify them)."""

from __future__ import annotations

import pytest
import torch

from edge_vit.models import ModelSource, create_model

VIT = ModelSource("deit_tiny_patch16_224",
                  {"img_size": 32, "patch_size": 8, "depth": 3, "num_classes": 10})
# resmlp_12_224 fixes patch_size, depth and width itself: only the image size can shrink.
RESMLP = ModelSource("resmlp_12_224", {"img_size": 32, "num_classes": 10})


def build(source: ModelSource, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = create_model(source.name, source.model_kwargs)
    if source.name.startswith("resmlp"):
        # timm zero-inits the ResMLP head and starts LayerScale at 1e-4: every output would be
        # ~0 and any pruning would "match". Give both real magnitudes so the tests can fail.
        with torch.no_grad():
            model.head.weight.normal_(0, 0.05)
            for block in model.blocks:
                block.ls1.uniform_(0.2, 1.0)
                block.ls2.uniform_(0.2, 1.0)
    return model


@pytest.fixture(scope="session")
def vit_source():
    return VIT


@pytest.fixture(scope="session")
def resmlp_source():
    return RESMLP


@pytest.fixture(scope="session")
def build_model():
    """The builder itself, for tests that need a fresh model they may modify."""
    return build


@pytest.fixture(scope="session")
def vit():
    return build(VIT)


@pytest.fixture(scope="session")
def resmlp():
    return build(RESMLP)


@pytest.fixture(scope="session")
def images():
    return torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="session")
def calib():
    g = torch.Generator().manual_seed(2)
    return [torch.randn(2, 3, 32, 32, generator=g) for _ in range(2)]


@pytest.fixture()
def model_state_guard(request):
    """Use as ``model_state_guard(model)``: asserts at teardown that ``model`` is unchanged."""
    saved = []

    def guard(model):
        saved.append((model, {k: v.clone() for k, v in model.state_dict().items()}))
        return model

    yield guard
    for model, state in saved:
        now = model.state_dict()
        assert now.keys() == state.keys()
        assert all(torch.equal(now[k], state[k]) for k in state), "the original model changed"
