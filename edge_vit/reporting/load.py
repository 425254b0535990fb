"""Read what the other stages wrote: export manifests, profile results, accuracy results.

Nothing here raises on one bad file: an unreadable file becomes a warning in the report, so a
single corrupt JSON never hides the rest of a sweep.

Layouts::

    <artifacts>/<model-id>/manifest.json                                (edge-vit export)
    <results>/<device>/<model-id>/<format>-<precision>-<runtime>[-<variant>].json  (profile)
    <accuracy>/<model-id>/<format>-<precision>-<runtime>[-<ov precision>].json  (edge-vit eval)

An accuracy file with an ``-<ov precision>`` suffix (``openvino-fp32-openvino-f16.json``) was
run with OpenVINO's inference precision pinned; it joins profile runs pinned the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .. import manifest as mf
from .. import results as rs
from ..artifact_id import ArtifactId
from ..errors import EdgeVitError
from ..layers.result import LayerProfile
from ..serialization import from_dict

Key = tuple[str, str, str, str]  # model id, format, precision, runtime
DEFAULT_MODE = "default"  # OpenVINO's own inference precision (what a deployment gets)


@dataclass
class LoadedManifest:
    manifest: mf.Manifest
    path: Path


@dataclass
class Inputs:
    manifests: dict[str, LoadedManifest] = field(default_factory=dict)  # by model id
    profiles: dict[str, dict[Key, rs.ProfileResult]] = field(default_factory=dict)  # by device
    accuracy: dict[Key, rs.AccuracyResult] = field(default_factory=dict)  # default mode
    accuracy_pinned: dict[tuple[Key, str], rs.AccuracyResult] = field(default_factory=dict)
    layers: list[LayerProfile] = field(default_factory=list)  # per-layer breakdowns
    warnings: list[str] = field(default_factory=list)

    def accuracy_for(self, key: tuple, mode: str | None) -> rs.AccuracyResult | None:
        """The accuracy of ``key`` at OpenVINO precision ``mode`` (default: the plugin's)."""
        if mode and mode != DEFAULT_MODE:
            return self.accuracy_pinned.get((tuple(key), mode))
        return self.accuracy.get(tuple(key))

    def all_accuracy(self) -> list[tuple[Key, str, rs.AccuracyResult]]:
        return sorted([(k, DEFAULT_MODE, a) for k, a in self.accuracy.items()]
                      + [(k, m, a) for (k, m), a in self.accuracy_pinned.items()],
                      key=lambda t: (t[0], t[1]))


def load_manifests(paths: Iterable[Path], warnings: list[str]) -> dict[str, LoadedManifest]:
    """Manifests under each path: a manifest file, a model folder, or a folder of them."""
    out: dict[str, LoadedManifest] = {}
    for p in map(Path, paths):
        if p.is_file():
            files = [p]
        elif (p / mf.MANIFEST_NAME).is_file():
            files = [p / mf.MANIFEST_NAME]
        else:
            files = sorted(p.glob(f"*/{mf.MANIFEST_NAME}"))
        if not files:
            warnings.append(f"no export manifest under {p}")
        for f in files:
            try:
                m = mf.read_manifest(f)
            except EdgeVitError as exc:
                warnings.append(f"skipped manifest {f}: {exc}")
                continue
            if m.model.id in out:
                warnings.append(f"model {m.model.id} has two manifests; using {f}")
            out[m.model.id] = LoadedManifest(manifest=m, path=f)
    return out


def _read_json(path: Path, warnings: list[str]) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        warnings.append(f"skipped unreadable {path}: {exc}")
        return None
    if not isinstance(data, dict):
        warnings.append(f"skipped {path}: not a JSON object")
        return None
    return data


def _inside(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def load_profiles(results_dir: Path, warnings: list[str], exclude: Path | None = None
                  ) -> dict[str, dict[Key, rs.ProfileResult]]:
    """Profile results by device, then by (model, format, precision, runtime).
    ``exclude`` (the accuracy folder, when it sits inside the results folder) is skipped."""
    out: dict[str, dict[Key, rs.ProfileResult]] = {}
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        warnings.append(f"no profile results folder {results_dir}")
        return out
    for path in sorted(results_dir.glob("*/*/*.json")):
        if _inside(path, exclude) or path.parts[-2] == "sessions":
            continue
        data = _read_json(path, warnings)
        if data is None:
            continue
        if "settings" not in data or "artifact" not in data:
            warnings.append(f"skipped {path}: not a profile result")
            continue
        try:
            res = from_dict(rs.ProfileResult, data)
        except (TypeError, KeyError, AttributeError, ValueError) as exc:
            warnings.append(f"skipped malformed profile result {path}: {exc}")
            continue
        device = res.device_name or path.parts[-3]
        if not res.artifact.model_id:
            res.artifact.model_id = path.parts[-2]
        # one ONNX file, one TensorRT engine per precision; a pinned OpenVINO precision:
        # their own rows (tensorrt-fp16, openvino-f32)
        key = ArtifactId.of_result(res).report_key
        per_device = out.setdefault(device, {})
        old = per_device.get(key)
        if old is not None:
            warnings.append(f"{device}: two results for {' '.join(key)}; keeping the later")
            if (old.finished or "") > (res.finished or ""):
                continue
        per_device[key] = res
    return out


def load_layers(results_dir: Path, warnings: list[str]) -> list[LayerProfile]:
    """Per-layer breakdowns (``<results>/<device>/<model>/layers/<stem>.json``)."""
    out = []
    for path in sorted(Path(results_dir).glob("*/*/layers/*.json")):
        data = _read_json(path, warnings)
        if data is None:
            continue
        try:
            out.append(from_dict(LayerProfile, data))
        except (TypeError, KeyError, AttributeError, ValueError) as exc:
            warnings.append(f"skipped malformed layer breakdown {path}: {exc}")
    return out


def accuracy_mode(path: Path, acc: rs.AccuracyResult) -> str:
    """``default``, or the pinned OpenVINO precision named by the file's suffix."""
    try:
        return ArtifactId.parse(acc.artifact.model_id or "unknown", path.stem).variant \
            or DEFAULT_MODE
    except ValueError:
        return DEFAULT_MODE


def load_accuracy(accuracy_dir: Path, warnings: list[str]
                  ) -> tuple[dict[Key, rs.AccuracyResult],
                             dict[tuple[Key, str], rs.AccuracyResult]]:
    """(default-mode results by key, pinned-precision results by (key, mode))."""
    out: dict[Key, rs.AccuracyResult] = {}
    pinned: dict[tuple[Key, str], rs.AccuracyResult] = {}
    accuracy_dir = Path(accuracy_dir)
    if not accuracy_dir.is_dir():
        warnings.append(f"no accuracy results folder {accuracy_dir}")
        return out, pinned
    for path in sorted(accuracy_dir.glob("*/*.json")):
        data = _read_json(path, warnings)
        if data is None:
            continue
        if "data" not in data or "artifact" not in data:
            warnings.append(f"skipped {path}: not an accuracy result")
            continue
        try:
            acc = from_dict(rs.AccuracyResult, data)
        except (TypeError, KeyError, AttributeError, ValueError) as exc:
            warnings.append(f"skipped malformed accuracy result {path}: {exc}")
            continue
        model_id = acc.artifact.model_id or path.parts[-2]
        key = (model_id, acc.artifact.format, acc.artifact.precision, acc.runtime)
        mode = accuracy_mode(path, acc)
        if mode == DEFAULT_MODE:
            out[key] = acc
        else:
            pinned[(key, mode)] = acc
    return out, pinned


def load_inputs(artifact_dirs: Iterable[Path], results_dir: Path, accuracy_dir: Path) -> Inputs:
    inputs = Inputs()
    inputs.manifests = load_manifests(artifact_dirs, inputs.warnings)
    inputs.profiles = load_profiles(results_dir, inputs.warnings, exclude=Path(accuracy_dir))
    inputs.accuracy, inputs.accuracy_pinned = load_accuracy(accuracy_dir, inputs.warnings)
    inputs.layers = load_layers(results_dir, inputs.warnings)
    drop_stale(inputs)
    return inputs


def _current_sha(inputs: Inputs, model_id: str, fmt: str, precision: str) -> str | None:
    lm = inputs.manifests.get(model_id)
    rec = lm.manifest.artifact(fmt, precision) if lm is not None else None
    return rec.sha256 if rec is not None else None


def drop_stale(inputs: Inputs) -> None:
    """Results measured on an earlier file of the same name (the model was re-exported, e.g.
    with other weights) must not be shown next to the new one: they are left out, loudly."""
    def stale(res) -> bool:
        a = res.artifact
        if a.format == "pytorch" or not a.sha256:
            return False
        current = _current_sha(inputs, a.model_id or "", a.format, a.precision)
        return current is not None and current != a.sha256

    for device, results in inputs.profiles.items():
        for key in [k for k, r in results.items() if stale(r)]:
            inputs.warnings.append(f"{device}: left out the profile of {' '.join(key)}: it was "
                                   "measured on an earlier export (sha256 differs); re-profile")
            del results[key]
    for lp in [lp for lp in inputs.layers if stale(lp)]:
        inputs.warnings.append(f"{lp.device_name}: left out the layer breakdown of "
                               f"{lp.artifact.model_id} {lp.artifact.format}/"
                               f"{lp.artifact.precision} on {lp.runtime}: it was measured on an "
                               "earlier export (sha256 differs); re-profile")
        inputs.layers.remove(lp)
    for table in (inputs.accuracy, inputs.accuracy_pinned):
        for key in [k for k, r in table.items() if stale(r)]:
            inputs.warnings.append(f"left out the accuracy of {key}: it was measured on an "
                                   "earlier export (sha256 differs); re-evaluate")
            del table[key]
