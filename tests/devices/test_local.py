"""LocalDevice (subprocesses, argv lists) and the device registry."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from devices.base import (
    DEVICE_KINDS,
    CommandResult,
    PushReport,
    available_kinds,
    device_class,
    open_device,
)
from devices.inventory import DeviceConfig
from devices.local import LocalDevice
from edge_vit.errors import DeviceCommandError, DeviceError, UsageError
from edge_vit.serialization import from_dict, to_dict

ECHO_ARGV = "import sys, json; print(json.dumps(sys.argv[1:]))"
NASTY = ["a b", "it's", 'say "hi"', "$(touch pwned1)", "; touch pwned2", "`touch pwned3`",
         "*", "", "back\\slash", "new\nline", "ünï€", "--flag", "$HOME", "a|b&c>d", "~"]

pytestmark = pytest.mark.usefixtures("isolated_home")


@pytest.fixture
def dev(tmp_path):
    with LocalDevice(DeviceConfig(workdir=str(tmp_path / "work"))) as device:
        yield device


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_registry_lists_the_kinds():
    assert set(DEVICE_KINDS) <= set(available_kinds())
    assert device_class("local") is LocalDevice
    assert device_class("ssh").__name__ == "SshDevice"
    with pytest.raises(UsageError, match="Unknown device kind 'adb'"):
        device_class("adb")


def test_open_builtin_local_defaults(isolated_home, monkeypatch):
    monkeypatch.delenv("EDGE_VIT_CACHE")  # the tests' throwaway cache; a user has none
    device = open_device(DeviceConfig())
    assert isinstance(device, LocalDevice) and device.kind == "local" and device.name == "local"
    assert device.python == sys.executable  # the interpreter that has the runtimes
    assert device.workdir == str(isolated_home / ".cache" / "edge-vit" / "device")
    assert device.run(["pwd"]).stdout.strip() == device.workdir
    monkeypatch.setenv("EDGE_VIT_CACHE", str(isolated_home / "cache"))
    assert open_device(DeviceConfig()).workdir == str(isolated_home / "cache" / "device")


def test_run_round_trip(dev):
    res = dev.run([dev.python, "-c", "import os; print(os.getcwd())"], timeout=10)
    assert res.ok and res.stdout.strip() == dev.workdir and res.seconds > 0 and not res.timed_out


def test_run_nonzero_check_and_missing_command(dev):
    res = dev.run(["sh", "-c", "echo oops >&2; exit 3"], timeout=10)
    assert (res.returncode, res.stderr, res.ok) == (3, "oops\n", False)
    with pytest.raises(DeviceCommandError, match="exited 3: oops") as info:
        dev.run(["sh", "-c", "echo oops >&2; exit 3"], timeout=10, check=True)
    assert info.value.result.returncode == 3
    assert dev.run(["no-such-command-xyz"], timeout=10).returncode == 127


def test_arguments_arrive_verbatim(dev):
    res = dev.run([dev.python, "-c", ECHO_ARGV, *NASTY], timeout=10, check=True)
    assert json.loads(res.stdout) == NASTY
    assert not list(Path(dev.workdir).glob("pwned*"))


def test_env_is_added_to_the_environment(dev):
    res = dev.run(["sh", "-c", 'printf "%s|%s" "$FOO" "${PATH:+set}"'], env={"FOO": "a b $(x)"})
    assert res.stdout == "a b $(x)|set"


def test_timeout_kills_the_whole_process_group(dev):
    start = time.monotonic()
    res = dev.run(["sh", "-c", "sleep 30 & sleep 30; wait"], timeout=0.5)
    assert res.timed_out and not res.ok and time.monotonic() - start < 3
    with pytest.raises(DeviceCommandError, match="timed out"):
        dev.run(["sleep", "5"], timeout=0.2, check=True)


def test_push_fetch_round_trip_and_skip(dev, tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "run.sh"
    a.write_bytes(os.urandom(50_000))
    b.write_text("#!/bin/sh\necho ran\n")
    b.chmod(0o755)
    files = [(a, "models/x y/a.bin"), (b, "run.sh")]
    first = dev.push(files)
    assert first.transferred == ["models/x y/a.bin", "run.sh"] and first.bytes_transferred == 50_000 + 19
    assert dev.run(["./run.sh"]).stdout == "ran\n"
    again = dev.push(files)
    assert again.bytes_transferred == 0 and again.skipped == ["models/x y/a.bin", "run.sh"]
    old_inode = (Path(dev.workdir) / "run.sh").stat().st_ino
    b.write_text("#!/bin/sh\necho changed\n")
    third = dev.push(files)
    assert third.transferred == ["run.sh"]
    assert (Path(dev.workdir) / "run.sh").stat().st_ino != old_inode  # replaced by rename
    assert dev.fetch("run.sh", tmp_path / "back" / "r.sh").read_text().endswith("changed\n")
    assert _tree(Path(dev.workdir)) == ["models/x y/a.bin", "run.sh"]  # no temp files left
    assert _tree(tmp_path / "back") == ["r.sh"]


@pytest.mark.parametrize("bad", ["../escape", "/etc/passwd", "a/../../b", ""])
def test_push_rejects_paths_outside_workdir(dev, tmp_path, bad):
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(UsageError):
        dev.push([(f, bad)])


def test_push_missing_local_file(dev, tmp_path):
    with pytest.raises(UsageError, match="not a file"):
        dev.push([(tmp_path / "absent", "absent")])


def test_fetch_missing_file(dev, tmp_path):
    with pytest.raises(DeviceError, match="no such file"):
        dev.fetch("nope.json", tmp_path / "nope.json")


def test_results_round_trip_through_the_serializer(dev, tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    report = dev.push([(f, "f")])
    assert from_dict(PushReport, json.loads(json.dumps(to_dict(report)))) == report
    res = dev.run(["echo", "hi"])
    assert from_dict(CommandResult, json.loads(json.dumps(to_dict(res)))) == res


@pytest.mark.parametrize("argv, timeout, env", [
    ([], 1, None),
    ("echo hi", 1, None),
    (["echo"], 0, None),
    (["echo"], -1, None),
    (["echo"], 1, {"A B": "x"}),
])
def test_bad_run_requests(dev, argv, timeout, env):
    with pytest.raises(UsageError):
        dev.run(argv, timeout=timeout, env=env)
