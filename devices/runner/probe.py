"""``probe``: the device's environment and which runtimes import there, each tried in a child
process."""

import json
import subprocess
import sys

from . import backends
from .core import RUNNER_VERSION
from .system import collect_environment


def probe_runtime(name):
    """Import one runtime and list what it can run on (called in a child process)."""
    mod = backends.import_runtime(name)
    describe = getattr(backends.load(name), "probe_details", None)
    details = describe(mod) if describe is not None else {}
    build = getattr(mod, "__version__", None)
    version = backends.version_of(name) or build or "unknown"
    if build and build != version:  # e.g. 2.4.1+cu124: the dist version is what hosts compare
        details["build"] = build
    return {"version": version, "details": details}


def child_argv(*args):
    """This runner run again as a child process, whether it is a .pyz or a package folder."""
    code = ("import sys; sys.path.insert(0, %r); from %s.cli import main; sys.exit(main(%r))"
            % (backends.ROOT, backends.PACKAGE, list(args)))
    return [sys.executable, "-c", code]


def cmd_probe(args):
    """Each runtime is imported in its own child process: a runtime that crashes or hangs on
    import (it happens on boards) cannot take the probe down with it."""
    versions = backends.runtime_versions()
    runtimes, details, hints = {}, {}, {}
    for name, version in versions.items():
        if version is None:
            runtimes[name] = None
            hints[name] = backends.install_hint(name)
            continue
        argv = child_argv("probe-runtime", name)
        try:
            done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  timeout=args.timeout, text=True)
            child = json.loads(done.stdout or "{}")
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            child = {"error": "probe failed: %s" % exc}
        if "version" in child:
            runtimes[name] = child["version"]
            details[name] = child.get("details", {})
        else:
            runtimes[name] = None
            details[name] = {"error": child.get("error") or "import crashed"}
            hints[name] = backends.install_hint(name)
    env = collect_environment()
    env["runtimes"] = dict((k, v) for k, v in runtimes.items() if v)
    return {"environment": env, "runtimes": runtimes, "runtime_details": details,
            "install_hints": hints, "formats": dict((f, list(r)) for f, r in
                                                   backends.format_runtimes().items()),
            "runner_version": RUNNER_VERSION}

