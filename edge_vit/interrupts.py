"""Ctrl-C that is never lost: the CLI's SIGINT handler raises KeyboardInterrupt as Python's
does, and also remembers it, so that a library that swallows the exception (onnxslim, for one,
imports onnxruntime inside a bare ``except:``) cannot make a long job go on; the export,
profile and sweep loops call :func:`check` between their steps."""

from __future__ import annotations

import signal
import threading

_seen = threading.Event()


def _on_sigint(signum, frame):
    _seen.set()
    raise KeyboardInterrupt


def install() -> None:
    """From the main thread (signal handlers can only be set there)."""
    if threading.current_thread() is threading.main_thread():
        _seen.clear()
        signal.signal(signal.SIGINT, _on_sigint)


def check() -> None:
    """Raise KeyboardInterrupt if a Ctrl-C came and something swallowed it."""
    if _seen.is_set():
        raise KeyboardInterrupt
