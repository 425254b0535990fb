"""``measure``: one segment of a profile session's round."""

import argparse
import json
import os
import sys
import time

from . import backends
from .core import (
    RUNNER_VERSION,
    MissingRuntime,
    RunnerError,
    UsageError,
    _now,
    check_artifact,
    device_lock,
    inference_errors,
)
from .inputs import Loaded
from .stats import _round
from .system import (
    CpuWindow,
    affinity,
    collect_environment,
    cpu_freq_mhz,
    min_cpu_freq_mhz,
    reset_peak_rss,
    set_affinity,
    temperature_c,
    throttle_verdict,
    vcgencmd_throttled,
)

# A profile session (edge_vit/measurement/session.py) runs R rounds; each round runs every
# (artifact, runtime) unit once, in a shuffled order, and each *segment* of a round is one
# fresh process of this runner holding the units of one runtime. Per unit: load, first
# inference, warm-up, one timed block (a fixed number of iterations, or by time in the
# calibration round), unload. The host turns the raw times of all rounds into statistics.

UNIT_MARK = "edge-vit-runner: unit-"  # stderr lines the host reads when a segment crashes
UNIT_KEYS = ("artifact", "format", "runtime", "precision", "model_id", "sha256", "companions",
             "ov_device",
             "ov_precision", "ort_provider", "no_xnnpack", "input_shape", "input_layout",
             "batch", "timm_model", "timm_kwargs", "input")
UNIT_DEFAULTS = {"artifact": None, "format": None, "runtime": "auto", "precision": "fp32",
                 "model_id": None, "sha256": None, "companions": None, "ov_device": "CPU",
                 "ov_precision": "default", "ort_provider": "CPU", "no_xnnpack": False,
                 "input_shape": None, "input_layout": "auto", "batch": None,
                 "timm_model": None, "timm_kwargs": None, "input": "random"}
SETTING_DEFAULTS = {"threads": None, "warmup": 10, "warmup_seconds": 0.05,
                    "block_seconds": 0.1, "min_iterations": 10, "seed": 0, "ort_spin": True}


def read_plan(path):
    try:
        with open(path) as fh:
            plan = json.load(fh)
    except (OSError, ValueError) as exc:
        raise UsageError("cannot read the session plan %s: %s" % (path, exc)) from None
    if not isinstance(plan, dict) or not isinstance(plan.get("units"), list):
        raise UsageError("session plan %s has no 'units' list" % path)
    return plan


def parse_unit_list(text, count):
    """``3:120,0:0`` -> [(3, 120), (0, 0)]: unit index and timed iterations (0: by time)."""
    out = []
    for part in text.split(","):
        index, _, iters = part.strip().partition(":")
        try:
            pair = (int(index), int(iters or 0))
        except ValueError:
            raise UsageError("--units takes INDEX:ITERATIONS pairs, got %r" % text) from None
        if not 0 <= pair[0] < count or pair[1] < 0:
            raise UsageError("--units %r: index out of range 0..%d" % (text, count - 1))
        out.append(pair)
    return out


def unit_namespace(unit, settings):
    ns = argparse.Namespace(**dict((k, unit.get(k, UNIT_DEFAULTS[k])) for k in UNIT_KEYS))
    for k, v in SETTING_DEFAULTS.items():
        setattr(ns, k, settings.get(k, v))
    if isinstance(ns.timm_kwargs, dict):
        ns.timm_kwargs = json.dumps(ns.timm_kwargs)
    return ns


def timed_block(call, iterations, args):
    """``iterations`` timed calls, or (0) until block_seconds and min_iterations are met."""
    import gc

    perf = time.perf_counter
    times = []
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        start = perf()
        if iterations:
            for _ in range(iterations):
                t0 = perf()
                call()
                times.append((perf() - t0) * 1000.0)
        else:
            while True:
                t0 = perf()
                call()
                t1 = perf()
                times.append((t1 - t0) * 1000.0)
                if len(times) >= args.min_iterations and t1 - start >= args.block_seconds:
                    break
        return times
    finally:
        if gc_was_on:
            gc.enable()


