"""The machine edge-vit runs on, as a device: subprocesses (argv lists, never a shell)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from devices.base import DEFAULT_WORKDIR, CommandResult, Device, check_command, sha256_file
from devices.config import DeviceConfig
from edge_vit.errors import DeviceError
from edge_vit.files import CACHE_ENV, cache_root, copy_atomic


class LocalDevice(Device):
    """Runs commands here. ``python`` defaults to the running interpreter (the venv that has
    the runtimes), ``workdir`` to ``~/.cache/edge-vit/device``."""

    kind = "local"

    def __init__(self, config: DeviceConfig | None = None):
        super().__init__(config or DeviceConfig())
        self.python = self.config.python or sys.executable
        # the local device's files live in edge-vit's cache ($EDGE_VIT_CACHE when set)
        default = str(cache_root() / "device") if os.environ.get(CACHE_ENV) else DEFAULT_WORKDIR
        self.root = Path(self.config.workdir or default).expanduser().resolve()
        self.workdir = str(self.root)

    def run(
        self,
        argv: list[str],
        timeout: float | None = None,
        check: bool = False,
        env: dict[str, str] | None = None,
    ) -> CommandResult:
        timeout = self.config.command_timeout if timeout is None else float(timeout)
        argv = check_command(argv, timeout, env)
        self.root.mkdir(parents=True, exist_ok=True)
        full_env = None if env is None else {**os.environ, **env}
        start = time.perf_counter()
        try:
            # its own session, so a timeout kills the command's children too
            proc = subprocess.Popen(
                argv, cwd=self.root, env=full_env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
            )
        except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
            code = 127 if isinstance(exc, FileNotFoundError) else 126
            result = CommandResult(argv, code, "", f"{argv[0]}: {exc.strerror or exc}\n",
                                   time.perf_counter() - start)
            return self._check_result(result, check)
        timed_out = False
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            try:
                out, err = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:  # a grandchild escaped the group, holding a pipe
                out, err = b"", b""
        except BaseException:
            _kill_group(proc)
            proc.wait()
            raise
        result = CommandResult(
            argv=argv,
            returncode=proc.wait(),
            stdout=out.decode("utf-8", errors="replace"),
            stderr=err.decode("utf-8", errors="replace"),
            seconds=time.perf_counter() - start,
            timed_out=timed_out,
        )
        return self._check_result(result, check)

    def fetch(self, remote_rel: str, local_path: str | Path) -> Path:
        src = Path(remote_rel)
        src = src if src.is_absolute() else self.root / src
        if not src.is_file():
            raise DeviceError(f"{self.name}: cannot fetch {src}: no such file.")
        return copy_atomic(src, Path(local_path))

    def close(self) -> None:
        pass

    def remote_sha256(self, rels: list[str]) -> dict[str, str]:
        return {rel: sha256_file(self.root / rel) for rel in rels if (self.root / rel).is_file()}

    def _makedirs(self, rel_dir: str) -> None:
        (self.root / rel_dir).mkdir(parents=True, exist_ok=True)

    def _upload_atomic(self, local: Path, rel: str) -> None:
        copy_atomic(local, self.root / rel)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
