"""Top-1/top-5 of exported artifacts in their runtimes, against their PyTorch source.

    data = load_dataset(Path("imagenet/val"), limit=1000)
    ref = evaluate_reference(Path("artifacts/deit_tiny_patch16_224"), data)
    res = evaluate_artifact(Path("artifacts/deit_tiny_patch16_224"), record, data)
    all_results = evaluate_all([Path("artifacts")], Path("imagenet/val"))

Every artifact of a model sees the same preprocessed tensors (decoded once, see preprocess.py).
A failing artifact gives a result with status "failed" and its error; the others carry on.
``seconds`` is the time to load the runtime and run every image (decoding excluded).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import manifest as mf
from ..artifact_id import ArtifactId
from ..data.datasets import EvalDataset, load_dataset
from ..data.labels import IMAGENET_1K, NUM_IMAGENET_CLASSES
from ..data.preprocess import (
    NoReadableImagesError,
    PreparedImages,
    config_key,
    image_cache_dir,
    prepare,
)
from ..errors import EdgeVitError, UsageError
from ..results import FAILED, OK, AccuracyResult, ArtifactRef
from ..serialization import to_dict, write_json_atomic
from . import metrics
from .cache import ResultCache, host_id
from .reference import load_reference, reference_source
from .runtimes import (
    OV_PRECISIONS,
    load_runner,
    precision_mode,
    predict,
    runtime_for,
    runtime_version,
)

log = logging.getLogger(__name__)

RANDOM_WEIGHTS_NOTE = ("RANDOM WEIGHTS: this model was never trained, so its accuracy is "
                       "meaningless; only agreement with PyTorch says anything (export fidelity).")


@dataclass
class EvalOptions:
    batch: int = 32  # images per call for PyTorch and dynamic-batch artifacts
    threads: int | None = None  # runtime (and torch) threads; None: the runtime's default
    ov_precision: str = "default"  # OpenVINO: plugin default, or pin f32 / bf16 / f16
    use_cache: bool = True  # read and write the result and preprocessed-image caches
    cache_dir: Path | None = None  # cache root (default $EDGE_VIT_CACHE or ~/.cache/edge-vit)
    show_progress: bool = False  # rich progress bars on stderr
    decode_workers: int | None = None

    def __post_init__(self):
        if self.batch < 1:
            raise UsageError("--batch must be at least 1.")
        if self.ov_precision not in OV_PRECISIONS:
            raise UsageError(f"OpenVINO precision must be one of {', '.join(OV_PRECISIONS)}.")


@dataclass
class Scored:
    """A result with its per-image top-1 predictions and labels (None when it failed)."""

    result: AccuracyResult
    top1: np.ndarray | None = None
    labels: np.ndarray | None = None

    @property
    def ok(self) -> bool:
        return self.result.status == OK and self.top1 is not None


# --- public API ------------------------------------------------------------------------------

def evaluate_reference(manifest_dir: Path, data: EvalDataset,
                       options: EvalOptions | None = None) -> AccuracyResult:
    """Accuracy of the PyTorch model the manifest's artifacts were exported from."""
    return score_reference(manifest_dir, data, options).result


def evaluate_artifact(manifest_dir: Path, record: mf.ArtifactRecord, data: EvalDataset,
                      options: EvalOptions | None = None,
                      reference: Scored | None = None) -> AccuracyResult:
    """Accuracy of one artifact in its runtime, compared with its PyTorch source
    (``reference``; scored here, from the cache when it can, if not given)."""
    options = options or EvalOptions()
    manifest_dir = Path(manifest_dir)
    if reference is None:
        reference = score_reference(manifest_dir, data, options)
    return score_artifact(manifest_dir, record, data, options, reference).result


