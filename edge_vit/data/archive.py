"""Data sets given as a .tar/.tar.gz of an image folder: unpacked once into the cache
(``$EDGE_VIT_CACHE/data/<sha256 of the archive>``) with tarfile's safe 'data' filter, which
refuses absolute paths, links that leave the folder and device files."""

from __future__ import annotations

import tarfile
from pathlib import Path

from ..errors import UsageError
from ..files import atomic_dir, cache_root

_ARCHIVES = (".tar", ".tar.gz", ".tgz")


def resolve_data_root(path: Path, cache_dir: Path | None = None) -> Path:
    """``path`` itself when it is a folder; an archive's unpacked copy in the cache."""
    path = Path(path)
    if path.is_dir():
        return path
    if not path.is_file():
        raise UsageError(f"Data not found: {path}")
    if not path.name.endswith(_ARCHIVES):
        raise UsageError(f"{path} is neither a folder nor a .tar/.tar.gz archive of images.")
    from ..files import file_sha256

    if not hasattr(tarfile, "data_filter"):  # Python < 3.10.12 / 3.11.4
        raise UsageError(f"Unpacking {path} safely needs tarfile's 'data' filter (Python "
                         "3.10.12+, 3.11.4+).", hint="Unpack it yourself and pass the folder.")
    target = cache_root(cache_dir) / "data" / file_sha256(path)[:24]
    if (target / ".complete").exists():
        return target
    try:  # replace=False: another process that unpacked it first wins
        with atomic_dir(target, replace=False) as tmp:
            with tarfile.open(path) as tar:
                tar.extractall(tmp, filter="data")  # refuses absolute paths, links out, devices
            (tmp / ".complete").write_text(str(path))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UsageError(f"Cannot unpack {path}: {type(exc).__name__}: {exc}") from exc
    return target
