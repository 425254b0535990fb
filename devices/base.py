"""The device interface (httpx-transport small) and its registry.

A device is a transport — ``push(files)``, ``run(argv, timeout)``, ``fetch(path)``, ``close()``
on a work directory — plus a profiler strategy (:mod:`devices.profiler`: the Python runner, or
a board's native tool) and a config dataclass of its kind (:mod:`devices.config`); profiling is
written once on top of them. Each kind lives in
its own module, imported only when used ("module:Class" strings, fsspec-style), so paramiko is
never imported for a local run. Third parties add kinds through the ``edge_vit.devices``
entry-point group.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import posixpath
import re
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import ClassVar

from devices.config import DeviceConfig
from devices.profiler import Profiler
from edge_vit.errors import DeviceCommandError, DeviceError, MissingRuntimeError, UsageError
from edge_vit.files import file_sha256 as sha256_file
from edge_vit.plugins import entry_points

# kind -> "module:Class"
DEVICE_KINDS: dict[str, str] = {
    "local": "devices.local:LocalDevice",
    "ssh": "devices.ssh:SshDevice",
    "rpi": "devices.rpi:RaspberryPiDevice",
    "jetson": "devices.jetson:JetsonDevice",
}
DEFAULT_WORKDIR = "~/.cache/edge-vit/device"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Run by the device's own python when it has no sha256sum: prints {relpath: sha256} for the
# files that exist. Kept Python-3.5 compatible (old Jetson images).
_HASH_SCRIPT = """\
import hashlib, json, sys
out = {}
for p in sys.argv[1:]:
    try:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for b in iter(lambda: f.read(1 << 20), b""):
                h.update(b)
        out[p] = h.hexdigest()
    except (IOError, OSError):
        pass
print(json.dumps(out))
"""


@dataclass
class CommandResult:
    """What one command did. ``timed_out`` commands were killed; their output is partial."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


@dataclass
class PushedFile:
    local: Path
    remote: str  # relative to the device work directory
    size: int
    sha256: str
    transferred: bool  # False: the device already held the same bytes


@dataclass
class PushReport:
    files: list[PushedFile] = field(default_factory=list)
    bytes_transferred: int = 0
    seconds: float = 0.0

    @property
    def transferred(self) -> list[str]:
        return [f.remote for f in self.files if f.transferred]

    @property
    def skipped(self) -> list[str]:
        return [f.remote for f in self.files if not f.transferred]


def check_relpath(rel: str) -> str:
    """A push destination must stay inside the work directory: relative, no '..'."""
    text = str(rel)
    p = PurePosixPath(text)
    if not text or p.is_absolute() or ".." in p.parts or "\n" in text or "\0" in text or p == PurePosixPath("."):
        raise UsageError(f"Device path {text!r} must be a relative path inside the work directory.")
    return str(p)


def check_command(argv: list[str], timeout: float, env: dict[str, str] | None = None) -> list[str]:
    """Validate a run request before anything is sent; returns argv as strings."""
    if isinstance(argv, (str, bytes)) or not argv:
        raise UsageError(f"A device command is a non-empty list of arguments, got {argv!r}.")
    if not timeout > 0:
        raise UsageError(f"A command timeout must be > 0 seconds, got {timeout!r}.")
    for key in env or {}:
        if not _ENV_NAME.match(key):
            raise UsageError(f"Bad environment variable name {key!r}.")
    return [str(a) for a in argv]


