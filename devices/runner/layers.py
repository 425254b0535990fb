"""``layers``: per-op times of the listed units of a profile session's plan, each loaded with
its runtime's op profiler on, warmed up and run ``--iterations`` times.

Op profiling slows a run down (onnxruntime writes an event per node, OpenVINO reads its
counters), so these runs are never the latency figures: they say how a run's time divides
among the ops. Per op the host gets the median and quartiles over the runs; and the median
over runs of the wall time with the profiler on and of the sum of the op times, so that what
the ops do not account for (the runtime between ops) is visible too.
"""

import sys
import time

from . import backends
from .core import RunnerError, _now, device_lock, inference_errors
from .inputs import Loaded
from .measure import UNIT_MARK, open_segment, unit_namespace
from .stats import _round
from .system import collect_environment


def quartiles(values):
    """(p25, p50, p75) by linear interpolation, as numpy's default."""
    xs = sorted(values)
    out = []
    for q in (0.25, 0.5, 0.75):
        pos = q * (len(xs) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(xs) - 1)
        out.append(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo))
    return out


def summarize(runs):
    """Per op, in execution order: its median and quartiles over the runs (a run in which an
    op did not run counts it as 0 ms there; OpenVINO skips some ops in some runs)."""
    order, times, facts = [], {}, {}
    for run in runs:
        seen, after = {}, -1
        for op in run:
            # an op reported twice in one run (a node run per batch item) sums
            seen[op["name"]] = seen.get(op["name"], 0.0) + op["ms"]
            if op["name"] not in facts:  # first seen in a later run: placed after its
                order.insert(after + 1, op["name"])  # predecessor, keeping execution order
                facts[op["name"]] = (op.get("type"), op.get("exec"))
            after = order.index(op["name"])
        for name in facts:
            times.setdefault(name, []).append(seen.get(name, 0.0))
    ops = []
    for name in order:
        ts = times[name] + [0.0] * (len(runs) - len(times[name]))
        p25, p50, p75 = quartiles(ts)
        ops.append({"name": name, "type": facts[name][0], "exec": facts[name][1],
                    "ms": _round(p50), "ms_p25": _round(p25), "ms_p75": _round(p75)})
    return ops


def profile_unit(index, unit, iterations, settings):
    args = unit_namespace(unit, settings)
    args.op_profile = True
    out = {"index": index, "id": unit.get("id"), "status": "ok", "error": None,
           "error_type": None, "hint": None, "started": _now()}
    sys.stderr.write("%sstart %d\n" % (UNIT_MARK, index))
    sys.stderr.flush()
    loaded = None
    try:
        runtime = backends.resolve_runtime(args.format, args.runtime)
        out["runtime"] = runtime
        missing = backends.op_profiler_missing(runtime)
        if missing:
            out.update(status="unsupported", error=missing)
            return out
        backends.import_runtime(runtime)
        loaded = Loaded(args, runtime)
        backend, ops = loaded.backend, loaded.backend.op_profile
        perf = time.perf_counter
        with inference_errors(runtime):
            for _ in range(max(args.warmup, 1)):
                loaded.call()
                ops.sample()
            walls = []
            for _ in range(iterations):
                t0 = perf()
                loaded.call()
                walls.append((perf() - t0) * 1000.0)
                ops.sample()
            profiled = ops.finish(iterations)
        runs = profiled["runs"]
        if not any(runs):
            raise RunnerError("%s's profiler recorded no op of %d runs" % (runtime, iterations))
        out.update(runtime_version=backend.version, device=backend.device,
                   threads=backend.threads, inference_precision=backend.precision,
                   batch=loaded.shape[0], runs=len(runs), ops=summarize(runs),
                   fused=profiled.get("fused") or {},
                   wall_ms=_round(quartiles(walls)[1]),
                   ops_sum_ms=_round(quartiles([sum(o["ms"] for o in r) for r in runs])[1]),
                   notes=list(backend.notes))
    except RunnerError as exc:
        out.update(status="failed", error=str(exc)[:4000], error_type=exc.error_type,
                   hint=exc.hint)
    finally:
        loaded = None
        out["finished"] = _now()
        sys.stderr.write("%send %d\n" % (UNIT_MARK, index))
        sys.stderr.flush()
    return out


def cmd_layers(args, partial):
    """The listed units (``INDEX:ITERATIONS``; 0 iterations: ``--iterations``), in order."""
    units, order, settings = open_segment(args, partial)
    backends.import_numpy()
    with device_lock(args.lock, args.lock_timeout):
        partial["environment"] = collect_environment() if args.environment else {}
        for index, iterations in order:
            partial["units"].append(profile_unit(index, units[index],
                                                 iterations or args.iterations, settings))
    partial.update(status="ok", finished=_now())
    return partial
