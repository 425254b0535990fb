"""Devices: where exported models are measured — this machine, SSH hosts, Raspberry Pis, Jetsons.

A device is ``push(files)``, ``run(argv, timeout)``, ``fetch(path)``, ``close()`` on a work
directory (see :mod:`devices.base`); :mod:`devices.inventory` reads the named devices of
``devices.toml``. Kinds are imported on first use, so paramiko loads only for SSH devices.
"""

from devices.base import (
    DEVICE_KINDS,
    CommandResult,
    Device,
    PushedFile,
    PushReport,
    available_kinds,
    device_class,
    open_device,
)
from devices.config import DeviceConfig, SshConfig
from devices.inventory import Inventory, get_device_config, load_inventory

__all__ = [
    "DEVICE_KINDS",
    "CommandResult",
    "Device",
    "DeviceConfig",
    "Inventory",
    "PushReport",
    "PushedFile",
    "SshConfig",
    "available_kinds",
    "device_class",
    "get_device_config",
    "load_inventory",
    "open_device",
]
