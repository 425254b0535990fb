"""The export pipeline: model -> (prune) -> ONNX -> OpenVINO / TFLite, each parity-checked.

The manifest is rewritten after every artifact, so an interrupted or partly failing export
keeps what it finished. A failed conversion marks that format ``export_failed`` and skips only
the formats converted from it; a failed parity check marks the artifact ``validation_failed``
and keeps its file.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from exporters.base import (
    ExportedFile,
    ExportRequest,
    get_exporter,
    load_failure,
    parse_formats,
)
from exporters.onnx_export import DEFAULT_OPSET, OPSETS

from . import manifest as mf
from .complexity import count_macs, describe, model_input_size
from .data.images import data_config, list_images, load_images, random_inputs
from .errors import EdgeVitError, UsageError
from .files import file_sha256
from .models import DEFAULT_MODEL, ModelSource, build_model
from .parity import INT8_PRECISIONS, ParityReport, compare
from .serialization import to_dict

log = logging.getLogger(__name__)

DEFAULT_FORMATS = ("onnx", "openvino", "tflite")
PRECISIONS = ("fp32", "fp16", "int8-dynamic", "int8")
DEFAULT_PRECISIONS = ("fp32", "fp16")
CALIBRATED = ("int8",)  # precisions that need calibration images (int8-dynamic needs none)


@dataclass
class ExportOptions:
    model: str = DEFAULT_MODEL  # timm name, or a pruned-model folder (prune_spec.json)
    pretrained: str | bool | None = None
    checkpoint: Path | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    prune: str | None = None  # "heads=0.34,mlp=0.5" or a plan file path
    criterion: str | None = None  # importance criterion override
    round_to: int | None = None
    calib_dir: Path | None = None  # images for int8 calibration, data-driven importance
    calib_size: int = 32  # how many (class-balanced, fixed order) calibration images
    formats: tuple[str, ...] = DEFAULT_FORMATS
    precisions: tuple[str, ...] = DEFAULT_PRECISIONS
    opset: int = DEFAULT_OPSET
    batch: int = 1
    dynamic_batch: bool = False
    tflite_layout: str = "NHWC"
    out_root: Path = Path("artifacts")
    model_id: str | None = None
    parity_inputs: int = 4
    parity_images: Path | None = None
    # OpenVINO int8 in NNCF's accuracy-controlled mode: labelled validation images (never the
    # calibration ones) and the most top-1 (in points) quantization may cost on them
    val_dir: Path | None = None
    val_labels: str = "imagenet"
    val_size: int = 300
    max_drop: float | None = None
    seed: int = 0
    # int8 weights: 7 bits run the same on every x86 CPU; 8 saturates on x86 without VNNI
    int8_weight_bits: int = 7
    exporter_options: dict[str, Any] = field(default_factory=dict)  # e.g. tflite_timeout_s


@dataclass
class ExportResult:
    manifest: mf.Manifest
    manifest_path: Path
    warnings: list[str] = field(default_factory=list)
    attempts: list[mf.ArtifactRecord] = field(default_factory=list)  # what this run made

    @property
    def failed(self) -> list[mf.ArtifactRecord]:
        """This run's attempts that did not give a usable artifact (an earlier good one of
        the same format and precision may still be in the manifest: see ``kept``)."""
        return [a for a in self.attempts if a.status != mf.OK]

    @property
    def kept(self) -> list[mf.ArtifactRecord]:
        """Good earlier artifacts this run's failed attempts left in place."""
        return [k for a in self.failed if (k := self.manifest.artifact(*a.key)) is not None
                and k.status == mf.OK]


def resolve_plan(opts: ExportOptions):
    if not opts.prune:
        return None
    from .pruning import load_plan_file, parse_plan

    text = opts.prune.strip()
    plan = load_plan_file(Path(text)) if Path(text).suffix.lower() in (
        ".json", ".yaml", ".yml") else parse_plan(text)
    import dataclasses

    # replace() re-runs the plan's own checks on the overridden values
    changes = {k: v for k, v in (("criterion", opts.criterion), ("round_to", opts.round_to))
               if v is not None}
    return dataclasses.replace(plan, **changes) if changes else plan


