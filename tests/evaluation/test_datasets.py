"""Layouts, canonical ImageNet-1k class indices, subsets and fingerprints on real images."""

import shutil

import pytest

from edge_vit.data.datasets import FLAT_LOC, FLAT_VAL_TXT, IMAGE_FOLDER, SYNSET_FOLDERS
from edge_vit.errors import UsageError
from edge_vit.evaluation import imagenet_synsets, load_dataset, select_balanced, synset_to_index
from tests.evaluation.layouts import copy_synset_folders, flat_copy, sample_files


def _labels(data):
    return {im.path.split("/")[-1]: im.label for im in data.images}


def test_canonical_order_is_timms_imagenet_1k():
    synsets = imagenet_synsets()
    assert len(synsets) == 1000 and list(synsets) == sorted(synsets)
    assert synset_to_index("n01440764") == 0  # tench
    assert synset_to_index("n01443537") == 1  # goldfish
    assert synset_to_index("n02096051") == 191  # Airedale
    assert synset_to_index("n15075141") == 999  # toilet tissue


def test_folder_n01440764_is_class_0_whatever_else_is_present(sample, tmp_path):
    (_, img), *_ = sample_files(sample)
    for synset in ("n01440764", "n15075141"):
        (tmp_path / synset).mkdir()
        shutil.copy(img, tmp_path / synset / "x.JPEG")
    data = load_dataset(tmp_path)
    assert data.layout == SYNSET_FOLDERS and data.label_space == "imagenet-1k"
    assert {im.path: im.label for im in data.images} == {"n01440764/x.JPEG": 0,
                                                         "n15075141/x.JPEG": 999}


def test_sample_folders_get_canonical_indices(sample):
    data = load_dataset(sample)
    assert data.layout == SYNSET_FOLDERS
    assert len(data.images) == data.available == 100 and data.num_classes == 100
    synsets = imagenet_synsets()
    for im in data.images:
        assert synsets[im.label] == im.path.split("/")[0]
    ref = data.ref()
    assert ref.num_images == 100 and ref.fingerprint == data.fingerprint
    assert ref.limit is None and ref.subset_seed is None


def test_a_subset_of_ten_folders_keeps_the_canonical_indices(sample, tmp_path):
    full = {im.path: im.label for im in load_dataset(sample).images}
    chosen = [d.name for d in sorted(sample.iterdir())][::10]
    subset = load_dataset(copy_synset_folders(sample, tmp_path / "val", chosen))
    assert subset.num_classes == 10
    got = {im.path: im.label for im in subset.images}
    assert got == {p: full[p] for p in got}
    assert sorted(got.values()) != list(range(10))  # not re-numbered 0..9


def test_loc_csv_and_val_txt_give_the_same_labels_as_folders(sample, tmp_path):
    by_folder = {synset: synset_to_index(synset) for synset, _ in sample_files(sample)}
    loc, txt = tmp_path / "loc", tmp_path / "txt"
    files = flat_copy(sample, loc)
    flat_copy(sample, txt)
    rows = [f"{name.rsplit('.', 1)[0]},{synset} 10 20 200 220 {synset} 1 2 3 4"
            for name, synset in files]
    rows.append("ILSVRC2012_val_00049999,n01440764 1 1 9 9")  # listed, not present: ignored
    (loc / "LOC_val_solution.csv").write_text("ImageId,PredictionString\n" + "\n".join(rows))
    (txt / "val.txt").write_text("".join(f"{name} {by_folder[synset]}\n"
                                         for name, synset in files))
    a, b = load_dataset(loc), load_dataset(txt)
    assert (a.layout, b.layout) == (FLAT_LOC, FLAT_VAL_TXT)
    expected = {name: by_folder[synset] for name, synset in files}
    assert _labels(a) == _labels(b) == expected
    assert a.fingerprint == b.fingerprint  # same files, sizes and labels


def test_kaggle_archive_layout(sample, tmp_path):
    images = tmp_path / "ILSVRC" / "Data" / "CLS-LOC" / "val"
    files = flat_copy(sample, images)[:5]
    (tmp_path / "LOC_val_solution.csv").write_text("ImageId,PredictionString\n" + "".join(
        f"{n[:-5]},{s} 0 0 1 1\n" for n, s in files))
    data = load_dataset(tmp_path)
    assert data.layout == FLAT_LOC and len(data.images) == 5
    assert data.images[0].path.startswith("ILSVRC/Data/CLS-LOC/val/")
    assert "95 image(s) not listed" in data.notes[0]


def test_odd_names_extensions_and_hidden_files(sample, tmp_path):
    (_, img), *_ = sample_files(sample)
    for name in ("a b (1).jpeg", "ÜBER.JPG", "x.Png.jpg", ".hidden.JPEG", "._x.JPEG"):
        shutil.copy(img, tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "val.txt").write_text("a b (1).jpeg 1\nÜBER.JPG 2\nx.Png 3\n")
    data = load_dataset(tmp_path)
    assert _labels(data) == {"a b (1).jpeg": 1, "ÜBER.JPG": 2, "x.Png.jpg": 3}


