"""``edge-vit lut``: a device's latency table of one model (build, check)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from .app import console, err_console, kv_pairs, model_arg_option
from .devices import _inventory_option, _open

DEFAULT_LUT_MODEL = "deit_tiny_patch16_224"


def _common(fn):
    for opt in (
        click.option("--device", "device_name", default="local", show_default=True),
        _inventory_option,
        click.option("--model", default=DEFAULT_LUT_MODEL, show_default=True,
                     help="timm name (random init: latency does not depend on weights)."),
        model_arg_option,
        click.option("--runtime", default="onnxruntime", show_default=True,
                     type=click.Choice(["onnxruntime", "openvino", "litert"])),
        click.option("--precision", default="fp32", show_default=True),
        click.option("--work", type=click.Path(path_type=Path), default=Path("lut-work"),
                     show_default=True, help="Where the variants' artifacts and results go."),
    ):
        fn = opt(fn)
    return fn


def _settings(rounds: int, max_seconds: float):
    from ..profiling import ProfileSettings

    return ProfileSettings(rounds=rounds, max_seconds=max_seconds)


@click.group()
def lut():
    """Latency tables: measure a device once, predict any pruned configuration of a model."""


@lut.command("build")
@_common
@click.option("--rebuild", is_flag=True, help="Measure again even if a table is cached.")
@click.option("--rounds", type=int, default=5, show_default=True)
@click.option("--max-seconds", type=float, default=150.0, show_default=True,
              help="Stop the variants' session after this much timed work.")
def lut_build(device_name, inventory, model, model_args, runtime, precision, work, rebuild,
              rounds, max_seconds):
    """Measure the sampled variants of MODEL on DEVICE in one profile session and fit the
    table (cached per device fingerprint: reused unless --rebuild)."""
    from ..lut.build import TableRequest, build_table

    req = TableRequest(model, kv_pairs(model_args), runtime, precision)
    with _open(device_name, inventory) as device:
        table, path = build_table(device, req, _settings(rounds, max_seconds),
                                  work / "build", rebuild=rebuild,
                                  progress=lambda m: err_console.print(m))
    show_table(table, path)


@lut.command("check")
@_common
@click.option("--variants", type=click.IntRange(min=2), default=6, show_default=True,
              help="Held-out non-uniform variants.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--rounds", type=int, default=5, show_default=True)
@click.option("--max-seconds", type=float, default=150.0, show_default=True)
def lut_check(device_name, inventory, model, model_args, runtime, precision, work, variants,
              seed, rounds, max_seconds):
    """Predicted vs measured latency of held-out variants, measured in a session of their
    own; the error is stored in the table."""
    from ..lut.build import TableRequest, build_table, check_table

    req = TableRequest(model, kv_pairs(model_args), runtime, precision)
    with _open(device_name, inventory) as device:
        table, path = build_table(device, req, _settings(rounds, max_seconds),
                                  work / "build", progress=lambda m: err_console.print(m))
        done = check_table(device, table, path, _settings(rounds, max_seconds),
                           work / "check", variants, seed, progress=lambda m: err_console.print(m))
    for v in done:
        t = Table(title=f"held-out variants of {model} on {device_name} ({runtime} {precision}), "
                        f"{v.method} model")
        for col in ("variant", "blocks kept", "predicted ms", "measured p50 [95% CI]",
                    "error %"):
            t.add_column(col)
        for r in v.variants:
            ci = f" [{r.measured_ci[0]:.3f}, {r.measured_ci[1]:.3f}]" if r.measured_ci else ""
            t.add_row(r.variant, str(sum(b is not None for b in r.config)),
                      f"{r.predicted_ms:.3f}", f"{r.measured_ms:.3f}{ci}", f"{r.error_pct:+.1f}")
        console.print(t)
        console.print(f"{v.method}: absolute error median {v.median_abs_error_pct:.1f} %, p90 "
                      f"{v.p90_abs_error_pct:.1f} % ({len(v.variants)} variants, session "
                      f"{v.session}); the unpruned model ran {v.reference_ms:.3f} ms here vs "
                      f"{v.table_reference_ms:.3f} ms in the table's session ({v.drift_pct:+.1f} "
                      f"%): scaled by that, median {v.drift_corrected_median_abs_error_pct:.1f} "
                      f"%, p90 {v.drift_corrected_p90_abs_error_pct:.1f} %")
    console.print(f"the table now predicts with its {table.preferred} model: {path}")


def show_table(table, path) -> None:
    f = table.fit()
    s = table.structure
    t = Table(title=f"latency table of {table.model} on {table.device_name} ({table.runtime} "
                    f"{table.fingerprint.get('runtime_version')}, {table.precision}); {path}")
    for col in ("variant", "measured p50 ms [95% CI]", "fitted ms", "noisy"):
        t.add_column(col)
    for m in table.measurements:
        ci = f" [{m.p50_ci[0]:.3f}, {m.p50_ci[1]:.3f}]" if m.p50_ci else ""
        t.add_row(m.variant, f"{m.p50_ms:.3f}{ci}", f"{f.predict(m.config):.3f}",
                  "yes" if m.noisy else "")
    console.print(t)
    console.print(f"fixed parts {f.fixed_ms:.3f} ms, one block {f.block_ms:.3f} ms "
                  f"({s.depth} blocks, {s.heads} heads, MLP {s.mlp}); smallest reachable "
                  f"{f.floor_ms():.3f} ms; built in {table.build_seconds} s")
