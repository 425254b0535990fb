"""`edge-vit devices`, `deploy` and `profile`: the device side of the command line."""

from __future__ import annotations

import math
from pathlib import Path

import click
from rich.table import Table

from ..artifact_id import ArtifactId
from ..errors import DeviceError
from .app import console, err_console, styled

_inventory_option = click.option(
    "--inventory", type=click.Path(path_type=Path, dir_okay=False),
    help="Device inventory (TOML). Default: $EDGE_VIT_DEVICES, ./devices.toml, "
         "~/.config/edge-vit/devices.toml; the `local` device always exists.")


def _open(name: str, inventory: Path | None):
    from devices import get_device_config, open_device

    return open_device(get_device_config(name, inventory))


@click.group()
def devices():
    """List and check the devices of the inventory."""


@devices.command("list")
@_inventory_option
def devices_list(inventory):
    """Every device of the inventory, with how edge-vit reaches it."""
    from devices import load_inventory

    inv = load_inventory(inventory)
    t = Table(title=f"devices ({inv.path or 'built-in only'})")
    for col in ("name", "kind", "address", "python", "workdir", "runtimes"):
        t.add_column(col)
    for name in inv.names():
        c = inv.get(name)
        addr = "-" if c.kind == "local" else (
            f"{c.user + '@' if c.user else ''}{c.host or c.ssh_alias}"
            f"{':' + str(c.port) if c.port else ''}")
        t.add_row(name, c.kind, addr, c.python or "(default)", c.workdir or "(default)",
                  ", ".join(c.runtimes) or "-")
    console.print(t)


@devices.command("check")
@click.argument("name", default="local")
@_inventory_option
def devices_check(name, inventory):
    """Connect to NAME, probe it, and say which runtimes it can use and what to install."""
    from ..profiling import probe

    with _open(name, inventory) as device:
        data = probe(device)
    env = data.get("environment", {})
    console.print(styled((name, "bold"), f" ({device.kind}): {env.get('cpu_model')} · "
                         f"{env.get('cores_logical')} cores · {env.get('os')} · "
                         f"Python {env.get('python')}"))
    if env.get("board"):
        console.print(f"board: {env['board']}")
    if env.get("emulation"):
        console.print(styled(("emulated", "bold yellow"), f" {env.get('machine')} "
                             f"({env['emulation']}): latency not representative"))
    t = Table()
    for col in ("runtime", "status", "to install"):
        t.add_column(col)
    hints = data.get("install_hints", {})
    for rt, version in data.get("runtimes", {}).items():
        t.add_row(rt, styled((version, "green")) if version else styled(("missing", "red")),
                  "" if version else str(hints.get(rt, "")))
    console.print(t)


@devices.command("emulate")
@click.option("--name", default="arm64-emu", show_default=True,
              help="The board's name in the inventory.")
@click.option("--inventory", type=click.Path(path_type=Path, dir_okay=False),
              help="Inventory to add the board to (default: the one edge-vit finds, else "
                   "./devices.toml); its entry is removed again when the board stops.")
@click.option("--port", type=click.IntRange(1, 65535), help="Port on 127.0.0.1 (default: free).")
@click.option("--build-only", is_flag=True, help="Build (or find) the root file system, then stop.")
@click.option("--rebuild", is_flag=True, help="Build again even when a build is cached.")
def devices_emulate(name, inventory, port, build_only, rebuild):
    """Start an emulated aarch64 board (Debian arm64 under qemu-user, with onnxruntime, LiteRT
    and OpenVINO) with its own sshd on 127.0.0.1, add it to the inventory as an `rpi` device,
    and keep it running until Ctrl-C. The root file system is built once (5-10 minutes, as
    root, from the Debian archive and PyPI) and cached by a hash of its recipe. It proves the
    ARM path runs and what ARM kernels compute; its latency is not a board's."""
    import time

    from devices.emulated import build_board, start_board
    from devices.emulated.board import remove_entry
    from devices.inventory import find_inventory

    say = lambda m: err_console.print(m)  # noqa: E731
    rootfs = build_board(rebuild=rebuild, say=say)
    console.print(f"root file system: {rootfs}")
    if build_only:
        return
    path = inventory or find_inventory() or Path("devices.toml")
    with start_board(rootfs, port=port, say=say) as board:
        board.write_inventory(path, name)
        console.print(f"board '{name}' on 127.0.0.1:{board.port}, in {path}; try: edge-vit "
                      f"devices check {name} --inventory {path}. Ctrl-C stops it.")
        try:
            while board.alive():
                time.sleep(1)
            err_console.print(styled(("the board's sshd exited:", "red"),
                                     f" {board.log.read_text(errors='replace')[-400:]}"))
        except KeyboardInterrupt:
            pass
        finally:
            if path.exists():
                path.write_text(remove_entry(path.read_text(), name))


