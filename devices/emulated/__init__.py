"""An emulated aarch64 board: Debian arm64 under qemu-user with its own sshd on loopback.

It proves that the ARM path runs (the runner, the runtimes' aarch64 wheels, XNNPACK and
OpenVINO's ARM plugin, the Pi's throttling readout) and what ARM kernels compute; its latency
says nothing about a real board (emulation is hundreds of times slower). ``build`` makes the
root file system once per recipe, ``board`` starts it; ``edge-vit devices emulate`` runs both.
"""

from .board import EmulatedBoard, start_board
from .build import BoardBuildError, build_board, built_board, missing_tools
from .recipe import Recipe, board_cache

__all__ = ["BoardBuildError", "EmulatedBoard", "Recipe", "board_cache",
           "build_board", "built_board", "missing_tools", "start_board"]
