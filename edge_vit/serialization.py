"""The one serializer for edge-vit's typed results: dataclasses <-> JSON-ready dicts.

Every result type (manifest, parity report, prune spec, ...) is a dataclass; this module turns
any of them into plain dicts and back, guided by the type hints, so JSON and any other output
(CSV, tables) derive from one place and cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def to_dict(obj: Any) -> Any:
    """Recursively convert dataclasses, paths, tuples and dicts to JSON-ready values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None  # "not measured": strict JSON has no NaN/Infinity
    return obj


def _build(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _build(args[0], value) if len(args) == 1 else value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value)
    if origin in (list, tuple):
        args = typing.get_args(tp)
        items = [_build(args[0] if args else Any, v) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        _, vt = typing.get_args(tp) or (Any, Any)
        return {k: _build(vt, v) for k, v in value.items()}
    if tp is Path:
        return Path(value)
    return value


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build ``cls`` from a dict made by :func:`to_dict`; unknown keys are ignored so newer
    files still load in older readers of the same schema major version."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            kwargs[f.name] = _build(hints[f.name], data[f.name])
    return cls(**kwargs)


def dumps(obj: Any) -> str:
    return json.dumps(to_dict(obj), indent=2, sort_keys=False, allow_nan=False) + "\n"


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON so that a reader (or a crash) never sees half a file."""
    from .files import write_text_atomic

    write_text_atomic(path, dumps(obj))
