"""The export manifest: what was exported, from what, and how well it matches PyTorch.

``artifacts/<model-id>/manifest.json`` is the contract later stages (profile, eval, report)
read. One typed result, written with the one serializer; paths inside are relative to the
manifest's folder so a copied folder stays valid.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .errors import ManifestError
from .models import ModelSource
from .parity import ParityReport
from .serialization import from_dict, write_json_atomic

SCHEMA_VERSION = "1.0"
MANIFEST_NAME = "manifest.json"

# Artifact statuses. A failed check keeps its file; a failed conversion keeps the others.
OK = "ok"
VALIDATION_FAILED = "validation_failed"
EXPORT_FAILED = "export_failed"
SKIPPED = "skipped"


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class ArtifactRecord:
    format: str
    precision: str
    status: str
    path: str | None = None  # relative to the manifest's folder
    size_bytes: int | None = None
    sha256: str | None = None
    input_name: str | None = None
    input_shape: list[int] | None = None
    input_layout: str | None = None
    output_name: str | None = None
    dynamic_batch: bool = False
    opset: int | None = None
    tools: dict[str, str] = field(default_factory=dict)  # converter/runtime versions
    runtime: dict[str, Any] = field(default_factory=dict)  # how the parity run executed
    export_seconds: float | None = None
    parity: ParityReport | None = None
    error: str | None = None
    # int8 only: how the file was quantized, and (static int8) the calibration images used:
    # folder, count, files (relative), fingerprint (sha256 over their names and contents)
    quantization: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None
    created: str = field(default_factory=utc_now)

    @property
    def key(self) -> tuple[str, str]:
        return (self.format, self.precision)


@dataclass
class ModelRecord:
    id: str
    source: ModelSource
    input_shape: list[int]  # (batch, 3, H, W) the artifacts take
    params: int
    macs: int
    architecture: dict[str, Any] = field(default_factory=dict)
    data_config: dict[str, Any] = field(default_factory=dict)  # timm preprocessing
    prune: dict[str, Any] | None = None  # PruneSpec as written by edge_vit.pruning
    pruned_model_dir: str | None = None  # spec + safetensors to rebuild it, relative
    unpruned_params: int | None = None
    unpruned_macs: int | None = None


@dataclass
class Manifest:
    model: ModelRecord
    artifacts: list[ArtifactRecord] = field(default_factory=list)
    schema_version: str = SCHEMA_VERSION
    tool: str = f"edge-vit {__version__}"
    host: dict[str, str] = field(default_factory=lambda: {
        "python": platform.python_version(), "platform": platform.platform(),
        "machine": platform.machine()})
    updated: str = field(default_factory=utc_now)

    def upsert(self, record: ArtifactRecord) -> None:
        """Replace the record of the same format+precision, keep every other one."""
        self.artifacts = [a for a in self.artifacts if a.key != record.key] + [record]

    def artifact(self, fmt: str, precision: str) -> ArtifactRecord | None:
        return next((a for a in self.artifacts if a.key == (fmt, precision)), None)


def write_manifest(directory: Path, manifest: Manifest) -> Path:
    manifest.updated = utc_now()
    path = Path(directory) / MANIFEST_NAME
    write_json_atomic(path, manifest)
    return path


def read_manifest(path: Path) -> Manifest:
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ManifestError(f"No manifest at {path}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"Manifest {path} is not valid JSON: {exc}") from exc
    major = str(data.get("schema_version", "")).split(".")[0]
    if major != SCHEMA_VERSION.split(".")[0]:
        raise ManifestError(f"Manifest {path} has schema {data.get('schema_version')!r}; "
                            f"this edge-vit reads {SCHEMA_VERSION}.")
    try:
        return from_dict(Manifest, data)
    except (TypeError, KeyError, AttributeError) as exc:
        raise ManifestError(f"Manifest {path} is malformed: {exc}") from exc


