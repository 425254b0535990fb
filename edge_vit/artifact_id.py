"""One identity for "this artifact in this runtime": where its profile is written, how a
measurement session names its units, how the report keys its rows.

``variant`` is what the runtime was asked to compute in when that is pinned rather than left
to the runtime: a TensorRT engine's precision (one ONNX file, one engine per precision) or
OpenVINO's ``INFERENCE_PRECISION_HINT`` (``--ov-precision f32``). Results of different
variants never share a file, so a pinned run cannot overwrite the default one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_VARIANT = "default"  # OpenVINO: the plugin's own choice (what a deployment gets)


@dataclass(frozen=True, order=True)
class ArtifactId:
    model_id: str
    format: str
    precision: str
    runtime: str
    variant: str | None = None

    def __post_init__(self):
        if self.variant == DEFAULT_VARIANT:
            object.__setattr__(self, "variant", None)

    @property
    def runtime_label(self) -> str:
        """The runtime as tables show it: ``tensorrt-fp16``, ``openvino-f32``, ``onnxruntime``."""
        return f"{self.runtime}-{self.variant}" if self.variant else self.runtime

    @property
    def stem(self) -> str:
        """File name of its result: ``<format>-<precision>-<runtime>[-<variant>]``."""
        return f"{self.format}-{self.precision}-{self.runtime_label}"

    @property
    def key(self) -> str:
        return f"{self.model_id}/{self.stem}"

    @property
    def report_key(self) -> tuple[str, str, str, str]:
        return (self.model_id, self.format, self.precision, self.runtime_label)

    def __str__(self) -> str:
        return f"{self.model_id} {self.format}/{self.precision} on {self.runtime_label}"

    @classmethod
    def parse(cls, model_id: str, stem: str) -> ArtifactId:
        """The inverse of :attr:`stem`. Formats and runtimes never hold a dash, precisions may
        (``int8-dynamic``): the runtime is the first known runtime name after the format."""
        from exporters.base import known_runtimes

        fmt, _, rest = stem.partition("-")
        parts = rest.split("-")
        runtimes = set(known_runtimes())
        for i in range(1, len(parts)):
            if parts[i] in runtimes:
                variant = "-".join(parts[i + 1:]) or None
                return cls(model_id, fmt, "-".join(parts[:i]), parts[i], variant)
        raise ValueError(f"{stem!r} is not <format>-<precision>-<runtime>[-<variant>]")

    @classmethod
    def of_result(cls, res) -> ArtifactId:
        """The identity of a :class:`edge_vit.results.ProfileResult`."""
        s, a = res.settings, res.artifact
        variant = None
        if s.runtime == "tensorrt":
            variant = s.inference_precision or "fp32"
        elif s.runtime == "openvino":
            variant = str(s.options.get("ov_precision") or DEFAULT_VARIANT)
        return cls(model_id=a.model_id or "?", format=a.format, precision=a.precision,
                   runtime=s.runtime, variant=variant)


def base_runtime(label: str) -> str:
    """``openvino-f32`` -> ``openvino`` (runtime names never hold a dash)."""
    return label.split("-", 1)[0]


def safe_name(text: str) -> str:
    """A file-system-safe folder name (device names come from the user's inventory)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)
