"""The ``npvit`` format: a folder artifact holding a ViT's weights as NumPy arrays (never
pickled) and its config, and the one runtime that runs it (``numpy_vit``, shipped to devices
with the runner)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np

from exporters.base import ExportedFile, Exporter, ExportRequest

from . import npvit_backend


class NpvitExporter(Exporter):
    name = "npvit"
    suffix = ".npvit"  # a folder: weights.npz + config.json
    source_format = "pytorch"
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)
    requires: ClassVar[tuple[str, ...]] = ("numpy",)
    install_extra: ClassVar[str] = "all"
    runtimes: ClassVar[tuple[str, ...]] = (npvit_backend.NAME,)
    runtime_backends: ClassVar[dict[str, str]] = {npvit_backend.NAME: npvit_backend.__name__}

    def export(self, model, request: ExportRequest) -> list[ExportedFile]:
        folder = Path(request.out_dir) / f"{request.stem}{self.suffix}"
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
        np.savez(folder / npvit_backend.WEIGHTS, **arrays)
        config = {"num_heads": [blk.attn.num_heads for blk in model.blocks],
                  "patch_size": model.patch_embed.patch_size[0],
                  "input_shape": list(request.input_shape)}
        (folder / npvit_backend.CONFIG).write_text(json.dumps(config))
        return [ExportedFile(path=folder, precision="fp32", input_name="x", output_name="logits")]

    def load_runner(self, exported: ExportedFile, threads: int | None = None):
        forward = npvit_backend.load(exported.path)
        return forward, {"runtime": npvit_backend.NAME, "version": np.__version__,
                         "inference_precision": "fp32"}
