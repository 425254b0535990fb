"""SshDevice against a real OpenSSH server on loopback (see conftest.py); no mocks."""

from __future__ import annotations

import getpass
import json
import logging
import os
import pwd
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from devices.base import open_device
from devices.ssh import SshDevice
from edge_vit.errors import (
    DeviceAuthenticationError,
    DeviceCommandError,
    DeviceError,
    DeviceUnreachableError,
    HostKeyError,
    UsageError,
)

ECHO_ARGV = "import sys, json; print(json.dumps(sys.argv[1:]))"
NASTY = ["a b", "it's", 'say "hi"', "$(touch pwned1)", "; touch pwned2", "`touch pwned3`",
         "*", "", "back\\slash", "new\nline", "tab\there", "ünï€", "--flag", "-c", "$HOME",
         "a|b&c>d", "~", "!x"]

pytestmark = pytest.mark.usefixtures("isolated_home")


@pytest.fixture
def dev(sshd, tmp_path):
    device = SshDevice(sshd.device_config(workdir=str(tmp_path / "remote")))
    yield device
    device.close()


def _procs_with_cmdline(*argv: str) -> list[int]:
    want = "\0".join(argv).encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes() == want:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _wait_gone(*argv: str, within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while _procs_with_cmdline(*argv):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# -- commands ---------------------------------------------------------------------------------
def test_open_device_gives_ssh_device(sshd):
    with open_device(sshd.config) as device:
        assert isinstance(device, SshDevice) and device.kind == "ssh"
        assert (device.host, device.port, device.user) == (sshd.host, sshd.port, sshd.user)
        assert device.run(["true"]).ok


def test_run_in_workdir(dev, tmp_path):
    assert dev.workdir == str(tmp_path / "remote")  # absolute: known before connecting
    res = dev.run(["pwd"], timeout=10)
    assert res.ok and res.stdout.strip() == str(tmp_path / "remote") == dev.workdir
    assert res.argv == ["pwd"] and res.seconds > 0 and not res.timed_out


def test_run_nonzero_and_check(dev):
    res = dev.run(["sh", "-c", "echo out; echo oops >&2; exit 3"], timeout=10)
    assert (res.returncode, res.stdout, res.stderr, res.ok) == (3, "out\n", "oops\n", False)
    with pytest.raises(DeviceCommandError, match="exited 3: oops") as info:
        dev.run(["sh", "-c", "echo oops >&2; exit 3"], timeout=10, check=True)
    assert info.value.result.returncode == 3 and info.value.exit_code == 7


def test_missing_command_is_127(dev):
    assert dev.run(["no-such-command-xyz"], timeout=10).returncode == 127


def test_arguments_arrive_verbatim(dev, tmp_path):
    res = dev.run([dev.python, "-c", ECHO_ARGV, *NASTY], timeout=10, check=True)
    assert json.loads(res.stdout) == NASTY
    assert not [p.name for p in (tmp_path / "remote").iterdir() if p.name.startswith("pwned")]


def test_env_values_verbatim(dev):
    res = dev.run(["sh", "-c", 'printf %s "$FOO"'], timeout=10, env={"FOO": "a b; $(id) 'q'"})
    assert res.stdout == "a b; $(id) 'q'"


def test_stdin_is_closed_and_large_output(dev):
    assert dev.run(["cat"], timeout=5).ok  # would hang until the timeout if stdin stayed open
    res = dev.run([dev.python, "-c", "import sys; sys.stdout.write('x' * 3_000_000); "
                   "sys.stderr.write('y' * 1_000_000)"], timeout=20)
    assert len(res.stdout) == 3_000_000 and len(res.stderr) == 1_000_000


@pytest.mark.parametrize("wrapper", ["gnu", "python"])
def test_timeout_kills_remote_command(dev, wrapper):
    dev.connect()
    dev._timeout_wrapper = wrapper  # both ways a device can kill: GNU timeout, python watchdog
    marker = "30.25" if wrapper == "gnu" else "30.75"
    start = time.monotonic()
    res = dev.run(["sleep", marker], timeout=1)
    assert res.timed_out and not res.ok
    assert time.monotonic() - start < 4
    assert _wait_gone("sleep", marker), "the remote command survived its timeout"
    with pytest.raises(DeviceCommandError, match="timed out"):
        dev.run(["sleep", marker], timeout=0.5, check=True)
    assert dev.run(["true"]).ok  # the connection is still usable


def test_timeout_without_any_wrapper_hangs_up(dev):
    dev.connect()
    dev._timeout_wrapper = "none"
    start = time.monotonic()
    try:
        res = dev.run(["sleep", "30.125"], timeout=0.5)
        assert res.timed_out and res.returncode == -1 and time.monotonic() - start < 3
    finally:
        for pid in _procs_with_cmdline("sleep", "30.125"):
            os.kill(pid, 9)


def test_server_killed_mid_command_raises_device_error(sshd_factory, tmp_path):
    server = sshd_factory()
    device = SshDevice(server.device_config(workdir=str(tmp_path / "remote")))
    device.connect()
    killer = threading.Timer(0.5, server.kill_sessions)
    killer.start()
    start = time.monotonic()
    with pytest.raises(DeviceError, match="lost") as info:
        device.run(["sleep", "29.5"], timeout=20)
    killer.join()
    assert type(info.value) is DeviceError
    assert time.monotonic() - start < 5
    assert device.run(["true"]).ok  # the listener survived: the next call reconnects
    device.close()


# -- files ------------------------------------------------------------------------------------
def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_push_fetch_round_trip(dev, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "model.onnx").write_bytes(os.urandom(300_000))
    (src / "runner.py").write_text("print('hi')\n")
    (src / "runner.py").chmod(0o755)
    report = dev.push([(src / "model.onnx", "models/deit tiny/model.onnx"),
                       (src / "runner.py", "runner.py")])
    assert report.transferred == ["models/deit tiny/model.onnx", "runner.py"]
    assert report.bytes_transferred == 300_000 + 12 and report.skipped == []
    remote = Path(dev.workdir)
    assert (remote / "runner.py").stat().st_mode & 0o777 == 0o755
    out = dev.fetch("models/deit tiny/model.onnx", tmp_path / "back" / "m.onnx")
    assert out.read_bytes() == (src / "model.onnx").read_bytes()
    assert dev.run([dev.python, "runner.py"], timeout=10).stdout == "hi\n"
    assert _tree(tmp_path / "back") == ["m.onnx"]  # no temp file left locally


def test_push_skips_identical_and_replaces_changed(dev, tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"A" * 1000)
    b.write_bytes(b"B" * 2000)
    files = [(a, "d/a.bin"), (b, "d/b.bin")]
    assert dev.push(files).bytes_transferred == 3000
    again = dev.push(files)
    assert again.bytes_transferred == 0 and again.skipped == ["d/a.bin", "d/b.bin"]
    old_inode = (Path(dev.workdir) / "d/a.bin").stat().st_ino
    with open(Path(dev.workdir) / "d/a.bin", "rb") as reader:  # a reader of the old file
        a.write_bytes(b"a" * 500)
        third = dev.push(files)
        assert reader.read() == b"A" * 1000  # ...is not disturbed: replaced by rename
    assert third.transferred == ["d/a.bin"] and third.bytes_transferred == 500
    assert (Path(dev.workdir) / "d/a.bin").stat().st_ino != old_inode
    assert dev.fetch("d/a.bin", tmp_path / "got").read_bytes() == b"a" * 500
    assert _tree(Path(dev.workdir)) == ["d/a.bin", "d/b.bin"]  # no temp files left


def test_push_hashes_with_python_when_sha256sum_missing(sshd, tmp_path):
    class NoSha256sum(SshDevice):
        def run(self, argv, *args, **kwargs):
            if argv[0] == "sha256sum":
                argv = ["sha256sum-not-installed", *argv[1:]]
            return super().run(argv, *args, **kwargs)

    f = tmp_path / "f.bin"
    f.write_bytes(b"x" * 100)
    with NoSha256sum(sshd.device_config(workdir=str(tmp_path / "remote"))) as device:
        assert device.push([(f, "f.bin")]).transferred == ["f.bin"]
        assert device.push([(f, "f.bin")]).skipped == ["f.bin"]


@pytest.mark.parametrize("bad", ["../escape", "/etc/passwd", "a/../../b", ""])
def test_push_rejects_paths_outside_workdir(dev, tmp_path, bad):
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(UsageError):
        dev.push([(f, bad)])


def test_fetch_missing_file(dev, tmp_path):
    with pytest.raises(DeviceError, match="no such file"):
        dev.fetch("nope.json", tmp_path / "nope.json")
    assert not (tmp_path / "nope.json").exists()


# -- host keys --------------------------------------------------------------------------------
def test_unknown_host_key_refused_by_default(sshd, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyError, match="not in known_hosts") as info:
        SshDevice(sshd.device_config(known_hosts=empty)).connect()
    assert sshd.host_key_fingerprint in str(info.value) and "ssh-keyscan" in info.value.hint
    assert empty.read_text() == ""


def test_trust_on_first_use_accepts_and_records_unknown_key(sshd, tmp_path, caplog):
    kh = tmp_path / "new" / "known_hosts"
    with caplog.at_level(logging.WARNING, logger="edge_vit.devices"):
        with SshDevice(sshd.device_config(known_hosts=kh, trust_on_first_use=True)) as device:
            assert device.run(["true"]).ok
    assert "TRUST ON FIRST USE" in caplog.text and sshd.host_key_fingerprint in caplog.text
    assert kh.read_text().startswith(f"[127.0.0.1]:{sshd.port} ssh-ed25519 ")
    with SshDevice(sshd.device_config(known_hosts=kh)) as device:  # now known: no TOFU needed
        assert device.run(["true"]).ok
    assert len(kh.read_text().splitlines()) == 1


def test_trust_on_first_use_writes_user_known_hosts_by_default(sshd, isolated_home):
    with SshDevice(sshd.device_config(known_hosts=None, trust_on_first_use=True)) as device:
        assert device.run(["true"]).ok
    assert f"[127.0.0.1]:{sshd.port}" in (isolated_home / ".ssh" / "known_hosts").read_text()
    with SshDevice(sshd.device_config(known_hosts=None)) as device:  # found in ~/.ssh now
        assert device.run(["true"]).ok


@pytest.mark.parametrize("tofu", [False, True])
def test_changed_host_key_always_refused(sshd_rekeyed, tofu):
    old, new = sshd_rekeyed
    before = new.known_hosts.read_text()
    with pytest.raises(HostKeyError, match="HOST KEY CHANGED") as info:
        SshDevice(new.device_config(trust_on_first_use=tofu)).connect()
    msg = str(info.value)
    assert f"127.0.0.1:{new.port}" in msg
    assert old.host_key_fingerprint in msg and new.host_key_fingerprint in msg
    assert new.known_hosts.read_text() == before


# -- connecting -------------------------------------------------------------------------------
def test_closed_port_unreachable_within_connect_timeout(sshd, closed_port):
    port = closed_port
    cfg = sshd.device_config(port=port, connect_timeout=2.0, retries=1, retry_backoff=0.1)
    start = time.monotonic()
    with pytest.raises(DeviceUnreachableError, match="refused") as info:
        SshDevice(cfg).run(["true"])
    assert time.monotonic() - start < 2.0
    assert f"127.0.0.1:{port}" in str(info.value) and "2 attempts" in str(info.value)


def test_silent_server_unreachable_within_connect_timeout(sshd):
    with socket.socket() as listener:  # accepts TCP, never says a word
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        cfg = sshd.device_config(port=listener.getsockname()[1], connect_timeout=1.0)
        start = time.monotonic()
        with pytest.raises(DeviceUnreachableError, match="no SSH handshake within 1 s"):
            SshDevice(cfg).connect()
        assert time.monotonic() - start < 2.5


def test_cli_prints_no_library_traceback_for_a_silent_port(tmp_path):
    """paramiko's transport thread logs the failed handshake (with its traceback) after the
    typed error; in the real CLI process nothing of it reaches the terminal."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        inventory = tmp_path / "devices.toml"
        inventory.write_text(f'[devices.mute]\nkind = "ssh"\nhost = "127.0.0.1"\n'
                             f'port = {listener.getsockname()[1]}\nuser = "nobody"\n'
                             f'connect_timeout = 1\nretries = 0\n')
        proc = subprocess.run([sys.executable, "-m", "edge_vit", "devices", "check", "mute",
                               "--inventory", str(inventory)], capture_output=True, text=True,
                              timeout=60, env={**os.environ, "HOME": str(tmp_path)})
    assert proc.returncode == DeviceUnreachableError.exit_code
    assert "no SSH handshake within 1 s" in proc.stderr
    assert "paramiko" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 2  # the error and its hint


def test_wrong_key_is_an_authentication_error(sshd, tmp_path, ssh_keygen):
    other = ssh_keygen(tmp_path / "other_key")
    with pytest.raises(DeviceAuthenticationError, match="refused authentication"):
        SshDevice(sshd.device_config(identity_file=other)).connect()


def test_missing_identity_file_is_not_retried(sshd, tmp_path):
    cfg = sshd.device_config(identity_file=tmp_path / "absent", retries=3, retry_backoff=5)
    with pytest.raises(DeviceAuthenticationError, match="absent does not exist"):
        SshDevice(cfg).connect()


def test_ssh_alias_from_ssh_config(sshd, tmp_path):
    cfg_file = tmp_path / "ssh_config"
    cfg_file.write_text(
        f"Host bench\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User {sshd.user}\n"
        f"  IdentityFile {sshd.identity_file}\n\nHost *\n  User nobody-else\n"
    )
    cfg = sshd.device_config(host=None, port=None, user=None, identity_file=None,
                             ssh_alias="bench", ssh_config=cfg_file)
    with SshDevice(cfg) as device:
        assert (device.host, device.port, device.user) == ("127.0.0.1", sshd.port, sshd.user)
        assert device.identity_file == sshd.identity_file
        assert device.run(["true"]).ok
    with pytest.raises(DeviceError, match="not a Host"):
        SshDevice(sshd.device_config(ssh_alias="nope", ssh_config=cfg_file))


def test_user_ssh_config_is_read_by_default(sshd, isolated_home):
    (isolated_home / ".ssh").mkdir()
    (isolated_home / ".ssh" / "config").write_text(
        f"Host pi\n  HostName 127.0.0.1\n  Port {sshd.port}\n  IdentityFile {sshd.identity_file}\n"
    )
    cfg = sshd.device_config(host=None, port=None, identity_file=None, ssh_alias="pi")
    with SshDevice(cfg) as device:
        assert device.port == sshd.port and device.run(["true"]).ok


def test_tilde_workdir_resolves_against_remote_home(sshd):
    name = f".cache/edge-vit-test-{os.getpid()}"
    device = SshDevice(sshd.device_config(workdir=f"~/{name}"))
    home = pwd.getpwnam(sshd.user).pw_dir  # the account's, as SFTP reports it (the test
    try:  # sshd gives commands another $HOME: see conftest)
        assert device.workdir.startswith("/")  # reading it connects to ask the remote home
        assert device.workdir == f"{home}/{name}"
        assert device.run(["pwd"]).stdout.strip() == device.workdir
    finally:
        device.close()
        shutil.rmtree(f"{home}/{name}", ignore_errors=True)  # loopback: the same filesystem


def test_commands_do_not_run_the_accounts_startup_files(sshd_factory, tmp_path):
    """The test device has its own $HOME: the account's ~/.bashrc (a slow pyenv, a stale
    lock) cannot slow or break the loopback tests; only the server's own start-up file runs."""
    server = sshd_factory(bashrc="export EDGE_VIT_TEST_MARK=server-home\n")
    with SshDevice(server.device_config(workdir=str(tmp_path / "w"))) as device:
        out = device.run(["sh", "-c", 'printf "%s|%s" "$HOME" "$EDGE_VIT_TEST_MARK"']).stdout
    home, mark = out.split("|")
    assert home == str(server.root / "home")
    if pwd.getpwnam(server.user).pw_shell.endswith("bash"):  # bash runs ~/.bashrc for sshd
        assert mark == "server-home"


