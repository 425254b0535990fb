"""Device configurations: what every kind has, and what each kind adds in its own dataclass.

A kind's device class names its config class (``Device.config_class``); the inventory reads a
``[devices.NAME]`` table into that class: every key must be one of its fields, each value must
have the field's type (from the annotation), and ``problems()`` adds the kind's own rules. A
field's ``metadata={"expect": ..., "check": ...}`` states a constraint beyond the type, in the
words the error message uses. Path fields are resolved relative to the inventory file.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _positive(v: float) -> bool:
    return v > 0


def _non_negative(v: float) -> bool:
    return v >= 0


@dataclass
class DeviceConfig:
    """Every kind: ``python=None`` means the running interpreter for ``local`` and ``python3``
    elsewhere; ``workdir=None`` means ``~/.cache/edge-vit/device``."""

    name: str = "local"
    kind: str = "local"
    python: str | None = None
    workdir: str | None = None
    runtimes: list[str] = field(default_factory=list)  # preferred order, where a kind uses it
    command_timeout: float = field(default=600.0, metadata={  # default for Device.run
        "check": _positive, "expect": "a number > 0"})
    source: Path | None = None  # the inventory file it came from; None when built in

    def problems(self) -> list[str]:
        """What is wrong beyond types and per-field checks, naming the key."""
        return []


@dataclass
class SshConfig(DeviceConfig):
    """A host reached over SSH (``ssh``, ``rpi``, ``jetson``): ``host`` or ``ssh_alias``."""

    kind: str = "ssh"
    host: str | None = None
    port: int | None = field(default=None, metadata={  # None: from ~/.ssh/config, else 22
        "check": lambda v: 0 < v < 65536, "expect": "an integer 1-65535"})
    user: str | None = None  # None: from ~/.ssh/config, else the local user
    identity_file: Path | None = None
    ssh_alias: str | None = None
    ssh_config: Path | None = None  # None: ~/.ssh/config
    known_hosts: Path | None = None  # checked besides ~/.ssh/known_hosts; TOFU writes here
    trust_on_first_use: bool = False
    connect_timeout: float = field(default=10.0, metadata={  # seconds, per attempt
        "check": _positive, "expect": "a number > 0"})
    retries: int = field(default=2, metadata={  # extra connection attempts when unreachable
        "check": _non_negative, "expect": "an integer >= 0"})
    retry_backoff: float = field(default=1.0, metadata={  # seconds before the first retry
        "check": _non_negative, "expect": "a number >= 0"})

    def problems(self) -> list[str]:
        if not (self.host or self.ssh_alias):
            return [f"key 'host' (or 'ssh_alias') is required for kind '{self.kind}'."]
        return []


# ---------------------------------------------------------------- reading a table into a config

NOT_KEYS = ("name", "source")  # set by the inventory, never written in a table


def keys(cls: type[DeviceConfig]) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.name not in NOT_KEYS]


def _base_type(hint: Any) -> Any:
    """``str | None`` -> str; ``list[str]`` stays."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else hint
    return hint


_TYPE_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               Path: "a path string"}


def _type_ok(kind: Any, value: Any) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind in (str, Path):
        return isinstance(value, str)
    if typing.get_origin(kind) is list:
        return isinstance(value, list) and all(isinstance(x, str) for x in value)
    return True


def _type_words(kind: Any) -> str:
    return "a list of strings" if typing.get_origin(kind) is list else _TYPE_WORDS.get(kind, str(kind))


def check_value(cls: type[DeviceConfig], key: str, value: Any) -> str | None:
    """What is wrong with ``value`` for field ``key`` (the expected type, in words), or None."""
    f = {f.name: f for f in dataclasses.fields(cls)}[key]
    kind = _base_type(typing.get_type_hints(cls)[key])
    expect = f.metadata.get("expect") or _type_words(kind)
    if not _type_ok(kind, value):
        return expect
    check = f.metadata.get("check")
    return expect if check is not None and not check(value) else None


def convert(cls: type[DeviceConfig], key: str, value: Any, base: Path) -> Any:
    """A checked TOML value as the field holds it: paths expanded (relative to ``base``),
    numbers as floats where the field is a float, lists copied."""
    kind = _base_type(typing.get_type_hints(cls)[key])
    if kind is Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else (base / p).resolve()
    if kind is float:
        return float(value)
    return list(value) if isinstance(value, list) else value
