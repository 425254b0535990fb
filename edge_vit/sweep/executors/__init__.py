"""Where the sweep's units run. An executor takes jobs the scheduler hands it and gives back
their outcomes; the scheduler (the driver) writes every record, so resuming works the same on
every executor. Adding one is one module with a class registered here.

``pick(ready, running)`` is the executor's policy: which ready unit to start now, or None."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...errors import UsageError
from ..units import Unit


@dataclass
class Ready:
    node: object  # graph.Node
    unit: Unit
    job: object  # work.Job

    @property
    def dependents(self) -> int:
        return self.node.dependents


# set in every worker before torch loads: idle OpenMP threads sleep instead of spinning, so
# units sharing the cores (each keeping its own thread count) do not take them from each
# other; it changes no result. Two fine-tunes at once on Ray without it ran 2.5x slower.
WORKER_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}

EXECUTORS = {"local": ".local:LocalExecutor", "ray": ".on_ray:RayExecutor"}


def make_executor(cfg, root: Path, say: Callable[[str], None]):
    import importlib

    if cfg.executor not in EXECUTORS:
        raise UsageError(f"Unknown executor {cfg.executor!r}; one of: {', '.join(EXECUTORS)}")
    module, cls = EXECUTORS[cfg.executor].split(":")
    return getattr(importlib.import_module(module, __name__), cls)(cfg, root, say)
