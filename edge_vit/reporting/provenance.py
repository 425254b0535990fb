"""Where the numbers come from: each device's environment, each model's weights, each image set.

A report that mixes random-init weights, unknown image sets or throttled runs into its tables
says so here, loudly, instead of leaving readers to trust the figures.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from .. import results as rs
from ..artifact_id import ArtifactId
from .load import Key, LoadedManifest
from .schema import DataProvenance, DeviceEnvironment, ModelProvenance


def architecture_key(lm: LoadedManifest) -> tuple[str, str]:
    """(timm name without tag, model kwargs): what an unpruned baseline must share."""
    m = lm.manifest.model
    prune = m.prune or {}
    name = str(prune.get("arch") or m.source.name).split(".", 1)[0]
    kwargs = prune.get("model_kwargs") if prune.get("model_kwargs") is not None \
        else m.source.model_kwargs
    return name, json.dumps(kwargs or {}, sort_keys=True, default=str)


def origin_state_sha(lm: LoadedManifest) -> str | None:
    """state_sha256 of the unpruned weights this model was cut from (itself if unpruned)."""
    m = lm.manifest.model
    src = (m.prune or {}).get("source_weights") or {}
    if src.get("state_sha256"):
        return src["state_sha256"]
    return m.source.weights.state_sha256 if m.source.weights.kind != "pruned" else None


def is_random_init(lm: LoadedManifest) -> bool:
    m = lm.manifest.model
    src = (m.prune or {}).get("source_weights") or {}
    note = (m.source.weights.note or "").lower()
    return (m.source.weights.kind == "random" or src.get("kind") == "random"
            or (m.source.weights.kind == "pruned" and "random" in note))


def prune_summary(prune: dict | None) -> str | None:
    """'plan heads=0.34,mlp=0.5 (magnitude) · 11/12 blocks · 33 heads · 8448 MLP ch'."""
    if not prune:
        return None
    parts = []
    plan = prune.get("plan") or {}
    ratios = [f"{k}={plan[k]:g}" for k in ("heads", "mlp", "depth")
              if isinstance(plan.get(k), (int, float)) and plan.get(k)]
    custom = bool(plan.get("blocks") or plan.get("drop_blocks"))
    if ratios or custom:
        parts.append("plan " + ",".join(ratios + (["per-block"] if custom else []))
                     + f" ({prune.get('criterion', 'magnitude')})")
    blocks = prune.get("blocks") or []
    depth = prune.get("original_depth")
    if depth:
        parts.append(f"{len(blocks)}/{depth} blocks")
    heads = [b.get("num_heads") for b in blocks if b.get("num_heads") is not None]
    orig_heads = [b.get("orig_heads") for b in blocks if b.get("orig_heads") is not None]
    if heads:
        parts.append(f"{sum(heads)}/{sum(orig_heads)} heads" if orig_heads
                     else f"{sum(heads)} heads")
    mlp = [b.get("mlp_hidden") for b in blocks if b.get("mlp_hidden") is not None]
    orig_mlp = [b.get("orig_mlp") for b in blocks if b.get("orig_mlp") is not None]
    if mlp:
        parts.append(f"{sum(mlp)}/{sum(orig_mlp)} MLP ch" if orig_mlp else f"{sum(mlp)} MLP ch")
    budget = plan.get("budget") or {}
    if budget.get("budget_ms") is not None:
        asked = budget.get("asked", "")
        share = f"{asked} = " if str(asked).endswith("x") else ""
        parts.append(f"budget {share}{budget['budget_ms']:.3g} ms {budget.get('metric', 'p50')}"
                     f" on {budget.get('device', '?')} ({budget.get('runtime', '?')} "
                     f"{budget.get('precision', '?')}), predicted "
                     f"{budget.get('predicted_ms', float('nan')):.3g} ms")
    ft = prune.get("finetune") or {}
    if ft.get("epochs"):
        parts.append(f"KD fine-tuned {ft['epochs']} ep")
    return " · ".join(parts) or "pruned"


def model_provenance(lm: LoadedManifest, baseline: str | None, name: str | None = None
                     ) -> ModelProvenance:
    m = lm.manifest.model
    w = m.source.weights
    return ModelProvenance(
        model_id=m.id, name=name, architecture=architecture_key(lm)[0],
        model_kwargs=dict(m.source.model_kwargs), pruned=m.prune is not None,
        prune_summary=prune_summary(m.prune), baseline_model_id=baseline,
        weights_kind=w.kind, weights_source=w.source, weights_sha256=w.sha256,
        state_sha256=w.state_sha256, weights_note=w.note, random_init=is_random_init(lm),
        manifest=str(lm.path))


def device_environment(device: str, results: Iterable[rs.ProfileResult],
                       rows: Iterable | None = None) -> DeviceEnvironment:
    results = list(results)
    out = DeviceEnvironment(device=device, runs=len(results))
    _measurement_quality(out, results)
    envs = sorted((r for r in results if r.environment is not None),
                  key=lambda r: r.finished or "")
    if envs:
        e = envs[-1].environment
        out.hostname, out.cpu_model, out.cores_logical = e.hostname, e.cpu_model, e.cores_logical
        out.machine, out.os, out.kernel, out.governor = e.machine, e.os, e.kernel, e.governor
        out.mem_total_mb, out.python, out.board = e.mem_total_mb, e.python, dict(e.board)
        for r in envs:
            out.runtimes.update(r.environment.runtimes)
    for r in results:
        out.kind = out.kind or r.device_kind
        if r.settings.runtime_version and r.status == rs.OK:
            out.runtimes[r.settings.runtime] = r.settings.runtime_version
        label = (f"{r.artifact.model_id} {r.artifact.format}/{r.artifact.precision}/"
                 f"{r.settings.runtime}")
        if r.throttled:
            out.throttled_runs.append(label + (f" ({r.throttle_detail})"
                                               if r.throttle_detail else ""))
        elif r.throttled is None and r.status == rs.OK:
            out.throttle_unknown_runs += 1
        if r.latency is not None and r.latency.noisy:
            out.noisy_runs.append(label + (f" ({r.latency.noise_reason})"
                                           if r.latency.noise_reason else ""))
    times = sorted(t for r in results for t in (r.started, r.finished) if t)
    if times:
        out.first_run, out.last_run = times[0], times[-1]
    out.runtimes = dict(sorted(out.runtimes.items()))
    return out


def _measurement_quality(out: DeviceEnvironment, results: list[rs.ProfileResult]) -> None:
    """Sessions, rounds, dropped rounds and the widest p50 interval of a device's results."""
    counted, widest = [], None
    for r in results:
        if r.status != rs.OK or r.latency is None:
            continue
        lat, sess = r.latency, r.session
        if sess is None:
            out.single_runs += 1
        else:
            if sess.id not in out.sessions:
                out.sessions.append(sess.id)
            counted.append(sess.rounds_counted)
            out.rounds_dropped += sess.rounds_dropped
            for k, n in sess.drop_reasons.items():
                out.drop_reasons[k] = out.drop_reasons.get(k, 0) + n
            if sess.stopped_by and sess.stopped_by not in out.stopped_by:
                out.stopped_by.append(sess.stopped_by)
            out.target_ci = sess.target_ci if out.target_ci is None else out.target_ci
        if len(lat.p50_ci) == 2 and lat.p50:
            half = 100.0 * (lat.p50_ci[1] - lat.p50_ci[0]) / 2.0 / lat.p50
            if widest is None or half > widest[0]:
                label = (f"{r.artifact.model_id} {r.artifact.format}/{r.artifact.precision}/"
                         f"{ArtifactId.of_result(r).runtime_label}")
                widest = (half, label)
    if counted:
        out.rounds_min, out.rounds_max = min(counted), max(counted)
    if widest:
        out.widest_p50_ci_pct, out.widest_p50_ci_row = round(widest[0], 3), widest[1]


