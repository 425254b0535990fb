"""Building a latency table on a device, checking it on held-out variants, and the cache.

``build_table``: the sampled variants (:mod:`edge_vit.lut.sampling`) are pruned, exported to
the runtime's format and parity-checked like any export, then measured together in one
interleaved profile session on the device (the same sessions as ``edge-vit profile``: rounds,
fresh processes, a shuffled order); the table keeps every p50 with its interval and fits the
additive model to them. ``check_table``: random non-uniform variants, measured in a session of
their own, against the table's prediction. Tables are cached under
``<cache>/lut/<fingerprint key>/`` and refused on a device whose fingerprint differs.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import EdgeVitError, UsageError
from ..serialization import from_dict, write_json_atomic
from .fingerprint import device_fingerprint, differences, fingerprint_key
from .sampling import held_out, plan_file, sampling_plan
from .table import Config, HeldOut, LatencyTable, Measurement, Structure, Validation

log = logging.getLogger(__name__)
FORMAT_OF = {"onnxruntime": "onnx", "openvino": "openvino", "litert": "tflite",
             "tflite_runtime": "tflite"}


class TableMismatch(EdgeVitError):
    """A latency table built on another device (or runtime) than the one asked for."""

    exit_code = 2


@dataclass
class TableRequest:
    model: str
    model_kwargs: dict
    runtime: str = "onnxruntime"
    precision: str = "fp32"
    round_to: int = 8

    @property
    def format(self) -> str:
        if self.runtime not in FORMAT_OF:
            raise UsageError(f"No latency table for runtime {self.runtime!r} (one of: "
                             f"{', '.join(FORMAT_OF)}).")
        return FORMAT_OF[self.runtime]


def structure_of(req: TableRequest) -> tuple[Structure, list[int]]:
    """The model's depth, heads and MLP width (every block alike), and its input shape."""
    from ..complexity import model_input_size
    from ..model_options import ModelOptions, load_source_model
    from ..pruning.layout import describe_blocks

    model, *_ = load_source_model(ModelOptions(name=req.model, model_kwargs=req.model_kwargs))
    blocks = describe_blocks(model)
    kinds = {(b.num_heads, b.mlp_hidden) for b in blocks}
    if len(kinds) != 1 or None in next(iter(kinds)):
        raise UsageError(f"{req.model}: a latency table needs a ViT whose blocks are all alike "
                         f"(found heads/MLP {sorted(kinds, key=str)}).")
    heads, mlp = next(iter(kinds))
    return Structure(len(blocks), heads, mlp, req.round_to), [1, *model_input_size(model)]


def device_state(device) -> tuple[dict, dict]:
    """(environment, runtime versions) from the device's runner probe."""
    from ..profiling import probe

    data = probe(device)
    return data.get("environment") or {}, data.get("runtimes") or {}


def cache_path(fp_key: str, req: TableRequest, input_shape: list[int]) -> Path:
    from ..files import cache_root
    from ..model_options import default_model_id

    base = default_model_id(req.model, None, req.model_kwargs)
    size = "x".join(map(str, input_shape[1:]))
    return cache_root() / "lut" / fp_key / f"{base}-{size}-{req.format}-{req.precision}-" \
                                           f"{req.runtime}-r{req.round_to}.json"


def read_table(path: Path) -> LatencyTable:
    try:
        return from_dict(LatencyTable, json.loads(Path(path).read_text()))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise UsageError(f"Cannot read the latency table {path}: {exc}") from exc


def check_fingerprint(table: LatencyTable, fp: dict, where: str) -> None:
    diff = differences(table.fingerprint, fp)
    if diff:
        raise TableMismatch(
            f"The latency table of {table.model} was built on another device than {where} "
            f"(table {table.fingerprint_key}, device {fingerprint_key(fp)}): "
            + "; ".join(diff), hint="Build one on this device: edge-vit lut build.")


def export_variant(source, model_id: str, req: TableRequest, work: Path):
    """``source`` (ModelOptions) exported to ONNX and the runtime's format at the request's
    precision, under ``work/artifacts/<model_id>``: the export's result."""
    from ..export import ExportOptions, run_export

    formats = ("onnx", req.format) if req.format != "onnx" else ("onnx",)
    return run_export(ExportOptions(model=source, formats=formats, precisions=(req.precision,),
                                    out_root=work / "artifacts", model_id=model_id))


