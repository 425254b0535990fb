"""The TensorRT profiler strategy of a Jetson: trtexec builds and times an engine on the device.

For every ONNX artifact the profile adds TensorRT runs (fp32 and fp16; int8 with
``settings.extra["trt_int8"]``). The runner's ``trtexec`` subcommand builds the engine on the
device and times it while ``tegrastats`` samples board power; it returns the tools' raw text,
and this module parses it here on the host with :mod:`devices.parsers` into a
``ProfileResult`` (``source="trtexec"``, runtime ``tensorrt``). Without trtexec on the device
the ONNX artifacts are measured with onnxruntime instead, and their results say so. See
:mod:`devices.jetson` for the ``settings.extra`` keys and how a unit takes part in a session.
"""

from __future__ import annotations

import math

from devices.parsers import (
    ParseError,
    parse_jetson_clocks,
    parse_nvpmodel,
    parse_trtexec,
    summarize_power,
)
from devices.parsers.tegrastats import TegrastatsSample, parse_tegrastats_line
from devices.profiler import Profiler
from devices.runner.stats import NOISY_CV, NOISY_TAIL_RATIO
from devices.shipping import runner_files
from edge_vit import results as rs
from edge_vit.errors import DeviceError
from edge_vit.profiling import (
    ProfileSettings,
    RunPlan,
    artifact_ref,
    failed_result,
    no_json_error,
    parse_runner_output,
    plan_batch,
    runner_error,
)
from edge_vit.serialization import from_dict

TRT_PRECISIONS = ("fp32", "fp16")
TRT_BUILD_ALLOWANCE_S = 1800.0  # a ViT-B engine build on a Nano takes many minutes
DEFAULT_TEGRASTATS_MS = 100
DEFAULT_WARMUP_MS = 200
NOISY_GPU_COV_PERCENT = 100.0 * NOISY_CV  # the runner's threshold, as trtexec prints it
LATENCY_NOTE = (
    "trtexec's 'Latency' (the figures here) is the end-to-end host latency of one query: H2D "
    "copy + GPU compute + D2H copy, on trtexec's random inputs, batch {batch}; GPU compute "
    "alone: median {gpu} ms. Engine build and load are not included.")
PRECISION_NOTES = {
    "fp16": "--fp16 lets TensorRT choose FP16 kernels where they are faster; layers it keeps "
            "in FP32 make this mixed precision.",
    "int8": "--int8 without calibration data: TensorRT used placeholder ranges, so the INT8 "
            "engine's timing is real but its accuracy is meaningless; layers without INT8 "
            "kernels run in FP32.",
}


def trt_precisions(settings: ProfileSettings) -> tuple[str, ...]:
    return TRT_PRECISIONS + (("int8",) if settings.extra.get("trt_int8") else ())


def trtexec_options(settings: ProfileSettings) -> dict:
    """The trtexec run length and limits for these settings."""
    duration = max(1, math.ceil(settings.block_seconds))
    warmup_ms = int(settings.extra.get("trt_warmup_ms", DEFAULT_WARMUP_MS))
    timeout = float(settings.extra.get("trt_timeout_s") or settings.command_timeout
                    or TRT_BUILD_ALLOWANCE_S + duration + warmup_ms / 1000.0)
    return {"duration_s": duration, "iterations": max(1, settings.min_iterations),
            "warmup_ms": warmup_ms, "timeout_s": timeout,
            "tegrastats_interval_ms": int(settings.extra.get("tegrastats_interval_ms",
                                                             DEFAULT_TEGRASTATS_MS))}


