"""The ``npz`` format: a ViT's weights as NumPy arrays (never pickled), and the one runtime
that runs them (``numpy_vit``, shipped to devices with the runner)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from exporters.base import ExportedFile, Exporter, ExportRequest

from . import npvit_backend


class NpzExporter(Exporter):
    name = "npz"
    suffix = ".npz"
    source_format = "pytorch"
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)
    requires: ClassVar[tuple[str, ...]] = ("numpy",)
    install_extra: ClassVar[str] = "all"
    runtimes: ClassVar[tuple[str, ...]] = (npvit_backend.NAME,)
    runtime_backends: ClassVar[dict[str, str]] = {npvit_backend.NAME: npvit_backend.__name__}

    def export(self, model, request: ExportRequest) -> list[ExportedFile]:
        arrays = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
        arrays["meta.num_heads"] = np.array([blk.attn.num_heads for blk in model.blocks])
        arrays["meta.patch_size"] = np.array([model.patch_embed.patch_size[0]])
        arrays["meta.input_shape"] = np.array(request.input_shape)
        out = Path(request.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{request.stem}{self.suffix}"
        np.savez(path, **arrays)
        return [ExportedFile(path=path, precision="fp32", input_name="x", output_name="logits")]

    def load_runner(self, exported: ExportedFile, threads: int | None = None):
        forward = npvit_backend.load(exported.path)
        return forward, {"runtime": npvit_backend.NAME, "version": np.__version__,
                         "inference_precision": "fp32"}
