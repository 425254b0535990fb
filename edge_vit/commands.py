"""The console script's entry point, kept for ``edge_vit.commands:main`` (older installs and
scripts); the command line lives in :mod:`edge_vit.cli`."""

from .cli import main

__all__ = ["main"]
