"""Where evaluation keeps what it already computed, so a re-run is instant.

``<root>/eval/results/<key>.json``: one finished evaluation (the AccuracyResult, the
per-image top-1 predictions and labels, and the key fields it was stored under).
``<root>/eval/images/<fingerprint>-<config>/``: preprocessed pixels (see preprocess.py).

``<root>`` is, in order: the ``cache_dir`` argument, ``$EDGE_VIT_CACHE``, ``~/.cache/edge-vit``.
A key is the sha256 of its fields as canonical JSON; any field that could change a prediction
(artifact bytes, runtime and its version, precision mode, data fingerprint, subset, labels,
preprocessing, host CPU) is one of them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..files import cache_root
from ..results import AccuracyResult
from ..serialization import from_dict, to_dict, write_json_atomic

log = logging.getLogger(__name__)

CACHE_VERSION = 1


def eval_cache_dir(cache_dir: Path | None = None) -> Path:
    return cache_root(cache_dir) / "eval"


def key_of(fields: dict[str, Any]) -> str:
    text = json.dumps({"cache_version": CACHE_VERSION, **fields}, sort_keys=True,
                      separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@lru_cache(maxsize=1)
def host_id() -> str:
    """Machine + CPU model: OpenVINO's default precision (and fp rounding) follows the CPU."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()}/{platform.machine()}/{cpu}"


@dataclass
class CachedEvaluation:
    result: AccuracyResult
    top1: np.ndarray  # per-image predicted class, in the data's order
    labels: np.ndarray  # per-image true class of the images scored


class ResultCache:
    """A folder of finished evaluations; ``enabled=False`` reads and writes nothing."""

    def __init__(self, cache_dir: Path | None = None, enabled: bool = True):
        self.dir = eval_cache_dir(cache_dir) / "results"
        self.enabled = enabled

    def path(self, fields: dict[str, Any]) -> Path:
        return self.dir / f"{key_of(fields)}.json"

    def get(self, fields: dict[str, Any]) -> CachedEvaluation | None:
        if not self.enabled:
            return None
        path = self.path(fields)
        try:
            data = json.loads(path.read_text())
            result = from_dict(AccuracyResult, data["result"])
            top1 = np.asarray(data["top1"], dtype=np.int64)
            labels = np.asarray(data["labels"], dtype=np.int64)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("ignoring unreadable cache entry %s: %s", path, exc)
            return None
        if len(top1) != result.total or len(labels) != result.total:
            log.warning("ignoring inconsistent cache entry %s", path)
            return None
        result.cached = True
        return CachedEvaluation(result=result, top1=top1, labels=labels)

    def put(self, fields: dict[str, Any], result: AccuracyResult, top1: np.ndarray,
            labels: np.ndarray) -> Path | None:
        if not self.enabled:
            return None
        path = self.path(fields)
        write_json_atomic(path, {"key": fields, "result": to_dict(result),
                                 "top1": [int(v) for v in top1],
                                 "labels": [int(v) for v in labels]})
        return path