def _unpacked(opts: ExportOptions) -> ExportOptions:
    """Image sets given as .tar/.tar.gz archives, replaced by their unpacked folders."""
    import dataclasses

    from .data.archive import resolve_data_root

    changes = {name: resolve_data_root(Path(value)) for name in ("calib_dir", "parity_images")
               if (value := getattr(opts, name)) is not None and Path(value).is_file()}
    return dataclasses.replace(opts, **changes) if changes else opts


def check_options(opts: ExportOptions) -> list[str]:
    formats = parse_formats(",".join(opts.formats))
    bad = [p for p in opts.precisions if p not in PRECISIONS]
    if bad:
        raise UsageError(f"Unknown precision(s) {bad}; choose from {', '.join(PRECISIONS)}.")
    if opts.batch < 1:
        raise UsageError("--batch must be at least 1.")
    if opts.opset not in OPSETS:
        raise UsageError(f"--opset {opts.opset} is outside the range edge-vit exports: "
                         f"{OPSETS.start}..{OPSETS.stop - 1} (default {DEFAULT_OPSET}).")
    if opts.int8_weight_bits not in (7, 8):
        raise UsageError(f"--int8-weight-bits must be 7 or 8, got {opts.int8_weight_bits}.")
    if opts.max_drop is not None:
        if not opts.val_dir:
            raise UsageError("--max-drop needs labelled validation images: pass --val-data.")
        if opts.max_drop < 0:
            raise UsageError(f"--max-drop is in points of top-1 and cannot be negative "
                             f"({opts.max_drop}).")
        if "int8" not in opts.precisions or "openvino" not in formats:
            raise UsageError("--max-drop controls OpenVINO int8: add --precision int8 and "
                             "the openvino format.")
    calibrated = [p for p in opts.precisions if p in CALIBRATED]
    if calibrated and not opts.calib_dir:
        raise UsageError(f"--precision {','.join(calibrated)} quantizes with calibration "
                         "images: pass --calib DIR (int8-dynamic needs none).")
    if calibrated and opts.calib_size < opts.batch:
        raise UsageError(f"--calib-size must be at least the batch ({opts.batch}).")
    if opts.tflite_layout not in ("NHWC", "NCHW"):
        raise UsageError("--tflite-layout must be NHWC or NCHW.")
    if opts.dynamic_batch:
        static_only = [f for f in formats if not get_exporter(f).supports_dynamic_batch]
        if static_only:
            raise UsageError(f"--dynamic-batch is not supported by {', '.join(static_only)} "
                             "(fixed batch); export those formats separately.")
    return formats


def load_source_model(opts: ExportOptions):
    """(model, ModelSource, PruneSpec|None, warnings), validating every input before work."""
    model_path = Path(opts.model)
    if model_path.is_dir() and (model_path / "prune_spec.json").exists():
        from .pruning import load_pruned

        if opts.prune:
            raise UsageError("This folder holds an already pruned model; prune its source "
                             "instead, or export it without --prune.")
        model, spec = load_pruned(model_path)
        from .models import WeightsInfo, state_dict_sha256

        origin = spec.source_weights
        note = origin.note if origin is not None and origin.kind == "random" else None
        source = ModelSource(name=spec.arch, model_kwargs=dict(spec.model_kwargs),
                             weights=WeightsInfo(
                                 kind="pruned", source=str(model_path),
                                 sha256=file_sha256(model_path / "model.safetensors"),
                                 state_sha256=state_dict_sha256(model.state_dict()),
                                 note=note))
        return model, source, spec, []
    plan = resolve_plan(opts)  # syntax and ratio ranges: before anything is built
    model, source = build_model(opts.model, model_kwargs=opts.model_kwargs,
                                pretrained=opts.pretrained, checkpoint=opts.checkpoint,
                                seed=opts.seed)
    if plan is None:
        return model, source, None, []
    from .pruning import prune_model, validate_plan

    warnings = validate_plan(plan, model)
    calib = None
    if plan.criterion != "magnitude":
        if not opts.calib_dir:
            raise UsageError(f"The '{plan.criterion}' criterion needs calibration images: "
                             "pass --calib DIR.")
        cfg = data_config(model, model_input_size(model))
        images = load_images(list_images(opts.calib_dir, opts.calib_size), cfg)
        calib = list(images.split(8))
    pruned, spec, more = prune_model(model, plan, calib=calib, source=source)
    return pruned, source, spec, warnings + list(more)


