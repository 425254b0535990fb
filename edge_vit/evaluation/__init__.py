"""Accuracy of exported artifacts on ImageNet-style validation data, in the runtimes they
ship with, against the PyTorch model they came from.

    from edge_vit.evaluation import EvalOptions, evaluate_all, load_dataset

    data = load_dataset(Path("imagenet/val"), limit=5000)          # labels: canonical 1k order
    results = evaluate_all([Path("artifacts")], data, options=EvalOptions(batch=64),
                           results_dir=Path("results"))            # results/accuracy/<id>/*.json

Modules, one job each: ``labels`` (ImageNet-1k class order, labels files), ``datasets``
(layouts, subsets, fingerprints), ``preprocess`` (decode once, cache pixels), ``runtimes``
(run an artifact in batches), ``reference`` (rebuild the PyTorch source), ``metrics`` (top-k,
Wilson interval, flag rule), ``cache`` (finished results), ``evaluate`` (all of it together).
"""

from ..data.datasets import EvalDataset, LabeledImage, load_dataset, select_balanced
from ..data.labels import imagenet_synsets, synset_to_index
from ..data.preprocess import PreparedImages, prepare
from ..files import CACHE_ENV, cache_root
from .cache import ResultCache
from .evaluate import (
    EvalOptions,
    Scored,
    evaluate_all,
    evaluate_artifact,
    evaluate_reference,
    result_path,
    score_artifact,
    score_reference,
)
from .metrics import wilson_interval
from .runtimes import OV_PRECISIONS, runtime_for

__all__ = [
    "CACHE_ENV", "OV_PRECISIONS", "EvalDataset", "EvalOptions",
    "LabeledImage", "PreparedImages", "ResultCache", "Scored", "cache_root", "evaluate_all",
    "evaluate_artifact", "evaluate_reference", "imagenet_synsets", "load_dataset", "prepare",
    "result_path", "runtime_for", "score_artifact", "score_reference", "select_balanced",
    "synset_to_index",
    "wilson_interval",
]