def measure_unit(index, unit, iterations, settings, verify):
    """One unit's block in this round: a dict the host reads (status, times, facts)."""
    import gc

    args = unit_namespace(unit, settings)
    out = {"index": index, "id": unit.get("id"), "status": "ok", "error": None,
           "error_type": None, "hint": None, "started": _now()}
    sys.stderr.write("%sstart %d\n" % (UNIT_MARK, index))
    sys.stderr.flush()
    loaded = None
    try:
        runtime = backends.resolve_runtime(args.format, args.runtime)
        if verify:
            check_artifact(args)
        reset_peak_rss()
        loaded = Loaded(args, runtime)
        backend, shape = loaded.backend, loaded.shape
        with inference_errors(runtime):
            t0 = time.perf_counter()
            loaded.call()
            first_ms = (time.perf_counter() - t0) * 1000.0
            warm, t_end = 0, time.perf_counter() + args.warmup_seconds
            while warm < args.warmup or time.perf_counter() < t_end:
                loaded.call()
                warm += 1
            window = CpuWindow()
            times = timed_block(loaded.call, iterations, args)
            cpu = window.close()
        out.update(
            runtime=runtime, runtime_version=backend.version, device=backend.device,
            providers=list(backend.providers), threads=backend.threads,
            inference_precision=backend.precision, batch=shape[0], input=loaded.input,
            options=dict(backend.options, input_shape=shape, input_layout=loaded.layout),
            notes=list(backend.notes), load_seconds=round(loaded.load_seconds, 4),
            first_inference_ms=_round(first_ms), warmup_iterations=warm,
            times_ms=[round(t, 5) for t in times], cpu=cpu, cpu_freq_mhz=min_cpu_freq_mhz(),
            temperature_c=temperature_c(), memory=loaded.memory())
    except RunnerError as exc:
        out.update(status="failed", error=str(exc)[:4000], error_type=exc.error_type,
                   hint=exc.hint)
    finally:
        backend = loaded = None  # unload before the next unit: one model in memory at a time
        gc.collect()
        out["finished"] = _now()
        sys.stderr.write("%send %d\n" % (UNIT_MARK, index))
        sys.stderr.flush()
    return out


def _unit_runtime(unit):
    """The unit's runtime, or the RunnerError that says why it has none."""
    try:
        return backends.resolve_runtime(unit.get("format"), unit.get("runtime") or "auto")
    except RunnerError as exc:
        return exc


def open_segment(args, partial):
    """What ``measure`` and ``layers`` both start with: affinity, the plan's units, the listed
    (index, iterations) order, the settings with their defaults, the partial result's head."""
    if args.pin:
        set_affinity(args.pin)
    plan = read_plan(args.plan)
    units = plan["units"]
    order = parse_unit_list(args.units, len(units))
    settings = dict(SETTING_DEFAULTS, **(plan.get("settings") or {}))
    partial.update(runner_version=RUNNER_VERSION, round=args.round, pid=os.getpid(),
                   units=[], affinity=affinity(), started=_now())
    return units, order, settings


def cmd_measure(args, partial):
    """One segment of a round: the listed units, in the listed order, each in a fresh load."""
    units, order, settings = open_segment(args, partial)
    chosen = dict((i, _unit_runtime(units[i])) for i, _ in order)
    runtimes = sorted(set(r for r in chosen.values() if not isinstance(r, RunnerError)))
    if "pytorch" in runtimes:  # OpenMP workers sleep instead of spinning between calls
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    t0 = time.perf_counter()
    backends.import_numpy()
    missing = {}
    for name in runtimes:  # imported up front: every unit's memory baseline holds them all
        try:
            backends.import_runtime(name)
        except MissingRuntime as exc:
            missing[name] = exc
    partial["import_seconds"] = round(time.perf_counter() - t0, 3)
    with device_lock(args.lock, args.lock_timeout) as waited:
        if waited is not None:
            partial.update(lock=args.lock, lock_wait_seconds=round(waited, 3))
        partial["environment"] = collect_environment() if args.environment else {
            "load_avg": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg")
            else [], "temperature_c": temperature_c(), "cpu_freq_mhz": cpu_freq_mhz()}
        partial["environment"]["affinity"] = partial["affinity"]
        throttle_before = vcgencmd_throttled()
        for index, iterations in order:
            unit, runtime = units[index], chosen[index]
            exc = runtime if isinstance(runtime, RunnerError) else missing.get(runtime)
            if exc is not None:
                partial["units"].append({"index": index, "id": unit.get("id"),
                                         "status": "failed", "error": str(exc),
                                         "error_type": exc.error_type, "hint": exc.hint})
                continue
            partial["units"].append(measure_unit(index, unit, iterations, settings,
                                                 args.verify))
        throttled, detail = throttle_verdict(throttle_before, vcgencmd_throttled())
        partial.update(throttled=throttled, throttle_detail=detail, finished=_now())
    partial["status"] = "ok"
    return partial