def evaluate_all(paths: Iterable[Path], data_dir: Path | EvalDataset, *,
                 labels: str = "imagenet", limit: int | None = None, seed: int = 0,
                 options: EvalOptions | None = None, results_dir: Path | None = None,
                 formats: Iterable[str] | None = None, on_result=None,
                 device=None) -> list[AccuracyResult]:
    """Every usable artifact under ``paths`` (export folders, as ``edge-vit profile`` takes
    them) and each model's PyTorch reference. Each result is written, as soon as it exists,
    to ``results_dir/accuracy/<model-id>/<format>-<precision>-<runtime>.json`` when
    ``results_dir`` is given. ``on_result(result)`` is called after each one.

    With an open ``device`` each artifact also runs there (see :mod:`.on_device`), after
    running here: its result (``results_dir/accuracy-on/<device>/...``) names the images whose
    top-1 changed between the two machines."""
    from ..profiling import collect_artifacts

    options = options or EvalOptions()
    data = data_dir if isinstance(data_dir, EvalDataset) else load_dataset(
        Path(data_dir), labels=labels, limit=limit, seed=seed)
    entries = collect_artifacts(list(paths), list(formats) if formats else None)
    by_model: dict[Path, list] = {}
    for e in entries:
        by_model.setdefault(e.root, []).append(e)
    results: list[AccuracyResult] = []

    def done(scored: Scored, mode: str | None = None) -> None:
        results.append(scored.result)
        if results_dir is not None:
            write_json_atomic(result_path(results_dir, scored.result, mode), scored.result)
        if on_result is not None:
            on_result(scored.result)

    for root, group in by_model.items():
        reference = score_reference(root, data, options)
        done(reference)
        for e in group:
            mode = options.ov_precision if e.record.format == "openvino" else None
            here = score_artifact(root, e.record, data, options, reference)
            done(here, mode)
            if device is not None:
                there = score_artifact(root, e.record, data, options, reference,
                                       device=device, entry=e)
                compare_with_host(there, here, data)
                done(there, mode)
    return results


def compare_with_host(there: Scored, here: Scored, data: EvalDataset) -> None:
    """Fill the device result's host_top1 / changed_vs_host (same images, same artifact)."""
    r = there.result
    if not (there.ok and here.ok) or len(there.top1) != len(here.top1):
        if there.ok:
            r.notes.append("no host result on the same images to compare with")
        return
    from .on_device import changed_top1

    names = [im.path for im in data.images] if len(data.images) == len(here.top1) else []
    changed = changed_top1(there.top1, here.top1, names)
    r.host_top1, r.changed_vs_host, r.changed_vs_host_images = here.result.top1, len(changed), \
        changed[:200]


def result_path(results_dir: Path, result: AccuracyResult, ov_precision: str | None = None
                ) -> Path:
    """``<results>/accuracy/<model-id>/<format>-<precision>-<runtime>.json``; a pinned
    OpenVINO precision adds ``-<precision>`` (``openvino-fp32-openvino-f32.json``) so it does
    not overwrite the default run."""
    aid = accuracy_id(result, ov_precision)
    if result.device:  # kept apart: the report's accuracy is the host's
        return Path(results_dir) / "accuracy-on" / result.device / aid.model_id / \
            f"{aid.stem}.json"
    return Path(results_dir) / "accuracy" / aid.model_id / f"{aid.stem}.json"


def accuracy_id(result: AccuracyResult, ov_precision: str | None = None) -> ArtifactId:
    """The artifact identity of an accuracy result (the same as its profile's)."""
    a = result.artifact
    return ArtifactId(a.model_id or "unknown", a.format, a.precision, result.runtime,
                      ov_precision)


# --- scoring ---------------------------------------------------------------------------------

def score_reference(manifest_dir: Path, data: EvalDataset,
                    options: EvalOptions | None = None) -> Scored:
    options = options or EvalOptions()
    manifest_dir = Path(manifest_dir)
    manifest = mf.read_manifest(manifest_dir)
    source = reference_source(manifest_dir, manifest)
    import torch

    result = _new_result(manifest, ArtifactRef(
        model_id=manifest.model.id, format="pytorch", precision="fp32", path=source.path,
        sha256=manifest.model.source.weights.state_sha256), "pytorch", data)
    result.runtime_version = torch.__version__
    result.inference_precision = "fp32"
    fields = {"kind": "reference", "reference": source.identity, "runtime": "pytorch",
              "runtime_version": torch.__version__, **_data_fields(manifest, data)}

    def run_it(prepared: PreparedImages):
        model = load_reference(manifest_dir, manifest)
        old_threads = torch.get_num_threads()
        if options.threads:
            torch.set_num_threads(options.threads)
        try:
            with torch.inference_mode():
                return predict(lambda x: model(torch.from_numpy(x)).numpy(), prepared,
                               options.batch, fixed_batch=False,
                               show_progress=options.show_progress,
                               label=f"{manifest.model.id} pytorch")
        finally:
            torch.set_num_threads(old_threads)

    return _score(manifest, data, options, result, fields, run_it, reference=None)


