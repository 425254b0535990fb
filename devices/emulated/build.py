"""Build the emulated board once: a Debian arm64 root file system with python3, OpenSSH and
the runtimes' aarch64 wheels, cached under ``board_cache()/arm64-<recipe key>/``.

Steps (each logged to ``build.log`` in that folder; a failure names its step and keeps the log):
preflight (root, debootstrap, qemu-aarch64-static, unshare) → debootstrap's first stage → the
qemu-aarch64 binfmt_misc handler → debootstrap's second stage, run as aarch64 code under qemu →
the wheels, downloaded on the host by version and sha256 and installed inside → the board's own
/sys (a Cortex-A72), its emulation marker and a stand-in vcgencmd → a smoke test importing
every runtime on the board. ``board.json`` is written last: a folder without it is rebuilt.
Building needs root (debootstrap, chroot, mounts); nothing but the Debian archive and PyPI is
reached.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from edge_vit.errors import DeviceError

from .recipe import EMULATION_LABEL, PLATFORMS, QEMU_CPU, Recipe, board_cache

QEMU = "qemu-aarch64-static"
# The kernel's aarch64 ELF magic and mask (as Debian's qemu-user-static registers them); flag F
# opens the interpreter now, so it also runs inside a chroot that lacks it.
AARCH64_MAGIC = (r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00")
AARCH64_MASK = (r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff")
GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class BoardBuildError(DeviceError):
    """A step of the board's build or start failed; ``log`` holds what it printed."""

    def __init__(self, step: str, message: str, log: Path | None = None, hint: str | None = None):
        self.step, self.log = step, log
        where = f" (log: {log})" if log else ""
        super().__init__(f"emulated board: step '{step}' failed: {message}{where}", hint=hint)


def board_dir(recipe: Recipe | None = None, cache: Path | None = None) -> Path:
    recipe = recipe or Recipe()
    return Path(cache or board_cache()) / f"{recipe.arch}-{recipe.key()}"


def built_board(recipe: Recipe | None = None, cache: Path | None = None) -> Path | None:
    """The root file system of a finished build of ``recipe``, or None."""
    folder = board_dir(recipe, cache)
    try:
        info = json.loads((folder / "board.json").read_text())
    except (OSError, ValueError):
        return None
    return folder / "rootfs" if info.get("key") == (recipe or Recipe()).key() else None


def qemu_binary() -> str | None:
    return shutil.which(QEMU) or (f"/usr/bin/{QEMU}" if Path(f"/usr/bin/{QEMU}").exists() else None)


def missing_tools() -> list[str]:
    """Why this host cannot build or start a board (empty when it can)."""
    out = []
    if os.geteuid() != 0:
        out.append("needs root (debootstrap, chroot and the mounts of the board)")
    if qemu_binary() is None:
        out.append(f"{QEMU} not found: apt-get install qemu-user-static")
    for tool, package in (("debootstrap", "debootstrap"), ("unshare", "util-linux"),
                          ("chroot", "coreutils"), ("ssh-keygen", "openssh-client")):
        if shutil.which(tool) is None:
            out.append(f"{tool} not found: apt-get install {package}")
    if not Path("/proc/sys/fs").is_dir():
        out.append("no /proc/sys/fs: binfmt_misc cannot be mounted")
    return out


