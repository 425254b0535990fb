"""The device runner (devices/runner/, shipped as one zipapp) run as a subprocess with the real
runtimes on tiny exported artifacts.

The runner is the one part of edge-vit that runs on devices without edge-vit installed, so
these tests drive it exactly as a device does (``python edge_vit_runner.pyz ...``, one JSON
object on stdout) and read its output back through ``edge_vit.results``. The statistics
helpers are tested on known data by importing the package's modules. No timing thresholds: those belong to
the benchmark scripts.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime
import fcntl
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import types
import typing
from pathlib import Path

import numpy as np
import pytest

from devices.shipping import runner_archive
from edge_vit.results import PROFILE_SCHEMA_VERSION, Environment, LatencyStats, ProfileResult
from edge_vit.serialization import from_dict

REPO = Path(__file__).resolve().parents[2]
RUNNER_SOURCE = REPO / "devices" / "runner"
RUNNER = runner_archive()  # the zipapp deploy copies to a device
TINY = {"img_size": 32, "patch_size": 8, "depth": 2, "num_classes": 10}
FAST = ["--min-iterations", "20", "--min-seconds", "0.2", "--warmup", "3"]
RUNTIME_MODULES = {"numpy", "onnxruntime", "openvino", "ai_edge_litert", "tflite_runtime",
                   "torch", "timm"}


# ---------------------------------------------------------------- helpers and fixtures

@pytest.fixture(scope="module")
def runner() -> types.SimpleNamespace:
    """Every name of the runner's modules in one namespace."""
    from devices.runner import backends, core, inputs, measure, probe, profile, stats, system
    from devices.runner.backends import litert, onnxruntime, openvino

    names: dict = {}
    for module in (core, stats, system, inputs, backends, onnxruntime, openvino, litert, probe,
                   profile, measure):
        names.update(vars(module))
    return types.SimpleNamespace(**names)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> dict[tuple[str, str], Path]:
    """(format, precision) -> file of a 2-block DeiT-tiny at 32x32, made once (~30 s)."""
    from edge_vit.export import ExportOptions, ModelOptions, run_export

    formats = ("onnx", "openvino") + (("tflite",) if _has("onnx2tf") else ())
    result = run_export(ExportOptions(model=ModelOptions(name="deit_tiny_patch16_224",
                                                         model_kwargs=dict(TINY)),
                                      formats=formats, out_root=tmp_path_factory.mktemp("art")))
    folder = result.manifest_path.parent
    return {(a.format, a.precision): folder / a.path for a in result.manifest.artifacts
            if a.status == "ok"}


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def artifact(artifacts, fmt: str, precision: str = "fp32") -> Path:
    if (fmt, precision) not in artifacts:
        pytest.skip(f"no {fmt} {precision} artifact (converter not installed)")
    return artifacts[(fmt, precision)]


def run_runner(*args: str, script: Path = RUNNER, python_flags: tuple[str, ...] = (),
               timeout: float = 180) -> tuple[int, dict, str]:
    """Run the runner; check stdout holds exactly one JSON object; return (rc, it, stderr)."""
    proc = subprocess.run([sys.executable, *python_flags, str(script), *args], cwd=REPO,
                          capture_output=True, text=True, errors="replace", timeout=timeout)
    text = proc.stdout.strip()
    try:
        data, end = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"stdout is not JSON ({exc}):\n{proc.stdout}\n{proc.stderr}") from exc
    assert text[end:].strip() == "", f"more than one JSON object on stdout:\n{proc.stdout}"
    assert isinstance(data, dict)
    return proc.returncode, data, proc.stderr


def profile(*args: str, **kw) -> tuple[ProfileResult, dict, str]:
    rc, data, err = run_runner("profile", *FAST, *args, **kw)
    assert rc == 0, f"runner failed ({rc}): {data}\n{err}"
    assert_known_keys(ProfileResult, data, exact=True)
    return from_dict(ProfileResult, data), data, err