def default_model_id(name: str, spec, model_kwargs: dict | None = None) -> str:
    """Readable and collision-free: arguments and prune spec each add a short hash."""
    import hashlib
    import json

    base = Path(name).name.split(".", 1)[0]
    if model_kwargs:
        digest = hashlib.sha256(json.dumps(model_kwargs, sort_keys=True).encode()).hexdigest()
        base += f"-args-{digest[:6]}"
    return f"{base}-pruned-{spec.spec_hash()[:8]}" if spec is not None else base


def _parity_inputs(opts: ExportOptions, model, cfg, exclude: tuple[Path, ...] = ()
                   ) -> tuple[np.ndarray, str]:
    """Inputs for every artifact's check. Files in ``exclude`` (the int8 calibration images)
    are never used: a quantized model is validated on images it was not calibrated on, and
    when no other image is left the check falls back to seeded random inputs."""
    n = max(opts.parity_inputs, opts.batch)
    n -= n % opts.batch
    folder = opts.parity_images or opts.calib_dir
    if folder:
        skip = {p.resolve() for p in exclude}
        paths = [p for p in list_images(folder) if p.resolve() not in skip][:n]
        held_out = f", skipping the {len(skip)} calibration images" if skip else ""
        if paths:
            while len(paths) < n:  # a tiny folder: repeat rather than fail
                paths = (paths * 2)[:n]
            return load_images(paths, cfg).numpy(), \
                f"images:{folder} (first {n}, class-balanced{held_out})"
    x = random_inputs(n, tuple(cfg["input_size"]), seed=opts.seed).numpy()
    return x, f"random normal (seed={opts.seed})"


def _calibration(opts: ExportOptions, cfg) -> tuple[np.ndarray | None, dict | None,
                                                     tuple[Path, ...]]:
    """The int8 calibration array (N, 3, H, W), preprocessed with the model's own data config
    from a fixed class-balanced subset of ``--calib``, and its manifest record."""
    if not any(p in CALIBRATED for p in opts.precisions):
        return None, None, ()
    import hashlib

    folder = Path(opts.calib_dir)
    paths = list_images(folder, opts.calib_size)
    digest = hashlib.sha256()
    for p in paths:
        digest.update(str(p.relative_to(folder)).encode() + b"\0" + p.read_bytes())
    record = {"folder": str(folder), "count": len(paths), "requested": opts.calib_size,
              "selection": "class-balanced, sorted (first per class in turn)",
              "preprocessing": "the model's timm data config",
              "files": [str(p.relative_to(folder)) for p in paths],
              "fingerprint": digest.hexdigest()}
    return load_images(paths, cfg).numpy(), record, tuple(paths)


def _validation(opts: ExportOptions, cfg, calib_paths: tuple[Path, ...]) -> dict | None:
    """Labelled validation images for NNCF's accuracy-controlled mode, disjoint from the
    calibration images, preprocessed like everything else (eval's decoder and cache)."""
    if opts.max_drop is None:
        return None
    from .data.datasets import load_dataset
    from .data.preprocess import prepare

    data = load_dataset(Path(opts.val_dir), labels=opts.val_labels, limit=opts.val_size)
    calib = {p.resolve() for p in calib_paths}
    overlap = [im.path for im in data.images if (data.root / im.path).resolve() in calib]
    if overlap:
        raise UsageError(f"{len(overlap)} validation image(s) are also calibration images "
                         f"(e.g. {overlap[0]}).", hint="Give --val-data another folder.")
    prepared = prepare(data, cfg)
    return {"x": prepared.batch(0, len(prepared)), "y": prepared.labels,
            "max_drop": opts.max_drop, "record": to_dict(data.ref(prepared.images))}


