"""What every part of the runner shares: versions, exit codes, typed errors, small file and
tool helpers, the artifact check and the device lock. Standard library only, Python 3.8+."""

import contextlib
import datetime
import hashlib
import logging
import os
import re
import shutil
import socket
import subprocess
import time

RUNNER_VERSION = "1"
SCHEMA_VERSION = "1.2"  # edge_vit.results.PROFILE_SCHEMA_VERSION

log = logging.getLogger("edge-vit-runner")

# Exit codes the host maps back to typed errors.
EXIT_FAILED, EXIT_USAGE, EXIT_MISSING_RUNTIME, EXIT_ARTIFACT, EXIT_LOCK = 1, 2, 3, 4, 5

TOOL_TIMEOUT_S = 5.0


class RunnerError(Exception):
    exit_code = EXIT_FAILED
    error_type = "RunFailed"

    def __init__(self, message, hint=None):
        super().__init__(message)
        self.hint = hint


class UsageError(RunnerError):
    exit_code, error_type = EXIT_USAGE, "UsageError"


class MissingRuntime(RunnerError):
    exit_code, error_type = EXIT_MISSING_RUNTIME, "MissingRuntime"


class ArtifactError(RunnerError):
    exit_code, error_type = EXIT_ARTIFACT, "ArtifactError"


class LockTimeout(RunnerError):
    exit_code, error_type = EXIT_LOCK, "LockTimeout"


class Interrupted(BaseException):
    """SIGTERM/SIGINT. Not an Exception, so no best-effort ``except Exception`` swallows it."""

    error_type = "Interrupted"

    def __init__(self, message, exit_code):
        super().__init__(message)
        self.exit_code, self.hint = exit_code, None

def _read(path):
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8", "replace").replace("\0", "").strip()
    except OSError:
        return None


def _read_number(path, scale=1.0):
    text = _read(path)
    try:
        return float(text) * scale if text else None
    except ValueError:
        return None


def _run_tool(argv, timeout=TOOL_TIMEOUT_S, any_exit=False):
    """Output (stdout+stderr, stripped) of a native tool, or None when it is absent or hangs,
    or (best effort) exits non-zero. ``any_exit``: keep the output whatever the exit status
    (``nvpmodel -q`` without sudo prints the mode, then errors), None when it is empty."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=timeout, text=True)
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("%s failed: %s", argv[0], exc)
        return None
    if any_exit:
        return done.stdout.strip() or None
    return done.stdout.strip() if done.returncode == 0 else None


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")

def find_tool(explicit, name, fallback=None):
    """An executable: ``explicit`` when given (None if it is not one), else ``name`` on PATH,
    else ``fallback``."""
    def runnable(path):
        return bool(path) and os.path.isfile(path) and os.access(path, os.X_OK)

    if explicit:
        return explicit if runnable(explicit) else None
    found = shutil.which(name)
    if found:
        return found
    return fallback if runnable(fallback) else None



# ---------------------------------------------------------------- lock

@contextlib.contextmanager
def device_lock(path, timeout_s):
    """Exclusive flock on ``path`` for the whole profile: two runs on one device never
    overlap. Yields the seconds spent waiting. The file names its holder for the error."""
    if not path:
        yield None
        return
    try:
        import fcntl
    except ImportError:
        raise UsageError("--lock needs fcntl (a POSIX system)") from None
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    start = time.monotonic()
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() - start >= timeout_s:
                    raise LockTimeout("lock %s still held after %.0f s (holder: %s)"
                                      % (path, timeout_s, _read(path) or "unknown"),
                                      "wait for the other profile or raise --lock-timeout"
                                      ) from None
                time.sleep(0.05)
        waited = time.monotonic() - start
        os.ftruncate(fd, 0)
        os.write(fd, ("pid %d on %s since %s\n" % (os.getpid(), socket.gethostname(), _now())
                      ).encode())
        yield waited
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# lines of a runtime's message that say where in its C++ it failed, not what failed
_WHERE_LINE = re.compile(r"^(Exception from |Check '.*' failed at |\[ ?[A-Z_]+ ?\] ?[A-Za-z_]*:? ?$"
                         r"|[\w/.-]+\.(cpp|cc|h|hpp):\d+)")
LOAD_HINT = ("The file may be truncated or corrupt, or made for another version of the "
             "runtime: copy it again or re-export it (edge-vit export).")


@contextlib.contextmanager
def inference_errors(runtime):
    """A runtime's own exception while inferring, as one RunnerError that names it."""
    try:
        yield
    except RunnerError:
        raise
    except Exception as exc:
        raise RunnerError("inference failed with %s: %s: %s"
                          % (runtime, type(exc).__name__, exc)) from None


def runtime_reason(exc):
    """One line from a runtime's (often multi-line C++) error: its most specific line."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    said = [ln for ln in lines if not _WHERE_LINE.match(ln)] or lines or [type(exc).__name__]
    return said[-1][:240]


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_files(path):
    """The regular files under a folder artifact, as sorted relative POSIX paths."""
    out = []
    for base, dirs, files in os.walk(path):
        dirs.sort()
        for name in files:
            full = os.path.join(base, name)
            if os.path.isfile(full):
                out.append(os.path.relpath(full, path).replace(os.sep, "/"))
    return sorted(out)


def sha256_path(path, file_hash=sha256_file):
    """sha256 of a file, or of a folder artifact (a .mlpackage, say): the sha256 of one
    ``<relative path>\0<its sha256>\n`` line per file, in sorted order, so that the same
    files give the same digest on every machine."""
    if not os.path.isdir(path):
        return file_hash(path)
    digest = hashlib.sha256()
    for rel in tree_files(path):
        digest.update(("%s\0%s\n" % (rel, file_hash(os.path.join(path, rel)))).encode())
    return digest.hexdigest()


def check_artifact(args):
    if args.format == "pytorch":
        return
    if not args.artifact:
        raise UsageError("--artifact is required for --format %s" % args.format)
    if not os.path.exists(args.artifact) or not os.access(args.artifact, os.R_OK):
        raise ArtifactError("artifact %s does not exist or is not readable" % args.artifact)
    expected = dict(getattr(args, "companions", None) or {})  # e.g. OpenVINO's .bin weights
    if args.sha256:
        expected[args.artifact] = args.sha256
    for path, want in sorted(expected.items()):
        if not os.path.exists(path):
            raise ArtifactError("artifact file %s is missing (copy it again, or re-export)"
                                % path)
        actual = sha256_path(path)
        if actual.lower() != want.lower():
            raise ArtifactError("artifact file %s has sha256 %s, expected %s: a truncated or "
                                "broken copy (copy it again, or re-export)"
                                % (path, actual[:12], want[:12]))

