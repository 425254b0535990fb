"""``profile``: one artifact loaded, warmed up and timed in one loop (a quick check on a device;
``edge-vit profile`` measures in rounds with ``measure`` instead)."""

import os
import time

from . import backends
from .core import (
    RUNNER_VERSION,
    SCHEMA_VERSION,
    UsageError,
    _now,
    check_artifact,
    device_lock,
    inference_errors,
)
from .inputs import Loaded
from .stats import _round, bootstrap_resamples, latency_stats
from .system import (
    HOT_C,
    ClockSampler,
    affinity,
    collect_environment,
    set_affinity,
    throttle_verdict,
    vcgencmd_throttled,
)

FREQ_DROP = 0.85  # cur < 85 % of max during the loop: clocks were pulled down
SAMPLE_EVERY_S = 1.0


def timed_loop(call, args, sampler):
    """Run until both --min-iterations and --min-seconds are met, or --max-seconds passes."""
    import gc

    perf = time.perf_counter
    times = []
    gc_was_on = gc.isenabled()
    gc.disable()  # like timeit: a collection inside one iteration is Python noise, not model
    try:
        start = perf()
        next_sample = start
        while True:
            t0 = perf()
            call()
            t1 = perf()
            times.append((t1 - t0) * 1000.0)
            if t1 >= next_sample:
                sampler.sample()
                next_sample = t1 + SAMPLE_EVERY_S
            elapsed = t1 - start
            if elapsed >= args.max_seconds or (
                    len(times) >= args.min_iterations and elapsed >= args.min_seconds):
                break
        return times, perf() - start
    finally:
        if gc_was_on:
            gc.enable()


def cmd_profile(args, partial):
    """Load, first inference, warm-up, timed loop; fills ``partial`` as it goes so that a
    failure still reports what was known."""
    path = args.artifact or "timm:%s" % args.timm_model
    partial["artifact"] = {"model_id": args.model_id or args.timm_model, "format": args.format,
                           "precision": args.precision, "path": path, "sha256": args.sha256}
    settings = {"runtime": args.runtime, "runtime_version": None, "device": None, "providers": [],
                "threads": args.threads, "batch": args.batch or 1, "warmup": args.warmup,
                "min_iterations": args.min_iterations, "min_seconds": args.min_seconds,
                "input": args.input, "inference_precision": None,
                "options": {"runner_version": RUNNER_VERSION, "max_seconds": args.max_seconds}}
    partial["settings"] = settings
    if args.min_seconds > args.max_seconds:
        raise UsageError("--min-seconds %s exceeds --max-seconds %s"
                         % (args.min_seconds, args.max_seconds))
    if args.pin:
        set_affinity(args.pin)
        settings["options"]["affinity"] = affinity()
    settings["runtime"] = runtime = backends.resolve_runtime(args.format, args.runtime)
    check_artifact(args)
    t0 = time.perf_counter()
    backends.import_numpy()
    backends.import_runtime(runtime)
    settings["options"]["import_seconds"] = round(time.perf_counter() - t0, 3)
    notes = partial.setdefault("notes", [])

    with device_lock(args.lock, args.lock_timeout) as waited:
        if waited is not None:
            settings["options"].update(lock=args.lock, lock_wait_seconds=round(waited, 3))
        partial["started"] = _now()
        env = collect_environment()
        partial["environment"] = env
        throttle_before = vcgencmd_throttled()
        loaded = Loaded(args, runtime)
        backend, shape = loaded.backend, loaded.shape
        settings.update(runtime_version=backend.version, device=backend.device,
                        providers=list(backend.providers), threads=backend.threads,
                        batch=shape[0], input=loaded.input,
                        inference_precision=backend.precision)
        settings["options"].update(backend.options)
        settings["options"].update(input_shape=shape, input_layout=loaded.layout)
        with inference_errors(runtime):
            t0 = time.perf_counter()
            loaded.call()
            first_ms = (time.perf_counter() - t0) * 1000.0
            for _ in range(args.warmup):
                loaded.call()
            sampler = ClockSampler()
            times, total = timed_loop(loaded.call, args, sampler)
        throttled, detail = throttle_verdict(throttle_before, vcgencmd_throttled())
        partial["finished"] = _now()

    stats = latency_stats(times, shape[0], total, seed=args.seed)
    settings["options"]["bootstrap_resamples"] = bootstrap_resamples(len(times))
    notes.extend(backend.notes + run_notes(args, env, sampler, len(times), backend))
    partial.update(
        status="ok", load_seconds=round(loaded.load_seconds, 4),
        first_inference_ms=_round(first_ms), latency=stats,
        memory=dict(loaded.memory(), gpu_mb=None),
        throttled=throttled, throttle_detail=detail)
    return profile_result(partial)


def run_notes(args, env, sampler, count, backend):
    notes = []
    fmax = env["cpu_freq_mhz"].get("max")
    if sampler.min_freq is not None and fmax and sampler.min_freq < FREQ_DROP * fmax:
        notes.append("cpu0 clock fell to %.0f MHz during the timed loop (max %.0f MHz): "
                     "thermal/power throttling or a power-saving governor (%s)"
                     % (sampler.min_freq, fmax, env["governor"]))
    if sampler.max_temp is not None and sampler.max_temp >= HOT_C:
        notes.append("temperature reached %.1f C during the timed loop (>= %.0f C)"
                     % (sampler.max_temp, HOT_C))
    if count < args.min_iterations:
        notes.append("stopped at --max-seconds %s after %d of %d iterations"
                     % (args.max_seconds, count, args.min_iterations))
    cores = env["cores_logical"] or 0
    if hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) < cores:
        notes.append("the process may use %d of %d cores (CPU affinity)"
                     % (len(os.sched_getaffinity(0)), cores))
    if backend.threads and cores and backend.threads > cores:
        notes.append("%d threads on %d logical cores" % (backend.threads, cores))
    if env["load_avg"] and cores and env["load_avg"][0] > 0.5 * cores:
        notes.append("system busy before the run: load average %.2f on %d cores"
                     % (env["load_avg"][0], cores))
    return notes


def profile_result(partial):
    """Every ProfileResult field, in its order; what is not known stays None."""
    keys = ("artifact", "settings", "status", "error", "source", "device_name", "device_kind",
            "load_seconds", "first_inference_ms", "latency", "memory", "power", "environment",
            "throttled", "throttle_detail", "emulated", "started", "finished", "notes", "session",
            "rounds", "schema_version")
    defaults = {"status": "ok", "source": "edge-vit runner", "notes": [], "rounds": [],
                "schema_version": SCHEMA_VERSION}
    env = partial.get("environment") or {}
    if env.get("emulation") and not partial.get("emulated"):  # as edge_vit.results labels it
        partial["emulated"] = "emulated %s (%s): latency not representative" % (
            env.get("machine") or "CPU", env["emulation"])
    return dict((k, partial.get(k, defaults.get(k))) for k in keys)


