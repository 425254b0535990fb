"""`edge-vit report`: join exports, profiles and accuracy into Markdown/CSV/JSON/HTML."""

from __future__ import annotations

from pathlib import Path

import click

from .app import console, err_console, styled


@click.command("report")
@click.argument("artifacts", nargs=-1, type=click.Path(path_type=Path))
@click.option("--results", "results_dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path("results"), show_default=True,
              help="Profile results: RESULTS/<device>/<model>/<format>-<prec>-<runtime>.json.")
@click.option("--accuracy", "accuracy_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Accuracy results (default: RESULTS/accuracy).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path("report"), show_default=True)
@click.option("--formats", default="md,csv,json,html", show_default=True,
              help="Comma-separated: md, csv, json, html.")
@click.option("--include-emulated", is_flag=True,
              help="Let rows measured on an emulated CPU (the qemu-user board) onto the "
                   "Pareto front; by default they are shown but never on it.")
@click.option("--recommend-under", "under", multiple=True, metavar="BUDGET",
              help="A latency budget for the per-device recommendation: a share of the "
                   "unpruned model's p50 there (0.5x) or milliseconds (12ms); repeatable "
                   "(default 0.5x and 0.75x).")
@click.option("--within-pts", type=float, default=None,
              help="The recommendation 'fastest within N top-1 points of the unpruned "
                   "model' (default 1).")
def report(artifacts, results_dir, accuracy_dir, out_dir, formats, include_emulated, under,
           within_pts):
    """Join export manifests of ARTIFACTS (default: ./artifacts), profile results and accuracy
    results into one report: per device, which pruned variant gives the best accuracy for its
    latency (noise-aware Pareto front), with failures, environment and provenance."""
    from ..reporting import build_report, write_report
    from ..reporting.columns import front_rows, front_summary, variant, variant_numbers
    from ..reporting.write import parse_formats

    wanted = parse_formats(formats)  # a typo fails before any work
    rep = build_report(artifacts or (Path("artifacts"),), results_dir,
                       accuracy_dir or results_dir / "accuracy", include_emulated,
                       under or None, within_pts)
    numbers = variant_numbers(rep.models, rep.rows)
    written = write_report(rep, out_dir, wanted)
    for w in rep.warnings:
        loud = w.startswith("RANDOM-INIT")
        err_console.print(styled(("WARNING:", "bold red") if loud else ("warning:", "yellow"),
                                 f" {w}"))
    for device in rep.device_names():
        rows = rep.rows_for(device)
        failed = sum(r.status != "ok" for r in rows)
        console.print(styled((device, "bold"), f": {len(rows)} rows, {failed} failed or not "
                             "measured; Pareto front:"))
        front = front_rows(rows)
        for r in front:
            console.print(f"  {'≈' if r.pareto == 'tied' else '★'} {front_summary(r)}")
        if not front:
            console.print("  (no row with both latency and accuracy)")
        for rec in rep.recommendations_for(device):
            row = rep.row(device, rec.pick)
            pick = (f"#{numbers.get(row.model_id, '?')} {variant(row)} ({row.format}/"
                    f"{row.precision} on {row.runtime})" if row else f"none: {rec.reason}")
            console.print(f"  {rec.title}: {pick}")
    for fmt, path in written.items():
        console.print(f"wrote {fmt}: {path}")
