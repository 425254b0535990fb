"""A real OpenSSH server on loopback as a stand-in device (key-only, throwaway keys).

``sshd`` is one server for the session; ``sshd_factory`` starts extra ones (a server to kill
mid-command, a server whose host key changed). ``isolated_home`` gives a test a private
``$HOME`` so the user's ``~/.ssh`` and ``~/.config/edge-vit`` are never read or written.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devices.config import SshConfig

SSHD = Path("/usr/sbin/sshd")


@dataclasses.dataclass
class SshServer:
    host: str
    port: int
    user: str
    identity_file: Path
    known_hosts: Path  # holds this server's host key for [host]:port
    host_key: Path
    host_key_fingerprint: str  # as ssh-keygen -l prints it: SHA256:...
    config: SshConfig  # ready to open: known_hosts set, fast timeouts, no retries
    root: Path
    proc: subprocess.Popen

    def device_config(self, **changes) -> SshConfig:
        return dataclasses.replace(self.config, **changes)

    def write_inventory(self, path: Path, name: str, workdir: Path,
                        connect_timeout: float) -> Path:
        """A devices.toml naming this server as ssh device ``name`` (run by this Python)."""
        path.write_text(
            f"[devices.{name}]\nkind = \"ssh\"\n"
            f"host = \"{self.host}\"\nport = {self.port}\nuser = \"{self.user}\"\n"
            f"identity_file = \"{self.identity_file}\"\nknown_hosts = \"{self.known_hosts}\"\n"
            f"python = \"{sys.executable}\"\nworkdir = \"{workdir}\"\n"
            f"connect_timeout = {connect_timeout}\nretries = 0\n")
        return path

    def stop(self) -> None:
        self.kill_sessions()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill_sessions(self) -> None:
        """SIGKILL every process below the listening sshd: the per-connection sshd and the
        commands it runs, as if the device lost power."""
        for pid in _descendants(self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edge-vit-test", "-f",
                    str(path)], check=True, capture_output=True)
    return path


def key_fingerprint(key: Path) -> str:
    out = subprocess.run(["ssh-keygen", "-l", "-f", f"{key}.pub"], check=True,
                         capture_output=True, text=True).stdout
    return out.split()[1]


def known_hosts_line(host: str, port: int, key: Path) -> str:
    kind, blob = Path(f"{key}.pub").read_text().split()[:2]
    return f"[{host}]:{port} {kind} {blob}\n"


def _sshd_version() -> tuple[int, int]:
    out = subprocess.run([str(SSHD), "-V"], capture_output=True, text=True).stderr
    m = re.search(r"OpenSSH_(\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def start_sshd(root: Path, client_key: Path, port: int | None = None,
               host_key: Path | None = None, bashrc: str = "") -> SshServer:
    """``bashrc``: the login shell's start-up file on this device. Each server has its own
    $HOME (``root/home``), so the account's real ~/.bashrc, ~/.profile (a slow pyenv, a stale
    lock) never runs in the tests' commands."""
    root.mkdir(parents=True, exist_ok=True)
    home = root / "home"
    home.mkdir(exist_ok=True)
    (home / ".bashrc").write_text(bashrc)
    user = getpass.getuser()
    port = port or free_port()
    host_key = host_key or keygen(root / "hostkey_ed25519")
    shutil.copy(f"{client_key}.pub", root / f"authorized_keys.{user}")
    lines = [
        "ListenAddress 127.0.0.1",
        f"Port {port}",
        f"HostKey {host_key}",
        f"PidFile {root / 'sshd.pid'}",
        f"AuthorizedKeysFile {root}/authorized_keys.%u",
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "Subsystem sftp internal-sftp",
        "LogLevel ERROR",
        f"SetEnv HOME={home}",  # the admin's SetEnv overrides the account's home directory
    ]
    if _sshd_version() >= (9, 8):  # do not lock loopback out after refused host keys
        lines.append("PerSourcePenalties no")
    cfg = root / "sshd_config"
    cfg.write_text("\n".join(lines) + "\n")
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    log = open(root / "sshd.log", "wb")
    proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(cfg)], stdout=log, stderr=log)
    log.close()
    deadline = time.monotonic() + 10
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited ({proc.returncode}): {(root / 'sshd.log').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError as exc:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"sshd did not listen on {port}: {(root / 'sshd.log').read_text()}") from exc
            time.sleep(0.02)
    known_hosts = root / "known_hosts"
    known_hosts.write_text(known_hosts_line("127.0.0.1", port, host_key))
    config = SshConfig(
        name="loopback", kind="ssh", host="127.0.0.1", port=port, user=user,
        identity_file=client_key, known_hosts=known_hosts, python="python3",
        workdir=str(root / "work"), connect_timeout=5.0, command_timeout=30.0, retries=0,
        retry_backoff=0.1,
    )
    return SshServer("127.0.0.1", port, user, client_key, known_hosts, host_key,
                     key_fingerprint(host_key), config, root, proc)


