"""Running onnx2tf: its argv, an environment that cannot reach the network, a process tree
stopped on timeout or Ctrl-C, and the tail of its log with TensorFlow's C++ noise removed."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from edge_vit.errors import ExportError

log = logging.getLogger("exporters.tflite_export")

# Any download attempt goes to the discard port on loopback and is refused at once.
OFFLINE_PROXY = "http://127.0.0.1:9"
_LOG_TAIL_LINES = 25


def onnx2tf_argv(onnx_name: str, out_dir: str, *, input_name: str, layout: str,
                 shape_override: str | None = None, verbosity: str = "warn",
                 dynamic_range: bool = False, representative: Path | None = None) -> list[str]:
    argv = [sys.executable, "-m", "onnx2tf", "-i", onnx_name, "-o", out_dir,
            "-rtpo", "Erf", "-v", verbosity]
    if representative is not None:  # also writes the dynamic-range file
        argv += ["-oiqt", "-qt", "per-channel",
                 "-cind", input_name, representative.name, "0", "1"]
    elif dynamic_range:
        argv += ["-odrqt"]
    if layout == "NCHW":
        argv += ["-kat", input_name]
    if shape_override:
        argv += ["-ois", shape_override]
    return argv


def onnx2tf_env() -> dict[str, str]:
    """The child's environment: offline, quiet, CPU-only, with onnxsim on PATH."""
    env = dict(os.environ)
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                "ALL_PROXY"):
        env[var] = OFFLINE_PROXY
    for var in ("no_proxy", "NO_PROXY"):
        env.pop(var, None)
    scripts = [sysconfig.get_path("scripts"), str(Path(sys.executable).parent)]
    env["PATH"] = os.pathsep.join(dict.fromkeys([*scripts, env.get("PATH", "")]))
    env.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1", PYTHONUNBUFFERED="1",
               HF_HUB_OFFLINE="1", PYTHONWARNINGS="ignore")
    return env


def run_onnx2tf(argv: list[str], *, cwd: Path, timeout_s: float, tool: str = "onnx2tf"
                ) -> None:
    """Run onnx2tf (or another TensorFlow child, named ``tool``, in the same offline
    environment); raise ExportError with the useful end of its log if it fails."""
    log_path = cwd / f"{tool.replace(' ', '_')}.log"
    log.info("running %s in %s: %s", tool, cwd, subprocess.list2cmdline(argv))
    t0 = time.perf_counter()
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(argv, cwd=cwd, env=onnx2tf_env(), stdin=subprocess.DEVNULL,
                                stdout=log_file, stderr=subprocess.STDOUT,
                                start_new_session=True)  # its onnxsim children die with it
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_tree(proc)
            raise ExportError(f"{tool} did not finish within {timeout_s:g} s (TFLiteOptions."
                              f"timeout_s) and was stopped.\n{log_tail(log_path)}"
                              ) from None
        except BaseException:
            _kill_tree(proc)
            raise
    log.info("%s finished in %.1f s with exit code %d", tool, time.perf_counter() - t0, rc)
    if rc == 0 and b"Failed to optimize the onnx file" in log_path.read_bytes():
        log.warning("onnx2tf could not run onnxsim on the model (is the onnxsim script on "
                    "PATH?); it converted the unsimplified graph.")
    if rc != 0:
        tail = log_tail(log_path)
        raise ExportError(f"{tool} failed (exit code {rc}): {tail.splitlines()[-1]}\n{tail}")


def _kill_tree(proc: subprocess.Popen) -> None:
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows
            proc.kill()
    except ProcessLookupError:
        pass
    proc.wait()


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# TensorFlow/absl C++ log lines, and numpy arrays dumped into error messages
_NOISE = re.compile(r"^([WEIF]\d{4} |\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|WARNING: All log messages "
                    r"before absl|To enable the following instructions)|^[\s\d.eE+\-\[\]]+$")


def log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """onnx2tf's ERROR lines and the end of its log, without TensorFlow's noise."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no onnx2tf log)"
    kept = [_ANSI.sub("", ln).rstrip()[:400] for ln in text.splitlines()]
    kept = [ln for ln in kept if ln.strip() and not _NOISE.match(ln)]
    errors = [ln for ln in kept if ln.startswith("ERROR:")]
    tail = kept[-lines:]
    head = [ln for ln in dict.fromkeys(errors) if ln not in tail][:10]
    return "\n".join(["onnx2tf log (errors, then the last lines):", *head, *tail]) if kept \
        else "(onnx2tf printed nothing)"