def _dataclass_of(hint) -> type | None:
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    return args[0] if len(args) == 1 and dataclasses.is_dataclass(args[0]) else None


def assert_known_keys(cls, data: dict, exact: bool = False, where: str = "") -> None:
    """Every key is a field of ``cls`` (recursively into nested dataclasses)."""
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = set(data) - set(names)
    assert not unknown, f"{where or cls.__name__}: unknown keys {sorted(unknown)}"
    if exact:
        assert list(data) == names, f"{where or cls.__name__}: fields differ from the schema"
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        inner = _dataclass_of(hints[name])
        if inner is None or value is None:
            continue
        for item in value if isinstance(value, list) else [value]:  # list[Dataclass] too
            assert_known_keys(inner, item, exact, f"{where or cls.__name__}.{name}")


def assert_consistent(result: ProfileResult, min_iterations: int = 20) -> None:
    """What must hold for any successful profile, whatever the timings were."""
    assert result.status == "ok" and result.error is None
    assert result.source == "edge-vit runner" and result.schema_version == PROFILE_SCHEMA_VERSION
    lat = result.latency
    assert lat.count >= min_iterations
    assert lat.min <= lat.p50 <= lat.p90 <= lat.p95 <= lat.p99 <= lat.max
    assert lat.min <= lat.mean <= lat.max and lat.std >= 0
    assert lat.p50_ci[0] <= lat.p50 <= lat.p50_ci[1]
    assert lat.min <= lat.p90_ci[0] <= lat.p90_ci[1] <= lat.max
    assert lat.cv == pytest.approx(lat.std / lat.mean, rel=1e-3, abs=1e-4)
    assert lat.throughput_ips == pytest.approx(result.settings.batch * 1000 / lat.mean, rel=1e-3)
    assert lat.total_seconds >= 0.2
    assert lat.noisy == (lat.noise_reason is not None)
    assert result.load_seconds > 0 and result.first_inference_ms > 0
    mem = result.memory
    assert 0 < mem.baseline_rss_mb <= mem.peak_rss_mb
    assert mem.after_load_rss_mb <= mem.peak_rss_mb
    assert mem.model_added_mb == pytest.approx(mem.after_load_rss_mb - mem.baseline_rss_mb,
                                               abs=0.02)
    env = result.environment
    assert env.python == platform.python_version() and env.machine == platform.machine()
    assert env.cores_logical == os.cpu_count()
    assert env.runtimes[result.settings.runtime] == result.settings.runtime_version
    assert result.settings.warmup == 3 and result.settings.min_iterations == 20
    started = datetime.datetime.fromisoformat(result.started)
    assert started <= datetime.datetime.fromisoformat(result.finished)


# ---------------------------------------------------------------- the file itself

def _imports(node) -> list[str]:
    if isinstance(node, ast.ImportFrom):
        return [] if node.level else [node.module or ""]  # relative: the runner's own modules
    return [a.name for a in node.names] if isinstance(node, ast.Import) else []


def test_runner_is_standalone_python38_stdlib_at_module_level():
    files = sorted(RUNNER_SOURCE.rglob("*.py"))
    assert len(files) > 10
    for path in files:
        source = path.read_text()
        ast.parse(source, feature_version=(3, 8))
        tree = ast.parse(source)
        for node in tree.body:  # module level: standard library only
            for name in _imports(node):
                assert name.split(".")[0] in sys.stdlib_module_names, (path, name)
        for node in ast.walk(tree):  # anywhere: stdlib or a runtime, never edge-vit's packages
            for name in _imports(node):
                top = name.split(".")[0]
                assert top not in ("edge_vit", "exporters", "devices"), (path, name)
                assert top in sys.stdlib_module_names or top in RUNTIME_MODULES, (path, name)