class TrtexecProfiler(Profiler):
    """The runner for every runtime but TensorRT; trtexec for TensorRT plans (native)."""

    name = "trtexec"

    def __init__(self, device):
        super().__init__(device)
        self._tools: dict[tuple, dict] = {}

    # -- the tools -----------------------------------------------------------------------
    def locate_tools(self, settings: ProfileSettings | None = None) -> dict:
        """``{"trtexec": path | None, "tegrastats": path | None, "hint": ...}`` as the runner
        finds them on the device (asked once per device object)."""
        extra = settings.extra if settings else {}
        explicit = (extra.get("trtexec_path"), extra.get("tegrastats_path"))
        if explicit not in self._tools:
            self.device.push(runner_files())
            argv = self.runner_command("trtexec", "--which")
            argv += ["--trtexec", explicit[0]] if explicit[0] else []
            argv += ["--tegrastats", explicit[1]] if explicit[1] else []
            cmd = self.device.run(argv, timeout=60)
            try:
                found = parse_runner_output(cmd.stdout)
            except DeviceError:
                found = {"trtexec": None, "tegrastats": None,
                         "hint": f"the runner failed (exit {cmd.returncode}): "
                                 f"{cmd.stderr.strip()[-300:]}"}
            self._tools[explicit] = found
        return self._tools[explicit]

    def refine(self, plans: list[RunPlan], notes: list[str], settings: ProfileSettings,
                     available: dict) -> tuple[list[RunPlan], list[str]]:
        """TensorRT runs first for every ONNX artifact; without trtexec, onnxruntime runs
        instead (noted in the results)."""
        if settings.runtimes is not None and "tensorrt" not in settings.runtimes:
            return plans, notes
        onnx = []
        for p in plans:
            if p.entry is not None and p.entry.record.format == "onnx" \
                    and all(p.entry is not e for e in onnx):
                onnx.append(p.entry)
        if not onnx:
            return plans, notes
        tools = self.locate_tools(settings)

        def gap(p: RunPlan) -> bool:  # plan_runs found no runtime for it (runtimes=tensorrt)
            return bool(p.options.get("unsupported")) and any(p.entry is e for e in onnx)

        def gap_note(note: str, entries) -> bool:
            return note.startswith(tuple(f"{e.manifest.model.id} onnx/{e.record.precision}: "
                                         for e in entries))

        if tools.get("trtexec"):
            trt = [RunPlan(entry=e, runtime="tensorrt",
                           options={"native": True, "run_precision": p})
                   for e in onnx for p in trt_precisions(settings)]
            return trt + [p for p in plans if not gap(p)], [n for n in notes
                                                             if not gap_note(n, onnx)]
        fallback = (f"trtexec was not found on {self.device.name}: this ONNX artifact was measured "
                    f"with onnxruntime instead of TensorRT, so this is not a TensorRT figure. "
                    f"{tools.get('hint') or ''}").strip()
        out, replaced = [], []
        for e in onnx:
            mine = [p for p in plans if p.entry is e]
            ort = [p for p in mine if p.runtime == "onnxruntime" and not gap(p)]
            for p in ort:
                p.options.setdefault("notes", []).append(fallback)
            if not ort and available.get("onnxruntime"):
                out.append(RunPlan(entry=e, runtime="onnxruntime", options={"notes": [fallback]}))
                replaced.append(e)
        rest = [p for p in plans if not (gap(p) and any(p.entry is e for e in replaced))]
        summary = (f"trtexec was not found on {self.device.name}: ONNX artifacts are measured with "
                   f"onnxruntime instead of TensorRT. {tools.get('hint') or ''}").strip()
        return out + rest, [n for n in notes if not gap_note(n, replaced)] + [summary]

    def measure_native(self, plan: RunPlan, settings: ProfileSettings, round_index: int
                       ) -> rs.ProfileResult:
        """One round of a TensorRT plan: build the engine in round 0, load it afterwards."""
        opts = trtexec_options(settings)
        argv = self.trtexec_argv(plan, settings, reuse_engine=round_index > 0)
        cmd = self.device.run(argv, timeout=opts["timeout_s"] + 60.0)
        if cmd.timed_out:
            return failed_result(plan, self.device, f"trtexec run timed out after {cmd.seconds:.0f} s")
        try:
            data = parse_runner_output(cmd.stdout)
        except DeviceError as exc:
            return failed_result(plan, self.device, no_json_error(exc, cmd))
        if data.get("error_type"):  # the runner could not start the run at all
            return failed_result(plan, self.device, *runner_error(data, cmd))
        return trtexec_result(data, plan, self.device.name, self.device.kind, opts)

    def measure_layers(self, plan: RunPlan, settings: ProfileSettings, layers) -> list[dict]:
        """trtexec's own layer profile of the engine the session built (``--dumpProfile
        --separateProfileRun --exportProfile``), once per round: per layer its median over
        trtexec's profiled iterations. TensorRT names fused layers ``a + b`` and Myelin
        regions ``{ForeignNode[first...last]}``; their times cannot be split further."""
        opts = trtexec_options(settings)
        e, precision = plan.entry, plan.options["run_precision"]
        export = f"{self.device.workdir}/engines/{e.manifest.model.id}/{e.main.stem}." \
                 f"{precision}.layers.json"
        rounds = []
        for r in range(layers.rounds):
            argv = self.trtexec_argv(plan, settings, reuse_engine=True) + [
                "--layer-profile", export]
            cmd = self.device.run(argv, timeout=opts["timeout_s"] + 60.0)
            try:
                data = parse_runner_output(cmd.stdout)
            except DeviceError as exc:
                raise DeviceError(no_json_error(exc, cmd)) from None
            if data.get("status") != "ok":
                raise DeviceError(runner_error(data, cmd)[0])
            prof = data.get("layer_profile") or {}
            if not prof.get("layers"):
                raise DeviceError("trtexec printed no layer profile (--dumpProfile)")
            ops = prof["layers"]
            rounds.append({"status": "ok", "round": r, "ops": ops, "fused": {},
                           "runs": prof.get("count") or 0, "wall_ms": None,
                           "ops_sum_ms": round(sum(o["ms"] for o in ops), 5),
                           "inference_precision": precision, "source": "trtexec",
                           "notes": [f"trtexec {prof.get('source')}: per layer the median "
                                     f"(the average where trtexec gives no median) over "
                                     f"{prof.get('count') or '?'} profiled iterations"],
                           "started": data.get("started"), "finished": data.get("finished")})
        return rounds

    def trtexec_argv(self, plan: RunPlan, settings: ProfileSettings,
                     reuse_engine: bool = False) -> list[str]:
        e, precision, opts = plan.entry, plan.options["run_precision"], trtexec_options(settings)
        wd, model_id = self.device.workdir, e.manifest.model.id
        onnx = e.main
        argv = [*self.runner_command("trtexec"),
                "--onnx", f"{wd}/{e.remote_path(onnx)}", "--precision", precision,
                "--engine", f"{wd}/engines/{model_id}/{onnx.stem}.{precision}.engine",
                "--warmup-ms", str(opts["warmup_ms"]), "--duration-s", str(opts["duration_s"]),
                "--iterations", str(opts["iterations"]),
                "--tegrastats-interval-ms", str(opts["tegrastats_interval_ms"]),
                "--timeout", f"{opts['timeout_s']:g}", "--lock", f"{wd}/.profile.lock"]
        if e.record.sha256:
            argv += ["--sha256", e.record.sha256]
        if reuse_engine:
            argv.append("--reuse-engine")
        if e.record.dynamic_batch and e.record.input_name:
            shape = e.record.input_shape or e.manifest.model.input_shape
            argv += ["--shapes", f"{e.record.input_name}:{'x'.join(map(str, shape))}"]
        for key, flag in (("trtexec_path", "--trtexec"), ("tegrastats_path", "--tegrastats")):
            if settings.extra.get(key):
                argv += [flag, str(settings.extra[key])]
        return argv


