"""The TOML device inventory: search order, parsing, and every error naming file/device/key."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

import devices.inventory as inventory_mod
from devices.inventory import DeviceConfig, get_device_config, load_inventory
from edge_vit.errors import InventoryError, UsageError
from edge_vit.serialization import from_dict, to_dict

pytestmark = pytest.mark.usefixtures("isolated_home")


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def _docstring_example() -> str:
    """The example in devices/inventory.py's docstring: the documented format must parse."""
    doc = inventory_mod.__doc__
    block = doc.split("::\n", 1)[1].split("\nA built-in", 1)[0]
    return textwrap.dedent(block)


def test_no_inventory_gives_builtin_local(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    inv = load_inventory()
    assert inv.path is None and inv.names() == ["local"]
    assert inv.get("local") == DeviceConfig(name="local", kind="local")


def test_documented_example_parses(tmp_path, isolated_home):
    path = _write(tmp_path / "inv" / "devices.toml", _docstring_example())
    inv = load_inventory(path)
    assert inv.names() == ["local", "pi4", "orin", "bench"]
    pi4 = inv.get("pi4")
    assert (pi4.kind, pi4.host, pi4.user, pi4.port) == ("rpi", "192.168.1.40", "pi", None)
    assert pi4.identity_file == isolated_home / ".ssh" / "id_ed25519"  # ~ expanded
    assert pi4.runtimes == ["tflite", "onnxruntime"] and pi4.source == path
    assert pi4.trust_on_first_use is False and pi4.python is None and pi4.retries == 2
    orin = inv.get("orin")
    assert orin.ssh_alias == "orin" and orin.host is None
    assert orin.known_hosts == tmp_path / "inv" / "lab_known_hosts"  # relative to the file
    assert (orin.connect_timeout, orin.command_timeout, orin.retries) == (5.0, 900.0, 3)
    assert isinstance(orin.connect_timeout, float) and orin.workdir == "/data/edge-vit"
    bench = inv.get("bench")
    assert (bench.port, bench.trust_on_first_use) == (2222, True)


def test_config_round_trips_through_the_serializer(tmp_path):
    inv = load_inventory(_write(tmp_path / "devices.toml", _docstring_example()))
    for cfg in inv.devices.values():
        assert from_dict(type(cfg), json.loads(json.dumps(to_dict(cfg)))) == cfg


def test_search_order(tmp_path, monkeypatch, isolated_home):
    user = _write(isolated_home / ".config" / "edge-vit" / "devices.toml",
                  '[devices.u]\nkind = "local"\n')
    monkeypatch.chdir(tmp_path)
    assert load_inventory().path == user
    cwd = _write(tmp_path / "devices.toml", '[devices.c]\nkind = "local"\n')
    assert load_inventory().path == cwd
    env = _write(tmp_path / "elsewhere.toml", '[devices.e]\nkind = "local"\n')
    monkeypatch.setenv("EDGE_VIT_DEVICES", str(env))
    assert load_inventory().names() == ["local", "e"]
    assert get_device_config("e").source == env
    monkeypatch.setenv("EDGE_VIT_DEVICES", str(tmp_path / "missing.toml"))
    with pytest.raises(InventoryError, match="EDGE_VIT_DEVICES.*missing.toml"):
        load_inventory()


def test_explicit_missing_path(tmp_path):
    with pytest.raises(InventoryError, match="does not exist"):
        load_inventory(tmp_path / "nope.toml")


def test_local_can_be_refined(tmp_path):
    path = _write(tmp_path / "d.toml", '[devices.local]\nkind = "local"\nworkdir = "/tmp/w"\n')
    assert load_inventory(path).get("local").workdir == "/tmp/w"


def test_ssh_alias_alone_is_enough(tmp_path):
    path = _write(tmp_path / "d.toml", '[devices.pi]\nkind = "ssh"\nssh_alias = "pi"\n')
    assert load_inventory(path).get("pi").ssh_alias == "pi"


def test_unknown_device_suggests_close_names(tmp_path):
    path = _write(tmp_path / "d.toml", '[devices.pi4]\nkind = "rpi"\nhost = "h"\n')
    with pytest.raises(InventoryError, match=r"Unknown device 'pi5'.*Did you mean 'pi4'") as info:
        get_device_config("pi5", path)
    assert str(path) in str(info.value) and isinstance(info.value, UsageError)
    assert info.value.exit_code == 2


BAD = {
    "unknown key": ('kind = "ssh"\nhost = "h"\nidentity = "k"', "key", "identity",
                    "Did you mean 'identity_file'"),
    "unknown kind": ('kind = "adb"', "key", "kind", "not one of local, ssh, rpi, jetson"),
    "missing kind": ('host = "h"', "key", "kind", "missing"),
    "ssh without host": ('kind = "ssh"', "key", "host", "required for kind 'ssh'"),
    "rpi without host": ('kind = "rpi"\nuser = "pi"', "key", "host", "required"),
    "jetson without host": ('kind = "jetson"', "key", "host", "required"),
    "port as string": ('kind = "ssh"\nhost = "h"\nport = "22"', "key", "port", "integer"),
    "port as bool": ('kind = "ssh"\nhost = "h"\nport = true', "key", "port", "integer"),
    "port too big": ('kind = "ssh"\nhost = "h"\nport = 70000', "key", "port", "1-65535"),
    "retries negative": ('kind = "ssh"\nhost = "h"\nretries = -1', "key", "retries", ">= 0"),
    "timeout zero": ('kind = "ssh"\nhost = "h"\nconnect_timeout = 0', "key", "connect_timeout",
                     "> 0"),
    "tofu as string": ('kind = "ssh"\nhost = "h"\ntrust_on_first_use = "yes"', "key",
                       "trust_on_first_use", "true or false"),
    "runtimes as string": ('kind = "local"\nruntimes = "onnx"', "key", "runtimes",
                           "list of strings"),
    "host as number": ('kind = "ssh"\nhost = 10', "key", "host", "a string"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_device_entries_name_file_device_and_key(tmp_path, case):
    body, _, key, words = BAD[case]
    path = _write(tmp_path / "devices.toml", f"[devices.dev1]\n{body}\n")
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    msg = str(info.value)
    assert str(path) in msg and "[devices.dev1]" in msg and f"'{key}'" in msg
    assert re.search(re.escape(words), msg), msg


@pytest.mark.parametrize("text, words", [
    ("[devices.a\nkind = 1", "not valid TOML"),
    ('name = "x"\n', "unknown top-level key"),
    ("devices = 3\n", "must be a table"),
    ("[devices]\nx = 3\n", "[devices.x]: must be a table"),
    ('[devices."bad name"]\nkind = "local"\n', "device names use"),
    ('[devices.local]\nkind = "ssh"\nhost = "h"\n', "kept for kind 'local'"),
])
def test_bad_files(tmp_path, text, words):
    path = _write(tmp_path / "devices.toml", text)
    with pytest.raises(InventoryError, match=re.escape(words)) as info:
        load_inventory(path)
    assert str(path) in str(info.value)
