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
    parse_formats,
)
from exporters.onnx_export import DEFAULT_OPSET, OPSETS

from . import interrupts
from . import manifest as mf
from .complexity import count_macs, describe, model_input_size
from .data.images import data_config
from .errors import EdgeVitError, UsageError
from .export_checks import (
    CALIBRATED,
    batched,
    calibration,
    check_artifact,
    parity_inputs,
    validation,
)
from .files import file_sha256, path_size
from .model_options import ModelOptions, default_model_id, load_source_model, unpacked
from .models import build_model
from .serialization import to_dict

log = logging.getLogger(__name__)

DEFAULT_FORMATS = ("onnx", "openvino", "tflite")
PRECISIONS = ("fp32", "fp16", "int8-dynamic", "int8", "int8-mixed")
DEFAULT_PRECISIONS = ("fp32", "fp16")


@dataclass
class ExportOptions:
    """What to export: the model (:class:`ModelOptions`), which formats and precisions, and
    each format's own options (its ``options_class``; absent: its defaults)."""

    model: ModelOptions = field(default_factory=ModelOptions)
    formats: tuple[str, ...] = DEFAULT_FORMATS
    precisions: tuple[str, ...] = DEFAULT_PRECISIONS
    opset: int = DEFAULT_OPSET
    batch: int = 1
    dynamic_batch: bool = False
    out_root: Path = Path("artifacts")
    model_id: str | None = None
    parity_inputs: int = 4
    parity_images: Path | None = None
    format_options: dict[str, Any] = field(default_factory=dict)  # format -> options

    def options_for(self, fmt: str) -> Any:
        found = self.format_options.get(fmt)
        return found if found is not None else get_exporter(fmt).options_class()


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


def _unpacked(opts: ExportOptions) -> ExportOptions:
    """Image sets given as .tar/.tar.gz archives, replaced by their unpacked folders."""
    import dataclasses

    from .data.archive import resolve_data_root

    parity = opts.parity_images
    if parity is not None and Path(parity).is_file():
        parity = resolve_data_root(Path(parity))
    return dataclasses.replace(opts, model=unpacked(opts.model), parity_images=parity)


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
    unknown = sorted(set(opts.format_options) - set(formats))
    if unknown:
        raise UsageError(f"Options given for format(s) not exported: {', '.join(unknown)} "
                         f"(add them to the formats, e.g. --max-drop needs openvino).")
    for fmt in formats:  # each format checks its own options
        opts.options_for(fmt).validate(tuple(opts.precisions))
    calibrated = [p for p in opts.precisions if p in CALIBRATED]
    if calibrated and not opts.model.calib_dir:
        raise UsageError(f"--precision {','.join(calibrated)} quantizes with calibration "
                         "images: pass --calib DIR (int8-dynamic needs none).")
    if calibrated and opts.model.calib_size < opts.batch:
        raise UsageError(f"--calib-size must be at least the batch ({opts.batch}).")
    if opts.dynamic_batch:
        static_only = [f for f in formats if not get_exporter(f).supports_dynamic_batch]
        if static_only:
            raise UsageError(f"--dynamic-batch is not supported by {', '.join(static_only)} "
                             "(fixed batch); export those formats separately.")
    return formats


def _record(ef: ExportedFile, fmt: str, root: Path, seconds: float, tools: dict,
            shape: list[int], opset: int | None) -> mf.ArtifactRecord:
    main, *others = get_exporter(fmt).files_of(ef.path)
    return mf.ArtifactRecord(
        format=fmt, precision=ef.precision, status=mf.OK,
        path=str(main.relative_to(root)), size_bytes=sum(path_size(p) for p in
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
        if target.is_dir() and not target.is_symlink():  # a folder artifact's earlier copy
            shutil.rmtree(target)
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
    model, source, spec, warnings = load_source_model(opts.model)
    for w in warnings:
        say(f"warning: {w}")

    input_size = model_input_size(model)
    input_shape = (opts.batch, *input_size)
    model_id = opts.model_id or default_model_id(
        opts.model.name, spec,
        opts.model.model_kwargs if source.weights.kind != "pruned" else None)
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

    calib, calib_record, calib_paths = calibration(opts, cfg)
    control = validation(opts, cfg, calib_paths)
    x, inputs_desc = parity_inputs(opts, model, cfg, exclude=calib_paths)
    import torch

    with torch.inference_mode():
        reference = batched(lambda b: model(torch.from_numpy(b)).numpy(), x, opts.batch)

    staging = root / STAGING
    shutil.rmtree(staging, ignore_errors=True)  # left by an export that was killed
    run = _FormatRun(opts=opts, formats=formats, model=model, root=root, staging=staging,
                     model_id=model_id, input_shape=input_shape, calib=calib,
                     calib_record=calib_record, control=control, x=x, reference=reference,
                     inputs_desc=inputs_desc, manifest=manifest, say=say)
    try:
        for fmt, exporter in exporters.items():
            interrupts.check()
            run.export(fmt, exporter)
            interrupts.check()
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
                                options=opts.options_for(fmt), calib=self.calib,
                                accuracy_control=self.control)
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
            rec.parity, rec.runtime = check_artifact(exporter, ef, self.x, self.reference, opts,
                                             self.inputs_desc)
            if not rec.parity.passed:
                rec.status = mf.VALIDATION_FAILED
                rec.error = rec.parity.failure
            interrupts.check()  # a Ctrl-C a converter swallowed: stop before the next file
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