# ---------------------------------------------------------------- runner JSON -> result

def timed_loop_window(data: dict, walltime_s: float | None,
                      warmup_ms: float) -> tuple[float, float, str] | None:
    """(start, end, how) of trtexec's timed loop in the runner's clock (seconds since the
    run started): the Total Host Walltime before the summary arrived; else from "Starting
    inference" + warm-up to the summary; else the whole trtexec run."""
    marks = data.get("marks") or {}
    end, began = marks.get("inference_finished"), marks.get("trtexec_started", 0.0)
    if end is not None and walltime_s:
        return (max(end - walltime_s, began), end,
                f"the {walltime_s:g} s before trtexec printed its summary (its Total Host "
                f"Walltime, i.e. the timed loop)")
    if end is not None and marks.get("inference_started") is not None:
        return (marks["inference_started"] + warmup_ms / 1000.0, end,
                "from 'Starting inference' + warm-up to trtexec's summary")
    if marks.get("trtexec_finished") is not None:
        return (began, marks["trtexec_finished"],
                "the whole trtexec run, engine build included (no timing marks in its output)")
    return None


def samples_in_window(data: dict, window: tuple[float, float, str] | None
                      ) -> list[TegrastatsSample]:
    lines = [line for line in (data.get("tegrastats_output") or "").split("\n") if line.strip()]
    times = data.get("tegrastats_times") or []
    if window is None or len(times) != len(lines):
        return []
    start, end, _ = window
    out = []
    for t, line in zip(times, lines, strict=True):
        if start <= t <= end:
            try:
                out.append(parse_tegrastats_line(line))
            except ParseError:
                continue
    return out