@pytest.fixture(scope="session")
def _ssh_client_key(tmp_path_factory) -> Path:
    if not SSHD.exists():
        pytest.skip("OpenSSH server not installed: apt-get install openssh-server")
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen not installed: apt-get install openssh-client")
    return keygen(tmp_path_factory.mktemp("sshclient") / "id_ed25519")


@pytest.fixture(scope="session")
def sshd(tmp_path_factory, _ssh_client_key) -> Iterator[SshServer]:
    """One loopback sshd for the whole session."""
    server = start_sshd(tmp_path_factory.mktemp("sshd"), _ssh_client_key)
    yield server
    server.stop()


@pytest.fixture
def sshd_factory(tmp_path_factory, _ssh_client_key) -> Iterator[Callable[..., SshServer]]:
    """Start extra servers for one test (stopped after it): ``sshd_factory(port=, host_key=)``."""
    servers: list[SshServer] = []

    def make(**kwargs) -> SshServer:
        server = start_sshd(tmp_path_factory.mktemp("sshd"), _ssh_client_key, **kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def sshd_rekeyed(sshd_factory, tmp_path) -> tuple[SshServer, SshServer]:
    """``(old, new)``: a server, then a second server on the SAME port with a DIFFERENT host
    key; ``new.known_hosts`` is rewritten to the old key, as a client that met ``old`` has it."""
    old = sshd_factory()
    old.stop()
    new = sshd_factory(port=old.port)
    new.known_hosts.write_text(old.known_hosts.read_text())
    return old, new


@pytest.fixture
def ssh_keygen(_ssh_client_key) -> Callable[[Path], Path]:
    """``ssh_keygen(path)`` makes a throwaway ed25519 key pair (tests import no conftest)."""
    return keygen


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()


@pytest.fixture
def isolated_home(tmp_path, monkeypatch) -> Path:
    """A private $HOME (and no $EDGE_VIT_DEVICES / ssh-agent); the device tests use it for
    every test through ``pytestmark`` so the user's ~/.ssh is never read or written."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("EDGE_VIT_DEVICES", raising=False)
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return home


@pytest.fixture(scope="session")
def tiny_artifacts(tmp_path_factory) -> Path:
    """A real export of a tiny ViT in all three formats (shared: onnx2tf takes ~20 s)."""
    from edge_vit.export import ExportOptions, ModelOptions, run_export

    out = tmp_path_factory.mktemp("tiny-artifacts")
    tiny = {"img_size": 32, "patch_size": 8, "depth": 2, "num_classes": 10}
    result = run_export(ExportOptions(model=ModelOptions(name="deit_tiny_patch16_224",
                                                         model_kwargs=tiny),
                                      formats=("onnx", "openvino", "tflite"), out_root=out,
                                      model_id="tiny"))
    assert not result.failed, [(a.key, a.error) for a in result.failed]
    return result.manifest_path.parent