def _batched(fn, x: np.ndarray, batch: int) -> np.ndarray:
    return np.concatenate([fn(x[i:i + batch]) for i in range(0, len(x), batch)])


def _record(ef: ExportedFile, fmt: str, root: Path, seconds: float, tools: dict,
            shape: list[int], opset: int | None) -> mf.ArtifactRecord:
    main, *others = get_exporter(fmt).files_of(ef.path)
    return mf.ArtifactRecord(
        format=fmt, precision=ef.precision, status=mf.OK,
        path=str(main.relative_to(root)), size_bytes=sum(p.stat().st_size for p in
                                                          (main, *others)),
        sha256=file_sha256(main),
        companions={str(p.relative_to(root)): file_sha256(p) for p in others},
        input_name=ef.input_name, input_shape=shape,
        input_layout=ef.input_layout, output_name=ef.output_name, dynamic_batch=ef.dynamic_batch,
        opset=opset, tools=tools, export_seconds=round(seconds, 3))


STAGING = ".staging"  # exporters write here; files move into place once their fate is known
REJECTED = "rejected"  # <format>/rejected/: a failed re-export's file, beside the good one


def _place(rec: mf.ArtifactRecord, ef: ExportedFile, exporter, root: Path,
           manifest: mf.Manifest) -> Path:
    """Move a checked artifact's files out of staging and point its record at them; returns
    where the main file now is. A failed one beside a good earlier artifact of the same
    format and precision goes to ``<format>/rejected/``, never over it."""
    keep_old = manifest.keeps_earlier(rec) is not None
    dest = root / rec.format / (REJECTED if keep_old else "")
    dest.mkdir(parents=True, exist_ok=True)
    moved = []
    for f in exporter.files_of(ef.path):
        target = dest / f.name
        f.replace(target)
        moved.append(target)
    rec.path = str(moved[0].relative_to(root))
    rec.companions = {str(p.relative_to(root)): sha for p, sha in
                      zip(moved[1:], rec.companions.values(), strict=True)}
    return moved[0]


def run_export(opts: ExportOptions, progress: Callable[[str], None] | None = None
               ) -> ExportResult:
    say = progress or (lambda msg: log.info(msg))
    formats = check_options(opts)
    opts = _unpacked(opts)
    exporters = {f: get_exporter(f) for f in formats}
    model, source, spec, warnings = load_source_model(opts)
    for w in warnings:
        say(f"warning: {w}")

    input_size = model_input_size(model)
    input_shape = (opts.batch, *input_size)
    model_id = opts.model_id or default_model_id(
        opts.model, spec, opts.model_kwargs if source.weights.kind != "pruned" else None)
    root = Path(opts.out_root) / model_id
    root.mkdir(parents=True, exist_ok=True)
    comp = count_macs(model, (1, *input_size))
    cfg = data_config(model, input_size)
    record = mf.ModelRecord(id=model_id, source=source, input_shape=list(input_shape),
                            params=comp.params, macs=comp.macs,
                            architecture=to_dict(describe(model)), data_config=cfg)
    if spec is not None:
        from .pruning import save_pruned

        save_pruned(model, spec, root / "pytorch")
        record.prune = to_dict(spec)
        record.pruned_model_dir = "pytorch"
        if source.weights.kind != "pruned":
            unpruned, _ = build_model(source.name, model_kwargs=source.model_kwargs)
            full = count_macs(unpruned, (1, *input_size))
            record.unpruned_params, record.unpruned_macs = full.params, full.macs
    manifest = _open_manifest(root, record)
    if source.weights.note:
        say(f"note: {source.weights.note}")
    say(f"{model_id}: {comp.params / 1e6:.2f} M params, {comp.gmacs:.3f} GMACs, input "
        f"{list(input_shape)}")

    calib, calib_record, calib_paths = _calibration(opts, cfg)
    control = _validation(opts, cfg, calib_paths)
    x, inputs_desc = _parity_inputs(opts, model, cfg, exclude=calib_paths)
    import torch

    with torch.inference_mode():
        reference = _batched(lambda b: model(torch.from_numpy(b)).numpy(), x, opts.batch)

    staging = root / STAGING
    shutil.rmtree(staging, ignore_errors=True)  # left by an export that was killed
    run = _FormatRun(opts=opts, formats=formats, model=model, root=root, staging=staging,
                     model_id=model_id, input_shape=input_shape, calib=calib,
                     calib_record=calib_record, control=control, x=x, reference=reference,
                     inputs_desc=inputs_desc, manifest=manifest, say=say)
    try:
        for fmt, exporter in exporters.items():
            run.export(fmt, exporter)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    path = mf.write_manifest(root, manifest)
    return ExportResult(manifest=manifest, manifest_path=path, warnings=warnings,
                        attempts=run.attempts)


