"""The runtimes the runner can time, one module each, loaded by name.

A backend module declares ``NAME``, ``MODULE`` (what to import), ``DISTS`` (distributions to ask
for a version without importing), ``INSTALL_HINT``, ``FORMATS`` (the artifact formats it opens,
in the order ``--runtime auto`` prefers it) and ``open_model(args)``, which returns a :class:`Backend`
or a dict of its fields (so that a backend shipped from elsewhere needs nothing from here).
A runtime with a per-op profiler sets ``OP_PROFILER = True`` and, when ``args.op_profile`` is
set, gives its Backend an ``op_profile`` (see :class:`OpProfile`); one without says why in
``NO_OP_PROFILER``. A
runtime the runner does not know arrives as ``edge_vit_backend_<name>.py`` beside the runner
(``edge-vit`` copies it there with the format that needs it) and is found the same way.
"""

import glob
import importlib
import importlib.util
import os
import sys

from ..core import LOAD_HINT, ArtifactError, MissingRuntime, RunnerError, UsageError, runtime_reason

BUILTIN = ("onnxruntime", "openvino", "litert", "tflite_runtime", "pytorch", "tensorrt")
SHIPPED_PREFIX = "edge_vit_backend_"


def _root():
    """The folder or .pyz holding the runner's top package."""
    path = os.path.dirname(os.path.abspath(__file__))
    for _ in __name__.split("."):
        path = os.path.dirname(path)
    return path


ROOT = _root()
PACKAGE = __name__.rsplit(".", 1)[0]  # "edge_vit_runner" in the .pyz, "devices.runner" on a host
# shipped backends lie beside the .pyz (or in the folder that holds the package)
SHIPPED_DIR = os.path.dirname(ROOT) if os.path.isfile(ROOT) else ROOT


class Backend:
    """A loaded model: ``prepare`` turns an array into the runtime's input once, ``run`` is
    what the loop times. ``shape`` is the model's input shape with unknown dims as None."""

    def __init__(self, runtime, version, run, prepare, shape, dtype, **facts):
        self.runtime, self.version, self.run, self.prepare = runtime, version, run, prepare
        self.shape, self.dtype = shape, dtype
        self.device = facts.get("device")
        self.providers = facts.get("providers") or []
        self.threads = facts.get("threads")
        self.precision = facts.get("precision")
        self.quant = facts.get("quant")  # (scale, zero_point) of an integer input
        self.out_quant = facts.get("out_quant")  # ... and of an integer output
        self.options = facts.get("options") or {}
        self.notes = facts.get("notes") or []
        self.op_profile = facts.get("op_profile")


class OpProfile(object):
    """Per-op times of the runs of a model opened with ``args.op_profile``: ``sample()`` after
    each run (outside its timing), ``finish(runs)`` -> the last ``runs`` runs, each a list of
    ``{"name", "type", "exec", "ms"}`` in execution order, and ``fused``: op name -> the
    graph nodes the runtime fused into it (where it says)."""

    def sample(self):
        pass

    def finish(self, runs):
        raise NotImplementedError


def op_profiler_missing(name):
    """Why runtime ``name`` gives no per-op times, or None when it does."""
    module = load(name)
    if getattr(module, "OP_PROFILER", False):
        return None
    return getattr(module, "NO_OP_PROFILER", None) or \
        "%s has no per-op profiler in the runner" % name


_LOADED = {}


def shipped_names():
    """Runtimes shipped beside the runner (``edge_vit_backend_<name>.py``)."""
    found = glob.glob(os.path.join(SHIPPED_DIR, SHIPPED_PREFIX + "*.py"))
    return sorted(os.path.basename(p)[len(SHIPPED_PREFIX):-3] for p in found)


def names():
    """Every runtime this runner can load, built-in first (their order is the preference)."""
    return list(BUILTIN) + [n for n in shipped_names() if n not in BUILTIN]


def load(name):
    """The backend module of runtime ``name``."""
    if name in _LOADED:
        return _LOADED[name]
    if name in BUILTIN:
        module = importlib.import_module("%s.backends.%s" % (PACKAGE, name))
    elif name in shipped_names():
        path = os.path.join(SHIPPED_DIR, SHIPPED_PREFIX + name + ".py")
        spec = importlib.util.spec_from_file_location(SHIPPED_PREFIX + name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    else:
        raise UsageError("unknown runtime %r (known: %s)" % (name, ", ".join(names())))
    _LOADED[name] = module
    return module


def install_hint(name):
    return load(name).INSTALL_HINT


def format_runtimes():
    """format -> the runtimes that open it, in the order ``--runtime auto`` tries them."""
    out = {}
    for name in names():
        for fmt in load(name).FORMATS:
            out.setdefault(fmt, []).append(name)
    return dict((fmt, tuple(rts)) for fmt, rts in out.items())


def import_runtime(name):
    module = load(name).MODULE
    try:
        return __import__(module)
    except Exception as exc:  # ImportError, or a broken install (ABI, missing .so)
        raise MissingRuntime("%s (module %s) cannot be imported: %s: %s"
                             % (name, module, type(exc).__name__, exc),
                             install_hint(name)) from None


def import_numpy():
    """numpy, which every runtime's input needs (imported before any memory baseline, so it
    does not count as the model's)."""
    try:
        import numpy  # noqa: F401
    except ImportError as exc:
        raise MissingRuntime("numpy cannot be imported: %s" % exc, "pip install numpy") from None


def open_backend(args, runtime):
    try:
        opened = load(runtime).open_model(args)
    except RunnerError:
        raise
    except Exception as exc:  # a shipped backend's own error: one line, like the built-ins
        raise ArtifactError("%s cannot load %s: %s" % (runtime, args.artifact, runtime_reason(exc)),
                            hint=LOAD_HINT) from None
    return Backend(**opened) if isinstance(opened, dict) else opened


def resolve_runtime(fmt, wanted):
    table = format_runtimes()
    if fmt not in table:
        raise UsageError("unknown format %r (known: %s)" % (fmt, ", ".join(sorted(table))))
    allowed = table[fmt]
    if wanted != "auto":
        if wanted not in allowed:
            raise UsageError("runtime %s cannot run %s artifacts (use one of: %s)"
                             % (wanted, fmt, ", ".join(allowed)))
        return wanted
    for name in allowed:
        if importlib.util.find_spec(load(name).MODULE) is not None:
            return name
    raise MissingRuntime("no runtime for %s artifacts is installed (tried %s)"
                         % (fmt, ", ".join(allowed)), install_hint(allowed[0]))


def runtime_versions(only_present=False):
    """Runtime -> version from package metadata (no import, so it is fast), None if absent."""
    try:
        from importlib import metadata
    except ImportError:  # Python < 3.8
        metadata = None
    out = {}
    for name in names():
        backend = load(name)
        version = None
        try:
            found = importlib.util.find_spec(backend.MODULE) is not None
        except (ImportError, ValueError):
            found = False
        if found:
            version = "unknown"  # e.g. JetPack's tensorrt comes from apt, without dist-info
            for dist in backend.DISTS if metadata else ():
                try:
                    version = metadata.version(dist)
                    break
                except Exception:
                    continue
        if version or not only_present:
            out[name] = version
    return out


def version_of(name):
    return runtime_versions()[name]


def dim(d):
    return d if isinstance(d, int) and d > 0 else None
