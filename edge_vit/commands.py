"""The whole command line: the core group of cli.py plus every command module, which each
attach their commands to it on import. The console script points here."""

from . import cli_devices, cli_eval, cli_report, cli_sweep, cli_train  # noqa: F401
from .cli import main

__all__ = ["main"]
