"""Files written whole or not at all, their hashes, and where caches live: the one place for
each.

``atomic_path(dest)`` yields a temporary path beside ``dest``; when the block ends without an
error the temporary is flushed to disk (fsync) and renamed over ``dest``, and the rename itself
is made durable (fsync of the folder), so a reader, a crash or a power cut never leaves half a
file under the real name. On an error the temporary is removed and ``dest`` is untouched.
``atomic_dir`` does the same for a folder built in one go (a cache entry, an unpacked archive).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["CACHE_ENV", "atomic_dir", "atomic_path", "cache_root", "copy_atomic", "file_sha256",
           "write_bytes_atomic", "write_text_atomic"]

CACHE_ENV = "EDGE_VIT_CACHE"


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """Where edge-vit caches (unpacked data, decoded images, evaluations, the runner's zipapp,
    the local device's files): ``cache_dir``, else ``$EDGE_VIT_CACHE``, else
    ``~/.cache/edge-vit``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "edge-vit"


_DIGESTS: dict[tuple, str] = {}  # (path, device, inode, size, mtime_ns) -> sha256
_DIGESTS_MAX = 4096


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, read in 1 MiB blocks, or of a folder artifact (its files' digests,
    see ``sha256_path``): the device runner's own functions (standard library only; imported
    here when first used, never copied). A file's is remembered for the life of the process
    while its inode, size and nanosecond mtime stay the same, so that a profile that checks
    an artifact and then pushes it reads it once."""
    from devices.runner.core import sha256_file, sha256_path

    if Path(path).is_dir():
        return sha256_path(str(path), file_hash=file_sha256)
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    digest = _DIGESTS.get(key)
    if digest is None:
        digest = sha256_file(str(path))
        if len(_DIGESTS) >= _DIGESTS_MAX:
            _DIGESTS.clear()
        _DIGESTS[key] = digest
    return digest


def path_files(path: Path) -> list[Path]:
    """A file, or every file of a folder artifact, in a stable order."""
    from devices.runner.core import tree_files

    path = Path(path)
    return [path / rel for rel in tree_files(str(path))] if path.is_dir() else [path]


def path_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path_files(path))


def _fsync(path: Path) -> None:
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if path.is_dir() else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:  # e.g. a folder that cannot be opened on this platform: best effort
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """``with atomic_path(p) as tmp: write tmp`` -> ``p`` holds it whole, or is unchanged."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, dest)
        _fsync(dest.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def copy_atomic(src: str | Path, dest: str | Path) -> Path:
    """Copy ``src`` (contents and mode) to ``dest`` atomically."""
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
        shutil.copymode(src, tmp)
    return Path(dest)


@contextlib.contextmanager
def atomic_dir(dest: str | Path, *, replace: bool = True) -> Iterator[Path]:
    """``with atomic_dir(d) as tmp: fill tmp`` -> ``d`` is the filled folder, or unchanged.
    ``replace=False``: if ``d`` exists by then (another process made it first), it is kept
    and the new one dropped."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    try:
        yield tmp
        for path in tmp.rglob("*"):
            if path.is_file():
                _fsync(path)
        if dest.exists() and replace:
            shutil.rmtree(dest, ignore_errors=True)
        try:
            os.replace(tmp, dest)
        except OSError:
            if replace or not dest.exists():
                raise
        _fsync(dest.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
