"""What the emulated aarch64 board is made of, pinned, and the hash that names its cache folder.

Debian packages come from the suite's signed archive (debootstrap checks the Release signature
with the host's debian-archive-keyring); the runtimes' aarch64 wheels are pinned by version and
sha256 and installed with ``--require-hashes``. Changing anything here changes
:func:`recipe_hash`, so a board built from an older recipe is never reused.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

RECIPE_VERSION = 1
BOARD_CACHE_ENV = "EDGE_VIT_BOARD_CACHE"

# (requirement, sha256) for CPython 3.11 (bookworm's python3) on manylinux aarch64: the three
# runtimes and everything they import, resolved once with `pip download --platform ...`.
WHEELS: tuple[tuple[str, str], ...] = (
    ("ai-edge-litert==2.1.0", "92b24d2507fccf5680c26e712c156266dcf64a892df3921dd42f4a7d26527462"),
    ("backports.strenum==1.2.8", "fc297cb26971f7d5e15a478a06a78575197f81daea47975771b1aae996dcccf4"),
    ("coloredlogs==15.0.1", "612ee75c546f53e92e70049c9dbfcc18c935a2b9a53b66085ce9ef6a6e5c0934"),
    ("flatbuffers==25.12.19", "7634f50c427838bb021c2d66a3d1168e9d199b0607e6329399f04846d42e20b4"),
    ("humanfriendly==10.0", "1697e1a8a8f550fd43c2865cd84542fc175a61dcb779b6fee18cf6b6ccba1477"),
    ("mpmath==1.3.0", "a0b2b9fe80bbcd81a6647ff13108738cfb482d481d826cc0e02f5b35e5c88d2c"),
    ("numpy==1.26.4", "7ab55401287bfec946ced39700c053796e7cc0e3acbef09993a9ad2adba6ca6e"),
    ("onnxruntime==1.23.0", "e8634c5f54774df1e4d1debfdf2ca8f3274fe4ffc816ff5f861c01c48468a2c4"),
    ("openvino==2026.4.1", "bea1eb3733c34ef331adc945da0ccda5937865031139073663be84c517ffda22"),
    ("openvino-telemetry==2025.2.0", "bcb667e83a44f202ecf4cfa49281715c6d7e21499daec04ff853b7f964833599"),
    ("packaging==26.4", "81383611a09c1bc0b08b76e0fd5829d7c6824c65b27a6aee339da133f4233ea2"),
    ("protobuf==7.36.2", "e11e1f0180583a2af89db6a2ecd9e8dc40aa6d2988ca175bfd0e6d12ea72d74e"),
    ("sympy==1.14.0", "e091cc3e99d2141a0ba2847328f5479b05d94a6635cb96148ccb3f34671bd8f5"),
    ("tqdm==4.70.1", "c293e525e6fef9c20e8728fd4612df02a0aa31bb5fe91ecd93e123b1b7bffa73"),
    ("typing-extensions==4.16.0", "481caa481374e813c1b176ada14e97f1f67a4539ce9cfeb3f350d78d6370c2e8"),
)

# The manylinux tags pip may take for aarch64 (pip download needs each one named).
PLATFORMS = ("manylinux2014_aarch64",) + tuple(
    f"manylinux_2_{minor}_aarch64" for minor in (17, 27, 28, 31, 34, 35, 36))

# A Cortex-A72 (the Raspberry Pi 4's core): qemu-user shows the host's /sys, which describes an
# x86 CPU that onnxruntime's cpuinfo rejects (it aborts at import) and OpenVINO's ARM plugin
# segfaults on; the board gets its own /sys/devices/system/cpu instead.
CPU_MIDR = "0x00000000410fd083"
# ... and qemu emulates that core (QEMU_CPU in every board process), not its default "max"
# CPU with SVE and SME, on which LiteRT's XNNPACK took 14.5 s per demo inference against
# 1.0 s as a Cortex-A72 (2026-12-03, qemu 7.2 on a Xeon host)
QEMU_CPU = "cortex-a72"
CPUS = 2

# The stand-in for Raspberry Pi OS's vcgencmd: reads its answers from a file a test may change.
VCGENCMD = """#!/bin/sh
# edge-vit emulated board: a stand-in for Raspberry Pi OS's vcgencmd (no VideoCore here).
state=/etc/edge-vit/throttled
case "$1" in
  get_throttled) echo "throttled=$(cat "$state" 2>/dev/null || echo 0x0)" ;;
  measure_temp) echo "temp=$(cat /etc/edge-vit/temp 2>/dev/null || echo 45.0)'C" ;;
  *) echo "vcgencmd stand-in: unknown command $1" >&2; exit 2 ;;
esac
"""

EMULATION_LABEL = "qemu-user"  # what the board's /etc/edge-vit/emulated says


@dataclass(frozen=True)
class Recipe:
    suite: str = "bookworm"
    arch: str = "arm64"
    variant: str = "minbase"
    mirror: str = "http://deb.debian.org/debian"
    packages: tuple[str, ...] = ("python3", "python3-pip", "openssh-server")
    python_version: str = "3.11"
    wheels: tuple[tuple[str, str], ...] = WHEELS
    cpu_midr: str = CPU_MIDR
    cpus: int = CPUS
    vcgencmd: str = VCGENCMD
    version: int = RECIPE_VERSION
    extra: dict = field(default_factory=dict)

    def key(self) -> str:
        """The first 16 hex digits of the sha256 of everything the board is built from."""
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def requirements(self) -> str:
        """A requirements file with every wheel's hash (for ``pip --require-hashes``)."""
        return "".join(f"{req} --hash=sha256:{digest}\n" for req, digest in self.wheels)


def board_cache() -> Path:
    """Where boards are built: ``$EDGE_VIT_BOARD_CACHE``, else ``$XDG_CACHE_HOME`` or
    ``~/.cache``, then ``edge-vit/boards``. Kept apart from ``$EDGE_VIT_CACHE`` so that a
    throwaway evaluation cache (the tests use one) does not throw away a 350 MB root file system."""
    env = os.environ.get(BOARD_CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edge-vit" / "boards"
