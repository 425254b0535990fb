"""What can this machine convert and run? `edge-vit doctor` answers from importable modules."""

from __future__ import annotations

import platform
from dataclasses import dataclass

from exporters.base import available_formats, get_exporter, module_available, package_version
from exporters.base import runtime_spec as _runtime_spec

# what every format needs: the model side (module, what it is for, pip requirement)
MODEL_COMPONENTS: list[tuple[str, str, str]] = [
    ("torch", "PyTorch: model building, pruning, reference outputs", "edge-vit"),
    ("timm", "model definitions and weights", "edge-vit"),
]
# what an exporter needs beside its runtime, said once here (its module: requires)
_TOOL_PURPOSE = {"onnx": "ONNX export", "onnxslim": "ONNX simplification",
                 "openvino": "OpenVINO IR conversion", "onnx2tf": "ONNX -> TFLite converter",
                 "tensorflow": "TensorFlow (used by onnx2tf)"}


def components() -> list[tuple[str, str, str]]:
    """(module, purposes, how to install) from the format table: each format's converter
    modules and each runtime that runs it (the runtime's own install hint)."""
    rows: dict[str, tuple[list[str], str]] = {m: ([p], f"pip install '{r}'")
                                              for m, p, r in MODEL_COMPONENTS}

    def add(module: str, purpose: str, install: str) -> None:
        purposes, _ = rows.setdefault(module, ([], install))
        if purpose not in purposes:
            purposes.append(purpose)

    for fmt in available_formats():
        exporter = get_exporter(fmt)
        extra = exporter.install_extra
        for module in exporter.requires:
            add(module, _TOOL_PURPOSE.get(module, f"{fmt} export"),
                f"pip install 'edge-vit[{extra}]'" if extra != "all" else "pip install edge-vit")
        for name in exporter.runtimes:
            spec = _runtime_spec(name)
            add(spec.MODULE, f"runs {fmt} artifacts ({name})", spec.INSTALL_HINT)
    return [(m, "; ".join(p), install) for m, (p, install) in rows.items()]


@dataclass
class ComponentStatus:
    module: str
    purpose: str
    available: bool
    version: str | None
    install: str


def check_components() -> list[ComponentStatus]:
    out = []
    for module, purpose, install in components():
        ok = module_available(module)
        out.append(ComponentStatus(module=module, purpose=purpose, available=ok,
                                   version=package_version(module) if ok else None,
                                   install=install))
    return out


def host_summary() -> dict[str, str]:
    return {"python": platform.python_version(), "platform": platform.platform(),
            "machine": platform.machine(), "processor": platform.processor() or "unknown"}
