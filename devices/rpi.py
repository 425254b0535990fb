"""A Raspberry Pi over SSH: the runner's runtimes, LiteRT first, and its throttling state.

The runner reads ``vcgencmd get_throttled`` before and after every runner process of a
profile session's round on a Pi; a round in which the board throttled is dropped and repeated
(and a result whose figures could only come from throttled rounds is marked
``throttled``/``throttle_detail``; the host table flags it THROTTLED). This class adds the
Pi's preferred runtime order (``runtimes`` in the inventory, default LiteRT, then
tflite_runtime, then onnxruntime: the order results are listed in; every round measures them
all, shuffled) and ``board_check()``, which ``edge-vit devices check`` shows among the board
facts. ``extra_env`` (a dict) is added to the environment of every command.
"""

from __future__ import annotations

from devices.config import SshConfig
from devices.parsers import ParseError, parse_vcgencmd
from devices.profiler import PreferredOrder
from devices.ssh import SshDevice

DEFAULT_RUNTIMES = ("litert", "tflite_runtime", "onnxruntime")
# inventory spellings -> runner runtimes
RUNTIME_ALIASES = {"tflite": ("litert", "tflite_runtime"), "ai_edge_litert": ("litert",),
                   "ort": ("onnxruntime",), "ov": ("openvino",)}
VCGENCMD_HINT = ("vcgencmd needs the user in the 'video' group (sudo usermod -aG video USER) "
                 "and Raspberry Pi OS's libraspberrypi-bin / raspi-utils package")


def preferred_order(runtimes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The runner's runtime names in the configured order (aliases expanded, once each)."""
    out: list[str] = []
    for name in runtimes or DEFAULT_RUNTIMES:
        for r in RUNTIME_ALIASES.get(name, (name,)):
            if r not in out:
                out.append(r)
    return tuple(out)


class RaspberryPiDevice(SshDevice):
    kind = "rpi"

    def __init__(self, config: SshConfig):
        super().__init__(config)
        self.extra_env: dict[str, str] = {}
        self.preferred_runtimes = preferred_order(config.runtimes)
        self.profiler = PreferredOrder(self, self.preferred_runtimes)

    def run(self, argv, timeout=None, check=False, env=None):
        merged = {**self.extra_env, **(env or {})}
        return super().run(argv, timeout=timeout, check=check, env=merged or None)

    def board_check(self) -> dict:
        """``vcgencmd get_throttled`` and ``measure_temp``, decoded."""
        texts, errors = [], []
        for argv in (["vcgencmd", "get_throttled"], ["vcgencmd", "measure_temp"]):
            res = self.run(argv, timeout=30)
            if res.ok and res.stdout.strip():
                texts.append(res.stdout)
            else:
                reason = (res.stderr or res.stdout).strip()[-200:] or f"exit {res.returncode}"
                errors.append(f"{' '.join(argv)}: {reason}")
        out: dict = {"throttled": None, "throttled_now": None, "throttled_since_boot": None,
                     "throttle_detail": None, "temperature_c": None}
        try:
            readings = parse_vcgencmd("\n".join(texts))
        except ParseError as exc:
            errors.append(str(exc))
            readings = None
        if readings is not None:
            state = readings.throttled
            if state is not None:
                out.update(throttled=state.hex, throttled_now=state.throttled_now,
                           throttled_since_boot=bool(state.since_boot),
                           throttle_detail=state.describe())
            out["temperature_c"] = readings.temperature_c
        if errors:
            out.update(errors=errors, hint=VCGENCMD_HINT)
        return out
