"""What ``deploy`` copies to a device besides the artifacts: the runner as one zipapp, and the
backend module of any runtime the runner does not know (a plugin format's).

The zipapp is built from ``devices/runner/`` with fixed timestamps, so the same sources give
the same bytes (and the same sha256: ``push`` skips it on a device that holds it), and cached
under ``<cache>/runner/`` keyed by that hash. It runs on the device's Python 3.8+ as
``python3 edge_vit_runner.pyz <command>``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import zipfile
from pathlib import Path

from devices.runner.backends import SHIPPED_PREFIX  # where the runner looks for them
from edge_vit.errors import UsageError
from edge_vit.files import cache_root, write_bytes_atomic

RUNNER_SOURCE = Path(__file__).resolve().parent / "runner"
REMOTE_RUNNER = "edge_vit_runner.pyz"
ZIP_PACKAGE = "edge_vit_runner"  # the runner's package name inside the zipapp
_MAIN = f"import sys\n\nfrom {ZIP_PACKAGE}.cli import main\n\nsys.exit(main())\n"
_EPOCH = (1980, 1, 1, 0, 0, 0)


def runner_bytes() -> bytes:
    """The zipapp: ``__main__.py`` and the runner package, byte-for-byte reproducible."""
    sources = sorted(p for p in RUNNER_SOURCE.rglob("*.py") if "__pycache__" not in p.parts
                     and p.name != "__main__.py")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        entries = [("__main__.py", _MAIN.encode())]
        entries += [(f"{ZIP_PACKAGE}/{p.relative_to(RUNNER_SOURCE).as_posix()}", p.read_bytes())
                    for p in sources]
        for name, data in entries:
            info = zipfile.ZipInfo(name, _EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def runner_archive() -> Path:
    """The runner's zipapp on this host (built once per version of its sources)."""
    data = runner_bytes()
    path = cache_root() / "runner" / f"edge_vit_runner-{hashlib.sha256(data).hexdigest()[:16]}.pyz"
    if not path.is_file() or path.read_bytes() != data:
        write_bytes_atomic(path, data)
    return path


def backend_file(module: str) -> Path:
    """The source file of a backend module named by its import path (a plugin's)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise UsageError(f"Runtime backend module {module!r} is not an importable .py file.")
    return Path(spec.origin)


def runner_files(backends: dict[str, str] | None = None) -> list[tuple[Path, str]]:
    """``(local, remote)`` pairs: the runner, and each shipped backend (runtime -> module)
    as ``edge_vit_backend_<runtime>.py`` beside it."""
    files = [(runner_archive(), REMOTE_RUNNER)]
    for runtime, module in sorted((backends or {}).items()):
        files.append((backend_file(module), f"{SHIPPED_PREFIX}{runtime}.py"))
    return files
