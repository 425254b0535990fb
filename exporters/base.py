"""The exporter interface and its registry.

One table of formats drives export, argument checking, ``doctor`` and the benchmarks. Each
format lives in its own module, imported only when that format is used (fsspec-style
"module:Class" strings), so TensorFlow or OpenVINO are never imported for an ONNX-only run.
Third parties can add a format through the ``edge_vit.exporters`` entry-point group.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from edge_vit.errors import ArtifactLoadError, EdgeVitError, MissingRuntimeError, UsageError
from edge_vit.plugins import entry_points

# name -> "module:Class"; order is the export order (later formats chain from earlier ones).
REGISTRY: dict[str, str] = {
    "onnx": "exporters.onnx_export:OnnxExporter",
    "openvino": "exporters.openvino_export:OpenVinoExporter",
    "tflite": "exporters.tflite_export:TFLiteExporter",
}


@dataclass
class NoOptions:
    """The options of a format that has none of its own."""

    def validate(self, precisions: tuple[str, ...]) -> None:
        """Raise UsageError for an impossible combination (``precisions``: the ones asked)."""


@dataclass
class ExportRequest:
    """What every exporter gets: where to write, and the input it must accept."""

    out_dir: Path
    stem: str  # file stem, e.g. "deit_tiny_patch16_224"
    input_shape: tuple[int, int, int, int]  # (batch, 3, H, W)
    precisions: tuple[str, ...] = ("fp32",)
    opset: int = 17
    dynamic_batch: bool = False
    options: Any = None  # the format's own options dataclass (None: its defaults)
    calib: np.ndarray | None = None  # int8 calibration inputs, NCHW, the model's preprocessing
    accuracy_control: dict | None = None  # labelled validation data (OpenVINO's NNCF mode)

    def options_of(self, exporter: Exporter) -> Any:
        return self.options if self.options is not None else exporter.options_class()


@dataclass
class ExportedFile:
    """One file an exporter produced, before validation."""

    path: Path
    precision: str
    input_layout: str = "NCHW"  # NHWC for TFLite unless asked otherwise
    input_name: str | None = None
    output_name: str | None = None
    dynamic_batch: bool = False
    quantization: dict | None = None  # how an int8 file was made (tool, scheme, samples)


Runner = Callable[[np.ndarray], np.ndarray]  # NCHW float32 batch -> logits


class Exporter:
    """Base class: a format's name, what it converts from, and how to run what it wrote."""

    name: ClassVar[str]
    suffix: ClassVar[str]
    source_format: ClassVar[str]  # "pytorch" or the name of another format
    precisions: ClassVar[tuple[str, ...]]
    requires: ClassVar[tuple[str, ...]]  # importable modules needed to export
    install_extra: ClassVar[str]  # pip extra that brings them
    # the runtimes that run the format, in order of preference; the first is the native one
    # (eval and the parity check use it). A runtime's module and install hint are declared
    # once, by its backend in the device runner (devices/runner/backends/<name>.py) ...
    runtimes: ClassVar[tuple[str, ...]]
    # ... or, for a runtime the runner does not ship, by a backend module of the format's own
    # (runtime -> importable module path), which deploy copies beside the runner
    runtime_backends: ClassVar[dict[str, str]] = {}
    supports_dynamic_batch: ClassVar[bool] = False
    options_class: ClassVar[type] = NoOptions  # a dataclass with validate(precisions)
    # files that belong to an artifact beside its main one, as suffixes replacing the main
    # file's (OpenVINO: the .bin weights next to the .xml)
    companion_suffixes: ClassVar[tuple[str, ...]] = ()

    def files_of(self, main: Path) -> list[Path]:
        """Every file of the artifact whose main file is ``main``, main first."""
        main = Path(main)
        return [main, *(main.with_suffix(s) for s in self.companion_suffixes)]

    @property
    def runtime_modules(self) -> tuple[str, ...]:
        """The module the native runtime imports (needed to run the artifact here)."""
        return (runtime_spec(self.runtimes[0]).MODULE,)

    def check_available(self) -> None:
        missing = [m for m in self.requires + self.runtime_modules if not module_available(m)]
        if missing:
            raise MissingRuntimeError(
                f"{self.name} export needs {', '.join(missing)}, which is not installed.",
                hint=f"pip install 'edge-vit[{self.install_extra}]'",
            )

    def export(self, source: Any, request: ExportRequest) -> list[ExportedFile]:
        """Convert ``source`` (a torch model, or the path of the source format's file)."""
        raise NotImplementedError

    def load_runner(self, exported: ExportedFile, threads: int | None = None) -> tuple[Runner, dict]:
        """Return a callable running the artifact, and facts about how it runs
        (``runtime``, ``version``, ``inference_precision``)."""
        raise NotImplementedError

    def tool_versions(self) -> dict[str, str]:
        return {m: package_version(m) for m in self.requires + self.runtime_modules}