@dataclass
class _FormatRun:
    """What every format's export shares: the model, its checks' inputs and reference
    outputs, the manifest, and the fp32 files chained formats convert from."""

    opts: ExportOptions
    formats: list[str]
    model: Any
    root: Path
    staging: Path
    model_id: str
    input_shape: tuple[int, ...]
    calib: np.ndarray | None
    calib_record: dict | None
    control: dict | None
    x: np.ndarray
    reference: np.ndarray
    inputs_desc: str
    manifest: mf.Manifest
    say: Callable[[str], None]
    produced: dict[str, Path] = field(default_factory=dict)  # format -> its fp32 file
    attempts: list[mf.ArtifactRecord] = field(default_factory=list)

    def _attempt(self, rec: mf.ArtifactRecord) -> None:
        """Store this run's record of an attempt; say so when a good earlier one is kept."""
        self.attempts.append(rec)
        kept = self.manifest.record_attempt(rec)
        if kept is not None:
            self.say(f"{rec.format} {rec.precision}: kept the earlier good artifact "
                     f"({kept.path}, exported {kept.created}); this attempt is recorded as its "
                     "failed_attempt" + (f" (its file: {rec.path})" if rec.path else ""))

    def export(self, fmt: str, exporter) -> None:
        opts, manifest, say = self.opts, self.manifest, self.say
        wanted = tuple(p for p in opts.precisions if p in exporter.precisions)
        if fmt == "onnx":  # always fp32: the formats chained from ONNX convert that file
            wanted = ("fp32", *(p for p in wanted if p != "fp32"))
        wanted = wanted or exporter.precisions[:1]
        src_fmt = exporter.source_format
        if src_fmt != "pytorch" and src_fmt not in self.produced:
            if src_fmt not in self.formats:  # chained source not asked for: build it quietly,
                # in staging, so the recorded artifact of that format is never overwritten
                src = _export_source(src_fmt, self.model, self.staging / f"{src_fmt}-source",
                                     self.model_id, self.input_shape, opts, say)
                if src is not None:
                    self.produced[src_fmt] = src
            if src_fmt not in self.produced:
                for p in wanted:
                    self._attempt(mf.ArtifactRecord(
                        format=fmt, precision=p, status=mf.SKIPPED,
                        error=f"its source format {src_fmt} was not exported"))
                mf.write_manifest(self.root, manifest)
                say(f"{fmt}: skipped ({src_fmt} failed)")
                return
        source_obj = self.model if src_fmt == "pytorch" else self.produced[src_fmt]
        request = ExportRequest(out_dir=self.staging / fmt, stem=self.model_id,
                                input_shape=self.input_shape, precisions=wanted,
                                opset=opts.opset, dynamic_batch=opts.dynamic_batch,
                                options={"tflite_layout": opts.tflite_layout,
                                         "calib": self.calib, "accuracy_control": self.control,
                                         "int8_weight_bits": opts.int8_weight_bits,
                                         **opts.exporter_options})
        say(f"{fmt}: exporting {', '.join(wanted)} ...")
        t0 = time.perf_counter()
        try:
            exporter.check_available()
            files = exporter.export(source_obj, request)
        except Exception as exc:  # any converter crash costs only this format
            error = str(exc) if isinstance(exc, EdgeVitError) else f"{type(exc).__name__}: {exc}"
            say(f"{fmt}: FAILED: {error}")
            for p in wanted:
                self._attempt(mf.ArtifactRecord(format=fmt, precision=p,
                                                status=mf.EXPORT_FAILED, error=error))
            mf.write_manifest(self.root, manifest)
            return
        seconds = time.perf_counter() - t0
        tools = exporter.tool_versions()
        for ef in files:
            rec = _record(ef, fmt, self.root, seconds, tools, list(self.input_shape),
                          opts.opset if fmt == "onnx" else None)
            rec.quantization = ef.quantization
            rec.calibration = self.calib_record if ef.precision in CALIBRATED else None
            rec.parity, rec.runtime = _check(exporter, ef, self.x, self.reference, opts,
                                             self.inputs_desc)
            if not rec.parity.passed:
                rec.status = mf.VALIDATION_FAILED
                rec.error = rec.parity.failure
            placed = _place(rec, ef, exporter, self.root, manifest)
            self._attempt(rec)
            if fmt == "onnx" and ef.precision == "fp32":
                self.produced["onnx"] = placed
            mf.write_manifest(self.root, manifest)
            p = rec.parity
            drop = f", top-1 drop {p.top1_drop:.0%}" if p.top1_drop is not None else ""
            say(f"{fmt} {ef.precision}: {rec.status} ({seconds:.1f} s, "
                f"max|Δ| {p.max_abs_diff:.2e}, cos {p.min_cosine:.6f}, top-1 agree "
                f"{p.top1_agreement:.0%}{drop}, ran {rec.runtime.get('inference_precision')})"
                f" -> {placed}")


