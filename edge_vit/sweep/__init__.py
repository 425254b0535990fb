"""`edge-vit sweep`: the whole grid, models × pruning plans × formats × precisions × devices,
exported, profiled, evaluated and reported, resumably.

Work is cut into units (one export per model × plan, one profile per device × export, one
evaluation per export). Each finished unit writes a marker atomically under ``units/``; a
re-run — after Ctrl-C, a crash or a dead device — skips every unit whose marker says ``ok``
and retries the rest. Inside a profile unit each result file is itself kept, so a device that
died halfway is resumed from the first missing result. One failing unit never stops the
others; the report shows every failure with its reason.
"""

from .config import UNPRUNED, ModelEntry, SweepConfig, demo_config, load_config
from .run import Sweep, run_sweep
from .units import SweepSummary, Unit, UnitRecord

__all__ = ["UNPRUNED", "ModelEntry", "Sweep", "SweepConfig", "SweepSummary", "Unit",
           "UnitRecord", "demo_config", "load_config", "run_sweep"]