@click.command()
@click.argument("artifacts", nargs=-1, type=click.Path(path_type=Path, exists=True))
@click.option("--device", "device_name", default="local", show_default=True)
@_inventory_option
@click.option("--formats", help="Only these formats (comma-separated).")
def deploy(artifacts, device_name, inventory, formats):
    """Copy exported ARTIFACTS (default: ./artifacts) and the runner to a device, without
    profiling. Files the device already holds (same sha256) are not sent again."""
    from ..profiling import collect_artifacts
    from ..profiling import deploy as do_deploy

    entries = collect_artifacts(artifacts or (Path("artifacts"),),
                                formats.split(",") if formats else None)
    with _open(device_name, inventory) as device:
        report = do_deploy(device, entries)
        console.print(f"{device_name}: {len(report.transferred)} file(s) sent "
                      f"({report.bytes_transferred / 1e6:.1f} MB), {len(report.skipped)} "
                      f"already there, into {device.workdir}")


@click.command()
@click.argument("artifacts", nargs=-1, type=click.Path(path_type=Path, exists=True))
@click.option("--device", "device_name", default="local", show_default=True)
@_inventory_option
@click.option("--results", "results_dir", type=click.Path(path_type=Path), default=Path("results"),
              show_default=True)
@click.option("--formats", help="Only these formats (comma-separated).")
@click.option("--runtime", "runtimes", help="Only these runtimes (comma-separated), e.g. "
              "onnxruntime,openvino; `edge-vit doctor` lists each format's runtimes.")
@click.option("--threads", type=int, help="Inference threads (default: the runtime's).")
@click.option("--rounds", type=int, default=5, show_default=True,
              help="Counted rounds per artifact before the stopping rule may stop.")
@click.option("--max-rounds", type=int, default=30, show_default=True,
              help="Rounds at most (after the warm-up round).")
@click.option("--target-ci", type=float, default=0.02, show_default=True,
              help="Stop when every p50 95% interval from the rounds is within ± this share "
                   "of its p50 (0.02 = ±2 %; --session-sd is added after); 0: always run "
                   "--max-rounds rounds.")
@click.option("--max-seconds", type=float, default=150.0, show_default=True,
              help="Time budget of the whole session (at least two counted rounds run).")
@click.option("--block-seconds", type=float, default=0.1, show_default=True,
              help="One artifact's timed block in each round.")
@click.option("--min-iterations", type=int, default=10, show_default=True,
              help="Timed iterations per block, at least.")
@click.option("--warmup", type=int, default=10, show_default=True,
              help="Warm-up iterations after each fresh load, at least.")
@click.option("--session-sd", type=float, default=0.01, show_default=True,
              help="The device's session-to-session spread of speed (relative sd), added to "
                   "the p50/p90/p99 intervals; benchmarks/reproducibility.py measures it "
                   "(0.96% on the 2-vCPU VM edge-vit is built on). 0: within-session only.")
@click.option("--pin", help="CPU affinity of the runner on the device, e.g. 0,1 or 2-3.")
@click.option("--busy-cores", type=float, default=0.25, show_default=True,
              help="Drop (and repeat) a block while other processes use more CPUs than this.")
@click.option("--max-steal-pct", type=float, default=5.0, show_default=True,
              help="Drop (and repeat) a block with more hypervisor steal than this (%% of all "
                   "CPUs' time; a VM's neighbours). Both judged at /proc/stat's resolution.")
@click.option("--ort-spin/--no-ort-spin", default=True, show_default=True,
              help="onnxruntime's spin-waiting worker threads (its default: on). Every "
                   "model is unloaded before the next is timed, so no spinning outlives "
                   "its own block either way.")
@click.option("--ov-device", default="CPU", show_default=True, help="OpenVINO device.")
@click.option("--ov-precision", type=click.Choice(["default", "f32", "bf16", "f16"]),
              default="default", show_default=True,
              help="OpenVINO inference precision (default: what the plugin picks).")
@click.option("--pytorch", "include_pytorch", is_flag=True,
              help="Also time PyTorch eager on unpruned models, as a reference.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds the round order and the inputs.")
