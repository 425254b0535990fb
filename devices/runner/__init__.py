"""edge-vit on-device runner: probe a device and time model artifacts on it.

A small standard-library package (Python 3.8+ on purpose: device Pythons are old), modelled on
torch's ``collect_env.py``. ``edge-vit`` ships it to a device (Raspberry Pi, Jetson, any SSH
host, this machine) as one zipapp, ``edge_vit_runner.pyz`` (built by :mod:`devices.shipping`),
beside the artifacts, and runs it with whatever Python and runtimes exist there. It imports
nothing from edge-vit; numpy and the runtimes are imported only inside the functions that use
them. It prints exactly ONE JSON object on stdout (whatever the runtimes print goes to stderr),
logs to stderr, and on failure exits non-zero with a JSON error::

    python3 edge_vit_runner.pyz probe             # environment + importable runtimes
    python3 edge_vit_runner.pyz versions          # runtime versions only (fast, no imports)
    python3 edge_vit_runner.pyz profile --artifact m.onnx --format onnx [--runtime auto] ...
    python3 edge_vit_runner.pyz measure --plan plan.json --units 0:0,1:0   # a session's round
    python3 edge_vit_runner.pyz trtexec --onnx m.onnx [--precision fp16]    # Jetson: TensorRT

Modules: ``core`` (errors, exit codes, the artifact check, the device lock), ``stats``,
``system`` (environment facts, CPU accounting), ``backends`` (one module per runtime, loaded by
name; a runtime from a plugin arrives as a file beside the runner), ``inputs``, ``profile``,
``measure``, ``probe``, ``trtexec`` (the TensorRT strategy), ``cli``. The host imports the pure
helpers (statistics, ``runtime_reason``, ``sha256_file``) from here instead of copying them.
"""
