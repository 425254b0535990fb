"""This machine: up to ``jobs`` units at once in worker processes (``jobs`` 1: one after
another in the driver itself, in the grid's order).

Measurement comes first: a unit that profiles this machine's own CPU (the local device, a
board on loopback) starts only when nothing else runs, and nothing starts beside it. A budget
unit (others wait for its plan) drains the workers and runs as soon as it can; a profile,
which nothing waits for, runs when no other work is left to start, so the cores stay busy
until then. One device runs one unit at a time.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import queue as queue_mod
from collections.abc import Callable
from pathlib import Path

from ...serialization import from_dict, to_dict
from ..work import Job, Outcome, run_job
from . import WORKER_ENV


class LocalExecutor:
    def __init__(self, cfg, root: Path, say: Callable[[str], None]):
        self.cfg, self.root, self.say = cfg, Path(root), say
        self.jobs = cfg.jobs or os.cpu_count() or 1
        if self.jobs < 1:
            from ...errors import UsageError

            raise UsageError(f"jobs must be at least 1, got {cfg.jobs}")
        self.pool: cf.ProcessPoolExecutor | None = None
        self.futures: dict[cf.Future, str] = {}
        self.done: list[tuple[str, Outcome]] = []  # inline runs, until wait() hands them on

    def __enter__(self):
        if self.jobs > 1:
            import multiprocessing as mp

            ctx = mp.get_context("spawn")  # torch and TF do not survive fork with threads
            self.messages = ctx.Queue()
            self.pool = cf.ProcessPoolExecutor(self.jobs, mp_context=ctx,
                                               initializer=_init_worker,
                                               initargs=(self.messages,))
        return self

    def __exit__(self, *exc):
        if self.pool is not None:
            if exc[0] is not None:  # Ctrl-C or an error in the driver: stop the workers now;
                # their units have no record and run again on the next run
                for p in list((self.pool._processes or {}).values()):
                    p.terminate()
            self.pool.shutdown(wait=True, cancel_futures=True)
            self._drain()
        return False

    # -- policy -------------------------------------------------------------------------------
    def pick(self, ready: list, running: list):
        if not ready or len(running) >= self.jobs:
            return None
        if self.jobs == 1:
            return ready[0]  # in turn, in the grid's order
        if any(r.job.exclusive for r in running):
            return None
        busy = {r.job.device for r in running if r.job.device}
        free = [r for r in ready if r.job.device is None or r.job.device not in busy]
        urgent = [r for r in free if r.job.exclusive and r.dependents]
        if urgent:
            return urgent[0] if not running else None  # let the workers drain, then alone
        plain = [r for r in free if not r.job.exclusive]
        if plain:
            return plain[0]
        return None if running or not free else free[0]  # a profile, alone, last

    # -- running ------------------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        if self.pool is None:
            self.done.append((job.unit, run_job(self.cfg, self.root, job, self.say)))
            return
        fut = self.pool.submit(_run, to_dict(self.cfg), str(self.root), to_dict(job))
        self.futures[fut] = job.unit

    def wait(self, timeout: float) -> list[tuple[str, Outcome]]:
        if self.pool is None:
            done, self.done = self.done, []
            return done
        finished, _ = cf.wait(list(self.futures), timeout=timeout,
                              return_when=cf.FIRST_COMPLETED)
        self._drain()
        out = []
        for fut in finished:
            unit = self.futures.pop(fut)
            try:
                out.append((unit, from_dict(Outcome, fut.result())))
            except cf.process.BrokenProcessPool as exc:
                out.append((unit, Outcome(error=f"the worker process running it died ({exc});"
                                                " it runs again on the next run")))
        return out

    def _drain(self) -> None:
        while True:
            try:
                unit, msg = self.messages.get_nowait()
            except (queue_mod.Empty, OSError, ValueError):
                return
            self.say(f"    [{unit}] {msg.strip()}")


# -------------------------------------------------------------------------- in the worker
_messages = None


def _init_worker(messages) -> None:
    global _messages
    _messages = messages
    for name, value in WORKER_ENV.items():
        os.environ.setdefault(name, value)


def _run(cfg: dict, root: str, job: dict) -> dict:
    from ..config import SweepConfig

    j = from_dict(Job, job)
    return to_dict(run_job(from_dict(SweepConfig, cfg), Path(root), j,
                           lambda m: _messages.put((j.unit, m))))