def score_artifact(manifest_dir: Path, record: mf.ArtifactRecord, data: EvalDataset,
                   options: EvalOptions, reference: Scored | None, device=None,
                   entry=None) -> Scored:
    """``device`` (open, with the artifact's ``entry``): run it there instead (not cached:
    what a device has installed can change under the same name)."""
    manifest_dir = Path(manifest_dir)
    manifest = mf.read_manifest(manifest_dir)
    runtime = runtime_for(record.format)
    result = _new_result(manifest, ArtifactRef(
        model_id=manifest.model.id, format=record.format, precision=record.precision,
        path=str(manifest_dir / record.path) if record.path else "-", sha256=record.sha256),
        runtime, data)
    result.runtime_version = runtime_version(runtime)
    if record.status != mf.OK:
        result.notes.append(f"the artifact's export status is {record.status}"
                            f"{': ' + record.error if record.error else ''}")
    try:
        digests = mf.verify_files(manifest_dir, record)
    except EdgeVitError as exc:
        result.status, result.error = FAILED, str(exc)
        return Scored(result)
    fields = {"kind": "artifact", "format": record.format, "precision": record.precision,
              "sha256": digests, "runtime": runtime, "runtime_version": result.runtime_version,
              "precision_mode": precision_mode(record.format, options.ov_precision),
              **_data_fields(manifest, data)}
    label = f"{manifest.model.id} {record.format}/{record.precision} {runtime}"
    fixed = not record.dynamic_batch
    batch = (record.input_shape or [1])[0] if fixed else options.batch
    if device is not None:
        result.device = device.name
        fields["device"] = device.name

        def on_device(prepared: PreparedImages):
            from ..serialization import to_dict
            from .on_device import predict_on_device

            top, width, run = predict_on_device(device, entry, prepared, batch,
                                                options.ov_precision, options.threads)
            result.runtime_version = run.runtime_version or result.runtime_version
            result.inference_precision = run.inference_precision
            result.device_run = to_dict(run)
            emulation = run.environment.get("emulation")
            if emulation:
                result.notes.append(f"run on an emulated {run.environment.get('machine')} "
                                    f"({emulation}): what its ARM kernels compute; its speed "
                                    "says nothing")
            return top, width

        return _score(manifest, data, options, result, fields, on_device, reference,
                      use_cache=False)

    def run_it(prepared: PreparedImages):
        run, info = load_runner(manifest_dir, record, options.threads, options.ov_precision)
        result.inference_precision = info.get("inference_precision")
        result.runtime_version = info.get("version") or result.runtime_version
        return predict(run, prepared, batch, fixed_batch=fixed,
                       show_progress=options.show_progress, label=label)

    return _score(manifest, data, options, result, fields, run_it, reference)


def _score(manifest: mf.Manifest, data: EvalDataset, options: EvalOptions,
           result: AccuracyResult, fields: dict, run_it, reference: Scored | None,
           use_cache: bool = True) -> Scored:
    cache = ResultCache(options.cache_dir, enabled=options.use_cache and use_cache)
    hit = cache.get(fields)
    if hit is not None:
        hit.result.data.root = str(data.root)
        scored = Scored(hit.result, hit.top1, hit.labels)
        _compare(scored, reference)
        return scored
    result.started = mf.utc_now()
    t0 = time.perf_counter()
    try:
        _check_label_space(manifest, data)
        prepared = prepare(data, manifest.model.data_config,
                           image_cache_dir(options.cache_dir) if options.use_cache
                           else None, options.decode_workers, options.show_progress)
        t0 = time.perf_counter()
        top, width = run_it(prepared)
        seconds = time.perf_counter() - t0
        _check_width(width, data)
    except NoReadableImagesError:
        raise  # a data problem: every artifact would fail the same way
    except Exception as exc:  # one artifact's failure never stops the others
        log.debug("evaluation failed", exc_info=True)
        result.status = FAILED
        result.error = str(exc) if isinstance(exc, EdgeVitError) else \
            f"{type(exc).__name__}: {str(exc).strip()[:500]}"
        result.seconds = round(time.perf_counter() - t0, 3)
        result.finished = mf.utc_now()
        return Scored(result)
    labels = prepared.labels
    _fill(result, top, labels, prepared, data)
    result.seconds = round(seconds, 3)
    result.finished = mf.utc_now()
    scored = Scored(result, top[:, 0].copy(), labels)
    cache.put(fields, result, scored.top1, labels)
    _compare(scored, reference)
    return scored


