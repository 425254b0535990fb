"""Which devices measure the CPU of the machine that reaches them.

A profile there must run alone: any export, fine-tune or evaluation beside it would be timed
into its latency. That is the ``local`` device and every board reached over loopback (an SSH
host on 127.0.0.1, an emulated board under qemu): they run on the very cores the other units
use. A real board on the network has its own CPU; its profile may overlap other work here.
"""

from __future__ import annotations

import ipaddress

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def measures_this_machine(config) -> bool:
    """Whether profiling ``config`` (a device config) times this machine's own CPU."""
    if config.kind == "local":
        return True
    return is_loopback(getattr(config, "host", None))
