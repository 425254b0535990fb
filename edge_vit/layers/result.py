"""The typed result of a per-layer profile (one artifact, runtime and device)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import results as rs
from .attribute import AttributedOp

LAYERS_SCHEMA_VERSION = "1.0"


@dataclass
class GroupShare:
    """One group (``blocks.3`` / ``attention``) or part (``blocks.3`` / ``attn.qkv``): its time
    (median over rounds of the sum of its ops' medians) and share of the ops' total, the
    lowest and highest share over rounds, its share of the MACs (None: not counted there)."""

    group: str
    part: str
    ms: float
    share: float
    share_min: float
    share_max: float
    macs_share: float | None = None
    ops: int = 0
    fused_ops: int = 0  # ops the runtime fused from several nodes (their names are listed)
    by_neighbours: int = 0  # ops without a module path, placed by the ops around them


@dataclass
class LayerRound:
    round: int
    runs: int  # profiled runs of this round (each op: the median over them)
    wall_ms: float  # median run time with the profiler on
    ops_sum_ms: float  # median over runs of the op times' sum


@dataclass
class LayerProfile:
    artifact: rs.ArtifactRef
    runtime: str
    device_name: str | None = None
    device_kind: str | None = None
    status: str = rs.OK  # ok | unsupported | failed
    error: str | None = None
    runtime_version: str | None = None
    inference_precision: str | None = None
    threads: int | None = None
    batch: int | None = None
    source: str = "edge-vit runner"  # or trtexec
    rounds: list[LayerRound] = field(default_factory=list)
    summary: list[GroupShare] = field(default_factory=list)  # embed, blocks.N, norm, head, ...
    groups: list[GroupShare] = field(default_factory=list)  # embed, per block attention/...
    parts: list[GroupShare] = field(default_factory=list)  # per block qkv, fc1, ...
    other_share: float | None = None  # of the ops' total: ops no group could be given
    other_ops: list[str] = field(default_factory=list)
    fused_across_share: float | None = None  # ops spanning several groups (cannot be split)
    ops: list[AttributedOp] = field(default_factory=list)  # the median round's, in order
    macs_source: str | None = None  # the ONNX file the MAC shares were counted on
    environment: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    started: str | None = None
    finished: str | None = None
    schema_version: str = LAYERS_SCHEMA_VERSION