def measure_session(device, folders: list[Path], req: TableRequest, settings, results: Path,
                    say) -> dict:
    """model id -> the runtime's result, of one interleaved session over ``folders``."""
    from ..profiling import collect_artifacts, profile

    entries = [e for e in collect_artifacts(folders, [req.format])
               if e.record.precision == req.precision]
    return {r.artifact.model_id: r for r in profile(device, entries, settings, results,
                                                    progress=say)
            if r.settings.runtime == req.runtime}


def _measure(device, variants: list[tuple[str, Config]], s: Structure, req: TableRequest,
             work: Path, settings, say) -> tuple[dict[str, Measurement], str | None, dict]:
    """Export every variant, profile them in one session; name -> Measurement."""
    from ..model_options import ModelOptions

    folders = []
    plans = work / "plans"
    plans.mkdir(parents=True, exist_ok=True)
    for name, config in variants:
        say(f"lut: exporting {name}")
        plan = plan_file(config, s, plans / f"{name}.json")
        result = export_variant(ModelOptions(name=req.model, model_kwargs=req.model_kwargs,
                                             prune=str(plan) if plan else None),
                                f"lut-{name}", req, work)
        bad = [a for a in result.failed if a.format == req.format]
        if bad:
            raise UsageError(f"lut: variant {name} did not export to {req.format}: "
                             f"{bad[0].error}")
        folders.append(result.manifest_path.parent)
    results = measure_session(device, folders, req, settings, work / "results", say)
    got: dict[str, Measurement] = {}
    env: dict = {}
    session = None
    config_of = dict(variants)
    for model_id, r in results.items():
        name = (model_id or "")[len("lut-"):]
        if name not in config_of:
            continue
        if r.status != "ok" or r.latency is None:
            raise UsageError(f"lut: variant {name} could not be measured: {r.error}")
        got[name] = Measurement(variant=name, config=config_of[name], p50_ms=r.latency.p50,
                                p90_ms=r.latency.p90, p50_ci=r.latency.p50_ci,
                                noisy=bool(r.latency.noisy), sha256=r.artifact.sha256)
        session = r.session.id if r.session is not None else session
        env = vars(r.environment) if r.environment is not None else env
    missing = [n for n, _ in variants if n not in got]
    if missing:
        raise UsageError(f"lut: no {req.runtime} measurement of {', '.join(missing)}")
    return got, session, env


def build_table(device, req: TableRequest, settings, work: Path, *, rebuild: bool = False,
                progress: Callable[[str], None] | None = None) -> tuple[LatencyTable, Path]:
    """The device's table for ``req``: from the cache when this device built one, else built."""
    from ..manifest import utc_now

    say = progress or log.info
    env, versions = device_state(device)
    if not versions.get(req.runtime):
        raise UsageError(f"{device.name} has no {req.runtime} (runtimes there: "
                         f"{', '.join(k for k, v in versions.items() if v) or 'none'}).")
    fp = device_fingerprint(env, req.runtime, versions.get(req.runtime))
    s, shape = structure_of(req)
    path = cache_path(fingerprint_key(fp), req, shape)
    if path.exists() and not rebuild:
        table = read_table(path)
        check_fingerprint(table, fp, device.name)
        say(f"lut: reusing {path} (built {table.built} on {table.device_name})")
        return table, path
    t0 = time.perf_counter()
    variants = sampling_plan(s)
    settings.runtimes = (req.runtime,)
    got, session, env = _measure(device, variants, s, req, work, settings, say)
    table = LatencyTable(
        model=req.model, model_kwargs=dict(req.model_kwargs), input_shape=shape,
        format=req.format, precision=req.precision, runtime=req.runtime, fingerprint=fp,
        fingerprint_key=fingerprint_key(fp), structure=s,
        measurements=[got[n] for n, _ in variants], device_name=device.name, environment=env,
        session=session, built=utc_now(), build_seconds=round(time.perf_counter() - t0, 1))
    table.fit()  # refuses a table that cannot be fitted before it is saved
    write_json_atomic(path, table)  # the measured table is kept whatever the layer pass does
    try:
        table.layer_model, note = _layer_model(device, req, work, settings, got["full"].p50_ms,
                                               say)
    except EdgeVitError as exc:
        table.layer_model, note = None, f"no per-layer model: {exc}"
    if note:
        table.notes.append(note)
    table.build_seconds = round(time.perf_counter() - t0, 1)
    write_json_atomic(path, table)
    return table, path


