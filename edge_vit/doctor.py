"""What can this machine convert and run? `edge-vit doctor` answers from importable modules."""

from __future__ import annotations

import platform
from dataclasses import dataclass

from exporters.base import module_available, package_version

# (module, what it is for, pip requirement that brings it)
COMPONENTS: list[tuple[str, str, str]] = [
    ("torch", "PyTorch: model building, pruning, reference outputs", "edge-vit"),
    ("timm", "model definitions and weights", "edge-vit"),
    ("onnx", "ONNX export", "edge-vit"),
    ("onnxslim", "ONNX simplification", "edge-vit"),
    ("onnxruntime", "ONNX runtime (parity, profiling)", "edge-vit"),
    ("openvino", "OpenVINO IR conversion and runtime", "edge-vit[openvino]"),
    ("onnx2tf", "ONNX -> TFLite converter", "edge-vit[tflite]"),
    ("tensorflow", "TensorFlow (used by onnx2tf)", "edge-vit[tflite]"),
    ("ai_edge_litert", "LiteRT (TFLite) interpreter", "edge-vit[tflite]"),
    ("tflite_runtime", "legacy TFLite interpreter (boards)", "tflite-runtime"),
]


@dataclass
class ComponentStatus:
    module: str
    purpose: str
    available: bool
    version: str | None
    install: str


def check_components() -> list[ComponentStatus]:
    out = []
    for module, purpose, req in COMPONENTS:
        ok = module_available(module)
        out.append(ComponentStatus(module=module, purpose=purpose, available=ok,
                                   version=package_version(module) if ok else None,
                                   install=f"pip install '{req}'"))
    return out


def host_summary() -> dict[str, str]:
    return {"python": platform.python_version(), "platform": platform.platform(),
            "machine": platform.machine(), "processor": platform.processor() or "unknown"}