# --- helpers ---------------------------------------------------------------------------------

def _new_result(manifest: mf.Manifest, ref: ArtifactRef, runtime: str,
                data: EvalDataset) -> AccuracyResult:
    weights = manifest.model.source.weights
    notes = list(data.notes)
    if weights.kind == "random" or (weights.kind == "pruned" and weights.note):
        notes.append(RANDOM_WEIGHTS_NOTE)
    return AccuracyResult(artifact=ref, runtime=runtime, data=data.ref(),
                          weights=to_dict(weights), notes=notes)


def _data_fields(manifest: mf.Manifest, data: EvalDataset) -> dict:
    return {"data_fingerprint": data.fingerprint, "label_space": data.label_space,
            "limit": data.limit, "subset_seed": data.seed,
            "preprocessing": config_key(manifest.model.data_config), "host": host_id()}


def _check_label_space(manifest: mf.Manifest, data: EvalDataset) -> None:
    classes = manifest.model.architecture.get("num_classes")
    if classes is None:
        return
    if data.label_space == IMAGENET_1K and classes != NUM_IMAGENET_CLASSES:
        raise UsageError(f"{manifest.model.id} has {classes} classes; ImageNet-1k labels need "
                         f"{NUM_IMAGENET_CLASSES}.",
                         hint="For a folder-per-class data set of this model's classes, pass "
                              "--labels folders.")
    _check_width(classes, data)


def _check_width(width: int, data: EvalDataset) -> None:
    needed = max(im.label for im in data.images) + 1
    if width < needed:
        raise UsageError(f"The model gives {width} logits but the data has class index "
                         f"{needed - 1} ({data.label_space} labels).")


def _fill(result: AccuracyResult, top: np.ndarray, labels: np.ndarray,
          prepared: PreparedImages, data: EvalDataset) -> None:
    n = len(labels)
    c1 = int(metrics.correct_at(top, labels, 1).sum())
    c5 = int(metrics.correct_at(top, labels, 5).sum())
    result.total, result.correct1, result.correct5 = n, c1, c5
    result.top1, result.top5 = 100.0 * c1 / n, 100.0 * c5 / n
    result.top1_ci = list(metrics.wilson_interval(c1, n))
    result.data = data.ref(prepared.images)
    result.notes.extend(prepared.notes())
    if top.shape[1] < 5:
        result.notes.append(f"top-5 is top-{top.shape[1]}: the model has only "
                            f"{top.shape[1]} classes.")


def _compare(scored: Scored, reference: Scored | None) -> None:
    """Reference top-1, drop, agreement and flag, recomputed on every call (also for cached
    results, so a cache entry never depends on which reference it was first compared with)."""
    r = scored.result
    r.reference_top1 = r.drop_vs_reference = r.agreement_with_reference = None
    r.flagged, r.flag_reason = False, None
    r.notes = [n for n in r.notes if not n.startswith("no PyTorch reference")]
    if reference is None or not scored.ok:
        return
    if not reference.ok:
        r.notes.append(f"no PyTorch reference to compare with: {reference.result.error}")
        return
    if len(reference.top1) != len(scored.top1) or \
            not np.array_equal(reference.labels, scored.labels):
        r.notes.append("no PyTorch reference to compare with: it was scored on other images")
        return
    ref_correct = reference.top1 == reference.labels
    correct = scored.top1 == scored.labels
    r.reference_top1 = reference.result.top1
    r.drop_vs_reference = reference.result.top1 - r.top1
    r.agreement_with_reference = float(np.mean(reference.top1 == scored.top1))
    se = metrics.paired_drop_se(ref_correct, correct)
    r.flagged, r.flag_reason = metrics.flag_drop(r.drop_vs_reference, se)