def _export_source(fmt, model, out_dir, model_id, input_shape, opts, say) -> Path | None:
    try:
        files = get_exporter(fmt).export(model, ExportRequest(
            out_dir=out_dir, stem=model_id, input_shape=input_shape, opset=opts.opset,
            dynamic_batch=opts.dynamic_batch))
        return files[0].path
    except Exception as exc:
        say(f"{fmt} (needed as a source): FAILED: {type(exc).__name__}: {exc}")
        return None


def _check(exporter, ef: ExportedFile, x, reference, opts, inputs_desc
           ) -> tuple[ParityReport, dict[str, Any]]:
    try:
        run, info = exporter.load_runner(ef)
        out = _batched(run, x, opts.batch)
    except Exception as exc:  # a runtime that cannot even run the artifact fails the check
        report = ParityReport(inputs=inputs_desc, num_inputs=len(x), max_abs_diff=float("nan"),
                              mean_abs_diff=float("nan"), min_cosine=float("nan"),
                              top1_agreement=float("nan"), precision=ef.precision,
                              failure=f"runtime error: {load_failure(exporter.name, ef.path, exc)}")
        return report, {}
    if ef.precision in INT8_PRECISIONS:  # judged by agreement, against the fp32 reference
        precision = "int8"
    elif info.get("inference_precision") in ("fp32", "f32", None):
        precision = ef.precision
    else:
        precision = _norm_precision(info["inference_precision"], ef.precision)
    return compare(reference, out.reshape(reference.shape) if out.size == reference.size
                   else out, precision=precision, inputs=inputs_desc), info


def _norm_precision(runtime_precision: str, artifact_precision: str) -> str:
    rp = runtime_precision.lower()
    if "bf16" in rp:
        return "bf16"
    if "16" in rp:
        return "fp16"
    return artifact_precision


def _open_manifest(root: Path, record: mf.ModelRecord) -> mf.Manifest:
    """Keep artifact records of an earlier export of the same model and weights."""
    path = root / mf.MANIFEST_NAME
    if path.exists():
        try:
            old = mf.read_manifest(path)
            same = (old.model.source.weights.state_sha256 == record.source.weights.state_sha256
                    and old.model.prune == record.prune)
            if same:
                old.model = record
                return old
        except EdgeVitError:
            pass  # unreadable old manifest: start afresh
    return mf.Manifest(model=record)
