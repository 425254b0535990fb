"""The device inventory: named devices in a TOML file, checked strictly when loaded.

Example ``devices.toml`` (every key but ``kind`` is optional; ssh kinds need ``host`` or
``ssh_alias``)::

    [devices.pi4]
    kind = "rpi"                        # local | ssh | rpi | jetson (or an entry-point kind)
    host = "192.168.1.40"
    user = "pi"
    identity_file = "~/.ssh/id_ed25519"
    runtimes = ["tflite", "onnxruntime"]  # preferred order

    [devices.orin]
    kind = "jetson"
    ssh_alias = "orin"                  # a Host in ~/.ssh/config: HostName, Port, User, IdentityFile
    known_hosts = "lab_known_hosts"     # relative paths are relative to this file
    python = "/usr/bin/python3.10"
    workdir = "/data/edge-vit"          # default ~/.cache/edge-vit/device on the device
    connect_timeout = 5.0
    command_timeout = 900.0
    retries = 3
    retry_backoff = 2.0

    [devices.bench]
    kind = "ssh"
    host = "bench.lab"
    port = 2222
    trust_on_first_use = true           # accept an UNKNOWN host key once (logged); never a changed one

A built-in ``local`` device always exists; ``[devices.local]`` may refine it (workdir, python,
runtimes). The file is found from ``$EDGE_VIT_DEVICES``, ``./devices.toml``, then
``~/.config/edge-vit/devices.toml``.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devices.base import SSH_KINDS, available_kinds
from edge_vit.errors import InventoryError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ENV_VAR = "EDGE_VIT_DEVICES"
USER_INVENTORY = "~/.config/edge-vit/devices.toml"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class DeviceConfig:
    """Everything needed to open one device. ``python=None`` means the running interpreter for
    ``local`` and ``python3`` elsewhere; ``workdir=None`` means ``~/.cache/edge-vit/device``."""

    name: str = "local"
    kind: str = "local"
    host: str | None = None
    port: int | None = None  # None: from ~/.ssh/config, else 22
    user: str | None = None  # None: from ~/.ssh/config, else the local user
    identity_file: Path | None = None
    ssh_alias: str | None = None
    ssh_config: Path | None = None  # None: ~/.ssh/config
    known_hosts: Path | None = None  # checked besides ~/.ssh/known_hosts; TOFU writes here
    trust_on_first_use: bool = False
    python: str | None = None
    workdir: str | None = None
    runtimes: list[str] = field(default_factory=list)
    connect_timeout: float = 10.0  # seconds, per connection attempt
    command_timeout: float = 600.0  # default for Device.run
    retries: int = 2  # extra connection attempts when unreachable
    retry_backoff: float = 1.0  # seconds before the first retry; doubles each time
    source: Path | None = None  # the inventory file it came from; None when built in


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


# key -> (check, description of the expected type)
_KEYS: dict[str, tuple[Any, str]] = {
    "kind": (_is_str, "a string"),
    "host": (_is_str, "a string"),
    "port": (lambda v: _is_int(v) and 0 < v < 65536, "an integer 1-65535"),
    "user": (_is_str, "a string"),
    "identity_file": (_is_str, "a path string"),
    "ssh_alias": (_is_str, "a string"),
    "ssh_config": (_is_str, "a path string"),
    "known_hosts": (_is_str, "a path string"),
    "trust_on_first_use": (lambda v: isinstance(v, bool), "true or false"),
    "python": (_is_str, "a string"),
    "workdir": (_is_str, "a string"),
    "runtimes": (_is_str_list, "a list of strings"),
    "connect_timeout": (lambda v: _is_number(v) and v > 0, "a number > 0"),
    "command_timeout": (lambda v: _is_number(v) and v > 0, "a number > 0"),
    "retries": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "retry_backoff": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
}
_PATH_KEYS = ("identity_file", "ssh_config", "known_hosts")
_FLOAT_KEYS = ("connect_timeout", "command_timeout", "retry_backoff")


@dataclass
class Inventory:
    """The devices of one inventory file (``path`` is None when only the built-in exists)."""

    path: Path | None
    devices: dict[str, DeviceConfig]

    def names(self) -> list[str]:
        return list(self.devices)

    def get(self, name: str) -> DeviceConfig:
        if name in self.devices:
            return self.devices[name]
        close = difflib.get_close_matches(name, list(self.devices), n=3)
        where = f" in {self.path}" if self.path else " (no inventory file found)"
        msg = f"Unknown device '{name}'{where}."
        if close:
            msg += f" Did you mean {', '.join(repr(c) for c in close)}?"
        raise InventoryError(
            msg + f" Known: {', '.join(self.devices)}.",
            hint=f"Add [devices.{name}] to {self.path or find_inventory_hint()}.",
        )


def builtin_local() -> DeviceConfig:
    return DeviceConfig(name="local", kind="local")


def find_inventory_hint() -> str:
    return f"./devices.toml, {USER_INVENTORY} or the file named by ${ENV_VAR}"


def find_inventory() -> Path | None:
    """The inventory file to use: ``$EDGE_VIT_DEVICES`` (must exist), ``./devices.toml``,
    ``~/.config/edge-vit/devices.toml``; None when there is none."""
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise InventoryError(f"${ENV_VAR} names {path}, which is not a file.")
        return path
    for candidate in (Path.cwd() / "devices.toml", Path(USER_INVENTORY).expanduser()):
        if candidate.is_file():
            return candidate
    return None


def load_inventory(path: str | Path | None = None) -> Inventory:
    """Read and check an inventory; ``path=None`` searches (see :func:`find_inventory`)."""
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise InventoryError(f"Device inventory {path} does not exist.")
    else:
        path = find_inventory()
    devices = {"local": builtin_local()}
    if path is None:
        return Inventory(path=None, devices=devices)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(f"{path}: cannot read the device inventory: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError(f"{path}: not valid TOML: {exc}") from exc
    extra = sorted(set(data) - {"devices"})
    if extra:
        raise InventoryError(f"{path}: unknown top-level key(s) {extra}; only [devices.NAME] tables.")
    table = data.get("devices", {})
    if not isinstance(table, dict):
        raise InventoryError(f"{path}: 'devices' must be a table of [devices.NAME] tables.")
    for name, entry in table.items():
        devices[name] = _parse_device(path, name, entry)
    return Inventory(path=path, devices=devices)


def get_device_config(name: str, path: str | Path | None = None) -> DeviceConfig:
    """The named device of the inventory at ``path`` (or the one found by searching)."""
    return load_inventory(path).get(name)


def _parse_device(path: Path, name: str, entry: Any) -> DeviceConfig:
    where = f"{path}: [devices.{name}]"
    if not _NAME_RE.match(name):
        raise InventoryError(f"{where}: device names use letters, digits, '_', '.', '-'.")
    if not isinstance(entry, dict):
        raise InventoryError(f"{where}: must be a table, got {type(entry).__name__}.")
    for key, value in entry.items():
        if key not in _KEYS:
            close = difflib.get_close_matches(key, list(_KEYS), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise InventoryError(f"{where}: unknown key '{key}'.{hint} Known: {', '.join(_KEYS)}.")
        check, expected = _KEYS[key]
        if not check(value):
            raise InventoryError(f"{where}: key '{key}' must be {expected}, got {value!r}.")
    if "kind" not in entry:
        raise InventoryError(f"{where}: key 'kind' is missing (one of {', '.join(available_kinds())}).")
    kind = entry["kind"]
    kinds = available_kinds()
    if kind not in kinds:
        raise InventoryError(f"{where}: key 'kind' is '{kind}', not one of {', '.join(kinds)}.")
    if name == "local" and kind != "local":
        raise InventoryError(f"{where}: key 'kind': the name 'local' is kept for kind 'local'.")
    if kind in SSH_KINDS and not (entry.get("host") or entry.get("ssh_alias")):
        raise InventoryError(f"{where}: key 'host' (or 'ssh_alias') is required for kind '{kind}'.")
    values: dict[str, Any] = dict(entry)
    for key in _PATH_KEYS:
        if key in values:
            p = Path(values[key]).expanduser()
            values[key] = p if p.is_absolute() else (path.parent / p).resolve()
    for key in _FLOAT_KEYS:
        if key in values:
            values[key] = float(values[key])
    if "runtimes" in values:
        values["runtimes"] = list(values["runtimes"])
    return DeviceConfig(name=name, source=path, **values)
