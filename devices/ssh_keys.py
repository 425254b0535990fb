"""Host-key policies of SSH devices: an unknown key is refused (with the fingerprint and how to
check it) unless the inventory trusts on first use, which is logged loudly and written to
known_hosts; a changed key is always refused (paramiko's BadHostKeyException)."""

from __future__ import annotations

import base64
import hashlib
import logging

import paramiko

from edge_vit.errors import HostKeyError

log = logging.getLogger("edge_vit.devices")


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style ``SHA256:...`` fingerprint."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class RefuseUnknown(paramiko.RejectPolicy):
    def __init__(self, device):
        self.device = device

    def missing_host_key(self, client, hostname, key):
        d = self.device
        raise HostKeyError(
            f"{d.name}: the host key of {hostname} is not in known_hosts "
            f"({', '.join(str(p) for p in d.known_hosts_files)}); the server offers "
            f"{key.get_name()} {fingerprint(key)}. Refusing to connect.",
            hint=(f"Check that fingerprint on the device (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), "
                  f"then add it: ssh-keyscan -p {d.port} {d.host} >> {d.tofu_file}; or set "
                  f"trust_on_first_use = true for [devices.{d.name}] (accepts an unknown key once, "
                  f"never a changed one)."),
        )


class TrustOnFirstUse(paramiko.MissingHostKeyPolicy):
    def __init__(self, device):
        self.device = device

    def missing_host_key(self, client, hostname, key):
        path = self.device.tofu_file
        client.get_host_keys().add(hostname, key.get_name(), key)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        needs_newline = path.is_file() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
        with open(path, "a", encoding="ascii") as fh:
            fh.write(("\n" if needs_newline else "") + f"{hostname} {key.get_name()} {key.get_base64()}\n")
        log.warning(
            "TRUST ON FIRST USE: %s: accepted the UNKNOWN host key of %s (%s %s) and saved it to "
            "%s. Verify this fingerprint on the device; a later change will be refused.",
            self.device.name, hostname, key.get_name(), fingerprint(key), path,
        )