def build_board(recipe: Recipe | None = None, cache: Path | None = None, rebuild: bool = False,
                say: Callable[[str], None] = lambda m: None) -> Path:
    """The root file system for ``recipe``: the cached one, else built now (5-10 minutes)."""
    recipe = recipe or Recipe()
    folder = board_dir(recipe, cache)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _locked(folder.with_suffix(".lock")):
        done = built_board(recipe, cache)
        if done is not None and not rebuild:
            return done
        problems = missing_tools()
        if problems:
            raise BoardBuildError("preflight", "; ".join(problems))
        shutil.rmtree(folder / "rootfs", ignore_errors=True)
        (folder / "board.json").unlink(missing_ok=True)
        folder.mkdir(exist_ok=True)
        log = folder / "build.log"
        log.write_text(f"edge-vit emulated board, recipe {recipe.key()}\n"
                       f"{json.dumps(recipe_summary(recipe), indent=1)}\n")
        steps = _Steps(log, say)
        rootfs = folder / "rootfs"
        steps.run("debootstrap (first stage)", [
            "debootstrap", f"--arch={recipe.arch}", "--foreign", f"--variant={recipe.variant}",
            f"--include={','.join(recipe.packages)}", recipe.suite, str(rootfs), recipe.mirror])
        shutil.copy2(qemu_binary(), rootfs / "usr" / "bin" / QEMU)  # for a handler without F
        steps.run("aarch64 code runs (qemu-aarch64 binfmt_misc handler)",
                  in_board(rootfs, ["/bin/true"], proc=False),
                  hint="this kernel would not run aarch64 binaries through qemu-aarch64-static "
                       "(binfmt_misc): see the log")
        steps.run("debootstrap (second stage, under qemu)", in_board(
            rootfs, ["env", "container=lxc", "/debootstrap/debootstrap", "--second-stage"],
            proc=False))
        wheels = fetch_wheels(recipe, folder / "wheels", steps)
        install_wheels(recipe, rootfs, wheels, steps)
        write_board_files(recipe, rootfs)
        versions = smoke_test(rootfs, steps)
        info = {"key": recipe.key(), "recipe": recipe_summary(recipe), "runtimes": versions,
                "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "seconds": round(steps.total, 1), "steps": steps.timings}
        (folder / "board.json").write_text(json.dumps(info, indent=1) + "\n")
        say(f"board built in {steps.total:.0f} s: {rootfs}")
        return rootfs


def recipe_summary(recipe: Recipe) -> dict:
    return {"suite": recipe.suite, "arch": recipe.arch, "mirror": recipe.mirror,
            "packages": list(recipe.packages), "wheels": [w for w, _ in recipe.wheels],
            "key": recipe.key()}


def binfmt_entry() -> str:
    return f":qemu-aarch64:M::{AARCH64_MAGIC}:{AARCH64_MASK}:{qemu_binary()}:F"


# Runs as PID 1 of a fresh mount + pid namespace: binfmt_misc mounted there with the
# qemu-aarch64 handler (this kernel keeps the handlers of a mount with that mount, so the
# host's own table is never touched), /proc for the board if asked, then the command
# chrooted with a clean environment (but for the CPU qemu emulates). No exec: sh stays PID 1
# and the namespace dies with it.
# $0 = the board's PATH, $1 = rootfs, $2 = the binfmt entry, $3 = "proc" or "", then argv.
_IN_BOARD = (
    'set -e; r="$1"; entry="$2"; proc="$3"; shift 3; d=/proc/sys/fs/binfmt_misc; '
    'if [ ! -e "$d/qemu-aarch64" ]; then mountpoint -q "$d" || '
    'mount -t binfmt_misc binfmt_misc "$d"; '
    '[ -e "$d/qemu-aarch64" ] || printf "%s" "$entry" > "$d/register"; fi; '
    'if [ -n "$proc" ]; then mount -t proc proc "$r/proc"; fi; '
    f'chroot "$r" env -i PATH="$0" HOME=/root QEMU_CPU={QEMU_CPU} "$@"; exit $?')


def in_board(rootfs: Path, argv: list[str], proc: bool = True) -> list[str]:
    """argv that runs ``argv`` on the board, as its sshd does (see ``_IN_BOARD``)."""
    return ["unshare", "--mount", "--pid", "--fork", "--kill-child", "sh", "-c", _IN_BOARD,
            GUEST_PATH, str(rootfs), binfmt_entry(), "proc" if proc else "", *argv]


def fetch_wheels(recipe: Recipe, folder: Path, steps: _Steps) -> Path:
    """The pinned wheels, downloaded on the host (hash-checked) into a folder kept between
    builds."""
    folder.mkdir(parents=True, exist_ok=True)
    reqs = folder / "requirements.txt"
    reqs.write_text(recipe.requirements())
    platforms = [a for p in PLATFORMS for a in ("--platform", p)]
    abi = "cp" + recipe.python_version.replace(".", "")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    steps.run("download the aarch64 wheels (PyPI)", [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
        "--python-version", recipe.python_version, "--implementation", "cp", "--abi", abi,
        "--abi", "abi3", "--abi", "none", *platforms, "--require-hashes", "-r", str(reqs),
        "-d", str(folder)], env=env)
    return folder


def install_wheels(recipe: Recipe, rootfs: Path, wheels: Path, steps: _Steps) -> None:
    inside = rootfs / "tmp" / "edge-vit-wheels"
    shutil.rmtree(inside, ignore_errors=True)
    shutil.copytree(wheels, inside)
    try:
        steps.run("install the wheels (pip, under qemu)", in_board(rootfs, [
            "python3", "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
            "--no-compile", "--break-system-packages", "--require-hashes",
            "--find-links", "/tmp/edge-vit-wheels", "-r", "/tmp/edge-vit-wheels/requirements.txt"],
            proc=False))
    finally:
        shutil.rmtree(inside, ignore_errors=True)


def write_board_files(recipe: Recipe, rootfs: Path) -> None:
    """The board's /sys CPU description, its emulation marker and the stand-in vcgencmd."""
    cpu = rootfs / "sys" / "devices" / "system" / "cpu"
    cpu.mkdir(parents=True, exist_ok=True)
    span = f"0-{recipe.cpus - 1}"
    for name in ("possible", "present", "online"):
        (cpu / name).write_text(span + "\n")
    for i in range(recipe.cpus):
        core = cpu / f"cpu{i}"
        (core / "regs" / "identification").mkdir(parents=True, exist_ok=True)
        (core / "regs" / "identification" / "midr_el1").write_text(recipe.cpu_midr + "\n")
        (core / "topology").mkdir(exist_ok=True)
        everyone, alone = f"{(1 << recipe.cpus) - 1:x}", f"{1 << i:x}"  # cpumask files
        # hwloc (inside OpenVINO) aborts its discovery and OpenVINO segfaults without
        # package_cpus; each core is its own single-thread core in one package
        for name, value in (("core_id", i), ("physical_package_id", 0), ("cluster_id", 0),
                            ("die_id", 0), ("package_cpus", everyone),
                            ("package_cpus_list", span), ("core_siblings", everyone),
                            ("core_siblings_list", span), ("die_cpus", everyone),
                            ("die_cpus_list", span), ("cluster_cpus", everyone),
                            ("cluster_cpus_list", span), ("core_cpus", alone),
                            ("core_cpus_list", i), ("thread_siblings", alone),
                            ("thread_siblings_list", i)):
            (core / "topology" / name).write_text(f"{value}\n")
        (core / "online").write_text("1\n")
    etc = rootfs / "etc" / "edge-vit"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "emulated").write_text(EMULATION_LABEL + "\n")
    (etc / "throttled").write_text("0x0\n")
    tool = rootfs / "usr" / "local" / "bin" / "vcgencmd"
    tool.write_text(recipe.vcgencmd)
    tool.chmod(0o755)