def test_slow_login_shell_is_named_not_misread_as_missing_tools(sshd_factory, tmp_path):
    if not pwd.getpwnam(getpass.getuser()).pw_shell.endswith("bash"):
        pytest.skip("the account's login shell is not bash: no ~/.bashrc to make slow")
    server = sshd_factory(bashrc="sleep 4\n")  # every command waits 4 s before it starts
    cfg = server.device_config(workdir=str(tmp_path / "w"), connect_timeout=0.5)
    start = time.monotonic()
    with SshDevice(cfg) as device, pytest.raises(DeviceError) as info:
        device.run(["true"])
    assert time.monotonic() - start < 4  # gave up at 3 x connect_timeout, did not wait
    text = str(info.value)
    assert "did not finish within 1.5 s" in text and "login shell may be slow" in text
    assert "no GNU timeout" not in text and "ssh -p" in info.value.hint


@pytest.fixture
def small_disks(tmp_path):
    """``(full, read_only)``: a 1 MiB tmpfs and a read-only one (needs root to mount)."""
    full, ro = tmp_path / "full", tmp_path / "ro"
    full.mkdir()
    ro.mkdir()
    mounted = []
    for path, opts in ((full, "size=1m"), (ro, "size=1m,ro")):
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            for m in mounted:
                subprocess.run(["umount", str(m)], capture_output=True)
            pytest.skip(f"cannot mount a tmpfs here (root needed): {proc.stderr.strip()}")
        mounted.append(path)
    yield full, ro
    for m in mounted:
        subprocess.run(["umount", "-l", str(m)], capture_output=True)


def test_full_disk_on_the_device_is_named(sshd, small_disks, tmp_path):
    full, _ = small_disks
    big = tmp_path / "weights.bin"
    big.write_bytes(os.urandom(2_000_000))
    with SshDevice(sshd.device_config(workdir=str(full / "work"))) as device:
        with pytest.raises(DeviceError) as info:
            device.push([(big, "artifacts/weights.bin")])
        assert f"no space left on loopback:{full}/work/artifacts" in str(info.value)
        assert "1024 KiB free" in str(info.value) and "workdir" in info.value.hint
        assert device.run(["ls", "-A", "artifacts"]).stdout == ""  # no half file left


def test_read_only_workdir_on_the_device_is_named(sshd, small_disks):
    _, ro = small_disks
    with pytest.raises(DeviceError, match=f"loopback:{ro} is on a read-only file system"):
        SshDevice(sshd.device_config(workdir=str(ro / "work"))).connect()