def _board_notes(env: rs.Environment, notes: list[str]) -> None:
    """Power mode and clock state from nvpmodel / jetson_clocks into ``env.board``."""
    board = env.board
    if board.get("nvpmodel"):
        try:
            status = parse_nvpmodel(board["nvpmodel"])
            board.update(power_mode=status.mode_name, power_mode_id=status.mode_id)
            if status.needs_sudo:
                notes.append("nvpmodel -q reported errors without root: " + "; ".join(status.errors))
        except ParseError:
            pass
    text = board.get("jetson_clocks")
    clocks = None
    if text:
        try:
            clocks = parse_jetson_clocks(text)
        except ParseError:
            notes.append(f"jetson_clocks --show said {text[:120]!r} (it needs root): clock "
                         f"state unknown")
    else:
        notes.append("jetson_clocks --show printed nothing (it needs root): clock state unknown")
    if clocks is not None:
        board.update(clocks_pinned=clocks.pinned, clocks_not_pinned=clocks.not_pinned)
        if board.get("power_mode") is None and clocks.power_mode:
            board["power_mode"] = clocks.power_mode
        if not clocks.pinned:
            notes.append(f"clocks were not pinned ({', '.join(clocks.not_pinned)} below their "
                         f"maximum): latency follows DVFS; `sudo jetson_clocks` pins them")


