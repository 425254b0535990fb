"""The report as ONE self-contained HTML page: inline CSS, inline SVG plots, no scripts, no
external files, fonts or links, every text escaped. It opens the same offline, from an e-mail
attachment or a CI artifact, and fits a 1400 px window: per device, what to ship first, then
the plots, then a table of the columns a user decides by; every other field is in a detail
table that opens on demand (and in CSV/JSON).

Stable hooks for tests and users' own tooling: ``<section class="device" data-device=...>``,
``<div class="recommendations" data-device=...>`` with one ``<div class="rec">`` per answer,
``<svg class="plot" data-plot="pareto-<device>-<runtime>|latency-<device>|macs-<device>">``,
``<table class="results|details|failures|accuracy-only" data-device=...>``,
``<table class="models">``, ``<table class="images">``, ``<div class="warning">``,
``<span class="badge <kind>">``.
"""

from __future__ import annotations

import re

from . import columns as C
from . import schema as S
from .plots import latency_bars, macs_plot, pareto_plots
from .svg import esc

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;
 color:#1b1f24;background:#fff;max-width:1352px}
h1{margin:0 0 4px}h2{margin-top:40px;border-bottom:2px solid #d0d7de;padding-bottom:4px}
h3{margin:22px 0 6px}
.meta{color:#57606a}
.warning{background:#fff8c5;border:1px solid #d4a72c;padding:6px 12px;margin:6px 0;
 border-radius:6px;overflow-wrap:anywhere}
.warning.loud{background:#ffebe9;border:2px solid #cf222e;color:#82071e;font-weight:600;
 font-size:15px}
details{margin:8px 0}summary{cursor:pointer;color:#0969da}
.rule{background:#f6f8fa;border:1px solid #d0d7de;padding:8px 12px;border-radius:6px}
nav a{margin-right:12px}
.recommendations{display:grid;grid-template-columns:repeat(auto-fit,minmax(400px,1fr));
 gap:12px;margin:10px 0}
.rec{border:1px solid #d0d7de;border-left:4px solid #1a7f37;border-radius:6px;
 padding:8px 12px;background:#f6fef8}
.rec.none{border-left-color:#8c959f;background:#f6f8fa}
.rec h4{margin:0 0 4px;font-size:13px;color:#57606a;font-weight:600}
.rec .pick{font-size:16px;font-weight:700}
.rec .figures{font-variant-numeric:tabular-nums}
.rec ul{margin:6px 0 0;padding-left:18px;font-size:12.5px;color:#57606a}
.reference{font-size:12.5px;color:#57606a}
.key{display:flex;flex-wrap:wrap;gap:6px 14px;margin:8px 0;font-size:13px}
.key span b{display:inline-block;min-width:18px;text-align:center;border-radius:9px;
 background:#1b1f24;color:#fff;font-size:11px;padding:1px 4px;margin-right:4px}
table{border-collapse:collapse;margin:10px 0;font-size:12.5px}
.table-wrap{overflow-x:auto;max-width:100%}
th,td{border:1px solid #d0d7de;padding:3px 6px;vertical-align:top}
td{white-space:nowrap}
td.wrap{white-space:normal;overflow-wrap:anywhere;min-width:160px;max-width:360px}
td.notes{white-space:normal;font-size:11.5px;color:#57606a;min-width:200px;max-width:320px;
 overflow-wrap:anywhere}
table.models td.notes,table.images td.notes{min-width:110px}
td.id{white-space:normal;overflow-wrap:anywhere;min-width:110px;max-width:220px}
th{background:#f6f8fa;text-align:left;position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.front td,tr.tied td{background:#dafbe1}
tr.front td.mark,tr.tied td.mark{font-weight:700;color:#1a7f37}
td.status-bad{color:#cf222e;font-weight:600}
td.badges{white-space:normal;min-width:120px;max-width:220px}
.badge{display:inline-block;border-radius:10px;padding:0 7px;margin:1px 2px;font-size:11px;
 border:1px solid;cursor:help;white-space:nowrap}
.badge.bad{color:#82071e;background:#ffebe9;border-color:#ff8182}
.badge.warn{color:#7d4e00;background:#fff8c5;border-color:#d4a72c}
.badge.info{color:#0550ae;background:#ddf4ff;border-color:#80ccff}
.badge.ok{color:#116329;background:#dafbe1;border-color:#4ac26b}
ol.notes{font-size:12px;color:#57606a;margin:4px 0;padding-left:26px}
ol.notes li{overflow-wrap:anywhere}
.plots{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
svg.plot{border:1px solid #d0d7de;border-radius:6px;background:#fff;max-width:100%;height:auto}
svg .plot-area{fill:#fbfcfd;stroke:#8c959f}
svg .grid{stroke:#eaeef2}
svg .tick,svg .legend text,svg .bar-label,svg .bar-value{font-size:11px;fill:#424a53}
svg .point-label{font-size:11px;font-weight:700;fill:#1b1f24}
svg .plot-title,svg .group-label{font-size:13px;font-weight:700;fill:#1b1f24}
svg .leader{stroke:#8c959f;stroke-width:.8}
svg .axis-label{font-size:12px;fill:#1b1f24}
svg .empty{font-size:14px;fill:#8c959f}
svg .ci-x,svg .ci-y{stroke-width:1.5;opacity:.75}
svg line.ci-x:not([stroke]){stroke:#1b1f24}
svg .pareto-front{fill:none;stroke:#1a7f37;stroke-width:2;opacity:.55}
svg .series{fill:none;stroke-width:1.2;opacity:.6}
svg .ideal{fill:none;stroke-width:1.2;stroke-dasharray:5 4;opacity:.8}
svg circle.point{stroke-width:1.8}
dl.env{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:8px 0}
dl.env dt{font-weight:600;color:#57606a}dl.env dd{margin:0;overflow-wrap:anywhere}
"""

WRAP = ("variant", "deployment", "reason", "prune", "notes")


def _slug(text: str, i: int) -> str:
    return f"device-{i}-" + re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")


def _badges(r: S.ReportRow) -> str:
    return "".join(f'<span class="badge {esc(b.kind)}" title="{esc(b.text)}">{esc(b.word)}'
                   f"</span>" for b in C.badges(r))


def _table(cls: str, device: str, cols, rows: list[S.ReportRow], numbers: dict[str, int]
           ) -> str:
    head = "<th>#</th>" + "".join(f"<th>{esc(c.title)}</th>" for c in cols)
    body = []
    for r in rows:
        cells = [f'<td class="num" title="{esc(r.model_id)}">{numbers.get(r.model_id, "")}'
                 "</td>"]
        for c in cols:
            if c.title == "notes" and cls == "results":
                cells.append(f'<td class="badges">{_badges(r)}</td>')
                continue
            klass = ["num"] if c.numeric else []
            if c.title == "Pareto":
                klass.append("mark")
            if c.title == "status" and r.status != S.OK:
                klass.append("status-bad")
            if c.title in WRAP:
                klass.append("notes" if c.title in ("notes", "reason", "prune") else "wrap")
            if c.title == "model" and cls != "details":  # ids are long: they wrap, anywhere
                klass.append("id")
            attr = f' class="{" ".join(klass)}"' if klass else ""
            tip = f' title="{esc(r.model_id)}"' if c.title == "variant" else ""
            cells.append(f"<td{attr}{tip}>{esc(c.cell(r))}</td>")
        body.append(f'<tr class="{esc(r.pareto or "")} status-{esc(r.status)}" '
                    f'data-model="{esc(r.model_id)}">{"".join(cells)}</tr>')
    return (f'<div class="table-wrap"><table class="{cls}" data-device="{esc(device)}">'
            f'<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>')


def _note_list(rows: list[S.ReportRow], numbers: dict[str, int]) -> str:
    """Each row's notes in full, once, under the table (badges carry only a word)."""
    items = [f"<li><b>{esc(C.numbered(r, numbers))}</b>: "
             + esc("; ".join(b.text for b in bs)) + "</li>"
             for r in rows if (bs := C.badges(r))]
    if not items:
        return ""
    return (f"<details><summary>Notes in full ({len(items)} rows)</summary>"
            f'<ol class="notes">{"".join(items)}</ol></details>')


def _environment(env: S.DeviceEnvironment) -> str:
    quality = C.measurement_quality(env)
    noisy = (f"{len(env.noisy_runs)} of {env.runs} (badge 'noisy' in the table)"
             if env.noisy_runs else None)
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
             ("noisy runs", noisy), ("measurement", quality)]
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts
                    if v not in (None, ""))
    return (f'<p class="meta">{esc(C.environment_line(env))}</p>'
            + (f'<p class="meta"><b>Measurement:</b> {esc(quality)}'
               + (f"; noisy runs: {esc(noisy)}" if noisy else "") + "</p>" if quality else "")
            + f'<details><summary>Environment in full</summary><dl class="env environment" '
              f'data-device="{esc(env.device)}">{items}</dl></details>')


def _recommendations(report: S.Report, device: str, numbers: dict[str, int]) -> str:
    recs = report.recommendations_for(device)
    out = [f'<h3>What to ship here</h3><div class="recommendations" data-device="{esc(device)}">']
    for rec in recs:
        row = report.row(device, rec.pick)
        arch = f" · {esc(rec.architecture)}" if rec.architecture and len(
            {r.architecture for r in recs}) > 1 else ""
        if row is None:
            out.append(f'<div class="rec none" data-goal="{esc(rec.goal)}"><h4>'
                       f"{esc(rec.title)}{arch}</h4><div>{esc(rec.reason or 'none')}</div></div>")
            continue
        unresolved = "".join(f"<li>{esc(u)}</li>" for u in rec.unresolved)
        p50 = C.ms_ci(row.p50_ms, row.p50_ci_low_ms, row.p50_ci_high_ms)
        top1 = C.with_ci(row.top1_pct, row.top1_ci_low_pct, row.top1_ci_high_pct, 1)
        out.append(
            f'<div class="rec" data-goal="{esc(rec.goal)}" data-pick="{esc(rec.pick)}">'
            f"<h4>{esc(rec.title)}{arch}</h4>"
            f'<div class="pick">#{numbers.get(row.model_id, "?")} {esc(C.variant(row))}</div>'
            f"<div>{esc(C.deployment(row))}</div>"
            f'<div class="figures">p50 {esc(p50)} ms · top-1 {esc(top1)} %</div>'
            + (f"<ul>{unresolved}</ul>" if unresolved else "") + "</div>")
    out.append("</div>")
    ref = next((report.row(device, r.reference) for r in recs if r.reference), None)
    if ref is not None:
        out.append(f'<p class="reference">Reference: the fastest unpruned fp32 row here, '
                   f"{esc(C.deployment(ref))}, p50 "
                   f"{esc(C.ms_ci(ref.p50_ms, ref.p50_ci_low_ms, ref.p50_ci_high_ms))} ms, "
                   f"top-1 {esc(C.num(ref.top1_pct, 1))} %. Budgets: "
                   f"{esc(', '.join(report.recommend_under) or '-')}; accuracy intervals "
                   "that overlap cannot be ordered by this eval set.</p>")
    return "".join(out)


def _key(rows: list[S.ReportRow], numbers: dict[str, int]) -> str:
    seen = sorted({r.model_id: r for r in rows}.values(),
                  key=lambda r: numbers.get(r.model_id, 0))
    return ('<div class="key">Variants: ' + "".join(
        f'<span title="{esc(r.model_id)}"><b>{numbers.get(r.model_id, "?")}</b>'
        f"{esc(C.variant(r))}</span>" for r in seen) + "</div>")


def _device(report: S.Report, device: str | None, i: int, numbers: dict[str, int]) -> str:
    name = C.device_label(device)
    rows = report.rows_for(device)
    out = [f'<section class="device" id="{_slug(name, i)}" data-device="{esc(name)}">',
           f"<h2>{esc(C.section_title(device))}</h2>"]
    env = report.environment(device) if device is not None else None
    if env is not None:
        out.append(_environment(env))
    if device is not None:
        out.append(_recommendations(report, device, numbers))
        out.append(_key(rows, numbers))
        out.append('<div class="plots">' + "".join(pareto_plots(name, rows, numbers))
                   + macs_plot(name, rows, numbers) + latency_bars(name, rows, numbers)
                   + "</div>")
        measured = C.measured_rows(rows)
        out.append(f"<h3>Results ({len(measured)} measured, fastest first)</h3>")
        out.append(_table("results", name, C.MAIN_COLUMNS, measured, numbers))
        out.append(_note_list(measured, numbers))
        out.append(f"<details><summary>All columns ({len(measured)} rows; CSV and JSON have "
                   f"every field)</summary>"
                   + _table("details", name, C.RESULT_COLUMNS, measured, numbers)
                   + "</details>")
    acc_only = C.unmeasured_accuracy_rows(rows) if device is None else []
    if acc_only:
        out.append("<h3>Accuracy without a latency here</h3>")
        out.append(_table("accuracy-only", name, C.MAIN_COLUMNS, acc_only, numbers))
    failed = C.failed_rows(rows)
    out.append(f"<h3>Failed or not measured ({len(failed)})</h3>")
    out.append(_table("failures", name, C.FAILURE_COLUMNS, failed, numbers) if failed
               else "<p>None.</p>")
    out.append(_layers(report, device, numbers))
    out.append("</section>")
    return "".join(out)


def _layers(report: S.Report, device: str | None, numbers: dict[str, int]) -> str:
    from ..layers import table as LT

    profiles = report.layers_for(device)
    if not profiles:
        return ""
    names = {m.model_id: m.name for m in report.models}
    out = [f"<h3>Where the time goes ({len(profiles)} breakdown(s))</h3>",
           f'<p class="meta">{esc(LT.LEGEND)}</p>']
    for p in profiles:
        mid = p.artifact.model_id
        name = f"#{numbers.get(mid, '?')} {names.get(mid) or mid} — " if mid else ""
        out.append(f'<h4 class="layers">{esc(name)}{esc(LT.title(p))}</h4>')
        if p.status != "ok":
            continue
        head = "".join(f"<th>{esc(c)}</th>" for c in LT.COLUMNS)
        last = len(LT.COLUMNS) - 1  # the fused ops: long, wraps
        body = "".join("<tr>" + "".join(
            f'<td class="wrap">{esc(c)}</td>' if j == last else f"<td>{esc(c)}</td>"
            for j, c in enumerate(row)) + "</tr>" for row in LT.rows(p))
        out.append(f'<div class="table-wrap"><table class="layers"><thead><tr>{head}</tr>'
                   f"</thead><tbody>{body}</tbody></table></div>")
        out.append('<ul class="meta">' + "".join(f"<li>{esc(n)}</li>" for n in p.notes)
                   + "</ul>")
    return "".join(out)


def _provenance(report: S.Report, numbers: dict[str, int]) -> str:
    out = ['<section class="provenance"><h2>Provenance</h2><h3>Models and weights</h3>',
           '<div class="table-wrap"><table class="models"><thead><tr>' + "".join(
               f"<th>{t}</th>" for t in ("#", "variant", "model", "architecture", "pruned",
                                        "baseline", "weights", "source", "state sha256",
                                        "note")) + "</tr></thead><tbody>"]
    for m in sorted(report.models, key=lambda m: numbers.get(m.model_id, 0)):
        kind = f"{m.weights_kind} — RANDOM INIT" if m.random_init else (m.weights_kind or "-")
        cls = ' class="status-bad"' if m.random_init else ""
        out.append(f'<tr><td class="num">{numbers.get(m.model_id, "")}</td>'
                   f'<td class="wrap">{esc(m.name or "-")}</td>'
                   f'<td class="id">{esc(m.model_id)}</td><td class="id">'
                   f'{esc(m.architecture or "-")}</td>'
                   f'<td class="notes">{esc(m.prune_summary or "no")}</td>'
                   f'<td class="id">{esc(m.baseline_model_id or "-")}</td>'
                   f"<td{cls}>{esc(kind)}</td>"
                   f'<td class="notes">{esc(m.weights_source or "-")}</td>'
                   f"<td>{esc((m.state_sha256 or '-')[:16])}</td>"
                   f'<td class="notes">{esc(m.weights_note or "")}</td></tr>')
    out.append("</tbody></table></div><h3>Images (accuracy)</h3>")
    if not report.data:
        out.append("<p>No accuracy results.</p>")
    else:
        out.append('<div class="table-wrap"><table class="images"><thead><tr>' + "".join(
            f"<th>{t}</th>" for t in ("fingerprint", "root", "layout", "images", "classes",
                                     "label space", "limit", "used by"))
            + "</tr></thead><tbody>")
        for d in report.data:
            out.append(f"<tr><td>{esc(d.fingerprint[:16])}</td>"
                       f'<td class="notes">{esc(d.root)}</td>' + "".join(
                           f"<td>{esc(v)}</td>" for v in (
                               d.layout, d.num_images, d.num_classes, d.label_space or "-",
                               "-" if d.limit is None else d.limit))
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
    numbers = C.variant_numbers(report.models, report.rows)
    body = "".join(_device(report, d, i, numbers) for i, d in enumerate(devices))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>edge-vit report</title><style>{CSS}</style></head><body>"
        f'<header><h1>edge-vit report</h1><p class="meta">Generated '
        f"{esc(report.generated or '?')} by {esc(report.tool or 'edge-vit')} · schema "
        f"{esc(report.schema_version)} · {len(report.rows)} rows</p></header>"
        f'<section class="warnings">{warnings}</section>'
        f"<nav>Devices: {nav or 'none'}</nav>"
        '<details class="rule"><summary>How the front, speedups and intervals are computed'
        f'</summary><p><b>Pareto rule.</b> {esc(report.pareto_rule)} '
        "Speedup = latency of the unpruned baseline (same architecture, format, precision, "
        "runtime, device) / latency of the row, from their medians in the same rounds of one "
        "profile session (geometric mean over rounds, 95% interval); 'tie' when the interval "
        "holds 1. p50 intervals include the variation between rounds. Δ top-1 is the "
        "change in points vs the baseline artifact in the same runtime, and vs the "
        "baseline's PyTorch fp32 reference, on the same images. Hover a point or a badge "
        "for details.</p></details>"
        f"{body}{_provenance(report, numbers)}</body></html>\n")