def data_provenance(accuracy: list[tuple[Key, str, rs.AccuracyResult]]
                    ) -> list[DataProvenance]:
    """One entry per image set (fingerprint), with every result computed on it."""
    by_fp: dict[str, DataProvenance] = {}
    for (model, fmt, prec, runtime), mode, acc in accuracy:
        d = acc.data
        entry = by_fp.setdefault(d.fingerprint, DataProvenance(
            fingerprint=d.fingerprint, root=d.root, layout=d.layout, num_images=d.num_images,
            num_classes=d.num_classes, label_space=d.label_space, limit=d.limit,
            subset_seed=d.subset_seed))
        entry.used_by.append(f"{model} {fmt}/{prec}/{runtime}"
                             + (f" ({mode})" if mode != "default" else ""))
    return list(by_fp.values())


def provenance_warnings(models: list[ModelProvenance],
                        accuracy: list[tuple[Key, str, rs.AccuracyResult]],
                        data: list[DataProvenance]) -> list[str]:
    out = []
    random_models = sorted({m.model_id for m in models if m.random_init} | {
        k[0] for k, _, a in accuracy if (a.weights or {}).get("kind") == "random"})
    if random_models:
        out.append("RANDOM-INIT WEIGHTS: " + ", ".join(random_models) + " were never trained "
                   "(random initialisation), so their accuracy is MEANINGLESS (chance level) "
                   "and so is every accuracy drop and Pareto choice involving them. Latency, "
                   "memory and energy figures are still valid. Export from --pretrained or "
                   "--checkpoint weights for real accuracy.")
    if len(data) > 1:
        out.append(f"Accuracy comes from {len(data)} different image sets; accuracy drops are "
                   "computed only between results on the same images, and top-1 figures from "
                   "different sets are not comparable.")
    small = [d for d in data if d.num_images < 1000]
    if small:
        out.append("Accuracy from small image sets (" + ", ".join(
            f"{d.num_images} images at {d.root}" for d in small) + "): expect wide top-1 "
            "confidence intervals; differences inside them are noise.")
    return out
