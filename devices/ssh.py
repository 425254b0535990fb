"""A device reached over SSH (paramiko): commands over exec channels, files over SFTP.

Host keys are verified against ``~/.ssh/known_hosts`` plus the inventory's ``known_hosts``;
unknown keys are refused unless ``trust_on_first_use`` (logged loudly, written to known_hosts);
a changed key is always refused. Every argument is quoted (``shlex.join``); the remote login
shell must be POSIX-like. Not thread-safe: use one device per thread. Host-key policies are in
:mod:`devices.ssh_keys`, SFTP file transfer in :mod:`devices.ssh_files`.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import getpass
import logging
import posixpath
import shlex
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko

from devices.base import DEFAULT_WORKDIR, CommandResult, Device, check_command
from devices.config import SshConfig
from devices.ssh_files import SftpFiles
from devices.ssh_keys import RefuseUnknown, TrustOnFirstUse, fingerprint
from edge_vit.errors import (
    DeviceAuthenticationError,
    DeviceError,
    DeviceUnreachableError,
    HostKeyError,
)

log = logging.getLogger("edge_vit.devices")
# paramiko's transport thread logs every failed handshake at ERROR, with the traceback as
# more ERROR records, from its own thread and after our typed error was raised: through the
# root logger's handler (the CLI's) or Python's last-resort one it lands on the terminal. The
# typed error says what happened; paramiko's records stay out of the root logger. (A program
# that wants them: logging.getLogger("paramiko").propagate = True.)
_paramiko_log = logging.getLogger("paramiko")
_paramiko_log.addHandler(logging.NullHandler())
_paramiko_log.propagate = False

USER_KNOWN_HOSTS = "~/.ssh/known_hosts"
USER_SSH_CONFIG = "~/.ssh/config"
KILL_GRACE_S = 2.0  # SIGTERM -> SIGKILL delay of the remote `timeout`
LOCAL_GRACE_S = 5.0  # how long past the timeout we wait for the remote kill before hanging up

# Remote timeout wrapper when the device has no GNU `timeout` (busybox, minimal images): the
# device's python runs the command in its own session and kills the session when time is up.
_WATCHDOG = """\
import os, signal, subprocess, sys
try:
    p = subprocess.Popen(sys.argv[2:], start_new_session=True)
except OSError as e:
    sys.stderr.write("%s: %s\\n" % (sys.argv[2], e.strerror))
    sys.exit(127 if e.errno == 2 else 126)
try:
    rc = p.wait(timeout=float(sys.argv[1]))
