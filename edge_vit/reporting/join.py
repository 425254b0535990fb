"""Join manifests, profile results and accuracy results into one typed :class:`Report`.

Rows, per device:

* one per profile result (model × format × precision × runtime) found for that device;
* one per exported artifact that has no profile on that device (runtime None), carrying the
  manifest's status (export_failed, validation_failed, skipped) or ``not_profiled``.

Accuracy belongs to an artifact in a runtime, not to a device: the same accuracy result joins
the matching row of every device. Accuracy results that match no row of any device get rows of
their own with ``device = None``. Nothing that failed is dropped; its row says where and why.

Each row is compared with its unpruned baseline: the unpruned model of the same architecture
(timm name + model kwargs; with several, the one whose weights the pruned model was cut
from), in the same format, precision and runtime, on the same device (latency) and on the same
images (accuracy); and with the PyTorch fp32 reference accuracy of that baseline.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from .. import __version__
from .. import manifest as mf
from .. import results as rs
from ..artifact_id import base_runtime
from ..errors import UsageError
from ..manifest import utc_now
from . import schema as S
from .columns import variant
from .compare import compare, series_of
from .load import DEFAULT_MODE, Inputs, Key, LoadedManifest, load_inputs
from .names import unique_names
from .pareto import PARETO_RULE, Point, pareto_front
from .provenance import (
    architecture_key,
    data_provenance,
    device_environment,
    model_provenance,
    origin_state_sha,
    provenance_warnings,
    prune_summary,
)
from .recommend import (
    DEFAULT_UNDER,
    DEFAULT_WITHIN_PTS,
    check_within_pts,
    parse_under,
    recommend,
)

REFERENCE = ("pytorch", "fp32", "pytorch")  # format, precision, runtime of the reference


def build_report(artifact_dirs: Iterable[Path], results_dir: Path, accuracy_dir: Path,
                 include_emulated: bool = False, under: Sequence[str] | None = None,
                 within_pts: float | None = None) -> S.Report:
    """The report of what these folders hold. ``under`` (latency budgets, "0.5x" of the
    unpruned p50 or "12ms") and ``within_pts`` set the per-device recommendations
    (:mod:`edge_vit.reporting.recommend`; defaults 0.5x, 0.75x and 1 point)."""
    artifact_dirs = [Path(p) for p in artifact_dirs]
    parse_under(DEFAULT_UNDER if under is None else under)  # a bad budget fails before any work
    check_within_pts(within_pts)
    inputs = load_inputs(artifact_dirs, Path(results_dir), Path(accuracy_dir))
    if not (inputs.manifests or inputs.profiles or inputs.accuracy or inputs.accuracy_pinned):
        raise UsageError(
            "Nothing to report: no export manifests, profile results or accuracy results in "
            f"{', '.join(map(str, artifact_dirs)) or '-'}, {results_dir}, {accuracy_dir}.",
            hint="Run `edge-vit export` and `edge-vit profile` first, or point --results / "
                 "--accuracy at their folders.")
    report = join(inputs, include_emulated, under, within_pts)
    report.inputs = {"artifacts": [str(p) for p in artifact_dirs],
                     "results": str(results_dir), "accuracy": str(accuracy_dir)}
    return report


def join(inputs: Inputs, include_emulated: bool = False, under: Sequence[str] | None = None,
         within_pts: float | None = None) -> S.Report:
    """The report from already loaded inputs (see :func:`edge_vit.reporting.load.load_inputs`).
    Rows measured on an emulated CPU stay off the Pareto front unless ``include_emulated``."""
    under = list(DEFAULT_UNDER if under is None else under)
    within_pts = DEFAULT_WITHIN_PTS if within_pts is None else within_pts
    warnings = list(inputs.warnings)
    baselines = find_baselines(inputs.manifests, warnings)
    rows: list[S.ReportRow] = []
    for device in sorted(inputs.profiles):
        rows += _device_rows(device, inputs.profiles[device], inputs.manifests)
    covered = {(r.model_id, r.format, r.precision, r.runtime) for r in rows}
    if not inputs.profiles:  # nothing profiled anywhere: the artifacts still get their rows
        rows += _device_rows(None, {}, inputs.manifests,
                             skip={k[:3] for k in inputs.accuracy})
    for key in sorted(set(inputs.accuracy) - covered):
        rows.append(_row(None, key, inputs.manifests.get(key[0]), None))
    used = set()
    for row in rows:
        acc, mode = _lookup(inputs, _key(row), row.ov_precision)
        if acc is not None and row.runtime is not None:
            used.add((_key(row), mode))
            _attach_accuracy(row, acc, mode)
            if acc.runtime != row.runtime:
                _add_note(row, f"accuracy of this same file measured in {acc.runtime}, not "
                               f"{row.runtime}")
    unused = [f"{' '.join(k)} at {m}" for k, m, _ in inputs.all_accuracy()
              if m != DEFAULT_MODE and (k, m) not in used]
    if unused:
        warnings.append("accuracy at a pinned OpenVINO precision with no profile run pinned "
                        "the same way (not in any row): " + ", ".join(unused))
    names = unique_names({mid: (architecture_key(lm)[0], lm.manifest.model.prune)
                          for mid, lm in inputs.manifests.items()})
    for row in rows:
        row.name = names.get(row.model_id, row.model_id)
    index = {(r.device, *_key(r)): r for r in rows}
    series = {(device, key): series_of(res) for device, results in inputs.profiles.items()
              for key, res in results.items()}
    for row in rows:
        _compare(row, baselines.get(row.model_id), index, inputs, series)
        _settle_status(row)
    recommendations = []
    for device in sorted({r.device for r in rows}, key=str):
        on_device = [r for r in rows if r.device == device]
        mark_pareto(on_device, series, include_emulated)
        recommendations += recommend(on_device, row_comparison(series), under, within_pts,
                                     include_emulated)
    missing = sorted({r.model_id for r in rows} - set(inputs.manifests))
    if missing:
        warnings.append("no export manifest for " + ", ".join(missing) + ": params, MACs, "
                        "prune spec and baseline unknown for these (pass their artifact "
                        "folders)")
    models = [model_provenance(lm, baselines.get(mid), names[mid])
              for mid, lm in sorted(inputs.manifests.items())]
    data = data_provenance(inputs.all_accuracy())
    devices = [device_environment(d, res.values(), [r for r in rows if r.device == d])
               for d, res in sorted(inputs.profiles.items())]
    warnings = provenance_warnings(models, inputs.all_accuracy(), data) + warnings
    for device in sorted({r.device for r in rows if r.emulated and r.device}):
        label = next(r.emulated for r in rows if r.device == device and r.emulated)
        warnings.append(f"{device}: {label}; its rows are " + (
            "on the Pareto front as asked (--include-emulated)" if include_emulated else
            "kept off the Pareto front (--include-emulated lets them on)"))
    for env in devices:
        if env.throttled_runs:
            warnings.append(f"{env.device}: {len(env.throttled_runs)} run(s) were throttled; "
                            "their latency is pessimistic")
    rows.sort(key=_row_order)
    return S.Report(rows=rows, devices=devices, models=models, data=data, warnings=warnings,
                    layers=sorted(inputs.layers, key=_layers_order),
                    recommendations=recommendations, recommend_under=under,
                    recommend_within_pts=within_pts, pareto_rule=PARETO_RULE,
                    include_emulated=include_emulated, generated=utc_now(),
                    tool=f"edge-vit {__version__}")


def _layers_order(p) -> tuple:
    a = p.artifact
    return (p.device_name or "", a.model_id or "", a.format, a.precision, p.runtime)


def _key(row: S.ReportRow) -> tuple:
    return (row.model_id, row.format, row.precision, row.runtime)


def _row_order(r: S.ReportRow) -> tuple:
    return (r.device is None, r.device or "", r.architecture or "", r.pruned, r.model_id,
            r.format, r.precision, r.runtime or "")


def find_baselines(manifests: dict[str, LoadedManifest], warnings: list[str]) -> dict[str, str]:
    """model id -> id of its unpruned baseline (an unpruned model is its own)."""
    unpruned: dict[tuple[str, str], list[LoadedManifest]] = {}
    for lm in manifests.values():
        if lm.manifest.model.prune is None:
            unpruned.setdefault(architecture_key(lm), []).append(lm)
    out: dict[str, str] = {}
    for mid, lm in sorted(manifests.items()):
        if lm.manifest.model.prune is None:
            out[mid] = mid
            continue
        candidates = sorted(unpruned.get(architecture_key(lm), []),
                            key=lambda c: c.manifest.model.id)
        if not candidates:
            warnings.append(f"{mid}: no unpruned {architecture_key(lm)[0]} export with the same "
                            "arguments in the report, so no speedup or drop vs baseline")
            continue
        origin = origin_state_sha(lm)
        same = [c for c in candidates if origin and origin_state_sha(c) == origin]
        pick = (same or candidates)[0]
        if not same and origin_state_sha(pick):
            warnings.append(f"{mid}: baseline {pick.manifest.model.id} has other weights than "
                            "the ones it was pruned from; accuracy drops mix pruning and weights")
        elif not same and len(candidates) > 1:
            warnings.append(f"{mid}: {len(candidates)} unpruned candidates; using "
                            f"{pick.manifest.model.id} as baseline")
        out[mid] = pick.manifest.model.id
    return out


def _device_rows(device: str | None, profiles: dict[Key, rs.ProfileResult],
                 manifests: dict[str, LoadedManifest], skip: set = frozenset()
                 ) -> list[S.ReportRow]:
    rows = [_row(device, key, manifests.get(key[0]), res)
            for key, res in sorted(profiles.items())]
    ran = {k[:3] for k in profiles}
    for mid, lm in sorted(manifests.items()):
        for rec in lm.manifest.artifacts:
            if (mid, rec.format, rec.precision) not in ran | skip:
                rows.append(_row(device, (mid, rec.format, rec.precision, None), lm, None))
    return rows


def _row(device: str | None, key: tuple, lm: LoadedManifest | None,
         res: rs.ProfileResult | None) -> S.ReportRow:
    model_id, fmt, precision, runtime = key
    row = S.ReportRow(device=device, model_id=model_id, format=fmt, precision=precision,
                      runtime=runtime)
    notes: list[str] = []
    if lm is not None:
        m = lm.manifest.model
        row.architecture = architecture_key(lm)[0]
        row.pruned = m.prune is not None
        row.prune_summary = prune_summary(m.prune)
        row.params, row.macs = m.params, m.macs
        if m.prune is None:
            row.params_ratio = row.macs_ratio = 1.0
        else:
            row.params_ratio = _ratio(m.params, m.unpruned_params)
            row.macs_ratio = _ratio(m.macs, m.unpruned_macs)
        rec = lm.manifest.artifact(fmt, precision)
        if rec is not None:
            row.export_status = rec.status
            row.artifact_size_bytes = rec.size_bytes
            row.artifact_path = str(lm.path.parent / rec.path) if rec.path else None
            if rec.status != mf.OK:
                row.reason = f"export: {rec.error or rec.status}"
        elif fmt != "pytorch":
            notes.append("artifact not in the manifest")
    if res is not None:
        _attach_profile(row, res, notes)
        if lm is not None:
            _budget_verdict(row, (lm.manifest.model.prune or {}).get("plan") or {}, notes)
    row.notes = "; ".join(_one_note(n) for n in notes) or None
    return row


def _budget_verdict(row: S.ReportRow, plan: dict, notes: list[str]) -> None:
    """Met or missed, where the budget applies: the device, runtime and precision it was
    allocated for (elsewhere the budget says nothing)."""
    b = plan.get("budget") or {}
    if (b.get("budget_ms") is None or b.get("device") != row.device
            or b.get("runtime") != row.runtime or b.get("precision") != row.precision):
        return
    metric = b.get("metric", "p50")
    got = row.p90_ms if metric == "p90" else row.p50_ms
    if got is None:
        return
    row.budget_ms, row.budget_met = b["budget_ms"], got <= b["budget_ms"]
    notes.append(f"budget {b['budget_ms']:.3g} ms {metric}: "
                 f"{'met' if row.budget_met else 'MISSED'} ({got:.3g} ms; predicted "
                 f"{b.get('predicted_ms', float('nan')):.3g})")


def _ratio(a: int | None, b: int | None) -> float | None:
    return a / b if a is not None and b else None


def _attach_profile(row: S.ReportRow, res: rs.ProfileResult, notes: list[str]) -> None:
    row.device_kind = res.device_kind
    row.profile_status = res.status
    s = res.settings
    row.inference_precision, row.runtime_version = s.inference_precision, s.runtime_version
    if s.runtime == "openvino":
        row.ov_precision = str(s.options.get("ov_precision") or DEFAULT_MODE)
    row.threads, row.batch = s.threads, s.batch
    row.throttled = res.throttled
    row.emulated = res.emulated
    if res.status != rs.OK:
        _add_reason(row, f"profile: {res.error or res.status}")
    if res.session is not None:
        row.session_id = res.session.id
        row.rounds, row.rounds_dropped = res.session.rounds_counted, res.session.rounds_dropped
    lat = res.latency
    if lat is not None:
        row.p50_ms, row.p90_ms, row.throughput_ips = lat.p50, lat.p90, lat.throughput_ips
        row.p99_ms = lat.p99
        if len(lat.p50_ci) == 2:
            row.p50_ci_low_ms, row.p50_ci_high_ms = lat.p50_ci
        if len(lat.p90_ci) == 2:
            row.p90_ci_low_ms, row.p90_ci_high_ms = lat.p90_ci
        row.noisy = lat.noisy
        if lat.noisy:
            notes.append(f"noisy latency{': ' + lat.noise_reason if lat.noise_reason else ''}")
    if res.memory is not None:
        row.peak_rss_mb = res.memory.peak_rss_mb
        row.model_added_mb = res.memory.model_added_mb
    if res.power is not None:
        row.mean_power_w = res.power.mean_w
        row.energy_per_inference_mj = res.power.energy_per_inference_mj
    if res.throttled:
        notes.append(f"THROTTLED{': ' + res.throttle_detail if res.throttle_detail else ''}")
    notes.extend(res.notes)


def _add_reason(row: S.ReportRow, text: str) -> None:
    row.reason = f"{row.reason}; {text}" if row.reason else text


def _one_note(text: str) -> str:
    """Notes are "; "-joined in one scalar field: a note's own "; " becomes ", " so the list
    splits back into the same notes (the badges rely on it)."""
    return text.replace("; ", ", ")


def _add_note(row: S.ReportRow, text: str) -> None:
    text = _one_note(text)
    row.notes = f"{row.notes}; {text}" if row.notes else text


def _lookup(inputs: Inputs, key: tuple, mode: str | None
            ) -> tuple[rs.AccuracyResult | None, str]:
    """Accuracy of ``key`` at the run's OpenVINO precision; a pinned run without a pinned
    accuracy falls back to the default-precision one (and says so in its notes)."""
    if key[3] is not None:  # accuracy is keyed by the runtime itself (openvino-f32 -> openvino)
        key = (*key[:3], base_runtime(key[3]))
    if mode and mode != DEFAULT_MODE:
        acc = inputs.accuracy_for(key, mode)
        if acc is not None:
            return acc, mode
    acc = inputs.accuracy_for(key, DEFAULT_MODE)
    if acc is None and key[3] is not None:
        # the same file in a runtime it was evaluated in, the format's native one first (an
        # ONNX file run by OpenVINO or TensorRT was scored in onnxruntime; tflite_runtime is
        # LiteRT's interpreter)
        for other in _format_runtimes(key[1]):
            acc = inputs.accuracy_for((*key[:3], other), DEFAULT_MODE)
            if acc is not None:
                break
    return acc, DEFAULT_MODE


def _format_runtimes(fmt: str) -> tuple[str, ...]:
    from exporters.base import available_formats, runtimes_for

    return runtimes_for(fmt) if fmt in available_formats() else ()


def _attach_accuracy(row: S.ReportRow, acc: rs.AccuracyResult, mode: str) -> None:
    if row.ov_precision not in (None, mode):
        _add_note(row, f"accuracy measured at OpenVINO {mode} precision, this run pinned "
                       f"{row.ov_precision}")
    row.eval_status = acc.status
    row.data_fingerprint = acc.data.fingerprint
    row.eval_images = acc.total or acc.data.num_images
    row.accuracy_inference_precision = acc.inference_precision
    if acc.status != rs.OK:
        _add_reason(row, f"eval: {acc.error or acc.status}")
        return
    # AccuracyResult figures are percent by schema (edge_vit/results.py)
    row.top1_pct = acc.top1
    row.top5_pct = acc.top5
    if len(acc.top1_ci) == 2:
        row.top1_ci_low_pct, row.top1_ci_high_pct = acc.top1_ci
    row.source_drop_pts = acc.drop_vs_reference
    row.accuracy_flagged = acc.flagged
    if acc.flagged:
        _add_note(row, f"accuracy flagged: {acc.flag_reason or 'below its PyTorch source'}")
    if (row.inference_precision and acc.inference_precision
            and same_precision(row.inference_precision) != same_precision(
                acc.inference_precision)):
        _add_note(row, f"accuracy measured at {acc.inference_precision}, this device ran "
                       f"{row.inference_precision}")
    for n in acc.notes:
        _add_note(row, n)


def same_precision(name: str) -> str:
    """Runtimes spell precisions differently (f32, FP32, float32): one spelling per kind."""
    n = name.strip().lower().replace("float", "f").replace("fp", "f")
    return {"f32": "fp32", "f16": "fp16", "bf16": "bf16", "bf": "bf16"}.get(n, n)


def _ok_accuracy(acc: rs.AccuracyResult | None) -> float | None:
    if acc is None or acc.status != rs.OK or acc.top1 is None:
        return None
    return acc.top1


def _compare(row: S.ReportRow, baseline: str | None, index: dict, inputs: Inputs,
             series: dict) -> None:
    if baseline is None:
        return
    row.baseline_model_id = baseline
    base = index.get((row.device, baseline, row.format, row.precision, row.runtime))
    if (base is not None and base.profile_status == rs.OK and base.p50_ms
            and row.profile_status == rs.OK and row.p50_ms):
        row.baseline_p50_ms = base.p50_ms
        if base.ov_precision != row.ov_precision:
            _add_note(row, f"baseline ran at OpenVINO {base.ov_precision} precision, this run "
                           f"at {row.ov_precision}")
        c = compare(base, row, series.get((row.device, _key(base))),
                    series.get((row.device, _key(row))))
        if row.budget_ms is not None:  # the device's drift since allocating cancels here
            _add_note(row, f"{row.p50_ms / base.p50_ms:.3f} of the unpruned p50 beside it")
        if c is not None:  # speedup = baseline latency / this latency
            row.speedup, row.speedup_ci_low, row.speedup_ci_high = c.ratio, c.low, c.high
            row.speedup_method = c.method
            row.speedup_resolved = c.resolved if c.low is not None else None
    if row.top1_pct is None:
        return
    base_acc, _ = _lookup(inputs, (baseline, row.format, row.precision, row.runtime),
                          row.ov_precision)
    row.baseline_top1_pct = _ok_accuracy(base_acc)
    if row.baseline_top1_pct is not None:
        if base_acc.data.fingerprint == row.data_fingerprint:
            row.drop_vs_baseline_pts = row.baseline_top1_pct - row.top1_pct
        else:
            _add_note(row, "baseline accuracy is from other images; no drop computed")
    ref = inputs.accuracy_for((baseline, *REFERENCE), DEFAULT_MODE)
    row.reference_top1_pct = _ok_accuracy(ref)
    if row.reference_top1_pct is not None:
        if ref.data.fingerprint == row.data_fingerprint:
            row.drop_vs_reference_pts = row.reference_top1_pct - row.top1_pct
        else:
            _add_note(row, "PyTorch reference accuracy is from other images; no drop computed")


def _settle_status(row: S.ReportRow) -> None:
    """The first stage that went wrong decides the status; the reason lists every failure."""
    if row.export_status not in (None, mf.OK):
        row.status = row.export_status
    elif row.profile_status == rs.FAILED:
        row.status = S.PROFILE_FAILED
    elif row.profile_status == rs.UNSUPPORTED:
        row.status = S.UNSUPPORTED
    elif row.profile_status is None:
        row.status = S.NOT_PROFILED
        _add_reason(row, "no profile result on this device" if row.device is not None
                    else "not profiled on any device")
    elif row.eval_status not in (None, rs.OK):
        row.status = S.EVAL_FAILED
    else:
        row.status = S.OK


def _named(r: S.ReportRow) -> str:
    return f"{variant(r)} {r.format}/{r.precision}/{r.runtime}"


def row_comparison(series: dict):
    """a's latency / b's latency for two rows, paired where they share a session."""
    def cmp(a: S.ReportRow, b: S.ReportRow):
        return compare(a, b, series.get((a.device, _key(a))), series.get((b.device, _key(b))))
    return cmp


def mark_pareto(rows: list[S.ReportRow], series: dict | None = None,
                include_emulated: bool = False) -> None:
    """Set ``pareto`` / ``dominated_by`` on the candidate rows of one device: status ok with
    both a p50 and a top-1, not measured on an emulated CPU (unless ``include_emulated``).
    Latency is compared by paired rounds where two rows share a session (``series``:
    (device, key) -> per-round medians), else by their p50 intervals."""
    series = series or {}
    by_label: dict[str, S.ReportRow] = {}
    points = []
    for r in rows:
        r.pareto = r.dominated_by = None
        if r.emulated and not include_emulated:
            continue
        if r.status == S.OK and r.p50_ms is not None and r.top1_pct is not None:
            by_label[r.label] = r
            points.append(Point(key=r.label, latency=r.p50_ms, accuracy=r.top1_pct,
                                latency_low=r.p50_ci_low_ms, latency_high=r.p50_ci_high_ms,
                                accuracy_low=r.top1_ci_low_pct,
                                accuracy_high=r.top1_ci_high_pct))
    cmp = row_comparison(series)

    def faster(q: Point, p: Point) -> bool:  # q faster than p beyond the noise
        c = cmp(by_label[p.key], by_label[q.key])
        return c is not None and c.a_slower

    for label, mark in pareto_front(points, faster).items():
        row = by_label[label]
        row.pareto = mark.status
        row.dominated_by = mark.dominated_by
        if mark.tied_with:
            _add_note(row, "within the noise of " + ", ".join(
                _named(by_label[k]) for k in mark.tied_with))
