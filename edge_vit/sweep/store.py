"""Files that travel between the driver and workers on other machines, by content hash.

A tree (a file or folder, with paths relative to its root) is packed as a deterministic tar
(sorted names, no times or owners) and kept as ``objects/<sha256>.tar`` in a folder every node
sees, or under an fsspec URL (``s3://bucket/sweeps``, needs fsspec and its backend). A worker
unpacks each tree once into its cache; what a unit wrote comes back the same way and the
driver unpacks it into the sweep folder. ``started/<unit>/`` holds one small file per attempt
(host, pid, time), so a retried unit and the worker that ran it can be seen.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

from ..errors import UsageError
from ..files import atomic_dir, cache_root, write_bytes_atomic


class Store:
    def __init__(self, url: str):
        self.url = str(url)
        self.remote = "://" in self.url and not self.url.startswith("file://")
        if self.remote:
            try:
                import fsspec
            except ImportError as exc:
                raise UsageError(f"The Ray store {self.url} is a URL: it needs fsspec.",
                                 hint="pip install 'edge-vit[ray]' fsspec and the backend "
                                      "of the URL (s3fs, gcsfs, ...)") from exc
            self.fs, self.base = fsspec.core.url_to_fs(self.url)
        else:
            self.base = self.url.removeprefix("file://")
            Path(self.base).mkdir(parents=True, exist_ok=True)

    # -- raw objects ------------------------------------------------------------------------
    def _write(self, name: str, data: bytes) -> None:
        if self.remote:
            self.fs.pipe_file(f"{self.base}/{name}", data)
        else:
            write_bytes_atomic(Path(self.base) / name, data)

    def _read(self, name: str) -> bytes:
        if self.remote:
            return self.fs.cat_file(f"{self.base}/{name}")
        return (Path(self.base) / name).read_bytes()

    def _list(self, prefix: str) -> list[str]:
        if self.remote:
            try:
                return sorted(p.rsplit("/", 1)[-1] for p in self.fs.ls(f"{self.base}/{prefix}",
                                                                       detail=False))
            except FileNotFoundError:
                return []
        folder = Path(self.base) / prefix
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    # -- trees ------------------------------------------------------------------------------
    def put(self, root: Path, rels: list[str]) -> str:
        """Pack ``rels`` (files or folders under ``root``) as one tree; its hash."""
        data = pack(Path(root), rels)
        digest = hashlib.sha256(data).hexdigest()
        name = f"objects/{digest}.tar"
        if self.remote or not (Path(self.base) / name).exists():
            self._write(name, data)
        return digest

    def extract(self, digest: str, dest: Path) -> None:
        """Unpack a tree into ``dest``, over what is there."""
        with tarfile.open(fileobj=io.BytesIO(self._read(f"objects/{digest}.tar"))) as tar:
            tar.extractall(dest, filter="data")

    def fetch(self, digest: str) -> Path:
        """A local, read-only copy of a tree, unpacked once per machine."""
        cached = cache_root() / "ray-store" / digest
        if not cached.is_dir():
            with atomic_dir(cached, replace=False) as tmp:  # two workers may race
                self.extract(digest, tmp)
        return cached

    # -- attempts -----------------------------------------------------------------------------
    def mark_started(self, unit: str, info: dict) -> None:
        self._write(f"started/{unit}/{info['host']}-{info['pid']}-{info['time']}.json",
                    json.dumps(info).encode())

    def attempts(self, unit: str) -> list[dict]:
        return [json.loads(self._read(f"started/{unit}/{n}")) for n in self._list(
            f"started/{unit}")]


def pack(root: Path, rels: list[str]) -> bytes:
    files: list[Path] = []
    for r in rels:
        p = root / r
        files += sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else \
            [p] if p.is_file() else []
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for f in sorted(set(files)):
            info = tarfile.TarInfo(str(f.relative_to(root)))
            info.size, info.mode = f.stat().st_size, 0o644
            with f.open("rb") as fh:
                tar.addfile(info, fh)
    return buf.getvalue()


def copy_tree(src: Path, dest: Path) -> None:
    """A fetched tree into a worker's scratch folder (copied: the unit may write there)."""
    shutil.copytree(src, dest, dirs_exist_ok=True)
