"""Typed units of work and the markers they leave: key = hash of kind and inputs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Unit:
    """One piece of the grid's work. ``inputs`` is everything its result depends on (settings,
    hashes of the files it reads), so the key changes exactly when the work would; ``after``
    names the units whose outputs it uses."""

    kind: str  # budget | export | finetune | profile | eval
    label: str  # what it works on, for people: a model, an export folder, a device
    inputs: tuple = ()
    after: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return _key(self.kind, *self.inputs)

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.label}-{self.key}"


@dataclass
class UnitRecord:
    """The marker a finished (or failed) unit leaves behind."""

    unit: str
    kind: str  # budget | export | finetune | profile | eval
    status: str  # ok | failed
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float | None = None
    finished: str | None = None
    after: list[str] = field(default_factory=list)  # the units whose outputs it used
    started: str | None = None  # when it began, on the worker that ran it (ISO 8601, UTC)
    host: str | None = None  # the machine it ran on
    attempts: int = 1  # >1: a worker died under it and the executor ran it again
    node: str | None = None  # on Ray: the node's id (the node a profile reserved)


@dataclass
class SweepSummary:
    out_dir: Path
    ran: list[str] = field(default_factory=list)  # units executed by this run
    skipped: list[str] = field(default_factory=list)  # already done before
    failed: list[UnitRecord] = field(default_factory=list)
    report: dict[str, Path] = field(default_factory=dict)