@click.option("--layers", is_flag=True,
              help="Then break each artifact's time down per layer with its runtime's op "
                   "profiler (onnxruntime, OpenVINO; TensorRT via trtexec on a Jetson), "
                   "attributed to patch embedding, per-block attention/MLP/norms and head, "
                   "next to each group's share of the MACs: RESULTS/<device>/<model>/layers/.")
@click.option("--layer-rounds", type=click.IntRange(min=1), default=3, show_default=True,
              help="--layers: fresh processes per artifact (the shares' spread is over these).")
@click.option("--layer-iterations", type=click.IntRange(min=1), default=30, show_default=True,
              help="--layers: profiled runs per artifact and round.")
def profile(artifacts, device_name, inventory, results_dir, formats, runtimes, threads, rounds,
            max_rounds, target_ci, max_seconds, block_seconds, min_iterations, warmup,
            session_sd, pin, busy_cores, max_steal_pct, ort_spin, ov_device, ov_precision,
            include_pytorch, seed, layers, layer_rounds, layer_iterations):
    """Measure latency and memory of exported ARTIFACTS (default: ./artifacts) on a device,
    with every runtime there that can run them, in one interleaved session: rounds of short
    timed blocks, each round in fresh processes and a shuffled order, until every p50 interval
    is within --target-ci. Results: RESULTS/<device>/<model>/*.json (every round kept)."""
    from ..profiling import ProfileSettings, collect_artifacts
    from ..profiling import profile as do_profile

    entries = collect_artifacts(artifacts or (Path("artifacts"),),
                                formats.split(",") if formats else None)
    settings = ProfileSettings(
        threads=threads, warmup=warmup, min_iterations=min_iterations,
        block_seconds=block_seconds, rounds=rounds, max_rounds=max_rounds,
        target_ci=target_ci, max_seconds=max_seconds, busy_cores=busy_cores,
        max_steal_pct=max_steal_pct, pin=pin,
        session_sd=session_sd,
        ort_spin=ort_spin, seed=seed,
        runtimes=tuple(runtimes.split(",")) if runtimes else None, ov_device=ov_device,
        ov_precision=ov_precision, include_pytorch=include_pytorch)
    say = lambda m: err_console.print(m)  # noqa: E731
    breakdowns = []
    with _open(device_name, inventory) as device:
        results = do_profile(device, entries, settings, results_dir, progress=say)
        if layers:
            from ..layers.run import LayerSettings, profile_layers
            from ..profiling import device_plans

            timed = {ArtifactId.of_result(r).key for r in results if r.status == "ok"}
            plans = [p for p in device_plans(device, entries, settings)[0]
                     if p.aid.key in timed]
            breakdowns = profile_layers(device, plans, settings, LayerSettings(
                layer_rounds, layer_iterations), results_dir, progress=say)
    print_results(results, device_name)
    if breakdowns:
        from ..layers.table import print_breakdowns

        print_breakdowns(breakdowns, console)
    failed = [r for r in results if r.status == "failed"]
    if failed:
        raise SystemExit(DeviceError.exit_code)


def _fmt(v, digits=2):
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def print_results(results, device_name: str) -> None:
    t = Table(title=f"latency on {device_name} (ms per batch, batch as exported; 95% "
                    "intervals over rounds)")
    for col in ("model", "artifact", "runtime", "ran as", "p50 [95% CI]", "p90", "p99",
                "rounds", "img/s", "peak MB", "flags"):
        t.add_column(col, no_wrap=col != "model", overflow="fold")
    for r in results:
        a, s, lat = r.artifact, r.settings, r.latency
        flags = []
        if lat and lat.noisy:
            flags.append("noisy")
        if r.throttled:
            flags.append("THROTTLED")
        if r.status != "ok":
            flags.append(f"{r.status.upper()}: {(r.error or '')[:50]}")
        ci = f" [{_fmt(lat.p50_ci[0])}, {_fmt(lat.p50_ci[1])}]" if lat and lat.p50_ci else ""
        rounds = "-"
        if r.session is not None:
            rounds = f"{r.session.rounds_counted}" + (
                f" (+{r.session.rounds_dropped} dropped)" if r.session.rounds_dropped else "")
        t.add_row(a.model_id or "-", f"{a.format}/{a.precision}",
                  ArtifactId.of_result(r).runtime_label,
                  s.inference_precision or "-", (_fmt(lat.p50) + ci) if lat else "-",
                  _fmt(lat.p90) if lat else "-", _fmt(lat.p99) if lat else "-", rounds,
                  _fmt(lat.throughput_ips, 1) if lat else "-",
                  _fmt(r.memory.peak_rss_mb, 0) if r.memory else "-", " ".join(flags))
    console.print(t)