def trtexec_result(data: dict, plan: RunPlan, device_name: str, device_kind: str,
                   opts: dict) -> rs.ProfileResult:
    """A ``ProfileResult`` from the runner's ``trtexec`` JSON, parsed here on the host."""
    precision, batch = plan.options["run_precision"], plan_batch(plan)
    res = rs.ProfileResult(
        artifact=artifact_ref(plan), source="trtexec", device_name=device_name,
        device_kind=device_kind, started=data.get("started"), finished=data.get("finished"),
        settings=rs.RunSettings(
            runtime="tensorrt", batch=batch, min_iterations=opts["iterations"],
            min_seconds=float(opts["duration_s"]), input="trtexec random input",
            inference_precision=precision,
            options={"trtexec_argv": data.get("trtexec_argv"), "engine": data.get("engine"),
                     "warmup_ms": opts["warmup_ms"],
                     "tegrastats_interval_ms": opts["tegrastats_interval_ms"]}),
        notes=list(data.get("notes") or []))
    if data.get("environment"):
        res.environment = from_dict(rs.Environment, data["environment"])
        _board_notes(res.environment, res.notes)
    if data.get("status") != "ok":
        res.status, res.error = rs.FAILED, data.get("error") or "trtexec failed"
        return res
    try:
        tr = parse_trtexec(data.get("trtexec_output") or "")
    except ParseError as exc:
        res.status, res.error = rs.FAILED, f"trtexec output not understood: {exc}"
        return res
    if tr.latency is None or tr.passed is False:
        res.status = rs.FAILED
        res.error = "; ".join(tr.errors[-3:]) or "trtexec printed no performance summary"
        return res
    s = res.settings
    board_model = res.environment.board.get("model") if res.environment else None
    s.runtime_version, s.device = tr.tensorrt_version, tr.device or board_model or "GPU"
    s.options.update(engine_build_seconds=tr.build_seconds, throughput_qps=tr.throughput_qps,
                     tensorrt_build=tr.build_number, trtexec_precision=tr.precision)
    if tr.gpu_compute_time is not None:
        g = tr.gpu_compute_time
        s.options["gpu_compute_ms"] = {"median": g.median, "mean": g.mean, "min": g.min,
                                       "max": g.max, **g.percentiles}
    res.load_seconds = tr.deserialize_seconds
    lat = tr.latency
    walltime = tr.total_host_walltime_s
    if not tr.queries and tr.throughput_qps and walltime:
        lat.count = round(tr.throughput_qps * walltime)  # throughput = queries / walltime
    if tr.throughput_qps:
        lat.throughput_ips = tr.throughput_qps * batch
    reasons = []
    if tr.gpu_compute_cov_percent is not None and tr.gpu_compute_cov_percent > NOISY_GPU_COV_PERCENT:
        reasons.append(f"GPU compute CoV {tr.gpu_compute_cov_percent:g}% > "
                       f"{NOISY_GPU_COV_PERCENT:g}%")
    if lat.p50 > 0 and lat.p99 > NOISY_TAIL_RATIO * lat.p50:
        reasons.append(f"p99 {lat.p99:.3g} ms > {NOISY_TAIL_RATIO:g}x p50 {lat.p50:.3g} ms")
    lat.noisy, lat.noise_reason = bool(reasons), "; ".join(reasons) or None
    res.latency = lat

    gpu = tr.gpu_compute_time.median if tr.gpu_compute_time else "?"
    res.notes.append(LATENCY_NOTE.format(batch=batch, gpu=gpu))
    if tr.build_seconds is not None:
        res.notes.append(f"the engine was built on the device in {tr.build_seconds:g} s")
    if precision in PRECISION_NOTES:
        res.notes.append(PRECISION_NOTES[precision])
    if tr.precision and tr.precision != precision:
        res.notes.append(f"trtexec reports precision {tr.precision!r} for a {precision} request")
    if tr.enqueue_bound:
        res.notes.append("trtexec: throughput may be bound by enqueue time (CPU side), the GPU "
                         "may be under-used")
    _power(res, data, tr, lat.count, walltime, opts)
    return res


def _power(res: rs.ProfileResult, data: dict, tr, count: int, walltime: float | None,
           opts: dict) -> None:
    """Board power during the timed loop, and energy per inference, from tegrastats."""
    if not (data.get("tegrastats_output") or "").strip():
        if data.get("tegrastats_path"):
            res.notes.append("tegrastats printed nothing: no power figures")
        return
    window = timed_loop_window(data, walltime, opts["warmup_ms"])
    samples = samples_in_window(data, window)
    if not samples:
        res.notes.append(f"no tegrastats sample fell inside the timed loop (interval "
                         f"{opts['tegrastats_interval_ms']} ms): no power figures")
        return
    power = summarize_power(samples, inferences=count or None, seconds=walltime)
    res.power = power
    if power.samples == 0:
        res.notes.append("tegrastats shows no power rails on this board: no power figures")
        return
    how = window[2]
    energy = ("" if power.energy_per_inference_mj is None else
              f"; energy per inference = mean power x {walltime:g} s / {count} queries "
              f"(batch {res.settings.batch} per query)")
    res.notes.append(f"power: {power.samples} {power.source} samples over {how}{energy}")


__all__ = ["TrtexecProfiler", "samples_in_window", "timed_loop_window", "trt_precisions",
           "trtexec_options", "trtexec_result"]
