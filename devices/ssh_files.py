"""Files on an SSH device over SFTP: atomic uploads (temporary name, then rename), fetches,
folders, and what to say when the device's disk is full or read-only (a mixin of
:class:`devices.ssh.SshDevice`, which owns the connection)."""

from __future__ import annotations

import contextlib
import posixpath
import secrets
import shlex
import stat
from collections.abc import Iterator
from pathlib import Path

from edge_vit.errors import DeviceError
from edge_vit.files import atomic_path


class SftpFiles:
    def _abs(self, rel: str) -> str:
        return rel if posixpath.isabs(rel) else posixpath.join(self.workdir, rel)

    def fetch(self, remote_rel: str, local_path: str | Path) -> Path:
        self.connect()
        remote, local = self._abs(str(remote_rel)), Path(local_path)
        with atomic_path(local) as tmp, self._errors(f"fetching {remote}"):
            try:
                self._sftp.get(remote, str(tmp))
            except FileNotFoundError as exc:
                raise DeviceError(f"{self.name}: cannot fetch {remote}: no such file.") from exc
        return local

    def _makedirs(self, rel_dir: str) -> None:
        self.connect()
        path = self._abs(rel_dir) if rel_dir else self.workdir
        with self._write_errors(path, path, 0), self._errors(f"creating {rel_dir}"):
            self._sftp_makedirs(path)

    @contextlib.contextmanager
    def _write_errors(self, directory: str, target: str, need_bytes: int) -> Iterator[None]:
        """SFTP says only "Failure" (or a size mismatch, or even "No such file") when the
        device's disk is full or read-only: ask the device which, and say that instead."""
        try:
            yield
        except DeviceError as exc:
            if not self._active():
                raise
            why = self._write_problem(directory, target, need_bytes)
            if why is None:
                raise
            raise DeviceError(f"{self.name}: {why}", hint=(
                "Point this device's workdir (its inventory entry) at a writable disk with room, "
                "or free space there; results measured so far are kept.")) from exc

    def _write_problem(self, directory: str, target: str, need_bytes: int) -> str | None:
        """"no space left on NAME:DIR ..." or "NAME:DIR is read-only ...", from the device's
        own df and a test write in the nearest existing directory; None if neither."""
        script = ('d=$1; while [ ! -d "$d" ]; do d=$(dirname "$d"); done; echo "dir $d"; '
                  'df -Pk "$d" | tail -n 1; t="$d/.edge-vit-write-test.$$"; '
                  'if ( : > "$t" ) 2>/dev/null; then rm -f "$t"; echo writable; '
                  'else ( : > "$t" ) 2>&1 | tail -n 1; fi')
        try:
            _, out, _, _, hung_up = self._exec(
                f"sh -c {shlex.quote(script)} sh {shlex.quote(directory)}",
                self.config.command_timeout, "checking the disk")
        except DeviceError:
            return None
        lines = out.splitlines()
        if hung_up or not lines or not lines[0].startswith("dir "):
            return None
        where = f"{self.name}:{lines[0][4:]}"
        last = lines[-1].lower()
        if "read-only" in last:
            return f"{where} is on a read-only file system: cannot write {target}."
        if "permission denied" in last:
            return f"{where} is not writable for {self.user}: cannot write {target}."
        fields = lines[1].split() if len(lines) > 2 else []
        free_kb = int(fields[3]) if len(fields) >= 4 and fields[3].isdigit() else None
        if free_kb is not None and free_kb * 1024 < max(need_bytes, 1):
            return (f"no space left on {where} ({free_kb} KiB free, {need_bytes // 1024} KiB "
                    f"needed for {posixpath.basename(target)}).")
        return None

    def _sftp_makedirs(self, path: str) -> None:
        try:
            if not stat.S_ISDIR(self._sftp.stat(path).st_mode):
                raise DeviceError(f"{self.name}: {path} exists on the device and is not a directory.")
            return
        except FileNotFoundError:
            pass
        parent = posixpath.dirname(path)
        if parent and parent != path:
            self._sftp_makedirs(parent)
        try:
            self._sftp.mkdir(path)
        except OSError:
            if not stat.S_ISDIR(self._sftp.stat(path).st_mode):  # lost a race: fine if a dir
                raise

    def _upload_atomic(self, local: Path, rel: str) -> None:
        self.connect()
        dest = self._abs(rel)
        tmp = posixpath.join(posixpath.dirname(dest),
                             f".{posixpath.basename(dest)}.{secrets.token_hex(4)}.tmp")
        with self._write_errors(posixpath.dirname(dest), dest, local.stat().st_size), \
                self._errors(f"uploading {local} to {dest}"):
            try:
                self._sftp.put(str(local), tmp, confirm=True)
                self._sftp.chmod(tmp, stat.S_IMODE(local.stat().st_mode))
                try:
                    self._sftp.posix_rename(tmp, dest)
                except OSError:  # server without posix-rename@openssh.com
                    with contextlib.suppress(FileNotFoundError):
                        self._sftp.remove(dest)
                    self._sftp.rename(tmp, dest)
            except BaseException:
                if self._active() and self._sftp is not None:
                    with contextlib.suppress(Exception):
                        self._sftp.remove(tmp)
                raise