class Device:
    """Base class. Subclasses implement ``run``, ``fetch``, ``close`` and the two upload
    primitives (``_makedirs``, ``_upload_atomic``); ``push`` is written once here."""

    kind: ClassVar[str]
    config_class: ClassVar[type[DeviceConfig]] = DeviceConfig  # what the inventory reads
    profiler_class: ClassVar[type[Profiler]] = Profiler  # how plans are measured on it

    def __init__(self, config: DeviceConfig):
        if not isinstance(config, self.config_class):
            raise UsageError(f"A {self.kind} device takes a {self.config_class.__name__}, "
                             f"got {type(config).__name__}.")
        self.config = config
        self.name = config.name
        self.python = config.python or "python3"
        self.workdir = config.workdir or DEFAULT_WORKDIR
        self.profiler = self.profiler_class(self)

    def board_check(self) -> dict | None:
        """Board state (throttling, power mode) that ``probe`` adds to the board facts; None
        for a kind with nothing to check."""
        return None

    # -- the interface -------------------------------------------------------------------
    def run(
        self,
        argv: list[str],
        timeout: float | None = None,
        check: bool = False,
        env: dict[str, str] | None = None,
    ) -> CommandResult:
        """Run ``argv`` (a list, never a shell string) in the work directory; ``timeout``
        defaults to the config's ``command_timeout``; the command is killed when it expires."""
        raise NotImplementedError

    def fetch(self, remote_rel: str, local_path: str | Path) -> Path:
        """Copy a file (relative to the work directory, or absolute) to ``local_path``
        atomically; returns the local path."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def push(self, files: list[tuple[Path, str]]) -> PushReport:
        """Copy ``(local path, path relative to the work directory)`` pairs to the device.

        A file the device already holds with the same sha256 is skipped; others are written to
        a temporary name in the same directory and renamed into place, so a reader never sees
        half a file and an interrupted push leaves the old file intact."""
        start = time.perf_counter()
        items = []
        for local, rel in files:
            local = Path(local)
            if not local.is_file():
                raise UsageError(f"Cannot push {local}: not a file.")
            items.append((local, check_relpath(rel)))
        have = self.remote_sha256([rel for _, rel in items]) if items else {}
        report = PushReport()
        made: set[str] = set()
        for local, rel in items:
            digest = sha256_file(local)
            size = local.stat().st_size
            send = have.get(rel) != digest
            if send:
                parent = posixpath.dirname(rel)
                if parent not in made:
                    self._makedirs(parent)
                    made.add(parent)
                self._upload_atomic(local, rel)
                report.bytes_transferred += size
            report.files.append(PushedFile(local, rel, size, digest, send))
        report.seconds = time.perf_counter() - start
        return report

    # -- helpers subclasses may override -------------------------------------------------------
    def remote_sha256(self, rels: list[str]) -> dict[str, str]:
        """sha256 of the given work-directory files that exist, in one command: ``sha256sum``,
        or the device's python when sha256sum is missing."""
        res = self.run(["sha256sum", "--", *rels], timeout=self.config.command_timeout)
        if res.returncode == 127:  # command not found
            res = self.run([self.python, "-c", _HASH_SCRIPT, *rels],
                           timeout=self.config.command_timeout)
            if res.returncode != 0:
                raise DeviceError(
                    f"{self.name}: cannot hash files on the device (no sha256sum, and "
                    f"{self.python} failed: {res.stderr.strip()[-300:]})"
                )
            try:
                return dict(json.loads(res.stdout))
            except ValueError as exc:
                raise DeviceError(f"{self.name}: bad hash output {res.stdout[:200]!r}") from exc
        out: dict[str, str] = {}
        for line in res.stdout.splitlines():
            digest, sep, name = line.partition("  ")
            if not sep:
                digest, sep, name = line.partition(" *")  # binary-mode marker
            if sep and len(digest) == 64 and not digest.startswith("\\"):
                out[name] = digest
        return out

    def _makedirs(self, rel_dir: str) -> None:
        raise NotImplementedError

    def _upload_atomic(self, local: Path, rel: str) -> None:
        raise NotImplementedError

    def _check_result(self, result: CommandResult, check: bool) -> CommandResult:
        if check and not result.ok:
            what = (f"timed out after {result.seconds:.1f} s" if result.timed_out
                    else f"exited {result.returncode}")
            tail = result.stderr.strip()[-500:]
            raise DeviceCommandError(
                f"{self.name}: {shlex.join(result.argv)[:200]} {what}" + (f": {tail}" if tail else ""),
                result=result,
            )
        return result

    # -- context manager -----------------------------------------------------------------
    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, kind={self.kind!r})"


def _entry_point_kinds() -> dict[str, str]:
    return entry_points("edge_vit.devices")


def available_kinds() -> list[str]:
    return list({**DEVICE_KINDS, **_entry_point_kinds()})


def device_class(kind: str) -> type[Device]:
    table = {**DEVICE_KINDS, **_entry_point_kinds()}
    if kind not in table:
        raise UsageError(f"Unknown device kind '{kind}'. Known: {', '.join(table)}.")
    module, cls = table[kind].split(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        raise MissingRuntimeError(
            f"Device kind '{kind}' needs {missing}, which is not installed.",
            hint="pip install 'paramiko>=3.4'" if "paramiko" in str(missing) else None,
        ) from exc


def open_device(config: DeviceConfig) -> Device:
    """The device for ``config`` (not yet connected: SSH kinds connect on first use or on
    ``with``)."""
    return device_class(config.kind)(config)
