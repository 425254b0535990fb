"""The sweep tests reuse the device tests' real loopback sshd."""

from tests.devices.conftest import _ssh_client_key, sshd  # noqa: F401
