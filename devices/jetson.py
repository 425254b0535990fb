"""An NVIDIA Jetson over SSH: the runner's runtimes, plus TensorRT through ``trtexec`` (its
profiler strategy, :class:`devices.tensorrt.TrtexecProfiler`).

For every ONNX artifact the profile adds TensorRT runs (fp32 and fp16; int8 with
``settings.extra["trt_int8"]``). The runner's ``trtexec`` subcommand builds the engine on the
device and times it while ``tegrastats`` samples board power; it returns the tools' raw text,
and this module parses it here on the host with :mod:`devices.parsers` into a
``ProfileResult`` (``source="trtexec"``, runtime ``tensorrt``). Without trtexec on the device
the ONNX artifacts are measured with onnxruntime instead, and their results say so.

``settings.extra`` keys read here (all optional):

==========================  =====================================================  =========
key                         meaning                                                default
==========================  =====================================================  =========
``trt_int8``                also build an ``--int8`` engine (no calibration data)  False
``trtexec_path``            trtexec on the device                                  PATH, then
                                                                                   JetPack's
``tegrastats_path``         tegrastats on the device                               PATH
``tegrastats_interval_ms``  power sampling interval                                100
``trt_warmup_ms``           trtexec ``--warmUp``                                   200
``trt_timeout_s``           kill trtexec after (engine build included)             1800 + run
==========================  =====================================================  =========

A TensorRT unit takes part in the profile session like any other: one trtexec invocation per
round, at its place in the round's shuffled order. Round 0 builds the engine (``--onnx
--saveEngine``), every later round loads it (``--loadEngine``), so a round times the engine,
not the build. trtexec's ``--duration`` and ``--iterations`` come from ``block_seconds``
(rounded up to whole seconds) and ``min_iterations``. trtexec prints percentiles, not every
sample, so the session summarises its rounds from their per-round figures (geometric mean and
t-interval over rounds). ``extra_env`` (a dict) is added to the environment of every command on
the device, e.g. a PATH that holds the tools.
"""

from __future__ import annotations

from devices.config import SshConfig
from devices.parsers import ParseError, parse_nvpmodel
from devices.ssh import SshDevice
from devices.tensorrt import TrtexecProfiler


class JetsonDevice(SshDevice):
    kind = "jetson"
    profiler_class = TrtexecProfiler

    def __init__(self, config: SshConfig):
        super().__init__(config)
        self.extra_env: dict[str, str] = {}

    def run(self, argv, timeout=None, check=False, env=None):
        merged = {**self.extra_env, **(env or {})}
        return super().run(argv, timeout=timeout, check=check, env=merged or None)

    def board_check(self) -> dict:
        """Power mode (``nvpmodel -q``) and where trtexec / tegrastats are."""
        tools = self.profiler.locate_tools()
        out: dict = {"trtexec": tools.get("trtexec"), "tegrastats": tools.get("tegrastats")}
        if not tools.get("trtexec"):
            out["hint"] = tools.get("hint")
        res = self.run(["nvpmodel", "-q"], timeout=30)
        text = (res.stdout + "\n" + res.stderr).strip()
        try:
            status = parse_nvpmodel(text)
            out.update(power_mode=status.mode_name, power_mode_id=status.mode_id,
                       nvpmodel_needs_sudo=status.needs_sudo)
        except ParseError:
            out["power_mode"] = None
        return out
