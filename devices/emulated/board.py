"""Start the emulated board: its own OpenSSH server, run as aarch64 code under qemu-user in a
chroot of the built root file system, on 127.0.0.1 with a throwaway host key and client key.

    with start_board() as board:                 # builds the root file system first if needed
        board.write_inventory(Path("devices.toml"), "arm64-emu")
        ...                                      # edge-vit devices check arm64-emu, profile ...

Each start has a folder of its own on the host (keys, known_hosts, the sshd log) and one inside
the board (``/etc/edge-vit/boards/<port>``: sshd_config, host key, authorized key). sshd runs
in private mount and pid namespaces: /proc is mounted for it alone and everything it started
dies with it. The host's real /sys is never shown to the board (see recipe.CPU_MIDR).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from devices.config import SshConfig

from .build import BoardBuildError, build_board, in_board, write_board_files
from .recipe import QEMU_CPU, Recipe

RUNTIMES = ("litert", "onnxruntime", "openvino")
# Emulation is 300-700x slower than a real core: a runner import alone takes seconds.
CONNECT_TIMEOUT_S = 60.0
COMMAND_TIMEOUT_S = 3600.0


@dataclass
class EmulatedBoard:
    rootfs: Path
    port: int
    state: Path  # host-side folder of this start
    identity_file: Path
    known_hosts: Path
    proc: subprocess.Popen = field(repr=False)
    host = "127.0.0.1"
    user = "root"
    python = "/usr/bin/python3"

    def device_config(self, name: str = "arm64-emu", **changes) -> SshConfig:
        from devices.base import device_class

        cls = device_class("rpi").config_class
        values = dict(name=name, kind="rpi", host=self.host, port=self.port, user=self.user,
                      identity_file=self.identity_file, known_hosts=self.known_hosts,
                      python=self.python, connect_timeout=CONNECT_TIMEOUT_S,
                      command_timeout=COMMAND_TIMEOUT_S, retries=1, runtimes=list(RUNTIMES))
        return cls(**{**values, **changes})

    def inventory_entry(self, name: str = "arm64-emu") -> str:
        c = self.device_config(name)
        runtimes = ", ".join(f'"{r}"' for r in c.runtimes)
        return (f"[devices.{name}]  # emulated aarch64 board (qemu-user): "
                f"latency not representative\n"
                f'kind = "rpi"\nhost = "{c.host}"\nport = {c.port}\nuser = "{c.user}"\n'
                f'identity_file = "{c.identity_file}"\nknown_hosts = "{c.known_hosts}"\n'
                f'python = "{c.python}"\nruntimes = [{runtimes}]\n'
                f"connect_timeout = {c.connect_timeout}\ncommand_timeout = {c.command_timeout}\n"
                f"retries = {c.retries}\n")

    def write_inventory(self, path: Path, name: str = "arm64-emu") -> Path:
        """Add (or replace) this board's ``[devices.NAME]`` table in the inventory ``path``."""
        path = Path(path)
        kept = remove_entry(path.read_text() if path.exists() else "", name)
        path.write_text((kept.rstrip("\n") + "\n\n" if kept.strip() else "")
                        + self.inventory_entry(name))
        return path

    def set_throttled(self, value: str) -> None:
        """What the board's stand-in vcgencmd says for get_throttled (e.g. 0x50005)."""
        (self.rootfs / "etc" / "edge-vit" / "throttled").write_text(value + "\n")

    @property
    def log(self) -> Path:
        return self.state / "sshd.log"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            # SIGKILL: unshare would pass SIGTERM on to the namespace's PID 1, which ignores
            # it; its death takes PID 1 (--kill-child) and with it every board process
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.rootfs / "etc" / "edge-vit" / "boards" / str(self.port),
                      ignore_errors=True)

    def __enter__(self) -> EmulatedBoard:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def remove_entry(text: str, name: str) -> str:
    """``text`` without the ``[devices.NAME]`` table (up to the next table)."""
    out, skipping = [], False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("["):
            skipping = stripped.split("]")[0] in (f"[devices.{name}", f'[devices."{name}"')
        if not skipping:
            out.append(line)
    return "".join(out)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path, comment: str) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f",
                    str(path)], check=True, capture_output=True)
    return path


def start_board(rootfs: Path | None = None, port: int | None = None, state: Path | None = None,
                recipe: Recipe | None = None, say=lambda m: None,
                wait_s: float = 120.0) -> EmulatedBoard:
    """Build (if needed) and start the board; returns once its sshd accepts connections."""
    if os.geteuid() != 0:
        raise BoardBuildError("start sshd", "needs root (a chroot with its own mount and pid "
                              "namespaces)", hint="run it with sudo")
    rootfs = Path(rootfs) if rootfs else build_board(recipe, say=say)
    write_board_files(recipe or Recipe(), rootfs)  # cheap: always this version's /sys files
    port = port or free_port()
    state = Path(state) if state else Path(tempfile.mkdtemp(prefix="edge-vit-board-"))
    state.mkdir(parents=True, exist_ok=True)
    client = _keygen(state / "id_ed25519", "edge-vit-board-client")
    inside_rel = Path("etc") / "edge-vit" / "boards" / str(port)
    inside = rootfs / inside_rel
    shutil.rmtree(inside, ignore_errors=True)
    inside.mkdir(parents=True)
    host_key = _keygen(inside / "ssh_host_ed25519_key", "edge-vit-board-host")
    shutil.copy(f"{client}.pub", inside / "authorized_keys")
    guest = f"/{inside_rel.as_posix()}"
    (inside / "sshd_config").write_text("\n".join([
        "ListenAddress 127.0.0.1", f"Port {port}", f"HostKey {guest}/ssh_host_ed25519_key",
        f"AuthorizedKeysFile {guest}/authorized_keys", "PidFile none",
        "PermitRootLogin prohibit-password", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no", "UseDNS no",
        "Subsystem sftp internal-sftp", "LogLevel ERROR",
        f"SetEnv QEMU_CPU={QEMU_CPU}", ""]))  # sessions get a fresh environment
    (rootfs / "run" / "sshd").mkdir(parents=True, exist_ok=True)
    kind, blob = Path(f"{host_key}.pub").read_text().split()[:2]
    known_hosts = state / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {kind} {blob}\n")
    log = open(state / "sshd.log", "wb")
    proc = subprocess.Popen(in_board(rootfs, ["/usr/sbin/sshd", "-D", "-e", "-f",
                                              f"{guest}/sshd_config"]),
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    log.close()
    board = EmulatedBoard(rootfs, port, state, client, known_hosts, proc)
    deadline = time.monotonic() + wait_s
    while True:
        if proc.poll() is not None:
            raise BoardBuildError("start sshd", f"exit {proc.returncode}: "
                                  f"{board.log.read_text(errors='replace')[-400:]}", board.log)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                board.stop()
                raise BoardBuildError("start sshd", f"nothing listens on 127.0.0.1:{port} "
                                      f"after {wait_s:.0f} s", board.log) from None
            time.sleep(0.2)
    say(f"board: sshd (aarch64, under qemu) on 127.0.0.1:{port}")
    return board