def test_the_zipapp_is_reproducible_and_holds_every_module():
    import zipfile

    from devices.shipping import runner_bytes

    assert runner_bytes() == runner_bytes() == RUNNER.read_bytes()
    names = set(zipfile.ZipFile(RUNNER).namelist())
    assert "__main__.py" in names
    for path in RUNNER_SOURCE.rglob("*.py"):
        rel = path.relative_to(RUNNER_SOURCE).as_posix()
        assert rel == "__main__.py" or f"edge_vit_runner/{rel}" in names, rel


def test_runner_runs_alone_in_isolated_mode(artifacts, tmp_path):
    """A copy with nothing beside it, under ``python -I``: as on a device."""
    copy = tmp_path / "edge_vit_runner.pyz"
    shutil.copy(RUNNER, copy)
    result, _, _ = profile("--artifact", str(artifact(artifacts, "onnx")), "--format", "onnx",
                           script=copy, python_flags=("-I",))
    assert_consistent(result)


# ---------------------------------------------------------------- profiles per runtime

def test_onnx_with_onnxruntime(artifacts):
    path = artifact(artifacts, "onnx")
    result, data, _ = profile("--artifact", str(path), "--format", "onnx", "--threads", "2",
                              "--model-id", "tiny")
    assert_consistent(result)
    s = result.settings
    assert (s.runtime, s.device, s.threads, s.batch) == ("onnxruntime", "CPU", 2, 1)
    assert s.runtime_version == importlib.metadata.version("onnxruntime")
    assert s.providers[0] == "CPUExecutionProvider"
    assert s.inference_precision == "fp32" and s.input == "random normal (seed=0)"
    assert s.options["input_shape"] == [1, 3, 32, 32] and s.options["input_layout"] == "NCHW"
    assert result.artifact.path == str(path) and result.artifact.model_id == "tiny"
    assert data["power"] is None and data["device_name"] is None  # the host fills these


def test_peak_memory_is_the_runners_own_not_its_parents(artifacts):
    """Linux carries ru_maxrss across fork and exec: a runner started by a parent that holds
    far more memory than a tiny model needs (the sweep has torch loaded) must still report
    its own peak."""
    held = bytearray(600 * 1024 * 1024)
    held[::4096] = b"\x01" * len(held[::4096])  # touch every page: resident, not just mapped
    path = artifact(artifacts, "onnx")
    result, _, _ = profile("--artifact", str(path), "--format", "onnx", "--threads", "1")
    del held
    assert 0 < result.memory.peak_rss_mb < 400


def _bf16_capable() -> bool:
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def test_openvino_reports_the_precision_that_ran(artifacts):
    path = str(artifact(artifacts, "openvino"))
    default, _, _ = profile("--artifact", path, "--format", "openvino", "--threads", "2")
    pinned, _, _ = profile("--artifact", path, "--format", "openvino", "--threads", "2",
                           "--ov-precision", "f32")
    for result in (default, pinned):
        assert_consistent(result)
        assert result.settings.runtime == "openvino" and result.settings.device == "CPU"
        assert result.settings.threads == 2
    assert pinned.settings.inference_precision == "fp32"
    assert pinned.settings.options["ov_precision"] == "f32"
    # This CPU (AVX512_BF16) runs bf16 unless told otherwise; the runner must say so.
    assert default.settings.inference_precision == ("bf16" if _bf16_capable() else "fp32")


def test_onnx_with_openvino_runtime(artifacts):
    result, _, _ = profile("--artifact", str(artifact(artifacts, "onnx")), "--format", "onnx",
                           "--runtime", "openvino", "--ov-precision", "f32")
    assert_consistent(result)
    assert result.settings.runtime == "openvino"
    assert result.settings.inference_precision == "fp32"


def test_tflite_nhwc_with_xnnpack(artifacts):
    result, _, _ = profile("--artifact", str(artifact(artifacts, "tflite")), "--format",
                           "tflite", "--threads", "2")
    assert_consistent(result)
    s = result.settings
    assert s.runtime == "litert" and s.inference_precision == "fp32"
    assert s.options["input_layout"] == "NHWC" and s.options["input_shape"] == [1, 32, 32, 3]
    assert s.options["xnnpack"] is True and s.options["delegate_partitions"] > 0


