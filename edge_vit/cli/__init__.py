"""The `edge-vit` command line: one click group (``app.main``) and every command, registered
here, explicitly; importing ``edge_vit.cli`` gives the whole command line. The library raises
typed errors; ``app`` turns them into a message and an exit code."""

from . import core, devices, evaluate, lut, report, sweep, train
from .app import main

for _command in (core.export, core.info, core.prune, core.models, core.doctor,
                 devices.devices, devices.deploy, devices.profile, evaluate.eval_, lut.lut,
                 report.report, sweep.sweep, train.train_cmd, train.finetune_cmd):
    main.add_command(_command)

__all__ = ["main"]
