"""Make the demo's packaged files from a finished ``edge-vit train`` run and CIFAR-10.

    python -m edge_vit.demo.build --run runs/vit_demo_cifar10 \\
        --cifar ../shared/data/cifar10/cifar10-jpeg.tar.gz

copies the run's weights, cuts class-balanced slices of the CIFAR-10 test set (2,000 images)
and train set (5,000 images, for fine-tuning and int8 calibration; never evaluated on) into
gzipped tar files of the original JPEG bytes (no re-encoding: the pixels are the ones the
model was trained and tested on), and scores the weights on the test slice with the training
code, so ``edge-vit eval`` on any runtime can be checked against it.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import tarfile
from pathlib import Path

from . import DEMO_MODEL, TEST_SLICE, TRAIN_REPORT, TRAIN_SLICE, WEIGHTS


def write_slice(root: Path, limit: int, target: Path, seed: int = 0,
                source: str | None = None) -> dict:
    """.tar.gz of a class-balanced ``limit``-image subset of the class folders under ``root``,
    byte-identical on every run (sorted members, zeroed owners and times, no gzip time)."""
    import gzip

    from ..data.datasets import load_dataset
    from ..files import file_sha256

    data = load_dataset(root, labels="folders", limit=limit, seed=seed)
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                               compresslevel=9) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for item in sorted(data.images, key=lambda i: i.path):
            blob = (root / item.path).read_bytes()
            info = tarfile.TarInfo(str(item.path))
            info.size, info.mode, info.mtime = len(blob), 0o644, 0
            tar.addfile(info, io.BytesIO(blob))
    tmp.replace(target)
    return {"file": target.name, "sha256": file_sha256(target), "images": len(data.images),
            "per_class": limit // max(1, len(data.class_names)), "source": source or str(root),
            "subset_seed": seed}


def build(run: Path, cifar: Path, test_images: int = 2000, train_images: int = 5000) -> dict:
    import torch

    from ..data.archive import resolve_data_root
    from ..data.images import data_config
    from ..files import file_sha256
    from ..models import create_model, load_checkpoint_into
    from ..training.data import load_split
    from ..training.loop import evaluate

    report = json.loads((run / "train_report.json").read_text())
    if report["model"] != DEMO_MODEL or report.get("model_kwargs"):
        raise SystemExit(f"{run} trained {report['model']} {report.get('model_kwargs')}, not "
                         f"the demo architecture {DEMO_MODEL}.")
    root = resolve_data_root(cifar)
    shipped = {"test_slice": write_slice(root / "test", test_images, TEST_SLICE,
                                         source=f"{cifar.name}: test/"),
               "train_slice": write_slice(root / "train", train_images, TRAIN_SLICE,
                                          source=f"{cifar.name}: train/")}
    shutil.copyfile(run / "model.safetensors", WEIGHTS)
    for f in (WEIGHTS, TEST_SLICE, TRAIN_SLICE):
        f.chmod(0o644)
    model = create_model(DEMO_MODEL)
    load_checkpoint_into(model, WEIGHTS)
    cfg = data_config(model, (3, 32, 32))
    with torch.inference_mode():
        top1, loss = evaluate(model, load_split(TEST_SLICE, cfg))
    shipped["weights"] = {"file": WEIGHTS.name, "sha256": file_sha256(WEIGHTS)}
    shipped["test_slice"]["top1"] = round(top1, 2)  # percent, PyTorch, training's decoder
    shipped["test_slice"]["loss"] = round(loss, 4)
    report["shipped"] = shipped
    TRAIN_REPORT.write_text(json.dumps(report, indent=2) + "\n")
    TRAIN_REPORT.chmod(0o644)
    return shipped


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="folder of a finished "
                    "`edge-vit train` run of vit_demo_cifar10")
    ap.add_argument("--cifar", type=Path, required=True,
                    help="CIFAR-10 as train/ and test/ class folders, or a .tar.gz of them")
    ap.add_argument("--test-images", type=int, default=2000)
    ap.add_argument("--train-images", type=int, default=5000)
    args = ap.parse_args(argv)
    print(json.dumps(build(args.run, args.cifar, args.test_images, args.train_images),
                     indent=2))


if __name__ == "__main__":
    main()