def runtime_spec(name: str):
    """The backend module that declares runtime ``name`` (``MODULE``, ``DISTS``,
    ``INSTALL_HINT``, ``FORMATS``): the runner's own, or a format's shipped one."""
    from devices.runner import backends  # stdlib only: the device's runner

    if name in backends.BUILTIN:
        return backends.load(name)
    for fmt in available_formats():
        module = get_exporter(fmt).runtime_backends.get(name)
        if module:
            return importlib.import_module(module)
    raise UsageError(f"Unknown runtime '{name}'. Known: {', '.join(known_runtimes())}.")


def known_runtimes() -> list[str]:
    from devices.runner import backends

    names = list(backends.BUILTIN)
    for fmt in available_formats():
        names += [r for r in get_exporter(fmt).runtimes if r not in names]
    return names


def runtimes_for(fmt: str) -> tuple[str, ...]:
    """The runtimes that can run ``fmt`` artifacts, preferred first."""
    return get_exporter(fmt).runtimes


def shipped_backends() -> dict[str, str]:
    """runtime -> backend module, for every runtime a format ships to the device itself."""
    out: dict[str, str] = {}
    for fmt in available_formats():
        out.update(get_exporter(fmt).runtime_backends)
    return out


def load_failure(runtime: str, path: Path, exc: BaseException) -> EdgeVitError:
    """One line for a runtime that cannot load ``path``: the file, the runtime's own reason
    (the most specific line of a multi-line C++ message), and what to do."""
    from devices.runner.core import LOAD_HINT, runtime_reason  # stdlib only: the device's runner

    if isinstance(exc, EdgeVitError):
        return exc
    return ArtifactLoadError(f"{runtime} cannot load {path}: {runtime_reason(exc)}",
                             hint=LOAD_HINT)


def module_available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


_DIST_NAMES = {"onnxruntime": "onnxruntime", "ai_edge_litert": "ai-edge-litert",
               "tflite_runtime": "tflite-runtime", "tensorflow": "tensorflow"}


# other distributions that provide the same module (e.g. tensorflow-cpu)
_ALT_DISTS = {"tensorflow": ("tensorflow-cpu", "tensorflow-intel", "tf-nightly"),
              "onnxruntime": ("onnxruntime-gpu", "onnxruntime-openvino"),
              "openvino": ("openvino-nightly",)}


def package_version(module: str) -> str:
    """The installed version from package metadata; never imports the module (doctor must
    stay fast and must not pull in TensorFlow)."""
    for dist in (_DIST_NAMES.get(module, module), *_ALT_DISTS.get(module, ())):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown" if module_available(module) else "missing"


def _entry_point_formats() -> dict[str, str]:
    return entry_points("edge_vit.exporters")


def available_formats() -> list[str]:
    return list({**REGISTRY, **_entry_point_formats()})


def get_exporter(name: str) -> Exporter:
    table = {**REGISTRY, **_entry_point_formats()}
    if name not in table:
        raise UsageError(f"Unknown format '{name}'. Known: {', '.join(table)}.")
    module, cls = table[name].split(":")
    return getattr(importlib.import_module(module), cls)()


def parse_formats(text: str) -> list[str]:
    names = [f.strip().lower() for f in text.split(",") if f.strip()]
    known = available_formats()
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise UsageError(f"Unknown format(s) {bad or text!r}. Known: {', '.join(known)}.")
    # keep registry order so chained formats come after their source
    return [n for n in known if n in names]
