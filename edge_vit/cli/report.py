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
def report(artifacts, results_dir, accuracy_dir, out_dir, formats, include_emulated):
    """Join export manifests of ARTIFACTS (default: ./artifacts), profile results and accuracy
    results into one report: per device, which pruned variant gives the best accuracy for its
    latency (noise-aware Pareto front), with failures, environment and provenance."""
    from ..reporting import build_report, write_report
    from ..reporting.columns import front_rows, front_summary
    from ..reporting.write import parse_formats

    wanted = parse_formats(formats)  # a typo fails before any work
    rep = build_report(artifacts or (Path("artifacts"),), results_dir,
                       accuracy_dir or results_dir / "accuracy", include_emulated)
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
    for fmt, path in written.items():
        console.print(f"wrote {fmt}: {path}")
