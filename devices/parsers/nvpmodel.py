"""Parse ``nvpmodel -q`` (query the Jetson power mode) into an :class:`NvpmodelStatus`.

Recordings: ``shared/data/jetson/nvpmodel/`` (origins in ``shared/data/jetson/SOURCES.md``).
Every board from the 2019 Nano to the JetPack 7 Thor prints the same two lines::

    NV Power Mode: MAXN
    0

(mode name, then mode id). Without sudo the 2019 Nano still prints both, then
``NVPM ERROR: Error opening /sys/kernel/nvpmodel_emc_cap/emc_iso_cap: 13`` (13 = EACCES) and
``NVPM ERROR: failed to read PARAM EMC ...``: the mode is known but the query was incomplete, so
``needs_sudo`` is True and the errors are kept. ``--verbose`` adds ``NVPM VERB:`` lines, skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from devices.parsers import ParseError, require_text

TOOL = "nvpmodel"

_MODE = re.compile(r"^NV Power Mode:\s*(.+?)\s*$", re.M)
_PERMISSION = re.compile(r": 13$|Permission denied|EACCES|[Rr]oot|sudo|not permitted")


@dataclass
class NvpmodelStatus:
    mode_name: str | None = None  # "MAXN", "15W", "MODE_50W"
    mode_id: int | None = None
    needs_sudo: bool = False  # an NVPM ERROR says permission was denied
    errors: list[str] = field(default_factory=list)  # the "NVPM ERROR:" lines


def parse_nvpmodel(text: str | bytes) -> NvpmodelStatus:
    text = require_text(TOOL, text)
    lines = [line.strip() for line in text.split("\n")]
    status = NvpmodelStatus(errors=[line for line in lines if line.startswith("NVPM ERROR")])
    status.needs_sudo = any(_PERMISSION.search(line) for line in status.errors)
    mode = _MODE.search(text)
    if mode is None and not status.errors:
        raise ParseError(TOOL, "no 'NV Power Mode:' line and no 'NVPM ERROR' line")
    if mode is not None:
        status.mode_name = mode.group(1)
        after = text[mode.end() :].split("\n")
        for line in after:
            if line.strip().isdigit():
                status.mode_id = int(line.strip())
                break
            if line.strip() and not line.startswith("NVPM"):
                break
    return status
