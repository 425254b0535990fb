import pytest
import torch

from edge_vit.errors import CheckpointError, UnknownModelError, UsageError, WeightsUnavailableError
from edge_vit.models import build_model, check_model_name, read_checkpoint, supported_models
from tests.conftest import TINY_VIT


def test_supported_models_cover_the_three_families():
    names = supported_models()
    for expected in ("deit_tiny_patch16_224", "vit_small_patch16_224", "resmlp_12_224"):
        assert expected in names
    assert "resnet50" not in names
    assert supported_models("deit_*") and all(n.startswith("deit_") for n in supported_models("deit_*"))


def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownModelError) as err:
        check_model_name("deit_tiny_patch16_22")
    assert "deit_tiny_patch16_224" in err.value.hint


def test_non_vit_timm_model_is_refused_with_reason():
    with pytest.raises(UnknownModelError, match="not a ViT/DeiT/ResMLP"):
        check_model_name("resnet18")


def test_random_init_is_loudly_marked():
    _, source = build_model("deit_tiny_patch16_224", model_kwargs=TINY_VIT)
    assert source.weights.kind == "random"
    assert "meaningless" in source.weights.note
    assert len(source.weights.state_sha256) == 64


def test_random_init_is_deterministic_per_seed():
    a = build_model("deit_tiny_patch16_224", model_kwargs=TINY_VIT, seed=1)[1]
    b = build_model("deit_tiny_patch16_224", model_kwargs=TINY_VIT, seed=1)[1]
    c = build_model("deit_tiny_patch16_224", model_kwargs=TINY_VIT, seed=2)[1]
    assert a.weights.state_sha256 == b.weights.state_sha256 != c.weights.state_sha256


@pytest.mark.parametrize("wrap", ["plain", "model", "state_dict", "module_prefix"])
def test_pth_checkpoint_conventions(tmp_path, wrap):
    ref, _ = build_model("deit_tiny_patch16_224", model_kwargs=TINY_VIT, seed=7)
    state = ref.state_dict()
    if wrap == "model":
        state = {"model": state, "epoch": 3}
    elif wrap == "state_dict":
        state = {"state_dict": state}
    elif wrap == "module_prefix":
        state = {f"module.{k}": v for k, v in state.items()}
    path = tmp_path / "ckpt.pth"
    torch.save(state, path)
    model, source = build_model("deit_tiny_patch16_224", model_kwargs=TINY_VIT, checkpoint=path)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), ref(x))
    assert source.weights.kind == "checkpoint" and len(source.weights.sha256) == 64


def test_safetensors_checkpoint(tmp_path):
    from safetensors.torch import save_file

    ref, _ = build_model("deit_tiny_patch16_224", model_kwargs=TINY_VIT, seed=3)
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(path))
    model, source = build_model("deit_tiny_patch16_224", model_kwargs=TINY_VIT, checkpoint=path)
    assert source.weights.state_sha256 == build_model(
        "deit_tiny_patch16_224", model_kwargs=TINY_VIT, seed=3)[1].weights.state_sha256


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.pth"
    path.write_bytes(b"\x80\x02not really a checkpoint")
    with pytest.raises(CheckpointError, match="Cannot read checkpoint"):
        build_model("deit_tiny_patch16_224", model_kwargs=TINY_VIT, checkpoint=path)
    bad_st = tmp_path / "broken.safetensors"
    bad_st.write_bytes(b"garbage")
    with pytest.raises(CheckpointError):
        read_checkpoint(bad_st)


class _Evil:
    def __reduce__(self):
        return (print, ("this would run on load",))


def test_pickled_code_is_never_executed(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"x": _Evil()}, path)
    with pytest.raises(CheckpointError):
        read_checkpoint(path)


def test_checkpoint_of_other_architecture_is_refused(tmp_path):
    other, _ = build_model("deit_tiny_patch16_224", model_kwargs={**TINY_VIT, "depth": 3})
    path = tmp_path / "other.pth"
    torch.save(other.state_dict(), path)
    with pytest.raises(CheckpointError, match="does not fit"):
        build_model("deit_tiny_patch16_224", model_kwargs=TINY_VIT, checkpoint=path)


def test_missing_checkpoint_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        build_model("deit_tiny_patch16_224", checkpoint=tmp_path / "nope.pth")


def test_pretrained_without_hub_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError) as err:
        build_model("deit_tiny_patch16_224", pretrained=True)
    assert "--checkpoint" in err.value.hint


def test_pretrained_and_checkpoint_are_exclusive(tmp_path):
    with pytest.raises(UsageError):
        build_model("deit_tiny_patch16_224", pretrained=True, checkpoint=tmp_path / "x.pth")


class _Pickled:  # any class: a checkpoint holding one needs unpickling code to load
    pass


def test_pickled_checkpoint_is_refused_with_edge_vits_own_message(tmp_path):
    import torch

    path = tmp_path / "whole_model.pth"
    torch.save({"model": _Pickled(), "w": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="holds pickled Python objects") as info:
        read_checkpoint(path)
    assert "weights_only" not in str(info.value)  # never torch's advice to turn it off
    assert "state_dict()" in info.value.hint
