"""edge-vit: prune timm Vision Transformers, export them, and measure them on edge devices."""

__version__ = "0.1.0"
