"""`--executor ray` on a real Ray cluster on 127.0.0.1: a head and a second node whose custom
resource stands for the machine a board hangs off, two loopback SSH devices, two drivers."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from edge_vit.errors import ClusterUnreachableError, UsageError
from edge_vit.sweep import ModelEntry, SweepConfig, run_sweep
from tests.devices.conftest import free_port

from .test_sweep import FAST_PROFILE, _config

RAY = Path(sys.executable).with_name("ray")


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    # token authentication on, as Ray will default to: a token of the test's own, for the
    # nodes and for every driver (this process and the CLI ones it starts)
    token = tmp_path_factory.mktemp("ray") / "auth_token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH",
                                            "RAY_USAGE_STATS_ENABLED")}
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token),
                      RAY_USAGE_STATS_ENABLED="0")
    env = dict(os.environ)
    if os.environ.get("CI") != "true":  # in CI the test extra installs Ray: never skipped
        pytest.importorskip("ray")  # (after the variables: Ray reads them when imported)
    port = free_port()
    common = ["--node-ip-address=127.0.0.1", "--disable-usage-stats",
              "--object-store-memory=200000000"]
    subprocess.run([RAY, "start", "--head", f"--port={port}", "--num-cpus=2",
                    "--include-dashboard=false", *common], check=True, env=env,
                   capture_output=True)
    try:
        subprocess.run([RAY, "start", f"--address=127.0.0.1:{port}", "--num-cpus=1",
                        '--resources={"device:board-a": 1}', *common], check=True, env=env,
                       capture_output=True)
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True)
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def _inventory(sshd, path: Path, root: Path) -> Path:
    """Two SSH devices on the one loopback sshd, each with its own work folder."""
    text = ""
    for name in ("board-a", "board-b"):
        one = sshd.write_inventory(root / f"{name}.toml", name, root / f"work-{name}",
                                   connect_timeout=5.0)
        text += one.read_text() + "\n"
    path.write_text(text)
    return path


def _records(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "units").glob("*.json"))]


def _span(rec: dict) -> tuple[float, float]:
    return tuple(datetime.fromisoformat(rec[k]).timestamp() for k in ("started", "finished"))


def test_ray_grid_on_two_boards_and_two_drivers(tmp_path, sshd, ray_cluster, imagenet_sample):
    inventory = _inventory(sshd, tmp_path / "devices.toml", tmp_path)
    cfg = _config(tmp_path, executor="ray", ray_address=ray_cluster, inventory=str(inventory),
                  devices=["board-a", "board-b"], data=str(imagenet_sample), limit=20,
                  profile={**FAST_PROFILE, "rounds": 3, "max_rounds": 3})
    # a second driver on the same cluster profiles board-a too, at the same time
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"name": "o", "models": [m.__dict__ for m in cfg.models],
                                 "prune": ["none"], "formats": ["onnx"], "devices": ["board-a"],
                                 "inventory": str(inventory), "profile": cfg.profile,
                                 "out": str(tmp_path / "other"), "executor": "ray",
                                 "ray_address": ray_cluster}))
    second = subprocess.Popen([sys.executable, "-m", "edge_vit", "sweep", "--config",
                               str(other)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    summary = run_sweep(cfg)
    said, _ = second.communicate(timeout=600)
    assert second.returncode == 0, said
    assert not summary.failed, [(f.unit, f.error) for f in summary.failed]

    report = json.loads(summary.report["json"].read_text())
    for device in ("board-a", "board-b"):
        measured = [r for r in report["rows"] if r["device"] == device and r["p50_ms"]]
        assert len(measured) == 6  # 2 models x (onnx on ort + onnx on ov + IR on ov)
    assert all(r["top1_pct"] is not None for r in report["rows"] if r["p50_ms"])
    # results name the sweep folder, never a worker's scratch folder
    assert not [p for p in (tmp_path / "sweep" / "results").rglob("*.json")
                if "edge-vit-unit-" in p.read_text()]

    # one device, one profile at a time: every unit that held board-a, in both sweeps
    mine, theirs = _records(tmp_path / "sweep"), _records(tmp_path / "other")
    held = sorted(_span(r) for r in mine + theirs if r["unit"].startswith("profile-board-a-"))
    assert len(held) == 2
    assert held[0][1] <= held[1][0], held
    # a board on loopback measures its node's CPU: its profile had that node to itself.
    # board-a's profile ran on the node offering device:board-a, board-b's on the driver's;
    # both nodes are this one machine here, so only the node is checked, not the machine
    nodes = {r["unit"].split("-")[2]: r["node"] for r in mine if r["kind"] == "profile"}
    assert set(nodes) == {"a", "b"} and nodes["a"] != nodes["b"] and None not in nodes.values()
    for r in mine:
        if r["kind"] == "profile":
            s0, s1 = _span(r)
            beside = [(x["unit"], _span(x)) for x in mine if x["kind"] != "profile"
                      and x["node"] == r["node"] and _span(x)[1] > s0 and _span(x)[0] < s1]
            assert not beside, (r["unit"], (s0, s1), beside)


def test_worker_killed_mid_unit_is_retried_and_nothing_finished_is_lost(
        tmp_path, ray_cluster, imagenet_sample):
    cfg = _config(tmp_path, executor="ray", ray_address=ray_cluster, prune=["none"],
                  formats=["onnx"], data=str(imagenet_sample), limit=20)
    first = run_sweep(cfg)
    assert not first.failed
    kept = {p.name: p.read_bytes() for p in (tmp_path / "sweep" / "units").glob("*.json")}

    cfg.prune = ["none", "heads=0.34,mlp=0.5"]  # one new export (and its evaluation)
    started = tmp_path / "sweep" / ".store" / "started"
    killed: list[int] = []
    worker_env: list[bytes] = []

    def kill_the_new_export():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            for marker in started.glob("export-*/*.json"):
                info = json.loads(marker.read_text())
                if marker.parent.name + ".json" not in kept:
                    time.sleep(0.5)  # mid-unit: the export is under way
                    env = Path(f"/proc/{info['pid']}/environ").read_bytes().split(b"\0")
                    worker_env.extend(env)
                    os.kill(info["pid"], signal.SIGKILL)
                    killed.append(info["pid"])
                    return
            time.sleep(0.1)

    watcher = threading.Thread(target=kill_the_new_export)
    watcher.start()
    summary = run_sweep(cfg)
    watcher.join()
    assert killed, "the new export's worker was never seen"
    # idle OpenMP threads of a worker sleep, so tasks sharing a node's cores do not spin
    assert b"OMP_WAIT_POLICY=PASSIVE" in worker_env
    assert not summary.failed, [(f.unit, f.error) for f in summary.failed]
    # nothing finished ran again (the profile is new work: its unit names the new export)
    done = {n for n in kept if not n.startswith("profile-")}
    assert set(summary.skipped) == {n[:-5] for n in done}
    for name in done:
        assert (tmp_path / "sweep" / "units" / name).read_bytes() == kept[name]
    export = next(r for r in _records(tmp_path / "sweep")
                  if r["kind"] == "export" and r["unit"] + ".json" not in kept)
    assert export["status"] == "ok" and export["attempts"] == 2
    report = json.loads(summary.report["json"].read_text())
    assert len({r["model_id"] for r in report["rows"] if r["p50_ms"]}) == 2


def test_ray_executor_without_the_extra_says_what_to_install(tmp_path):
    code = ("import sys; sys.modules['ray'] = None\n"
            "from edge_vit.commands import main\n"
            "main(['sweep', '--executor', 'ray', '--model', 'deit_tiny_patch16_224', "
            f"'--prune', 'none', '--formats', 'onnx', '--out', {str(tmp_path / 's')!r}])")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 4, run.stdout + run.stderr
    assert "pip install 'edge-vit[ray]'" in run.stdout + run.stderr
    assert not (tmp_path / "s").exists()  # said before anything was written


def test_ray_resources_for_an_unknown_kind_is_refused(tmp_path):
    cfg = SweepConfig(models=[ModelEntry("deit_tiny_patch16_224")], executor="ray",
                      ray_resources={"exprot": {"num_cpus": 2}}, out=str(tmp_path / "s"))
    with pytest.raises(UsageError, match="exprot.*export"):
        run_sweep(cfg)
    assert not (tmp_path / "s").exists()


def test_fine_tunes_keep_the_drivers_thread_count_on_ray(tmp_path):
    """Ray sets a task's OMP_NUM_THREADS to its num_cpus; a fine-tune's weights depend on its
    thread count, so what is shipped to the workers names the driver's (a user's value wins).
    The benchmark (benchmarks/sweep_speed.py) checks the accuracy figures end to end."""
    import torch

    from edge_vit.sweep.executors.on_ray import RayExecutor

    cfg = SweepConfig(models=[ModelEntry("deit_tiny_patch16_224")], executor="ray",
                      out=str(tmp_path / "s"))
    shipped = RayExecutor(cfg, tmp_path / "s", print).shipped_cfg
    assert shipped["finetune_options"]["threads"] == torch.get_num_threads()
    cfg.finetune_options = {"threads": 3, "batch_size": 8}
    shipped = RayExecutor(cfg, tmp_path / "s", print).shipped_cfg
    assert shipped["finetune_options"] == {"threads": 3, "batch_size": 8}
    assert cfg.finetune_options == {"threads": 3, "batch_size": 8}  # the driver's is untouched


def test_a_ray_address_nobody_answers_at_fails_at_once(tmp_path):
    cfg = SweepConfig(models=[ModelEntry("deit_tiny_patch16_224")], executor="ray",
                      ray_address=f"127.0.0.1:{free_port()}", prune=["none"], formats=["onnx"],
                      out=str(tmp_path / "s"))
    # said at once, not after Ray's minutes of retries
    with pytest.raises(ClusterUnreachableError, match="No Ray cluster answers at 127.0.0.1:"):
        run_sweep(cfg)
    assert not list((tmp_path / "s").glob("units/*.json"))  # no unit ran, none is recorded
