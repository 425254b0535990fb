"""The ``toy-board`` device kind: a folder on this machine standing for a board. Commands run
in subprocesses there (argv lists, never a shell), files are copied atomically."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from devices.base import CommandResult, Device, check_command
from devices.config import DeviceConfig
from edge_vit.errors import DeviceError
from edge_vit.files import file_sha256


@dataclass
class BoardConfig(DeviceConfig):
    kind: str = "toy-board"
    board_dir: Path | None = None  # where the board keeps its files (required)
    nice: int = 0  # niceness of every command run on the board

    def problems(self) -> list[str]:
        return [] if self.board_dir else ["key 'board_dir' is required for kind 'toy-board'."]


class SubprocessBoard(Device):
    kind = "toy-board"
    config_class = BoardConfig

    def __init__(self, config: BoardConfig):
        super().__init__(config)
        self.root = Path(config.board_dir).resolve()
        self.workdir = str(self.root)
        self.python = config.python or sys.executable

    def run(self, argv, timeout=None, check=False, env=None) -> CommandResult:
        timeout = self.config.command_timeout if timeout is None else float(timeout)
        argv = check_command(argv, timeout, env)
        self.root.mkdir(parents=True, exist_ok=True)
        if self.config.nice:
            argv = ["nice", "-n", str(self.config.nice), *argv]
        start = time.perf_counter()
        try:
            done = subprocess.run(argv, cwd=self.root, capture_output=True, text=True,
                                  timeout=timeout, env={**os.environ, **(env or {})})
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
            return self._check_result(CommandResult(argv, 124, out, "", timeout, True), check)
        except FileNotFoundError as exc:
            return self._check_result(CommandResult(argv, 127, "", str(exc), 0.0), check)
        return self._check_result(CommandResult(argv, done.returncode, done.stdout,
                                                done.stderr, time.perf_counter() - start),
                                  check)

    def fetch(self, remote_rel, local_path) -> Path:
        src = self.root / remote_rel
        if not src.is_file():
            raise DeviceError(f"{self.name}: no file {src}")
        shutil.copyfile(src, local_path)
        return Path(local_path)

    def close(self) -> None:
        pass

    def remote_sha256(self, rels):
        return {r: file_sha256(self.root / r) for r in rels if (self.root / r).is_file()}

    def _makedirs(self, rel_dir: str) -> None:
        (self.root / rel_dir).mkdir(parents=True, exist_ok=True)

    def _upload_atomic(self, local: Path, rel: str) -> None:
        tmp = self.root / f"{rel}.part"
        shutil.copyfile(local, tmp)
        os.replace(tmp, self.root / rel)