@pytest.mark.parametrize("setup,match", [
    (lambda d: None, "No images"),
    (lambda d: (d / "cats").mkdir() or _img(d / "cats"), "not an ImageNet synset"),
    (lambda d: (d / "n00004475").mkdir() or _img(d / "n00004475"),
     "not one of the 1000 ImageNet-1k"),
    (lambda d: _img(d), "no labels file"),
    (lambda d: _img(d) or (d / "val.txt").write_text("x.JPEG 1000\n"), "outside ImageNet-1k"),
    (lambda d: _img(d) or (d / "val.txt").write_text("x.JPEG cat\n"), "expected '<file name>"),
    (lambda d: _img(d) or (d / "val.txt").write_text("other.JPEG 3\n"), "is listed in"),
    (lambda d: _img(d) or (d / "LOC_val_solution.csv").write_text("a,b\nx,n01440764\n"),
     "header"),
    (lambda d: _img(d) or (d / "LOC_val_solution.csv").write_text(
        "ImageId,PredictionString\nx,n99999999 1 1 2 2\n"), "not one of the 1000"),
])
def test_bad_layouts_are_clear_errors(tmp_path, setup, match):
    setup(tmp_path)
    with pytest.raises(UsageError, match=match):
        load_dataset(tmp_path)


def _img(folder):
    from PIL import Image

    Image.new("RGB", (8, 8)).save(folder / "x.JPEG")


def test_non_synset_folder_hints_at_labels_folders(tmp_path):
    (tmp_path / "cats").mkdir()
    _img(tmp_path / "cats")
    with pytest.raises(UsageError) as info:
        load_dataset(tmp_path)
    assert "--labels folders" in info.value.hint


def test_dataset_root_hints_at_val(sample, tmp_path):
    copy_synset_folders(sample, tmp_path / "val", ["n01443537"])
    with pytest.raises(UsageError) as info:
        load_dataset(tmp_path)
    assert str(tmp_path / "val") in info.value.hint


def test_missing_folder_and_bad_arguments(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        load_dataset(tmp_path / "nope")
    with pytest.raises(UsageError, match="labels"):
        load_dataset(tmp_path, labels="coco")
    with pytest.raises(UsageError, match="limit"):
        load_dataset(tmp_path, limit=0)


def test_labels_folders_numbers_sorted_folders(tmp_path):
    for name in ("zebra", "apple", "mango"):
        (tmp_path / name).mkdir()
        _img(tmp_path / name)
    data = load_dataset(tmp_path, labels="folders")
    assert data.layout == IMAGE_FOLDER and data.label_space == "folders"
    assert data.class_names == ["apple", "mango", "zebra"]
    assert {im.path.split("/")[0]: im.label for im in data.images} == {
        "apple": 0, "mango": 1, "zebra": 2}
    with pytest.raises(UsageError, match="not an ImageNet synset"):
        load_dataset(tmp_path)  # the default stays imagenet-1k


def test_limit_is_class_balanced_and_deterministic(sample, tmp_path):
    data = load_dataset(sample, limit=10)
    labels = sorted(im.label for im in data.images)
    all_labels = sorted(im.label for im in load_dataset(sample).images)
    assert labels == all_labels[:10]  # one per class, classes in canonical order
    again = load_dataset(sample, limit=10)
    assert data.images == again.images and data.fingerprint == again.fingerprint
    ref = data.ref()
    assert ref.limit == 10 and ref.subset_seed == 0 and ref.num_images == 10

    # 3 classes x 4 images: any limit takes them round-robin
    for synset in ("n01443537", "n01531178", "n01608432"):
        (tmp_path / synset).mkdir()
        for i in range(4):
            _img(tmp_path / synset)
            (tmp_path / synset / "x.JPEG").rename(tmp_path / synset / f"{i}.JPEG")
    for limit in (3, 6, 7, 12):
        picked = load_dataset(tmp_path, limit=limit).images
        counts = [sum(im.label == c for im in picked) for c in {im.label for im in picked}]
        assert len(picked) == limit and len(counts) == 3 and max(counts) - min(counts) <= 1
    seeds = {tuple(im.path for im in load_dataset(tmp_path, limit=3, seed=s).images)
             for s in range(8)}
    assert len(seeds) > 1  # the seed picks which image of each class
    over = load_dataset(tmp_path, limit=50)
    assert len(over.images) == 12 and "more than the 12" in over.notes[0]


def test_select_balanced_takes_classes_round_robin():
    from edge_vit.evaluation import LabeledImage

    images = [LabeledImage(f"{c}/{i}", 1, c) for c in (5, 2, 9) for i in range(3)]
    picked = select_balanced(images, 4, seed=1)
    assert [im.label for im in picked] == [2, 5, 9, 2]


def test_fingerprint_follows_path_size_and_label(sample, tmp_path):
    root = copy_synset_folders(sample, tmp_path / "v", ["n01443537", "n01531178"])
    before = load_dataset(root).fingerprint
    assert load_dataset(root).fingerprint == before
    target = next((root / "n01443537").iterdir())
    target.write_bytes(target.read_bytes() + b"\0")
    assert load_dataset(root).fingerprint != before
