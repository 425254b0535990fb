"""The whole command line: the core group of cli.py plus every command module, which each
attach their commands to it on import. The console script points here."""

from . import cli_devices, cli_eval, cli_report, cli_sweep  # noqa: F401  (register commands)
from .cli import main

__all__ = ["main"]
