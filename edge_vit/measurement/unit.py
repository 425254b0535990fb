"""One (artifact, runtime) unit of a session, with every round it took part in."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from .. import results as rs
from ..artifact_id import ArtifactId


@dataclass
class Unit:
    index: int
    plan: object  # edge_vit.profiling.RunPlan
    aid: ArtifactId
    path: Path
    iterations: int = 0  # fixed block size after calibration (0: time the block)
    records: list[rs.RoundRecord] = field(default_factory=list)
    facts: dict = field(default_factory=dict)  # the runner's facts of its last good block
    native_results: dict[int, rs.ProfileResult] = field(default_factory=dict)  # by round
    failure: tuple[str, str] | None = None  # (status, error)

    @property
    def native(self) -> bool:
        return bool(self.plan.options.get("native"))

    @property
    def runtime(self) -> str:
        return self.plan.runtime

    def with_status(self, status: str) -> list[rs.RoundRecord]:
        return [r for r in self.records if r.status == status]


def session_id(device_name: str, units: list[Unit], settings) -> str:
    """Same device, same units (same files) and same settings: the same session (resumable)."""
    what = [device_name, sorted((u.aid.key, u.plan.entry.record.sha256 if u.plan.entry else "-")
                                for u in units), settings.requested()]
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:12]
