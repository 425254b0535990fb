"""The report as ONE self-contained HTML page: inline CSS, inline SVG plots, no scripts, no
external files, fonts or links, every text escaped. It opens the same offline, from an e-mail
attachment or a CI artifact.

Stable hooks for tests and users' own tooling: ``<section class="device" data-device=...>``,
``<svg class="plot" data-plot="pareto-<device>|latency-<device>|macs-<device>">``,
``<table class="results|failures|accuracy-only|environment" data-device=...>``,
``<table class="models">``, ``<table class="images">``, ``<div class="warning">``.
"""

from __future__ import annotations

import re

from . import columns as C
from . import schema as S
from .plots import latency_bars, macs_plot, pareto_plot
from .svg import esc

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;
 color:#1b1f24;background:#fff}
h1{margin:0 0 4px}h2{margin-top:36px;border-bottom:2px solid #d0d7de;padding-bottom:4px}
.meta{color:#57606a}
.warning{background:#fff8c5;border:1px solid #d4a72c;padding:8px 12px;margin:8px 0;
 border-radius:6px}
.warning.loud{background:#ffebe9;border:2px solid #cf222e;color:#82071e;font-weight:600;
 font-size:15px}
.rule{background:#f6f8fa;border:1px solid #d0d7de;padding:8px 12px;border-radius:6px}
nav a{margin-right:12px}
table{border-collapse:collapse;margin:10px 0;font-size:12.5px}
.table-wrap{overflow-x:auto;max-width:100%}
th,td{border:1px solid #d0d7de;padding:3px 6px;vertical-align:top}
td{white-space:nowrap}
td.notes{white-space:normal;font-size:11.5px;color:#57606a;min-width:200px;max-width:320px;
 overflow-wrap:break-word}
th{background:#f6f8fa;text-align:left;position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.front td,tr.tied td{background:#dafbe1}
tr.front td.mark,tr.tied td.mark{font-weight:700;color:#1a7f37}
td.status-bad{color:#cf222e;font-weight:600}
.plots{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
svg.plot{border:1px solid #d0d7de;border-radius:6px;background:#fff;max-width:100%;height:auto}
svg .plot-area{fill:#fbfcfd;stroke:#8c959f}
svg .grid{stroke:#eaeef2}
svg .tick,svg .legend text,svg .bar-label,svg .point-label{font-size:11px;fill:#424a53}
svg .axis-label{font-size:12px;fill:#1b1f24}
svg .empty{font-size:14px;fill:#8c959f}
svg .ci-x,svg .ci-y{stroke-width:1.5;opacity:.75}
svg line.ci-x:not([stroke]){stroke:#1b1f24}
svg .pareto-front{fill:none;stroke:#1a7f37;stroke-width:2;stroke-dasharray:0}
svg .series{fill:none;stroke-width:1.2;opacity:.6}
svg .ideal{fill:none;stroke-width:1.2;stroke-dasharray:5 4;opacity:.8}
svg circle.point{stroke-width:1.8}
dl.env{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:8px 0}
dl.env dt{font-weight:600;color:#57606a}dl.env dd{margin:0}
"""


def _slug(text: str, i: int) -> str:
    return f"device-{i}-" + re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")


def _table(cls: str, device: str, cols, rows: list[S.ReportRow]) -> str:
    head = "".join(f"<th>{esc(c.title)}</th>" for c in cols)
    body = []
    for r in rows:
        cells = []
        for c in cols:
            klass = ["num"] if c.numeric else []
            if c.title == "Pareto":
                klass.append("mark")
            if c.title == "status" and r.status != S.OK:
                klass.append("status-bad")
            if c.title in ("notes", "prune", "reason"):
                klass.append("notes")
            attr = f' class="{" ".join(klass)}"' if klass else ""
            cells.append(f"<td{attr}>{esc(c.cell(r))}</td>")
        body.append(f'<tr class="{esc(r.pareto or "")} status-{esc(r.status)}" '
                    f'data-model="{esc(r.model_id)}">{"".join(cells)}</tr>')
    return (f'<div class="table-wrap"><table class="{cls}" data-device="{esc(device)}">'
            f'<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>')


def _environment(env: S.DeviceEnvironment) -> str:
    facts = [("kind", env.kind), ("host", env.hostname), ("CPU", env.cpu_model),
             ("cores", env.cores_logical), ("architecture", env.machine), ("OS", env.os),
             ("kernel", env.kernel), ("governor", env.governor),
             ("memory", f"{env.mem_total_mb:.0f} MB" if env.mem_total_mb else None),
             ("Python", env.python),
             ("runtimes", ", ".join(f"{k} {v}" for k, v in env.runtimes.items()) or None),
             ("board", ", ".join(f"{k}={v}" for k, v in env.board.items()) or None),
             ("runs", f"{env.runs} ({env.first_run or '?'} → {env.last_run or '?'})"),
             ("throttled runs", ", ".join(env.throttled_runs) or "none"),
             ("throttling unknown", env.throttle_unknown_runs or None),
             ("noisy runs", ", ".join(env.noisy_runs) or None),
             ("measurement", C.measurement_quality(env))]
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts
                    if v not in (None, ""))
    return f'<dl class="env environment" data-device="{esc(env.device)}">{items}</dl>'


def _device(report: S.Report, device: str | None, i: int) -> str:
    name = C.device_label(device)
    rows = report.rows_for(device)
    out = [f'<section class="device" id="{_slug(name, i)}" data-device="{esc(name)}">',
           f"<h2>{esc(C.section_title(device))}</h2>"]
    env = report.environment(device) if device is not None else None
    if env is not None:
        out.append(_environment(env))
    front = C.front_rows(rows)
    if front:
        out.append('<h3>Pareto front</h3><ol class="front">' + "".join(
            f'<li class="{esc(r.pareto)}">{esc(C.front_summary(r))}</li>' for r in front)
            + "</ol>")
    if device is not None:
        out.append('<div class="plots">' + pareto_plot(name, rows) + latency_bars(name, rows)
                   + macs_plot(name, rows) + "</div>")
    if device is not None:
        measured = C.measured_rows(rows)
        out.append(f"<h3>Results ({len(measured)} measured)</h3>")
        out.append(_table("results", name, C.RESULT_COLUMNS, measured))
    acc_only = C.unmeasured_accuracy_rows(rows) if device is None else []
    if acc_only:
        out.append("<h3>Accuracy without a latency here</h3>")
        out.append(_table("accuracy-only", name, C.RESULT_COLUMNS, acc_only))
    failed = C.failed_rows(rows)
    out.append(f"<h3>Failed or not measured ({len(failed)})</h3>")
    out.append(_table("failures", name, C.FAILURE_COLUMNS, failed) if failed
               else "<p>None.</p>")
    out.append(_layers(report, device))
    out.append("</section>")
    return "".join(out)


def _layers(report: S.Report, device: str | None) -> str:
    from ..layers import table as LT

    profiles = report.layers_for(device)
    if not profiles:
        return ""
    out = [f"<h3>Where the time goes ({len(profiles)} breakdown(s))</h3>",
           f"<p>{esc(LT.LEGEND)}</p>"]
    for p in profiles:
        out.append(f'<h4 class="layers">{esc(LT.title(p))}</h4>')
        if p.status != "ok":
            continue
        head = "".join(f"<th>{esc(c)}</th>" for c in LT.COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>"
                       for row in LT.rows(p))
        out.append(f'<table class="layers"><thead><tr>{head}</tr></thead>'
                   f"<tbody>{body}</tbody></table>")
        out.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in p.notes) + "</ul>")
    return "".join(out)


def _provenance(report: S.Report) -> str:
    out = ['<section class="provenance"><h2>Provenance</h2><h3>Models and weights</h3>',
           '<div class="table-wrap"><table class="models"><thead><tr>' + "".join(f"<th>{t}</th>" for t in (
               "model", "architecture", "pruned", "baseline", "weights", "source",
               "state sha256", "note")) + "</tr></thead><tbody>"]
    for m in report.models:
        kind = f"{m.weights_kind} — RANDOM INIT" if m.random_init else (m.weights_kind or "-")
        cls = ' class="status-bad"' if m.random_init else ""
        out.append("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in (
            m.model_id, m.architecture or "-")) + f'<td class="notes">'
            f'{esc(m.prune_summary or "no")}</td><td>{esc(m.baseline_model_id or "-")}</td>'
            f"<td{cls}>{esc(kind)}</td>" + "".join(
                f"<td>{esc(v)}</td>" for v in (m.weights_source or "-",
                                               (m.state_sha256 or "-")[:16]))
            + f'<td class="notes">{esc(m.weights_note or "")}</td></tr>')
    out.append("</tbody></table></div><h3>Images (accuracy)</h3>")
    if not report.data:
        out.append("<p>No accuracy results.</p>")
    else:
        out.append('<div class="table-wrap"><table class="images"><thead><tr>' + "".join(f"<th>{t}</th>" for t in (
            "fingerprint", "root", "layout", "images", "classes", "label space", "limit",
            "used by")) + "</tr></thead><tbody>")
        for d in report.data:
            out.append("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in (
                d.fingerprint[:16], d.root, d.layout, d.num_images, d.num_classes,
                d.label_space or "-", "-" if d.limit is None else d.limit))
                + f'<td class="notes">{esc(", ".join(d.used_by))}</td></tr>')
        out.append("</tbody></table></div>")
    out.append(f'<p class="meta">Read from {esc(C.inputs_text(report.inputs))}.</p></section>')
    return "".join(out)


def render_html(report: S.Report) -> str:
    devices: list[str | None] = list(report.device_names())
    if report.rows_for(None):
        devices.append(None)
    warnings = "".join(
        f'<div class="warning{" loud" if w.startswith("RANDOM-INIT") else ""}">'
        f"⚠ {esc(w)}</div>" for w in report.warnings)
    nav = "".join(f'<a href="#{_slug(C.device_label(d), i)}">{esc(C.device_label(d))}</a>'
                  for i, d in enumerate(devices))
    body = "".join(_device(report, d, i) for i, d in enumerate(devices))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>edge-vit report</title><style>{CSS}</style></head><body>"
        f'<header><h1>edge-vit report</h1><p class="meta">Generated '
        f"{esc(report.generated or '?')} by {esc(report.tool or 'edge-vit')} · schema "
        f"{esc(report.schema_version)} · {len(report.rows)} rows</p></header>"
        f'<section class="warnings">{warnings}</section>'
        f"<nav>Devices: {nav or 'none'}</nav>"
        f'<p class="rule"><b>Pareto rule.</b> {esc(report.pareto_rule)} '
        "Speedup = latency of the unpruned baseline (same architecture, format, precision, "
        "runtime, device) / latency of the row, from their medians in the same rounds of one "
        "profile session (geometric mean over rounds, 95% interval); 'tie' when the interval "
        "holds 1. p50 intervals include the variation between rounds. Δ top-1 is the "
        "change in points vs the baseline artifact in the same runtime, and vs the "
        "baseline's PyTorch fp32 reference, on the same images. Hover a point for details.</p>"
        f"{body}{_provenance(report)}</body></html>\n")