def test_tflite_fp16_weights_without_xnnpack_compute_fp32(artifacts):
    result, _, _ = profile("--artifact", str(artifact(artifacts, "tflite", "fp16")), "--format",
                           "tflite", "--precision", "fp16", "--no-xnnpack")
    assert_consistent(result)
    s = result.settings
    assert s.options["xnnpack"] is False and s.options["delegate_partitions"] == 0
    assert s.options["reduced_precision_support"] == "fp16accfp32"
    assert s.inference_precision == "fp32" and result.artifact.precision == "fp16"


def test_npy_input_is_nchw_and_transposed_for_nhwc(artifacts, tmp_path):
    image = tmp_path / "x.npy"
    np.save(image, np.random.default_rng(1).standard_normal((3, 32, 32)).astype(np.float32))
    result, _, _ = profile("--artifact", str(artifact(artifacts, "tflite")), "--format",
                           "tflite", "--input", str(image))
    assert_consistent(result)
    assert result.settings.input == f"npy:{image}"
    np.save(image, np.zeros((1, 3, 16, 16), np.float32))
    rc, data, _ = run_runner("profile", *FAST, "--artifact", str(artifact(artifacts, "tflite")),
                             "--format", "tflite", "--input", str(image))
    assert (rc, data["error_type"]) == (2, "UsageError") and "NCHW" in data["error"]


def test_pytorch_reference_from_timm():
    result, _, _ = profile("--format", "pytorch", "--timm-model", "deit_tiny_patch16_224",
                           "--timm-kwargs", json.dumps(TINY), "--threads", "1")
    assert_consistent(result)
    s = result.settings
    assert (s.runtime, s.threads, s.inference_precision) == ("pytorch", 1, "fp32")
    assert s.options["input_shape"] == [1, 3, 32, 32] and s.options["timm_kwargs"] == TINY
    assert result.artifact.path == "timm:deit_tiny_patch16_224"


def test_sha256_is_checked(artifacts):
    from edge_vit.files import file_sha256

    path = artifact(artifacts, "onnx")
    result, _, _ = profile("--artifact", str(path), "--format", "onnx", "--sha256",
                           file_sha256(path))
    assert result.artifact.sha256 == file_sha256(path)
    rc, data, _ = run_runner("profile", *FAST, "--artifact", str(path), "--format", "onnx",
                             "--sha256", "0" * 64)
    assert (rc, data["error_type"]) == (4, "ArtifactError") and "sha256" in data["error"]


# ---------------------------------------------------------------- failures: JSON and exit codes

def _failure(rc: int, data: dict, code: int, error_type: str) -> ProfileResult:
    assert rc == code, data
    assert data["status"] == "failed" and data["error_type"] == error_type
    assert data["exit_code"] == code and data["error"]
    assert_known_keys(ProfileResult, {k: v for k, v in data.items()
                                      if k not in ("error_type", "exit_code", "hint")})
    return from_dict(ProfileResult, data)


@pytest.mark.parametrize("fmt,suffix", [("onnx", ".onnx"), ("tflite", ".tflite"),
                                        ("openvino", ".xml")])
def test_corrupt_artifact_exits_4(tmp_path, fmt, suffix):
    bad = tmp_path / f"model{suffix}"
    bad.write_bytes(os.urandom(2048))
    rc, data, err = run_runner("profile", *FAST, "--artifact", str(bad), "--format", fmt)
    result = _failure(rc, data, 4, "ArtifactError")
    assert result.artifact.path == str(bad) and result.latency is None
    assert "Traceback" not in err


def test_missing_artifact_exits_4(tmp_path):
    rc, data, _ = run_runner("profile", "--artifact", str(tmp_path / "nope.onnx"), "--format",
                             "onnx")
    _failure(rc, data, 4, "ArtifactError")


