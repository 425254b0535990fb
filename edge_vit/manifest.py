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
    sha256: str | None = None  # of the main file (``path``)
    # the artifact's other files (relative path -> sha256), checked like the main one before
    # anything loads them: OpenVINO's .bin weights
    companions: dict[str, str] = field(default_factory=dict)
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
    # a later export of the same format+precision that failed while this record was good: the
    # good record (and its file) stays; the attempt is kept here (status, error, when, and
    # where its file went, if it made one)
    failed_attempt: dict[str, Any] | None = None

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

    def keeps_earlier(self, record: ArtifactRecord) -> ArtifactRecord | None:
        """The good earlier record of the same format and precision that a failed ``record``
        (any status but ok) must not replace, or None."""
        old = self.artifact(*record.key)
        return old if record.status != OK and old is not None and old.status == OK else None

    def record_attempt(self, record: ArtifactRecord) -> ArtifactRecord | None:
        """Store an export attempt without ever erasing a finished artifact: a failed
        ``record`` next to a good earlier one is noted on that one as its ``failed_attempt``,
        which is returned; otherwise ``record`` replaces what was there."""
        old = self.keeps_earlier(record)
        if old is not None:
            old.failed_attempt = {"status": record.status, "error": record.error,
                                  "at": record.created, "path": record.path}
            return old
        self.upsert(record)
        return None

    def artifact(self, fmt: str, precision: str) -> ArtifactRecord | None:
        return next((a for a in self.artifacts if a.key == (fmt, precision)), None)


def artifact_files(root: Path, record: ArtifactRecord) -> list[Path]:
    """Every file of the artifact, main first: the recorded companions, or (manifests written
    before they were recorded) the ones its format declares."""
    main = Path(root) / (record.path or "")
    if record.companions:
        return [main, *(Path(root) / rel for rel in record.companions)]
    from exporters.base import get_exporter

    return get_exporter(record.format).files_of(main)


def verify_files(root: Path, record: ArtifactRecord) -> list[str]:
    """sha256 of each of the artifact's files; ManifestError naming the file when one is
    missing or is not what was exported (truncated, overwritten, a broken copy)."""
    from .files import file_sha256

    if not record.path:
        raise ManifestError(f"{record.format}/{record.precision} has no file "
                            f"(status {record.status}).")
    files = artifact_files(root, record)
    missing = [str(p) for p in files if not p.exists()]
    if missing:
        raise ManifestError(f"artifact file(s) missing: {', '.join(missing)}",
                            hint="Re-export it (edge-vit export).")
    digests = [file_sha256(p) for p in files]
    wanted = [record.sha256, *record.companions.values()]
    # manifests written before companions were recorded give the main file only
    for path, got, want in zip(files, digests, wanted, strict=False):
        if want and got != want:
            raise ManifestError(f"{path} changed since export: sha256 {got[:12]}… != "
                                f"{want[:12]}… in the manifest (truncated, corrupt or "
                                "overwritten).", hint="Re-export it (edge-vit export).")
    return digests


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