except subprocess.TimeoutExpired:
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    sys.exit(124)
sys.exit(128 - rc if rc < 0 else rc)
"""


class SshDevice(SftpFiles, Device):
    """A host reached with paramiko. ``host``/``port``/``user``/``identity_file`` come from the
    inventory, then from the ``~/.ssh/config`` entry for ``ssh_alias`` (or the host)."""

    kind = "ssh"
    config_class = SshConfig

    def __init__(self, config: SshConfig):
        super().__init__(config)
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._timeout_wrapper: str | None = None  # "gnu" | "python" | "none", probed once
        self._resolve_target()
        user_kh = Path(USER_KNOWN_HOSTS).expanduser()
        self.known_hosts_files = [user_kh] + ([config.known_hosts] if config.known_hosts else [])
        self.tofu_file = config.known_hosts or user_kh  # where trust-on-first-use writes

    @property
    def workdir(self) -> str:
        """Absolute path on the device; a configured ``~`` or relative workdir is resolved
        against the remote home, so reading it connects if needed."""
        if self._workdir is None:
            self.connect()
        return self._workdir

    @workdir.setter
    def workdir(self, value: str) -> None:
        self._workdir = posixpath.normpath(value) if posixpath.isabs(value) else None

    @property
    def where(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    def _resolve_target(self) -> None:
        cfg = self.config
        lookup_name = cfg.ssh_alias or cfg.host
        if not lookup_name:
            raise DeviceError(f"{self.name}: no host (or ssh_alias) configured.")
        path = Path(cfg.ssh_config or USER_SSH_CONFIG).expanduser()
        found: dict = {}
        if path.is_file():
            try:
                ssh_config = paramiko.SSHConfig.from_path(str(path))
                found = dict(ssh_config.lookup(lookup_name))
            except Exception as exc:  # paramiko raises several kinds on a bad file
                raise DeviceError(f"{self.name}: cannot read SSH config {path}: {exc}") from exc
            if cfg.ssh_alias and not any(
                fnmatch.fnmatch(cfg.ssh_alias, pat)
                for pat in ssh_config.get_hostnames() if pat not in ("*", "?")
            ):
                raise DeviceError(f"{self.name}: ssh_alias '{cfg.ssh_alias}' is not a Host in {path}.")
        elif cfg.ssh_alias or cfg.ssh_config:
            raise DeviceError(f"{self.name}: SSH config {path} does not exist"
                              f"{f' (needed for ssh_alias {cfg.ssh_alias!r})' if cfg.ssh_alias else ''}.")
        if "proxycommand" in found or "proxyjump" in found:
            log.warning("%s: ProxyCommand/ProxyJump in %s are not supported; connecting directly.",
                        self.name, path)
        self.host = cfg.host or found.get("hostname") or lookup_name
        self.port = cfg.port or int(found.get("port", 22))
        self.user = cfg.user or found.get("user") or getpass.getuser()
        self.identity_file: Path | None = cfg.identity_file
        if self.identity_file is None:
            listed = [Path(p).expanduser() for p in found.get("identityfile", [])]
            self.identity_file = next((p for p in listed if p.is_file()), None)

    # -- connection ----------------------------------------------------------------------
    def connect(self) -> SshDevice:
        """Connect (idempotent), retrying unreachable hosts ``retries`` times with doubling
        backoff. Host-key and authentication failures are not retried."""
        if self._client is not None and self._active():
            return self
        self._drop()
        cfg = self.config
        attempts, delay = cfg.retries + 1, cfg.retry_backoff
        for attempt in range(1, attempts + 1):
            try:
                self._client = self._connect_once()
                break
            except DeviceUnreachableError as exc:
                if attempt == attempts == 1:
                    raise
                if attempt == attempts:
                    raise DeviceUnreachableError(
                        f"{exc} (after {attempts} attempts)",
                        hint=exc.hint,
                    ) from exc.__cause__
                log.info("%s: %s; retrying in %.1f s", self.name, exc, delay)
                time.sleep(delay)
                delay *= 2
        try:
            self._setup_workdir()
        except BaseException:
            self._drop()
            raise
        return self

    def _connect_once(self) -> paramiko.SSHClient:
        cfg, t = self.config, self.config.connect_timeout
        client = paramiko.SSHClient()
        user_kh, *extra = self.known_hosts_files
        if user_kh.is_file():
            client.load_system_host_keys(str(user_kh))
        for path in extra:
            if path.is_file():
                client.load_host_keys(str(path))
        client.set_missing_host_key_policy(
            TrustOnFirstUse(self) if cfg.trust_on_first_use else RefuseUnknown(self)
        )
        key = str(self.identity_file) if self.identity_file else None
        if key and not Path(key).is_file():
            raise DeviceAuthenticationError(f"{self.name}: identity_file {key} does not exist.")
        try:
            client.connect(
                self.host, port=self.port, username=self.user, key_filename=key,
                look_for_keys=key is None, allow_agent=True, timeout=t, banner_timeout=t,
                auth_timeout=t, channel_timeout=t,
            )
        except HostKeyError:
            client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyError(
                f"{self.name}: HOST KEY CHANGED for {self.host}:{self.port}: known_hosts has "
                f"{exc.expected_key.get_name()} {fingerprint(exc.expected_key)}, the server offers "
                f"{exc.key.get_name()} {fingerprint(exc.key)}. This may be a man-in-the-middle; "
                f"refusing to connect (trust_on_first_use never accepts a changed key).",
                hint=(f"If the device was reinstalled, remove the old key: ssh-keygen -R "
                      f"'[{self.host}]:{self.port}' -f FILE (for each of "
                      f"{', '.join(str(p) for p in self.known_hosts_files)})."),
            ) from exc
        except paramiko.AuthenticationException as exc:
            client.close()
            raise DeviceAuthenticationError(
                f"{self.name}: {self.where} refused authentication"
                f"{f' with key {key}' if key else ''}: {exc}",
                hint="Check user and identity_file (ssh -i KEY -p PORT USER@HOST true).",
            ) from exc
        except (paramiko.SSHException, OSError, EOFError) as exc:
            client.close()
            raise DeviceUnreachableError(
                f"{self.name}: cannot reach {self.host}:{self.port}: {self._reason(exc)}",
                hint="Is the device on, on the network, and running sshd on that port?",
            ) from exc
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(30)
        return client

    def _reason(self, exc: BaseException) -> str:
        t = self.config.connect_timeout
        if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError) and exc.errors:
            exc = next(iter(exc.errors.values()))
        if isinstance(exc, socket.gaierror):
            return f"cannot resolve host name ({exc.strerror or exc})"
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return f"TCP connect timed out after {t:g} s"
        if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
            return "connection refused (nothing listens on that port)"
        text = str(exc).lower()
        if isinstance(exc, paramiko.SSHException) and any(
            s in text for s in ("banner", "no existing session", "negotiation")
        ):  # paramiko's words for a handshake that did not finish in time
            return f"no SSH handshake within {t:g} s (not an SSH server, or overloaded)"
        if isinstance(exc, OSError) and exc.strerror:
            return exc.strerror.lower()
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

    def _setup_workdir(self) -> None:
        with self._errors("opening SFTP"):
            self._sftp = self._client.open_sftp()
            self._sftp.get_channel().settimeout(max(60.0, self.config.connect_timeout))
            home = self._sftp.normalize(".")
        wd = self.config.workdir or DEFAULT_WORKDIR
        if wd == "~" or wd.startswith("~/"):
            wd = home + wd[1:]
        elif not posixpath.isabs(wd):
            wd = posixpath.join(home, wd)
        self._workdir = posixpath.normpath(wd)
        with self._write_errors(self._workdir, self._workdir, 0), \
                self._errors(f"creating {self._workdir}"):
            self._sftp_makedirs(self._workdir)

    def _active(self) -> bool:
        transport = self._client.get_transport() if self._client else None
        return bool(transport and transport.is_active())

    def _drop(self) -> None:
        for thing in (self._sftp, self._client):
            if thing is not None:
                with contextlib.suppress(Exception):
                    thing.close()
        self._sftp = self._client = None

    def close(self) -> None:
        self._drop()

    def __enter__(self) -> SshDevice:
        return self.connect()

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn paramiko/socket failures into DeviceError; a lost connection is dropped so the
        next call reconnects."""
        try:
            yield
        except DeviceError:
            raise
        except (paramiko.SSHException, EOFError, OSError) as exc:
            if not self._active():
                self._drop()
                raise DeviceError(f"{self.name}: connection to {self.where} lost while {what}: "
                                  f"{exc or type(exc).__name__}") from exc
            raise DeviceError(f"{self.name}: {what} failed: {exc}") from exc

    # -- commands ------------------------------------------------------------------------
    def run(
        self,
        argv: list[str],
        timeout: float | None = None,
        check: bool = False,
        env: dict[str, str] | None = None,
    ) -> CommandResult:
        timeout = self.config.command_timeout if timeout is None else float(timeout)
        argv = check_command(argv, timeout, env)
        self.connect()
        wrapper = self._probe_timeout_wrapper()
        parts = (["env", *(f"{k}={v}" for k, v in env.items())] if env else []) + argv
        if wrapper == "gnu":
            parts = ["timeout", "-k", f"{KILL_GRACE_S:g}", f"{timeout:.3f}", *parts]
        elif wrapper == "python":
            parts = [self.python, "-c", _WATCHDOG, f"{timeout:.3f}", *parts]
        command = f"cd {shlex.quote(self.workdir)} && exec {shlex.join(parts)}"
        local_deadline = timeout + (LOCAL_GRACE_S if wrapper != "none" else 0.0)
        rc, out, err, seconds, hung_up = self._exec(command, local_deadline, f"running {argv[0]}")
        timed_out = hung_up or (wrapper != "none" and rc in (124, 137) and seconds >= timeout * 0.99)
        result = CommandResult(argv, rc, out, err, seconds, timed_out)
        return self._check_result(result, check)

    def _exec(self, command: str, deadline_s: float, what: str) -> tuple[int, str, str, float, bool]:
        """Run a shell command line; returns (returncode, stdout, stderr, seconds, hung_up).
        ``hung_up``: the deadline passed and the channel was closed."""
        start = time.perf_counter()
        transport = self._client.get_transport()
        with self._errors(what):
            chan = transport.open_session(timeout=self.config.connect_timeout)
            chan.exec_command(command)
            chan.shutdown_write()  # stdin at EOF: a command reading it must not wait forever
        out, err = bytearray(), bytearray()
        hung_up, idle = False, 0.001
        try:
            while True:
                got = False
                while chan.recv_ready():
                    out += chan.recv(1 << 16)
                    got = True
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(1 << 16)
                    got = True
                # exit-status can arrive before the last output: finished means EOF + status
                # (or closed), with both buffers drained
                done = chan.closed or (chan.eof_received and chan.exit_status_ready())
                if done and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
                if time.perf_counter() - start > deadline_s:
                    hung_up = True
                    break
                if not got:
                    time.sleep(idle)
                    idle = min(idle * 2, 0.01)
                else:
                    idle = 0.0005
        finally:
            seconds = time.perf_counter() - start
            if hung_up or not chan.exit_status_ready():
                chan.close()
        rc = chan.exit_status if chan.exit_status_ready() and not hung_up else -1
        if rc == -1 and not hung_up and not transport.is_active():
            self._drop()
            raise DeviceError(
                f"{self.name}: connection to {self.where} lost while {what} "
                f"(after {seconds:.1f} s); the command's outcome is unknown.",
                hint="The device may have rebooted, lost power or network; check it and retry.",
            )
        return (rc, out.decode("utf-8", errors="replace"), err.decode("utf-8", errors="replace"),
                seconds, hung_up)

    def _probe_timeout_wrapper(self) -> str:
        """How to kill a command remotely at its timeout: GNU ``timeout``, else the device's
        python as a watchdog, else only hang up (the command may then keep running)."""
        if self._timeout_wrapper is None:
            py = shlex.quote(self.python)
            probe = (f"timeout --version 2>&1 | head -n 1; "
                     f"{py} -c 'import subprocess; print(\"python-ok\")' 2>/dev/null")
            limit = self.config.connect_timeout * 3
            _, out, _, _, hung_up = self._exec(probe, limit, "probing tools")
            if hung_up:  # not "no tools": nothing answered, every command will be as slow
                raise DeviceError(
                    f"{self.name}: the first command on {self.where} (probing for GNU timeout "
                    f"and {self.python}) did not finish within {limit:g} s "
                    f"(3 x connect_timeout): the account's login shell may be slow to start "
                    f"(~/.bashrc, ~/.profile or ~/.zshenv waiting on something: a network "
                    f"mount, a lock, a version manager).",
                    hint=f"Time it: ssh -p {self.port} {self.user}@{self.host} true. Fix the "
                         "start-up file, or raise connect_timeout in the device's inventory "
                         "entry.")
            if "coreutils" in out:
                self._timeout_wrapper = "gnu"
            elif "python-ok" in out:
                self._timeout_wrapper = "python"
            else:
                self._timeout_wrapper = "none"
                log.warning("%s: no GNU timeout and no working %s on the device: a timed-out "
                            "command is hung up on but may keep running.", self.name, self.python)
        return self._timeout_wrapper
