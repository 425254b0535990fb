"""What a latency table is valid for: the device's hardware and software, not its name.

Two machines with the same CPU model and flags, core count, OS, architecture and runtime
version give the same fingerprint (a table built on one serves the other); a new runtime
release, another CPU or fewer cores is another device as far as latency goes.
"""

from __future__ import annotations

import hashlib
import json

FIELDS = ("cpu_model", "cpu_flags", "cores_logical", "os", "machine", "runtime",
          "runtime_version")


def device_fingerprint(environment: dict, runtime: str, runtime_version: str | None) -> dict:
    """The fingerprint fields from the runner's environment facts (``probe``/``measure``)."""
    return {"cpu_model": environment.get("cpu_model"),
            "cpu_flags": sorted(environment.get("cpu_flags") or []),
            "cores_logical": environment.get("cores_logical"),
            "os": environment.get("os"), "machine": environment.get("machine"),
            "runtime": runtime, "runtime_version": runtime_version}


def fingerprint_key(fp: dict) -> str:
    text = json.dumps({k: fp.get(k) for k in FIELDS}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def differences(a: dict, b: dict) -> list[str]:
    """``field: a != b`` for every field the two fingerprints disagree on."""
    return [f"{k}: {a.get(k)!r} != {b.get(k)!r}" for k in FIELDS if a.get(k) != b.get(k)]