@pytest.mark.skipif(_has("tflite_runtime"), reason="tflite_runtime is installed here")
def test_missing_runtime_exits_3_with_install_hint(artifacts):
    rc, data, _ = run_runner("profile", *FAST, "--artifact", str(artifact(artifacts, "tflite")),
                             "--format", "tflite", "--runtime", "tflite_runtime")
    result = _failure(rc, data, 3, "MissingRuntime")
    assert "tflite-runtime" in data["hint"] and result.settings.runtime == "tflite_runtime"


@pytest.mark.parametrize("argv", [
    ["profile", "--format", "onnx", "--warmup"],  # argparse: missing value
    ["profile", "--format", "onnx", "--min-iterations", "0", "--artifact", "x.onnx"],
    ["profile", "--format", "tflite", "--runtime", "onnxruntime", "--artifact", "x.tflite"],
    ["frobnicate"],
])
def test_bad_arguments_exit_2_with_json(argv):
    rc, data, _ = run_runner(*argv)
    assert rc == 2 and data["status"] == "failed" and data["error_type"] == "UsageError"


def test_fixed_batch_mismatch_is_a_usage_error(artifacts):
    rc, data, _ = run_runner("profile", *FAST, "--artifact", str(artifact(artifacts, "onnx")),
                             "--format", "onnx", "--batch", "4")
    _failure(rc, data, 2, "UsageError")
    assert "fixed batch of 1" in data["error"]


# ---------------------------------------------------------------- the device lock

