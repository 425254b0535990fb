"""Decode once, preprocess exactly as timm does, cache pixels; odd and broken images."""

import numpy as np
import pytest
import torch
from PIL import Image

from edge_vit.data.images import load_images
from edge_vit.data.preprocess import NoReadableImagesError
from edge_vit.evaluation import load_dataset, prepare
from tests.evaluation.layouts import GRAYSCALE, copy_synset_folders, sample_files

DEIT_CFG = {"input_size": [3, 224, 224], "interpolation": "bicubic", "mean": [0.485, 0.456, 0.406],
            "std": [0.229, 0.224, 0.225], "crop_pct": 0.875, "crop_mode": "center"}


def test_tensors_equal_timm_preprocessing_bit_for_bit(sample):
    data = load_dataset(sample, limit=12)
    prepared = prepare(data, DEIT_CFG)
    assert len(prepared) == 12 and prepared.pixels.dtype == np.uint8
    x = prepared.batch(0, 12)
    expected = load_images([data.root / im.path for im in data.images], DEIT_CFG).numpy()
    assert x.dtype == np.float32 and x.shape == (12, 3, 224, 224)
    assert np.array_equal(x, expected)


def test_grayscale_images_become_rgb(sample, tmp_path):
    data = load_dataset(copy_synset_folders(sample, tmp_path / "v", list(GRAYSCALE)))
    for im in data.images:
        with Image.open(data.root / im.path) as raw:
            assert raw.mode == "L"
    prepared = prepare(data, DEIT_CFG)
    px = np.asarray(prepared.pixels)
    assert px.shape == (2, 224, 224, 3) and not prepared.unreadable
    assert np.array_equal(px[..., 0], px[..., 1]) and np.array_equal(px[..., 1], px[..., 2])


def test_cmyk_palette_and_alpha_images_load(sample, tmp_path):
    (synset, src), *_ = sample_files(sample)
    folder = tmp_path / synset
    folder.mkdir()
    with Image.open(src) as im:
        rgb = im.convert("RGB")
    rgb.convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    rgb.convert("P").save(folder / "palette.png")
    rgb.convert("RGBA").save(folder / "alpha.PNG")
    rgb.save(folder / "rgb.png")
    with Image.open(folder / "cmyk.jpg") as check:
        assert check.mode == "CMYK"
    data = load_dataset(tmp_path)
    prepared = prepare(data, DEIT_CFG)
    assert not prepared.unreadable and len(prepared) == 4
    px = {im.path.split("/")[-1]: np.asarray(p, dtype=np.int16)
          for im, p in zip(prepared.images, prepared.pixels, strict=True)}
    assert np.array_equal(px["alpha.PNG"], px["rgb.png"])
    assert np.abs(px["cmyk.jpg"] - px["rgb.png"]).mean() < 6  # JPEG round trip, right colours
    assert np.abs(px["palette.png"] - px["rgb.png"]).mean() < 12


def test_unreadable_images_are_counted_not_fatal(sample, tmp_path):
    root = copy_synset_folders(sample, tmp_path / "v", ["n01443537", "n01531178"])
    (root / "n01443537" / "broken.JPEG").write_bytes(b"not a jpeg at all")
    good = next((root / "n01531178").iterdir())
    (root / "n01531178" / "truncated.JPEG").write_bytes(good.read_bytes()[:200])
    data = load_dataset(root)
    assert len(data.images) == 4
    prepared = prepare(data, DEIT_CFG)
    assert len(prepared) == 2
    assert sorted(p for p, _ in prepared.unreadable) == ["n01443537/broken.JPEG",
                                                         "n01531178/truncated.JPEG"]
    note = prepared.notes()[0]
    assert note.startswith("2 unreadable image(s) skipped") and "broken.JPEG" in note
    ref = data.ref(prepared.images)
    assert ref.num_images == 2 and ref.fingerprint != data.fingerprint


def test_no_readable_image_is_an_error(tmp_path):
    (tmp_path / "n01443537").mkdir()
    (tmp_path / "n01443537" / "a.JPEG").write_bytes(b"junk")
    with pytest.raises(NoReadableImagesError, match="could be read"):
        prepare(load_dataset(tmp_path), DEIT_CFG)


def test_pixels_cached_in_memory_and_on_disk(sample, tmp_path):
    cache = tmp_path / "images"
    data = load_dataset(sample, limit=5)
    first = prepare(data, DEIT_CFG, cache)
    assert prepare(data, DEIT_CFG, cache) is first  # same dataset object: memory
    (folder,) = cache.iterdir()
    assert (folder / "pixels.npy").is_file() and (folder / "index.json").is_file()
    again = prepare(load_dataset(sample, limit=5), DEIT_CFG, cache)  # new process, in effect
    assert again.from_disk and np.array_equal(np.asarray(again.pixels), first.pixels)
    assert np.array_equal(again.batch(0, 5), first.batch(0, 5))
    other = dict(DEIT_CFG, input_size=[3, 64, 64])
    assert prepare(data, other, cache).pixels.shape == (5, 64, 64, 3)
    assert len(list(cache.iterdir())) == 2  # one entry per data config


def test_batch_is_float32_and_torch_compatible(sample):
    prepared = prepare(load_dataset(sample, limit=3), DEIT_CFG)
    x = torch.from_numpy(prepared.batch(1, 3))
    assert x.shape == (2, 3, 224, 224) and x.is_contiguous()
