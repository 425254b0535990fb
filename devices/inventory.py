"""The device inventory: named devices in a TOML file, checked strictly when loaded.

Each ``[devices.NAME]`` table is read into the config dataclass of its kind (``kind`` names it;
the keys are that dataclass's fields, checked by type and by the kind's own rules: see
:mod:`devices.config`). Example ``devices.toml`` (every key but ``kind`` is optional; the SSH
kinds need ``host`` or ``ssh_alias``)::

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devices import config as cfgs
from devices.base import available_kinds, device_class
from devices.config import DeviceConfig, SshConfig
from edge_vit.errors import EdgeVitError, InventoryError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ENV_VAR = "EDGE_VIT_DEVICES"
USER_INVENTORY = "~/.config/edge-vit/devices.toml"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


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


__all__ = ["DeviceConfig", "Inventory", "SshConfig", "find_inventory", "get_device_config",
           "load_inventory"]


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
    """``[devices.NAME]`` read into the config class of its kind (see :mod:`devices.config`)."""
    where = f"{path}: [devices.{name}]"
    if not _NAME_RE.match(name):
        raise InventoryError(f"{where}: device names use letters, digits, '_', '.', '-'.")
    if not isinstance(entry, dict):
        raise InventoryError(f"{where}: must be a table, got {type(entry).__name__}.")
    kinds = available_kinds()
    if "kind" not in entry:
        raise InventoryError(f"{where}: key 'kind' is missing (one of {', '.join(kinds)}).")
    kind = entry["kind"]
    if not isinstance(kind, str) or kind not in kinds:
        raise InventoryError(f"{where}: key 'kind' is {kind!r}, not one of {', '.join(kinds)}.")
    if name == "local" and kind != "local":
        raise InventoryError(f"{where}: key 'kind': the name 'local' is kept for kind 'local'.")
    try:
        cls = device_class(kind).config_class
    except EdgeVitError as exc:
        raise InventoryError(f"{where}: kind '{kind}': {exc}", hint=exc.hint) from exc
    known = cfgs.keys(cls)
    values: dict[str, Any] = {}
    for key, value in entry.items():
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise InventoryError(f"{where}: unknown key '{key}' for kind '{kind}'.{hint} "
                                 f"Known: {', '.join(known)}.")
        expected = cfgs.check_value(cls, key, value)
        if expected is not None:
            raise InventoryError(f"{where}: key '{key}' must be {expected}, got {value!r}.")
        values[key] = cfgs.convert(cls, key, value, path.parent)
    config = cls(name=name, source=path, **values)
    problems = config.problems()
    if problems:
        raise InventoryError(f"{where}: {problems[0]}")
    return config