def test_lock_serialises_two_profiles(artifacts, tmp_path):
    lock = tmp_path / "device.lock"
    argv = [sys.executable, str(RUNNER), "profile", "--min-iterations", "20", "--min-seconds",
            "1.0", "--warmup", "3", "--artifact", str(artifact(artifacts, "onnx")), "--format",
            "onnx", "--lock", str(lock)]
    procs = [subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(from_dict(ProfileResult, json.loads(out)))
    first, second = sorted(results, key=lambda r: r.started)
    assert first.finished <= second.started  # ISO-8601 UTC strings sort by time
    assert second.settings.options["lock_wait_seconds"] > 0
    assert all(r.settings.options["lock"] == str(lock) for r in results)


def test_lock_timeout_is_a_json_error(artifacts, tmp_path):
    lock = tmp_path / "device.lock"
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        rc, data, _ = run_runner("profile", *FAST, "--artifact", str(artifact(artifacts, "onnx")),
                                 "--format", "onnx", "--lock", str(lock), "--lock-timeout", "0.3")
    _failure(rc, data, 5, "LockTimeout")
    assert str(lock) in data["error"]


def test_sigterm_still_prints_a_json_error(artifacts, tmp_path):
    """A host that times out sends SIGTERM: it still gets one JSON object, not a bare exit."""
    lock = tmp_path / "device.lock"  # written once the runner is past start-up
    proc = subprocess.Popen([sys.executable, str(RUNNER), "profile", "--min-seconds", "60",
                             "--artifact", str(artifact(artifacts, "onnx")), "--format", "onnx",
                             "--lock", str(lock)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 60
    while not (lock.exists() and lock.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    result = _failure(proc.returncode, json.loads(out), 128 + signal.SIGTERM, "Interrupted")
    assert result.started and result.finished and result.latency is None


# ---------------------------------------------------------------- probe and versions

def test_probe_lists_runtimes_and_environment():
    rc, data, _ = run_runner("probe")
    assert rc == 0
    assert {"environment", "runtimes", "install_hints"} <= set(data)
    assert_known_keys(Environment, data["environment"], exact=True)
    env = from_dict(Environment, data["environment"])
    assert env.cores_logical == os.cpu_count() and env.python == platform.python_version()
    assert env.mem_total_mb > 0 and env.cpu_model
    assert data["runtimes"]["onnxruntime"] == importlib.metadata.version("onnxruntime")
    assert "CPUExecutionProvider" in data["runtime_details"]["onnxruntime"]["providers"]
    if _has("openvino"):
        assert "CPU" in data["runtime_details"]["openvino"]["devices"]
    for name, version in data["runtimes"].items():
        assert (version is None) == (name in data["install_hints"])
        assert env.runtimes.get(name) == version
    if not _has("tensorrt"):
        assert data["runtimes"]["tensorrt"] is None


def test_versions_is_fast_and_agrees_with_metadata():
    rc, data, _ = run_runner("versions", timeout=30)
    assert rc == 0
    assert data["runtimes"]["onnxruntime"] == importlib.metadata.version("onnxruntime")
    assert set(data["runtimes"]) == {"onnxruntime", "openvino", "litert", "tflite_runtime",
                                     "pytorch", "tensorrt"}


# ---------------------------------------------------------------- helpers on known data

def test_percentile_matches_numpy_linear(runner):
    data = [1.0, 2.0, 3.0, 4.0]
    assert runner.percentile(data, 0) == 1.0 and runner.percentile(data, 100) == 4.0
    assert runner.percentile(data, 50) == 2.5
    assert runner.percentile(data, 90) == pytest.approx(3.7)
    assert runner.percentile([7.0], 99) == 7.0
    values = sorted(np.random.default_rng(0).lognormal(size=101).tolist())
    for q in (1, 25, 50, 90, 95, 99, 99.9):
        assert runner.percentile(values, q) == pytest.approx(np.percentile(values, q), rel=1e-12)
    with pytest.raises(ValueError):
        runner.percentile([], 50)


def test_mean_std_is_population(runner):
    assert runner.mean_std([2, 4, 4, 4, 5, 5, 7, 9]) == (5.0, 2.0)


def test_bootstrap_ci_is_seeded_and_brackets_the_estimate(runner):
    assert runner.bootstrap_ci([3.0] * 30, (50, 90)) == [[3.0, 3.0], [3.0, 3.0]]
    values = np.random.default_rng(2).normal(10, 1, size=200).tolist()
    (ci,) = runner.bootstrap_ci(values, (50,), seed=0)
    assert [ci] == runner.bootstrap_ci(values, (50,), seed=0)
    assert [ci] != runner.bootstrap_ci(values, (50,), seed=1)
    assert ci[0] < runner.percentile(sorted(values), 50) < ci[1]
    assert 0 < ci[1] - ci[0] < 1.0  # median of 200 N(10,1): half-width ~0.2
    p50_ci, p90_ci = runner.bootstrap_ci(values, (50, 90), seed=0)
    assert p50_ci == ci  # the same resamples serve every percentile
    assert p90_ci[0] < runner.percentile(sorted(values), 90) < p90_ci[1] and p90_ci[0] > ci[1]


def test_latency_stats_on_known_data(runner):
    steady = runner.latency_stats([2.0] * 50, batch=2, total_seconds=0.1)
    assert steady["count"] == 50 and steady["p50"] == steady["p99"] == 2.0
    assert steady["p50_ci"] == [2.0, 2.0] and steady["cv"] == 0.0
    assert not steady["noisy"] and steady["noise_reason"] is None
    assert steady["throughput_ips"] == 1000.0 and steady["total_seconds"] == 0.1
    spiky = runner.latency_stats([1.0] * 98 + [10.0, 10.0])
    assert spiky["p99"] == 10.0 and spiky["p50"] == 1.0 and spiky["max"] == 10.0
    assert spiky["mean"] == 1.18 and spiky["std"] == pytest.approx(1.26, abs=1e-4)
    assert spiky["noisy"] and "cv" in spiky["noise_reason"] and "p99" in spiky["noise_reason"]
    assert list(steady) == [f.name for f in dataclasses.fields(LatencyStats)]


def test_throttle_bits_are_decoded(runner):
    assert runner.throttle_verdict(None, 0) == (None, None)
    ok, detail = runner.throttle_verdict(0, 0)
    assert ok is False and "0x0 before" in detail
    bad, detail = runner.throttle_verdict(0x0, 0x50005)
    assert bad is True
    assert "now: under-voltage, currently throttled" in detail
    assert "occurred during the run: under-voltage, currently throttled" in detail
    old, detail = runner.throttle_verdict(0x80000, 0x80000)  # soft limit hit before the run
    assert old is False and "already occurred since boot: soft temperature limit" in detail
    assert runner.throttle_verdict(0x0, 0x20000)[0] is True  # capped and released mid-run


def test_layout_guess(runner):
    assert runner.guess_layout([1, 32, 32, 3]) == "NHWC"
    assert runner.guess_layout([1, 3, 224, 224]) == "NCHW"
    assert runner.guess_layout([1, 3, 3, 3]) == "NCHW"  # ambiguous: ONNX's convention
    assert runner.guess_layout([1, 3, 224, 224], "NHWC") == "NHWC"
    assert runner.guess_layout([1, 197, 192]) is None


def read_tflite_metadata(path: Path) -> dict[str, str]:
    """The reference: LiteRT's own flatbuffer schema module."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(Path(path).read_bytes(), 0)
    out = {}
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        buf = model.Buffers(entry.Buffer())
        if buf is not None and buf.DataLength():
            raw = buf.DataAsNumpy().tobytes().split(b"\0", 1)[0]
            out[entry.Name().decode()] = raw.decode(errors="replace")
    return out


def test_tflite_metadata_reader_matches_litert_schema(runner, artifacts):
    pytest.importorskip("ai_edge_litert")
    for precision in ("fp32", "fp16"):
        path = artifact(artifacts, "tflite", precision)
        assert runner.tflite_metadata(str(path)) == read_tflite_metadata(path)
    assert runner.tflite_metadata(str(artifact(artifacts, "tflite", "fp16")))[
        "reduced_precision_support"] == "fp16accfp32"
    assert runner.tflite_precision("fp16accfp32", xnnpack=True) == "fp32"
    assert runner.tflite_precision(None, xnnpack=False) == "fp32"


# ---------------------------------------------------------------- measure (a session's segment)

def _plan(tmp_path: Path, units: list[dict], **settings) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"units": units, "settings": {
        "threads": 1, "warmup": 2, "warmup_seconds": 0.0, "block_seconds": 0.05,
        "min_iterations": 5, **settings}}))
    return path


def test_measure_times_each_unit_in_a_fresh_load_and_keeps_going(artifacts, tmp_path):
    onnx = str(artifact(artifacts, "onnx"))
    plan = _plan(tmp_path, [
        {"id": "a", "artifact": onnx, "format": "onnx", "runtime": "onnxruntime"},
        {"id": "b", "artifact": onnx, "format": "onnx", "runtime": "openvino"},
        {"id": "gone", "artifact": str(tmp_path / "nope.onnx"), "format": "onnx",
         "runtime": "onnxruntime"},
        {"id": "odd", "artifact": onnx, "format": "weird"}])
    rc, data, err = run_runner("measure", "--plan", str(plan), "--units", "1:7,2:0,0:0,3:0",
                               "--round", "4", "--verify", "--environment")
    assert rc == 0 and data["status"] == "ok" and data["round"] == 4
    units = {u["id"]: u for u in data["units"]}
    assert [u["index"] for u in data["units"]] == [1, 2, 0, 3]  # in the order asked
    b, a = units["b"], units["a"]
    assert b["status"] == a["status"] == "ok"
    assert len(b["times_ms"]) == 7 and len(a["times_ms"]) >= 5  # fixed count / by time
    for u in (a, b):
        assert set(u["cpu"]) == {"wall_s", "own_cores", "other_cores", "steal_pct",
                                 "resolution_cores", "steal_resolution_pct"}
        # one tick per CPU, as CPUs and as % of all CPUs' time over the block
        cpu = u["cpu"]
        assert cpu["steal_resolution_pct"] == pytest.approx(
            100.0 * cpu["resolution_cores"] / os.cpu_count(), rel=0.01)
        assert u["cpu"]["own_cores"] > 0 and u["memory"]["model_added_mb"] is not None
        assert u["warmup_iterations"] >= 2 and u["load_seconds"] > 0
    assert a["options"]["allow_spinning"] is True  # onnxruntime's own default
    assert units["gone"]["status"] == "failed" and units["gone"]["error_type"] == "ArtifactError"
    assert units["odd"]["status"] == "failed" and "unknown format" in units["odd"]["error"]
    assert data["environment"]["cpu_model"] and data["affinity"]
    # the marks the host reads to pin a crash on a unit
    marks = [line for line in err.splitlines() if line.startswith("edge-vit-runner: unit-")]
    assert marks[:2] == ["edge-vit-runner: unit-start 1", "edge-vit-runner: unit-end 1"]


@pytest.mark.parametrize("units", ["x:1", "9:0", "0:-1"])
def test_measure_refuses_bad_unit_lists(tmp_path, units):
    plan = _plan(tmp_path, [{"id": "a", "artifact": "m.onnx", "format": "onnx"}])
    rc, data, _ = run_runner("measure", "--plan", str(plan), "--units", units)
    assert rc == 2 and data["error_type"] == "UsageError"
    rc, data, _ = run_runner("measure", "--plan", str(tmp_path / "none.json"), "--units", "0:0")
    assert rc == 2 and "cannot read the session plan" in data["error"]


def test_no_spinning_outlives_its_unit(runner, artifacts):
    """onnxruntime's workers spin-wait after each run (its default, kept so the figures are
    what a deployment gets); the runner unloads every model after its block, so none of that
    spinning can eat into the next unit's block. Measured as this process's own CPU time
    while idle: the spinning is there while the session is loaded, and gone after unload."""
    import resource

    def idle_cores(seconds=0.3):
        def cpu():
            u = resource.getrusage(resource.RUSAGE_SELF)
            return u.ru_utime + u.ru_stime
        c0, t0 = cpu(), time.perf_counter()
        time.sleep(seconds)
        return (cpu() - c0) / (time.perf_counter() - t0)

    unit = {"artifact": str(artifact(artifacts, "onnx")), "format": "onnx",
            "runtime": "onnxruntime"}
    settings = {"threads": 2, "warmup": 2, "warmup_seconds": 0.0, "block_seconds": 0.05,
                "min_iterations": 5}
    out = runner.measure_unit(0, unit, 0, settings, verify=False)
    assert out["status"] == "ok" and out["options"]["allow_spinning"] is True
    assert idle_cores() < 0.05  # the unit is unloaded: nothing of it runs any more
    args = runner.unit_namespace(unit, settings)
    backend = runner.open_backend(args, "onnxruntime")  # the same model, left loaded
    feed = backend.prepare(runner.make_input(backend.shape, "NCHW", args)[0])
    for _ in range(200):
        backend.run(feed)
    loaded = idle_cores(0.1)  # right after the runs: the workers are still spinning
    del backend
    assert loaded > idle_cores() + 0.02  # loaded, its idle workers still burned CPU


def test_a_folder_artifact_is_checked_file_by_file(tmp_path):
    from devices.runner.core import ArtifactError, check_artifact, sha256_file, sha256_path

    folder = tmp_path / "model.mlpackage"
    (folder / "Data" / "weights").mkdir(parents=True)
    (folder / "Manifest.json").write_text("{}")
    (folder / "Data" / "weights" / "weight.bin").write_bytes(b"\0" * 100)
    digest = sha256_path(str(folder))
    assert digest == sha256_path(str(folder)) and digest != sha256_file(folder / "Manifest.json")
    args = types.SimpleNamespace(format="x", artifact=str(folder), sha256=digest, companions={})
    check_artifact(args)  # the same files: passes
    (folder / "Data" / "weights" / "weight.bin").write_bytes(b"\1" * 100)
    with pytest.raises(ArtifactError, match="model.mlpackage has sha256"):
        check_artifact(args)
