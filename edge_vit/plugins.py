"""Third-party formats and device kinds, found through entry points (``edge_vit.exporters``,
``edge_vit.devices``). Reading entry points scans every distribution on ``sys.path``, and
the format table is consulted per report row and per result file, so the scan is kept for as long as ``sys.path`` is the same; a folder added to it (a plugin made
importable at run time, as the tests do) is seen on the next call."""

from __future__ import annotations

import functools
import importlib.metadata
import sys


def entry_points(group: str) -> dict[str, str]:
    """name -> "module:attr" of the group's entry points."""
    return dict(_scan(group, tuple(sys.path)))


@functools.lru_cache(maxsize=16)
def _scan(group: str, _path: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    try:
        found = importlib.metadata.entry_points(group=group)
    except TypeError:  # pragma: no cover - Python < 3.10
        return ()
    return tuple((ep.name, ep.value) for ep in found)