def _layer_model(device, req: TableRequest, work: Path, settings, p50_ms: float, say
                 ) -> tuple[dict | None, str | None]:
    """The unpruned variant's per-layer breakdown, turned into the layered model."""
    from ..layers.run import LayerSettings, profile_layers
    from ..profiling import collect_artifacts, device_plans
    from .layered import layer_components

    entries = [e for e in collect_artifacts([work / "artifacts" / "lut-full"], [req.format])
               if e.record.precision == req.precision]
    plans = [p for p in device_plans(device, entries, settings)[0] if p.runtime == req.runtime]
    profiles = profile_layers(device, plans, settings, LayerSettings(), work / "results",
                              progress=say)
    lp = next((p for p in profiles if p.runtime == req.runtime), None)
    if lp is None or lp.status != "ok":
        return None, f"no per-layer model: {lp.error if lp else 'no breakdown'}"
    return layer_components(lp, p50_ms), None


def check_table(device, table: LatencyTable, path: Path, settings, work: Path, count: int = 6,
                seed: int = 0, metric: str = "p50",
                progress: Callable[[str], None] | None = None) -> list[Validation]:
    """Held-out error of each model the table holds (whole-model; layers when it has one):
    ``count`` random variants measured in a session of their own. The better one becomes the
    table's ``preferred``."""
    env, versions = device_state(device)
    check_fingerprint(table, device_fingerprint(env, table.runtime, versions.get(table.runtime)),
                      device.name)
    req = TableRequest(table.model, table.model_kwargs, table.runtime, table.precision,
                       table.structure.round_to)
    variants = held_out(table.structure, count, seed)
    settings.runtimes = (table.runtime,)
    # the unpruned model measured again beside them: the device's drift since the table
    got, session, _ = _measure(device, [("full", table.structure.full()), *variants],
                               table.structure, req, work, settings, progress or log.info)
    value = (lambda m: m.p50_ms) if metric == "p50" else (lambda m: m.p90_ms)
    ref_now = value(got["full"])
    ref_then = value(next(m for m in table.measurements if m.variant == "full"))
    done = []
    for method in ("whole-model", "layers"):
        if method == "layers" and (table.layer_model is None or metric != "p50"):
            continue
        fitted = table.fit(metric, method)
        rows = [HeldOut(variant=n, config=c, predicted_ms=round(fitted.predict(c), 5),
                        measured_ms=value(got[n]), measured_ci=got[n].p50_ci)
                for n, c in variants]
        raw = _abs_errors(rows, 1.0)
        fixed = _abs_errors(rows, ref_now / ref_then)
        done.append(Validation(
            metric=metric, session=session, method=method, variants=rows,
            median_abs_error_pct=raw[0], p90_abs_error_pct=raw[1], reference_ms=ref_now,
            table_reference_ms=ref_then, drift_pct=round(100 * (ref_now / ref_then - 1), 2),
            drift_corrected_median_abs_error_pct=fixed[0],
            drift_corrected_p90_abs_error_pct=fixed[1]))
    # both models predict the same measurements: compared once the drift is taken out
    best = min(done, key=lambda v: (v.drift_corrected_median_abs_error_pct,
                                    v.drift_corrected_p90_abs_error_pct))
    table.preferred = best.method
    table.validation.extend(done)
    write_json_atomic(path, table)
    return done


def _abs_errors(rows: list[HeldOut], scale: float) -> tuple[float, float]:
    """(median, p90) absolute percent error of ``scale`` x predicted vs measured."""
    errors = sorted(abs(100.0 * (scale * r.predicted_ms - r.measured_ms) / r.measured_ms)
                    for r in rows)
    p90 = errors[min(len(errors) - 1, int(round(0.9 * (len(errors) - 1))))]
    return round(statistics.median(errors), 2), round(p90, 2)