SMOKE = ("import json, platform, onnxruntime, openvino, numpy; "
         "from ai_edge_litert import interpreter; import importlib.metadata as m; "
         "print(json.dumps({'machine': platform.machine(), **{d: m.version(d) for d in "
         "('onnxruntime', 'openvino', 'ai-edge-litert', 'numpy')}}))")


def smoke_test(rootfs: Path, steps: _Steps) -> dict:
    out = steps.run("import the runtimes on the board",
                    in_board(rootfs, ["python3", "-c", SMOKE]))
    try:  # stderr follows stdout in ``out`` (onnxruntime warns about the emulated CPU)
        return json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    except (ValueError, StopIteration) as exc:
        raise BoardBuildError("import the runtimes on the board", f"unexpected output {out!r}",
                              steps.log) from exc


class _Steps:
    """Runs build steps, appending each one's output to the log; the first failure raises."""

    def __init__(self, log: Path, say: Callable[[str], None]):
        self.log, self.say, self.timings, self.total = log, say, {}, 0.0

    def run(self, name: str, argv: list[str], env: dict | None = None, hint: str | None = None
            ) -> str:
        self.say(f"board: {name} ...")
        t0 = time.monotonic()
        with open(self.log, "a") as fh:
            fh.write(f"\n=== {name}: {' '.join(argv)}\n")
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, env=env,
                                  stdin=subprocess.DEVNULL, timeout=3600)
            code, out = proc.returncode, proc.stdout + proc.stderr
        except (OSError, subprocess.TimeoutExpired) as exc:
            code, out = -1, str(exc)
        seconds = time.monotonic() - t0
        with open(self.log, "a") as fh:
            fh.write(out + f"\n=== {name}: exit {code} after {seconds:.1f} s\n")
        self.timings[name] = round(seconds, 1)
        self.total += seconds
        if code != 0:
            tail = " | ".join(out.strip().splitlines()[-3:])[-400:]
            raise BoardBuildError(name, f"exit {code}: {tail}", self.log, hint=hint)
        return out


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One build of a recipe at a time on this machine (a second waits for the first)."""
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
